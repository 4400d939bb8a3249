package fhir

// Fuzz tests of the path every byte from a source takes: the search Bundle
// envelope, paging, and the mapping of each resource into the model.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// fuzzNHS is the patient the fuzzed source always finds.
const fuzzNHS = "9990000018"

const fuzzPatientBundle = `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient","id":"p1",` +
	`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],"name":[{"family":"Fuzz"}],` +
	`"gender":"female","birthDate":"1965-03-12"}}]}`

const emptyBundle = `{"resourceType":"Bundle","type":"searchset","entry":[]}`

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fuzzClient is a real Client whose transport answers the Patient search
// with one patient, searches of typ (and every page after) with page, and
// every other search with an empty Bundle. Paging links the page gives
// (on the same origin) are answered with page again.
func fuzzClient(t *testing.T, typ string, page []byte) *Client {
	t.Helper()
	c, err := New(connectors.Config{Name: "Fuzz Trust", ODS: "XF001", Kind: connectors.SourceKindFHIR,
		BaseURL: "http://fuzz.invalid/fhir", Timeout: 5 * time.Second, Auth: connectors.Auth{Type: connectors.AuthNone},
		MaxPages: 3, MaxResponseBytes: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.http = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		body := page
		last := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		switch {
		case last == "Patient":
			body = []byte(fuzzPatientBundle)
		case last != typ && slices.Contains(recordTypes, last):
			body = []byte(emptyBundle)
		}
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {mediaType}},
			Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
	})}
	return c
}

// checkRecord holds for every record a client returns, whatever it read.
func checkRecord(t *testing.T, c *Client, rec *connectors.Record) {
	t.Helper()
	if rec.Skipped() < 0 {
		t.Fatalf("skipped %d", rec.Skipped())
	}
	if rec.Patient == nil || rec.Patient.NHSNumber != fuzzNHS {
		t.Fatalf("record for the wrong patient: %+v", rec.Patient)
	}
	for i, e := range rec.Entries {
		if e.Source != c.Source() {
			t.Fatalf("entry %d from %v, want %v", i, e.Source, c.Source())
		}
		details := map[connectors.Kind]bool{
			connectors.KindResult: e.Result != nil, connectors.KindImaging: e.Imaging != nil,
			connectors.KindMedication: e.Medication != nil, connectors.KindEncounter: e.Encounter != nil,
			connectors.KindProcedure: e.Procedure != nil, connectors.KindProblem: e.Problem != nil,
			connectors.KindAllergy: e.Allergy != nil, connectors.KindDocument: e.Document != nil,
			connectors.KindImmunization: e.Immunization != nil, connectors.KindAlert: e.Alert != nil,
		}
		n := 0
		for _, set := range details {
			if set {
				n++
			}
		}
		if !details[e.Kind] || n != 1 {
			t.Fatalf("entry %d of kind %q has %d detail(s), want exactly the one for its kind", i, e.Kind, n)
		}
		if e.ID == "" {
			t.Fatalf("entry %d has no id", i)
		}
	}
	// A gap says what failed in the client's own words, never the
	// source's: one of the categories, or an HTTP status.
	for _, g := range rec.Gaps {
		if !g.Failed && !g.Truncated {
			t.Fatalf("gap %+v says nothing", g)
		}
		if g.Failed && !gapReason.MatchString(g.Reason) {
			t.Fatalf("gap reason %q is not one of the client's categories", g.Reason)
		}
		if g.Truncated && g.Total != 0 && g.Total < g.Read {
			t.Fatalf("gap %+v: more read than the source holds", g)
		}
	}
}

var gapReason = regexp.MustCompile(`^(timed out|cancelled|not reached|unreadable answer|refused|failed|HTTP [0-9]{3})$`)

// FuzzSearchPage feeds arbitrary bytes as the answer to one resource
// type's search (and to every page it links to) through FetchRecord: it
// never panics, a failure is a SourceError, and a record holds only well
// formed entries with a skipped count that is never negative.
func FuzzSearchPage(f *testing.F) {
	f.Add(uint8(0), []byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o1","status":"final",`+
		`"code":{"text":"Hb"},"valueQuantity":{"value":120,"unit":"g/L"},"effectiveDateTime":"2024-01-02T10:00:00Z"}}]}`))
	f.Add(uint8(2), []byte(`{"resourceType":"Bundle","link":[{"relation":"next","url":"/fhir/DiagnosticReport?page=2"}],"entry":[`+
		`{"resource":{"resourceType":"DiagnosticReport","id":"r1","status":"final","code":{"text":"CT"},"conclusion":"ok",`+
		`"result":[{"reference":"Observation/o1"}]}}]}`))
	f.Add(uint8(9), []byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"DocumentReference","id":"d1","status":"current",`+
		`"content":[{"attachment":{"contentType":"text/plain","data":"aGVsbG8="}}]}},{"resource":42},{"resource":"x"},{}]}`))
	f.Add(uint8(7), []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception","diagnostics":"boom"}]}`))
	f.Add(uint8(1), []byte(`{"resourceType":"Bundle","link":[{"relation":"next","url":"https://elsewhere.example/fhir/x"}]}`))
	f.Add(uint8(4), []byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"MedicationStatement","id":"m1","status":"active",`+
		`"medicationCodeableConcept":{"text":"\u003cscript\u003e"},"effectivePeriod":{"start":"2020"}}}]}`))
	f.Add(uint8(3), []byte(`not json`))
	f.Fuzz(func(t *testing.T, which uint8, page []byte) {
		typ := recordTypes[int(which)%len(recordTypes)]
		c := fuzzClient(t, typ, page)
		rec, err := c.FetchRecord(context.Background(), fuzzNHS)
		if err != nil {
			var se *connectors.SourceError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a SourceError", err, err)
			}
			return
		}
		checkRecord(t, c, rec)
	})
}

// FuzzResource maps arbitrary bytes as one resource of every type the
// record is read from, and as a Patient: it never panics, accounts for the
// resource exactly once (see checkAccount), and never keeps the address,
// phone or GP of a restricted patient.
func FuzzResource(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},` +
		`"valueQuantity":{"value":120,"comparator":"<","unit":"g/L"},"referenceRange":[{"low":{"value":115},"high":{"value":165}}],` +
		`"interpretation":[{"coding":[{"code":"L"}]}],"effectiveDateTime":"2024-01-02"}`))
	f.Add([]byte(`{"resourceType":"Patient","id":"p1","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"999 000 0018"}],` +
		`"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},"deceasedBoolean":true}`))
	f.Add([]byte(`{"resourceType":"MedicationRequest","id":"m1","status":"active","intent":"order","contained":[{"resourceType":"Medication",` +
		`"id":"med","code":{"text":"Aspirin"}}],"medicationReference":{"reference":"#med"},"dosageInstruction":[{"timing":{"repeat":` +
		`{"frequency":2,"period":1,"periodUnit":"d"}}}]}`))
	f.Add([]byte(`{"resourceType":"AllergyIntolerance","id":"a1","code":{"text":"Penicillin"},"reaction":[{"manifestation":[{"text":"rash"}]}]}`))
	f.Add([]byte(`{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"IMP"},"period":{"start":"2024-13-45"}}`))
	f.Add([]byte(`{"resourceType":"Condition","id":"c1","code":{"text":"\u0000\u202e"},"onsetDateTime":"2020-01-01T00:00:00+25:00"}`))
	f.Add([]byte(`{"resourceType":"ImagingStudy","id":"i1","status":"available","series":[{"uid":"1","modality":{"code":"CT"}}]}`))
	f.Add([]byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			// Entries reach the mapper as raw values of a Bundle that
			// parsed, so they are always valid JSON.
			return
		}
		if p, _, err := mapPatient(raw, connectors.Source{Name: "Fuzz", ODS: "XF001"}); err == nil && p.Restricted &&
			(len(p.AddressLines) > 0 || p.Postcode != "" || p.Phone != "" || p.RegisteredGP != (connectors.Organisation{})) {
			t.Fatalf("a restricted patient kept address, phone or GP: %+v", p)
		}
		for _, typ := range recordTypes {
			m := newMapper(connectors.Source{Name: "Fuzz", ODS: "XF001"}, time.Unix(0, 0))
			m.add(typ, raw)
			entries := m.finish()
			top := checkAccount(t, m, entries)
			if top > 1 {
				t.Fatalf("%s: %d account lines for one resource", typ, top)
			}
		}
	})
}
