package fhir

// The corpus test: HL7's published FHIR R4 examples and the International
// Patient Summary examples (testdata/corpus, CC0), served from a FHIR
// server on loopback and read through the real client, patient by patient.
// For every resource of a type the connector reads that the server holds
// for the patient, the connector must account for it exactly once: shown,
// part of another entry, hidden by a named rule, or unreadable with a
// reason. What it does with each is recorded in testdata/corpus-golden.tsv;
// a change fails the test until the table is rewritten with -update,
// reviewed and committed. The server is strict, and the client must not
// need to ask again without _sort or _include.

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir/fhirtest"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus-golden.tsv from what the connector does now")

const corpusGolden = "testdata/corpus-golden.tsv"

// corpusSource is what one test server holds: the loose resources of a
// corpus folder, or one Bundle from it.
type corpusSource struct {
	name  string
	files []string
}

func corpusSources(t *testing.T) []corpusSource {
	t.Helper()
	var out []corpusSource
	for _, corpus := range []string{"r4", "ips"} {
		files, err := filepath.Glob(filepath.Join("testdata", "corpus", corpus, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("corpus %s: %d files, %v", corpus, len(files), err)
		}
		loose := corpusSource{name: corpus}
		for _, f := range files {
			if base := filepath.Base(f); strings.HasPrefix(base, "Bundle-") {
				out = append(out, corpusSource{name: corpus + "/" + strings.TrimSuffix(base, ".json"), files: []string{f}})
			} else {
				loose.files = append(loose.files, f)
			}
		}
		out = append(out, loose)
	}
	slices.SortFunc(out, func(a, b corpusSource) int { return strings.Compare(a.name, b.name) })
	return out
}

// syntheticNHS returns the nth NHS number from 999 100 0000 up with a
// valid check digit.
func syntheticNHS(n *int) string {
	for {
		first9 := fmt.Sprintf("9991%05d", *n)
		*n++
		if d, ok := connectors.NHSNumberCheckDigit(first9); ok {
			return first9 + string('0'+d)
		}
	}
}

// withNHSNumber returns the Patient with the NHS number added to its
// identifiers, as the test server's copy.
func withNHSNumber(t *testing.T, raw json.RawMessage, nhs string) []byte {
	t.Helper()
	var p map[string]any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if err := d.Decode(&p); err != nil {
		t.Fatal(err)
	}
	ids, _ := p["identifier"].([]any)
	p["identifier"] = append(ids, map[string]any{"system": SystemNHSNumber, "value": nhs})
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorpus(t *testing.T) {
	var (
		lines      []string
		n          int
		unbalanced int
		accounted  int
		refused    []string
	)
	for _, src := range corpusSources(t) {
		// Strict: a search parameter, _sort key or _include the server
		// does not know is refused, as a careful server does, so the
		// client's requests are checked too. Pages of ten, so that the
		// larger records arrive over several.
		srv := fhirtest.New(fhirtest.Options{Strict: true, MaxCount: 10})
		for _, f := range src.files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Load(raw); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		patients := srv.Keys("Patient")
		nhsOf := map[string]string{}
		for _, key := range patients {
			nhsOf[key] = syntheticNHS(&n)
			if err := srv.Put(withNHSNumber(t, srv.Resource(key), nhsOf[key])); err != nil {
				t.Fatal(err)
			}
		}
		ts := httptest.NewServer(srv)
		c, err := New(connectors.Config{Name: "Corpus " + src.name, ODS: "XC001", Kind: "fhir", BaseURL: ts.URL,
			Timeout: time.Minute}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, pkey := range patients {
			pid := strings.TrimPrefix(pkey, "Patient/")
			var held []string
			for _, key := range srv.ForPatient(pid) {
				if _, clinical := kindOf[strings.Split(key, "/")[0]]; clinical {
					held = append(held, key)
				}
			}
			rec, account, err := c.fetch(t.Context(), nhsOf[pkey])
			if err != nil {
				// The Patient itself could not be read or found: nothing
				// of theirs is shown, and the table says so.
				lines = append(lines, strings.Join([]string{src.name, pkey, pkey, "record not read: " + errorCategory(err)}, "\t"))
				for _, key := range held {
					lines = append(lines, strings.Join([]string{src.name, pkey, key, "NOT ACCOUNTED FOR (no record)"}, "\t"))
					unbalanced++
				}
				continue
			}
			accounted += len(account)
			lines = append(lines, strings.Join([]string{src.name, pkey, pkey, recordSummary(rec)}, "\t"))
			entries := map[string]*connectors.Entry{}
			for i := range rec.Entries {
				entries[rec.Entries[i].ID] = &rec.Entries[i]
			}
			keys := slices.Sorted(maps.Keys(account))
			for _, key := range held {
				if _, ok := account[key]; !ok {
					keys = append(keys, key)
				}
			}
			for _, key := range keys {
				what, ok := account[key]
				if slices.Contains(held, key) && (!ok || !balanced(what) || !onRecord(rec, entries, key, what)) {
					if what != "" {
						what = " (" + what + ")"
					}
					what = "NOT ACCOUNTED FOR" + what
					unbalanced++
				}
				if e := entries[key]; e != nil {
					what += " | " + describe(e)
				}
				lines = append(lines, strings.Join([]string{src.name, pkey, key, what}, "\t"))
			}
		}
		// The client asks for what a strict server accepts: had the
		// server refused its _sort or _include, it would have asked again
		// without them.
		for _, req := range srv.Requests() {
			u, err := url.Parse(strings.TrimPrefix(req, "GET "))
			typ := strings.Trim(u.Path, "/")
			if _, clinical := kindOf[typ]; err == nil && clinical && !u.Query().Has("_sort") {
				refused = append(refused, src.name+": "+req)
			}
		}
		c.Close()
		ts.Close()
	}
	slices.Sort(lines)
	got := "# corpus\tpatient\tresource\twhat the connector does with it\n" + strings.Join(lines, "\n") + "\n"

	t.Run("EveryResourceAccountedFor", func(t *testing.T) {
		if accounted == 0 {
			t.Fatal("the mapper accounted for nothing")
		}
		if unbalanced > 0 {
			t.Errorf("%d resources not accounted for exactly once: see the NOT ACCOUNTED FOR lines of %s (run with -update to see them)", unbalanced, corpusGolden)
		}
	})
	t.Run("StrictServerAcceptsTheSearches", func(t *testing.T) {
		if len(refused) > 0 {
			t.Errorf("searches asked again without _sort, after a strict server refused the first:\n%s", strings.Join(refused, "\n"))
		}
	})
	t.Run("GoldenTable", func(t *testing.T) {
		if *update {
			if err := os.WriteFile(corpusGolden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, err := os.ReadFile(corpusGolden)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("what the connector does with the corpora changed:\n%s\nRun go test ./connectors/fhir -run Corpus -update, review the diff of %s for clinical sense, and commit it.",
				lineDiff(string(want), got), corpusGolden)
		}
	})
}

// recordSummary is the patient's line of the table: how much of the
// record was read, hidden, unreadable or missing.
func recordSummary(rec *connectors.Record) string {
	s := fmt.Sprintf("record read: %d entries, %d hidden, %d unreadable", len(rec.Entries), len(rec.Hidden), len(rec.Unreadable))
	for _, g := range rec.Gaps {
		switch {
		case g.Failed:
			s += fmt.Sprintf("; %s failed (%s)", g.Kind, g.Reason)
		case g.Truncated:
			s += fmt.Sprintf("; %s cut at %d of %d", g.Kind, g.Read, g.Total)
		}
	}
	if rec.PatientRecords > 1 {
		s += fmt.Sprintf("; %d Patient records", rec.PatientRecords)
	}
	return s
}

// balanced reports whether an account says one of the outcomes the
// record may give a resource of a clinical type.
func balanced(what string) bool {
	for _, p := range []string{"shown as ", "part of ", "hidden: ", "unreadable: "} {
		if strings.HasPrefix(what, p) {
			return true
		}
	}
	return false
}

// onRecord reports whether the record the page is built from says what
// the account says: a resource shown is an entry, one part of another
// names an entry that is there, and one hidden or unreadable is listed as
// such, so that the page counts it.
func onRecord(rec *connectors.Record, entries map[string]*connectors.Entry, key, what string) bool {
	listed := func(os []connectors.Omission) bool {
		return slices.ContainsFunc(os, func(o connectors.Omission) bool { return o.Resource == key })
	}
	switch {
	case strings.HasPrefix(what, "shown as "):
		return entries[key] != nil
	case strings.HasPrefix(what, "part of "):
		return entries[strings.TrimPrefix(what, "part of ")] != nil
	case strings.HasPrefix(what, "hidden: "):
		return listed(rec.Hidden)
	case strings.HasPrefix(what, "unreadable: "):
		return listed(rec.Unreadable)
	}
	return false
}

func errorCategory(err error) string {
	if se, ok := err.(*connectors.SourceError); ok {
		return string(se.Kind)
	}
	if strings.Contains(err.Error(), connectors.ErrNoRecord.Error()) {
		return "no record"
	}
	return "error"
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

// describe says in one line what a clinician is shown of an entry.
func describe(e *connectors.Entry) string {
	parts := []string{string(e.Kind), quote(e.Title), "on " + when(e.When())}
	add := func(label, v string) {
		if v != "" {
			parts = append(parts, label+" "+quote(v))
		}
	}
	switch {
	case e.Result != nil:
		r := e.Result
		parts = append(parts, "value "+value(r.Comparator, r.Value, r.Units, r.Absent, r.Flag))
		add("status", r.Status)
		add("range", r.Range.String())
		if len(r.OtherRanges) > 0 {
			parts = append(parts, strconv.Itoa(len(r.OtherRanges))+" other ranges")
		}
		for _, c := range r.Components {
			parts = append(parts, "component "+quote(c.Title)+" "+value(c.Comparator, c.Value, c.Units, c.Absent, c.Flag))
		}
		add("in", r.GroupTitle)
		if r.Comment != "" {
			parts = append(parts, "with comment")
		}
	case e.Imaging != nil:
		add("modality", e.Imaging.Modality)
		add("status", e.Imaging.Status)
		add("conclusion", e.Imaging.Conclusion)
		if e.Imaging.Report != "" {
			parts = append(parts, "with report")
		}
	case e.Medication != nil:
		m := e.Medication
		add("drug", cmp.Or(m.Drug, "(none)"))
		add("dose", m.Dose)
		add("route", m.Route)
		add("frequency", m.Frequency)
		parts = append(parts, "status "+string(m.Status))
		add("source status", m.SourceStatus)
		if len(m.Ingredients) > 0 {
			add("ingredients", strings.Join(m.Ingredients, "; "))
		}
	case e.Encounter != nil:
		add("class", e.Encounter.Class)
		add("status", e.Encounter.Status)
	case e.Procedure != nil:
		add("status", e.Procedure.Status)
		add("site", e.Procedure.BodySite)
	case e.Problem != nil:
		parts = append(parts, "status "+string(e.Problem.Status))
		if !e.Problem.Onset.IsZero() {
			parts = append(parts, "onset "+when(e.Problem.Onset))
		}
		if !e.Problem.Abatement.IsZero() {
			parts = append(parts, "abated "+when(e.Problem.Abatement))
		}
	case e.Allergy != nil:
		a := e.Allergy
		if a.NoKnownAllergies {
			parts = append(parts, "no known allergies of kind "+a.NoKnownScope)
		}
		add("substance", a.Substance)
		add("reaction", a.Reaction)
		add("severity", a.Severity)
		add("criticality", a.Criticality)
		add("status", a.Status)
		add("verification", a.Verification)
	case e.Document != nil:
		d := e.Document
		add("type", d.Type)
		add("content", d.ContentType)
		if len(d.Data) > 0 || d.Text != "" {
			parts = append(parts, "with content")
		}
		add("unavailable", d.Unavailable)
	case e.Immunization != nil:
		im := e.Immunization
		add("vaccine", cmp.Or(im.Vaccine, "(none)"))
		add("status", im.Status)
		add("not done", im.NotDoneReason)
		add("dose", im.DoseNumber)
	case e.Alert != nil:
		add("category", e.Alert.Category)
		add("status", e.Alert.Status)
	}
	return strings.Join(parts, ", ")
}

func quote(s string) string {
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strconv.Quote(s)
}

func value(comparator, v, units, absent string, flag connectors.Flag) string {
	s := strings.TrimSpace(comparator + v + " " + units)
	if absent != "" {
		s = strings.TrimSpace(s + " absent: " + absent)
	}
	if s == "" {
		s = "(empty)"
	}
	if flag != "" {
		s += " [" + flag.Label() + "]"
	}
	return strconv.Quote(s)
}

// when writes a date as precisely as it is known, in Europe/London.
func when(w connectors.When) string { return cmp.Or(whenText(w), "no date") }
