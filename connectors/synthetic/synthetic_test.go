package synthetic_test

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
	"github.com/carerecord/carerecord/connectors/synthetic"
)

// startCluster starts every organisation with the faults given.
func startCluster(t *testing.T, faults map[string]synthetic.Faults) *synthetic.Cluster {
	t.Helper()
	c, err := synthetic.Start(synthetic.Orgs(), faults)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clients builds one real FHIR connector per organisation, keyed by ODS.
func clients(t *testing.T, c *synthetic.Cluster) map[string]*fhir.Client {
	t.Helper()
	out := map[string]*fhir.Client{}
	for _, cfg := range c.Configs() {
		cl, err := fhir.New(cfg, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		out[cfg.ODS] = cl
	}
	return out
}

// fetchAll asks every source for the patient's record in parallel, as the
// portal does; sources holding no record are left out.
func fetchAll(t *testing.T, cls map[string]*fhir.Client, nhs string) map[string]*connectors.Record {
	t.Helper()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		recs = map[string]*connectors.Record{}
	)
	for ods, cl := range cls {
		wg.Go(func() {
			rec, err := cl.FetchRecord(t.Context(), nhs)
			if errors.Is(err, connectors.ErrNoRecord) {
				return
			}
			if err != nil {
				t.Errorf("%s: %v", ods, err)
				return
			}
			mu.Lock()
			recs[ods] = rec
			mu.Unlock()
		})
	}
	wg.Wait()
	return recs
}

func TestRichPatient(t *testing.T) {
	cls := clients(t, startCluster(t, nil))
	recs := fetchAll(t, cls, synthetic.RichNHSNumber)

	sourcesByKind := map[connectors.Kind]map[string]bool{}
	flags := map[connectors.Flag]int{}
	for ods, rec := range recs {
		if rec.Skipped() != 0 || rec.Truncated() {
			t.Errorf("%s: skipped %d, truncated %v", ods, rec.Skipped(), rec.Truncated())
		}
		p := rec.Patient
		if p.NHSNumber != synthetic.RichNHSNumber || p.Family != "Smith" || p.BirthDate != connectors.NewDate(1965, time.March, 12) {
			t.Errorf("%s: patient %+v", ods, p)
		}
		for _, e := range rec.Entries {
			if sourcesByKind[e.Kind] == nil {
				sourcesByKind[e.Kind] = map[string]bool{}
			}
			sourcesByKind[e.Kind][ods] = true
			if e.Result != nil {
				flags[e.Result.Flag]++
			}
		}
	}
	// Every kind at four sources or more, but vaccinations (given at her
	// practice, and a hepatitis B course at Guy's and St Thomas') and
	// alerts (safeguarding at her practice, a reasonable adjustment at
	// King's).
	atLeast := map[connectors.Kind]int{connectors.KindImmunization: 2, connectors.KindAlert: 2}
	for _, k := range connectors.Kinds {
		want := cmp.Or(atLeast[k], 4)
		if n := len(sourcesByKind[k]); n < want {
			t.Errorf("%s entries at %d sources, want at least %d", k, n, want)
		}
	}
	if flags[connectors.FlagHigh] == 0 || flags[connectors.FlagLow] == 0 || flags[connectors.FlagNormal] == 0 {
		t.Errorf("result flags %v: want high, low and normal results", flags)
	}

	// HbA1c and creatinine are repeated over years at King's and at Guy's
	// and St Thomas', whose laboratories print them differently.
	type series struct {
		years  map[int]bool
		units  map[string]bool
		ranges map[string]bool
	}
	trend := func(ods, loinc string) series {
		s := series{map[int]bool{}, map[string]bool{}, map[string]bool{}}
		for _, e := range recs[ods].Entries {
			if c, ok := e.Code(connectors.SystemLOINC); ok && c.Code == loinc && e.Result != nil && e.Result.Numeric != nil {
				s.years[e.Date.Year()] = true
				s.units[e.Result.Units] = true
				s.ranges[e.Result.Range.String()] = true
			}
		}
		return s
	}
	for _, loinc := range []string{"59261-8", "14682-9"} {
		kings, guys := trend(synthetic.KingsODS, loinc), trend(synthetic.GSTTODS, loinc)
		if len(kings.years) < 3 || len(guys.years) < 3 {
			t.Errorf("LOINC %s: years at King's %v, at Guy's %v; want a series at each", loinc, kings.years, guys.years)
		}
		if reflect.DeepEqual(kings.ranges, guys.ranges) {
			t.Errorf("LOINC %s: same ranges at both Trusts %v; want them to differ", loinc, kings.ranges)
		}
	}
	if k, g := trend(synthetic.KingsODS, "14682-9").units, trend(synthetic.GSTTODS, "14682-9").units; !k["umol/L"] || !g["µmol/L"] {
		t.Errorf("creatinine units: King's %v, Guy's %v", k, g)
	}

	// The report text and a PDF letter come through.
	var pdf, report bool
	for _, rec := range recs {
		for _, e := range rec.Entries {
			if d := e.Document; d != nil && d.ContentType == "application/pdf" && strings.HasPrefix(string(d.Data), "%PDF-1.4") {
				pdf = true
			}
			if im := e.Imaging; im != nil && strings.Contains(im.Report, "Findings:") && im.Conclusion != "" && im.Modality != "" {
				report = true
			}
		}
	}
	if !pdf || !report {
		t.Errorf("PDF letter %v, imaging report %v", pdf, report)
	}
}

func TestRestrictedPatient(t *testing.T) {
	cls := clients(t, startCluster(t, nil))
	recs := fetchAll(t, cls, synthetic.RestrictedNHSNumber)
	if len(recs) < 2 {
		t.Fatalf("restricted patient at %d sources", len(recs))
	}
	for ods, rec := range recs {
		p := rec.Patient
		if !p.Restricted || p.AddressLines != nil || p.Postcode != "" || p.Phone != "" || p.RegisteredGP != (connectors.Organisation{}) {
			t.Errorf("%s: restricted patient came through as %+v", ods, p)
		}
	}
	var dp synthetic.DemoPatient
	for _, p := range synthetic.Patients() {
		if p.NHSNumber == synthetic.RestrictedNHSNumber {
			dp = p
		}
	}
	found, err := cls[dp.GP].FindPatients(t.Context(), connectors.Query{Family: dp.Family, BirthDate: dp.BirthDate})
	if err != nil || len(found) != 1 || !found[0].Restricted {
		t.Fatalf("demographic search: %v, %+v", err, found)
	}
}

func TestOtherFixedPatients(t *testing.T) {
	cls := clients(t, startCluster(t, nil))
	t.Run("Deceased", func(t *testing.T) {
		for ods, rec := range fetchAll(t, cls, synthetic.DeceasedNHSNumber) {
			p := rec.Patient
			if !p.Deceased || p.DeathDate == nil || *p.DeathDate != connectors.NewDate(2025, time.January, 14) {
				t.Errorf("%s: %+v", ods, p)
			}
			for _, e := range rec.Entries {
				if e.Date.After(time.Date(2025, time.January, 15, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("%s: %s dated %v, after death", ods, e.ID, e.Date)
				}
			}
		}
	})
	t.Run("Ordinary", func(t *testing.T) {
		recs := fetchAll(t, cls, synthetic.OrdinaryNHSNumber)
		if len(recs) < 3 {
			t.Errorf("ordinary patient at %d sources, want 3", len(recs))
		}
		for ods, rec := range recs {
			if rec.Patient.Restricted || rec.Patient.Postcode == "" || len(rec.Entries) == 0 {
				t.Errorf("%s: %+v with %d entries", ods, rec.Patient, len(rec.Entries))
			}
		}
	})
}

func TestLongHistory(t *testing.T) {
	c := startCluster(t, nil)
	cls := clients(t, c)
	rec, err := cls[synthetic.GSTTODS].FetchRecord(t.Context(), synthetic.LongHistoryNHSNumber)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range rec.Entries {
		ids[e.ID] = true
	}
	// Distinct identifiers show that pages follow on rather than repeat.
	if len(rec.Entries) < 2500 || len(ids) != len(rec.Entries) || rec.Truncated() || rec.Skipped() != 0 {
		t.Fatalf("%d entries (%d distinct), truncated %v, skipped %d", len(rec.Entries), len(ids), rec.Truncated(), rec.Skipped())
	}

	// With the default page cap the same record is cut short, and says so.
	cfg := c.Configs()[1]
	if cfg.ODS != synthetic.GSTTODS {
		t.Fatalf("config order: %s", cfg.ODS)
	}
	cfg.MaxPages = 3
	small, err := fhir.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := small.FetchRecord(t.Context(), synthetic.LongHistoryNHSNumber)
	if err != nil {
		t.Fatal(err)
	}
	if !cut.Truncated() || len(cut.Entries) >= len(rec.Entries) || len(cut.Entries) < 300 {
		t.Errorf("capped at 3 pages: %d entries, truncated %v", len(cut.Entries), cut.Truncated())
	}
}

func TestDemographicSearch(t *testing.T) {
	cls := clients(t, startCluster(t, nil))
	patients := synthetic.Patients()
	if len(patients) < 55 {
		t.Fatalf("%d synthetic patients, want 55 or more", len(patients))
	}
	seen := map[string]bool{}
	for _, p := range patients {
		if _, err := connectors.ParseNHSNumber(p.NHSNumber); err != nil || !strings.HasPrefix(p.NHSNumber, "999") || seen[p.NHSNumber] {
			t.Errorf("NHS number %q: %v (duplicate %v)", p.NHSNumber, err, seen[p.NHSNumber])
		}
		seen[p.NHSNumber] = true
		found, err := cls[p.GP].FindPatients(t.Context(), connectors.Query{Family: p.Family, BirthDate: p.BirthDate})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(found, func(f connectors.Patient) bool { return f.NHSNumber == p.NHSNumber }) {
			t.Errorf("%s, born %v, not found at %s", p.Family, p.BirthDate, p.GP)
		}
	}
	// Narrowing by given name, gender and postcode, as the search form
	// allows; and a wrong postcode finds nobody.
	p := patients[len(patients)-1]
	q := connectors.Query{Family: strings.ToLower(p.Family[:3]), Given: p.Given[0][:2], BirthDate: p.BirthDate, Gender: p.Gender, Postcode: p.Postcode}
	if found, err := cls[p.GP].FindPatients(t.Context(), q); err != nil || len(found) != 1 || found[0].NHSNumber != p.NHSNumber {
		t.Errorf("narrow search %+v: %v %+v", q, err, found)
	}
	q.Postcode = "ZZ1 1ZZ"
	if found, err := cls[p.GP].FindPatients(t.Context(), q); err != nil || len(found) != 0 {
		t.Errorf("wrong postcode: %v %+v", err, found)
	}
	if found, err := cls[synthetic.KingsODS].FindPatients(t.Context(), connectors.Query{NHSNumber: "999 000 0018"}); err != nil || len(found) != 1 {
		t.Errorf("search by NHS number: %v %+v", err, found)
	}
}

func TestDeterministic(t *testing.T) {
	strip := func(recs map[string]*connectors.Record) {
		for _, r := range recs {
			r.Fetched = time.Time{}
			for i := range r.Entries {
				r.Entries[i].Fetched = time.Time{}
			}
		}
	}
	a := fetchAll(t, clients(t, startCluster(t, nil)), synthetic.RichNHSNumber)
	b := fetchAll(t, clients(t, startCluster(t, nil)), synthetic.RichNHSNumber)
	strip(a)
	strip(b)
	if len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Error("two clusters served different records for the same patient")
	}
	if !reflect.DeepEqual(synthetic.Patients(), synthetic.Patients()) {
		t.Error("patient list differs between calls")
	}
}

func TestConfigs(t *testing.T) {
	c := startCluster(t, nil)
	cfgs := c.Configs()
	if len(cfgs) != len(synthetic.Orgs()) {
		t.Fatalf("%d configs for %d orgs", len(cfgs), len(synthetic.Orgs()))
	}
	for _, cfg := range cfgs {
		if err := cfg.Validate(); err != nil {
			t.Error(err)
		}
		if !strings.HasPrefix(cfg.BaseURL, "http://127.0.0.1:") || cfg.BaseURL != c.URL(cfg.ODS) {
			t.Errorf("%s: base URL %s", cfg.ODS, cfg.BaseURL)
		}
	}
	resp, err := http.Get(c.URL(synthetic.KingsODS) + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/fhir+json; charset=utf-8" {
		t.Errorf("metadata: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	demo := synthetic.DemoFaults()
	if demo[synthetic.LewishamODS].Latency < time.Second/2 || demo[synthetic.MiltonKeynODS].ErrorRate <= 0 {
		t.Errorf("demo faults %+v: want one slow and one failing source", demo)
	}
}

func TestFaults(t *testing.T) {
	c := startCluster(t, nil)
	cls := clients(t, c)
	const ods = synthetic.LewishamODS
	cl := cls[ods]
	fetch := func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		_, err := cl.FetchRecord(ctx, synthetic.RichNHSNumber)
		return time.Since(start), err
	}

	t.Run("LatencyBeyondDeadline", func(t *testing.T) {
		c.SetFaults(ods, synthetic.Faults{Latency: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		took, err := fetch(ctx)
		if connectors.KindOf(err) != connectors.ErrTimeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want timeout", err)
		}
		if took > 10*time.Second {
			t.Errorf("took %v: the deadline did not cut the wait short", took)
		}
	})
	t.Run("LatencyWithinDeadline", func(t *testing.T) {
		const latency = 150 * time.Millisecond
		c.SetFaults(ods, synthetic.Faults{Latency: latency})
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		took, err := fetch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Patient search, then the record searches: at least two waits.
		if took < 2*latency {
			t.Errorf("took %v, want at least %v", took, 2*latency)
		}
	})
	t.Run("ErrorRateAll", func(t *testing.T) {
		c.SetFaults(ods, synthetic.Faults{ErrorRate: 1})
		_, err := fetch(t.Context())
		se, ok := errors.AsType[*connectors.SourceError](err)
		if !ok || se.Kind != connectors.ErrStatus || se.Status != 500 || se.Detail != "OperationOutcome error exception" {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("ErrorRateDeterministic", func(t *testing.T) {
		// The injected random source alternates low and high draws, so
		// with a rate of one half exactly every other request fails.
		var mu sync.Mutex
		n := 0
		c.SetFaults(ods, synthetic.Faults{ErrorRate: 0.5, Rand: func() float64 {
			mu.Lock()
			defer mu.Unlock()
			n++
			return float64(n%2) * 0.9
		}})
		var statuses []int
		for range 6 {
			resp, err := http.Get(c.URL(ods) + "/metadata")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			statuses = append(statuses, resp.StatusCode)
		}
		if want := []int{200, 500, 200, 500, 200, 500}; !slices.Equal(statuses, want) {
			t.Errorf("statuses %v, want %v", statuses, want)
		}
	})
	t.Run("Down", func(t *testing.T) {
		c.SetFaults(ods, synthetic.Faults{Down: true})
		if _, err := fetch(t.Context()); connectors.KindOf(err) != connectors.ErrUnavailable {
			t.Fatalf("err = %v, want unavailable", err)
		}
	})
	t.Run("Unavailable", func(t *testing.T) {
		c.SetFaults(ods, synthetic.Faults{Unavailable: true})
		_, err := fetch(t.Context())
		if se, ok := errors.AsType[*connectors.SourceError](err); !ok || se.Status != 503 {
			t.Fatalf("err = %v, want HTTP 503", err)
		}
	})
	t.Run("SlowDrip", func(t *testing.T) {
		c.SetFaults(ods, synthetic.Faults{DripInterval: time.Minute, DripBytes: 64})
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		if _, err := fetch(ctx); connectors.KindOf(err) != connectors.ErrTimeout {
			t.Fatalf("err = %v, want timeout while reading the body", err)
		}
		c.SetFaults(ods, synthetic.Faults{DripInterval: time.Microsecond, DripBytes: 512})
		if _, err := fetch(t.Context()); err != nil {
			t.Fatalf("a fast drip still delivers the record: %v", err)
		}
	})
	t.Run("OthersUnaffected", func(t *testing.T) {
		c.SetFaults(ods, synthetic.Faults{Down: true})
		if _, err := cls[synthetic.KingsODS].FetchRecord(t.Context(), synthetic.RichNHSNumber); err != nil {
			t.Fatal(err)
		}
		c.SetFaults(ods, synthetic.Faults{})
		if _, err := fetch(t.Context()); err != nil {
			t.Fatalf("after clearing faults: %v", err)
		}
	})
}
