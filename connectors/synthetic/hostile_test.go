package synthetic_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
	"github.com/carerecord/carerecord/connectors/synthetic"
)

// hostileCluster starts the hostile organisations alone and returns a real
// FHIR client for each, keyed by ODS code.
func hostileCluster(t *testing.T) map[string]*fhir.Client {
	t.Helper()
	c, err := synthetic.Start(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, o := range synthetic.HostileOrgs() {
		if err := c.AddHostile(o); err != nil {
			t.Fatal(err)
		}
	}
	if c.URL(synthetic.HostileODS) == "" || c.URL(synthetic.NestingODS) == "" {
		t.Fatal("the hostile organisations are not in the cluster")
	}
	return clients(t, c)
}

func TestHostilePatientIsNew(t *testing.T) {
	if _, err := connectors.ParseNHSNumber(synthetic.HostileNHSNumber); err != nil {
		t.Fatalf("HostileNHSNumber %s: %v", synthetic.HostileNHSNumber, err)
	}
	if !strings.HasPrefix(synthetic.HostileNHSNumber, "999") {
		t.Fatal("HostileNHSNumber is outside the 999 test range")
	}
	for _, p := range synthetic.Patients() {
		if p.NHSNumber == synthetic.HostileNHSNumber {
			t.Fatalf("HostileNHSNumber belongs to the synthetic patient %s", p.Family)
		}
	}
	for _, o := range synthetic.HostileOrgs() {
		if _, ok := synthetic.OrgByODS(o.ODS); ok {
			t.Fatalf("hostile %s is among the demo organisations", o.ODS)
		}
	}
	if _, err := synthetic.NewHostileServer(synthetic.Orgs()[0]); err == nil {
		t.Fatal("NewHostileServer accepted a demo organisation")
	}
}

func TestHostileSource(t *testing.T) {
	cls := hostileCluster(t)
	ctx := context.Background()

	t.Run("ReadableThroughTheRealClient", func(t *testing.T) {
		rec, err := cls[synthetic.HostileODS].FetchRecord(ctx, synthetic.HostileNHSNumber)
		if err != nil {
			t.Fatalf("FetchRecord: %v", err)
		}
		if rec.Skipped() != synthetic.HostileUnreadable {
			t.Errorf("skipped %d resources, want %d (the ones that do not fit R4)", rec.Skipped(), synthetic.HostileUnreadable)
		}
		kinds := map[connectors.Kind]bool{}
		for _, e := range rec.Entries {
			kinds[e.Kind] = true
		}
		for _, k := range connectors.Kinds {
			if !kinds[k] {
				t.Errorf("no %s entry: every kind must carry hostile text", k)
			}
		}
		// The payloads arrive as text, unchanged apart from invalid UTF-8.
		var all strings.Builder
		all.WriteString(rec.Patient.Family)
		all.WriteString(strings.Join(rec.Patient.Given, " "))
		for _, e := range rec.Entries {
			b, _ := json.Marshal(e)
			all.Write(b) // json.Marshal keeps U+FFFD as it is
		}
		for _, p := range synthetic.HostilePayloads[:10] {
			if !strings.Contains(rec.Patient.Family, p) {
				t.Errorf("the family name lost the payload %q", p)
			}
		}
		if !strings.Contains(all.String(), "\ufffd") {
			t.Error("invalid UTF-8 did not reach the record as U+FFFD")
		}
		var doc *connectors.Entry
		for i := range rec.Entries {
			if rec.Entries[i].Document != nil && rec.Entries[i].Document.URL == synthetic.HostileScriptURL {
				doc = &rec.Entries[i]
			}
		}
		if doc == nil {
			t.Error("the document held elsewhere lost its script URL before the portal could refuse it")
		}
		for _, e := range rec.Entries {
			if len(e.Title) > synthetic.HostileTitleBytes {
				return
			}
		}
		t.Errorf("no entry has the %d-byte title", synthetic.HostileTitleBytes)
	})
	t.Run("SearchFindsThePatient", func(t *testing.T) {
		ps, err := cls[synthetic.HostileODS].FindPatients(ctx, connectors.Query{NHSNumber: synthetic.HostileNHSNumber})
		if err != nil || len(ps) != 1 || ps[0].NHSNumber != synthetic.HostileNHSNumber {
			t.Fatalf("FindPatients: %v, %v", ps, err)
		}
	})
	t.Run("DeepNestingSkippedAndCounted", func(t *testing.T) {
		rec, err := cls[synthetic.NestingODS].FetchRecord(ctx, synthetic.HostileNHSNumber)
		var se *connectors.SourceError
		if errors.As(err, &se) && se.Kind == connectors.ErrMalformed {
			t.Fatalf("one deeply nested resource failed the whole source: %v", err)
		}
		if err != nil {
			t.Fatalf("FetchRecord: %v", err)
		}
		if rec.Skipped() != 1 || len(rec.Entries) != synthetic.HostileNestingOK {
			t.Fatalf("skipped %d, %d entries; want the nested resource skipped and the %d others read",
				rec.Skipped(), len(rec.Entries), synthetic.HostileNestingOK)
		}
	})
	t.Run("NestingIsReal", func(t *testing.T) {
		// The nesting must be deeper than encoding/json follows, or the
		// test above proves nothing.
		deep := strings.Repeat(`{"a":[`, synthetic.HostileNesting) + strings.Repeat(`]}`, synthetic.HostileNesting)
		var v any
		if err := json.Unmarshal([]byte(deep), &v); err == nil {
			t.Fatal("encoding/json reads the nesting: the hostile resource is not deep enough to matter")
		}
		if !slices.ContainsFunc(synthetic.HostileOrgs(), func(o synthetic.Org) bool { return o.ODS == synthetic.NestingODS }) {
			t.Fatal("NestingOrg is not among HostileOrgs")
		}
	})
}
