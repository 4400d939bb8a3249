package fhir_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir/fhirtest"
)

// searchLog records the query of every search a fake source answers, by
// resource type.
type searchLog struct {
	mu      sync.Mutex
	queries map[string][]url.Values
}

func (l *searchLog) add(typ string, q url.Values) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queries == nil {
		l.queries = map[string][]url.Values{}
	}
	l.queries[typ] = append(l.queries[typ], q)
}

func (l *searchLog) get(typ string) []url.Values {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.queries[typ])
}

// searchedTypes are the record types every fetch searches, with the date
// parameter each is sorted by, newest first, per the FHIR R4 search
// parameters, and what it _includes.
var searchedTypes = []struct{ typ, sort, include string }{
	{"Observation", "-date", ""},
	{"ImagingStudy", "-started", ""},
	{"DiagnosticReport", "-date", ""},
	{"MedicationRequest", "-authoredon", "MedicationRequest:medication"},
	{"MedicationStatement", "-effective", "MedicationStatement:medication"},
	{"Encounter", "-date", ""},
	{"Procedure", "-date", ""},
	{"Condition", "-recorded-date", ""},
	{"AllergyIntolerance", "-date", ""},
	{"DocumentReference", "-date", ""},
	{"Immunization", "-date", ""},
	{"Flag", "-date", ""},
}

func TestSearches(t *testing.T) {
	rejectSort := `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing",` +
		`"diagnostics":"HAPI-0000: Unknown _sort parameter value"}]}`
	tests := []struct {
		name string
		// reject answers a search that has _sort or _include, or
		// returns false to let the fake answer it.
		reject func(w http.ResponseWriter) bool
		// asked is how many times each type is searched.
		asked int
	}{
		{"SortedAndIncluded", func(http.ResponseWriter) bool { return false }, 1},
		{"HTTP400RetriedWithout", func(w http.ResponseWriter) bool {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, rejectSort)
			return true
		}, 2},
		{"OperationOutcomeRetriedWithout", func(w http.ResponseWriter) bool {
			fmt.Fprint(w, rejectSort)
			return true
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			var log searchLog
			for _, st := range searchedTypes {
				f.override[st.typ] = func(w http.ResponseWriter, r *http.Request) {
					q := r.URL.Query()
					log.add(st.typ, q)
					if (q.Has("_sort") || q.Has("_include")) && tt.reject(w) {
						return
					}
					fmt.Fprint(w, bundleJSON(recordResources[st.typ], ""))
				}
			}
			rec, err := newClient(t, testConfig(srv.URL)).FetchRecord(t.Context(), testNHS)
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Gaps) != 0 {
				t.Errorf("gaps %+v, want none", rec.Gaps)
			}
			for _, st := range searchedTypes {
				qs := log.get(st.typ)
				if len(qs) != tt.asked {
					t.Errorf("%s searched %d times, want %d", st.typ, len(qs), tt.asked)
					continue
				}
				first := qs[0]
				if first.Get("patient") != "Patient/p1" || first.Get("_sort") != st.sort || first.Get("_include") != st.include {
					t.Errorf("%s first asked %v; want patient=Patient/p1 _sort=%s _include=%q", st.typ, first, st.sort, st.include)
				}
				if last := qs[len(qs)-1]; tt.asked > 1 && (last.Has("_sort") || last.Has("_include") || last.Get("patient") != "Patient/p1") {
					t.Errorf("%s asked again with %v; want the patient only", st.typ, last)
				}
			}
		})
	}
}

func TestEverySearchFailing(t *testing.T) {
	f, srv := newFake(t)
	for _, st := range searchedTypes {
		f.override[st.typ] = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }
	}
	_, err := newClient(t, testConfig(srv.URL)).FetchRecord(t.Context(), testNHS)
	se, ok := err.(*connectors.SourceError)
	if !ok || se.Kind != connectors.ErrStatus || se.Status != http.StatusBadGateway {
		t.Fatalf("err = %v, want the source failed with HTTP 502", err)
	}
}

// pagedBundle is a searchset page with a total (none when total < 0) and a
// next link when next is not empty.
func pagedBundle(resources []string, next string, total int) string {
	var b map[string]any
	if err := json.Unmarshal([]byte(bundleJSON(resources, next)), &b); err != nil {
		panic(err)
	}
	delete(b, "total")
	if total >= 0 {
		b["total"] = total
	}
	out, _ := json.Marshal(b)
	return string(out)
}

func TestCapIsNamed(t *testing.T) {
	// 40 prescriptions, newest first, two a page; the cap reads 3 pages.
	// With the one medicine statement the source holds (read in full),
	// the page shows the newest 7 medicines of 41, or of at least 7.
	const held = 40
	serve := func(total int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			page := 0
			fmt.Sscan(r.URL.Query().Get("page"), &page)
			var mrs []string
			for i := page * 2; i < min(held, page*2+2); i++ {
				mrs = append(mrs, fmt.Sprintf(`{"resourceType":"MedicationRequest","id":"mr%d","status":"active","intent":"order",`+
					`"medicationCodeableConcept":{"text":"Drug %d"},"authoredOn":"%d-01-01"}`, i, i, 2024-i))
			}
			next := ""
			if page*2+2 < held {
				next = fmt.Sprintf("MedicationRequest?page=%d", page+1)
			}
			fmt.Fprint(w, pagedBundle(mrs, next, total))
		}
	}
	tests := []struct {
		name  string
		total int
		want  connectors.Gap
	}{
		{"TotalGiven", held, connectors.Gap{Kind: connectors.KindMedication, Truncated: true, Read: 7, Total: held + 1}},
		{"TotalNotGiven", -1, connectors.Gap{Kind: connectors.KindMedication, Truncated: true, Read: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.override["MedicationRequest"] = serve(tt.total)
			cfg := testConfig(srv.URL)
			cfg.MaxPages = 3
			rec, err := newClient(t, cfg).FetchRecord(t.Context(), testNHS)
			if err != nil {
				t.Fatal(err)
			}
			var gaps []connectors.Gap
			for _, g := range rec.Gaps {
				if g.Kind == connectors.KindMedication {
					gaps = append(gaps, g)
				}
			}
			if !reflect.DeepEqual(gaps, []connectors.Gap{tt.want}) {
				t.Errorf("medication gaps %+v, want %+v", gaps, tt.want)
			}
			if rec.Complete(connectors.KindMedication) || !rec.Truncated() {
				t.Error("a capped list is called complete")
			}
			for _, g := range rec.Gaps {
				if g.Kind != connectors.KindMedication {
					t.Errorf("gap %+v for a kind that was read in full", g)
				}
			}
		})
	}
}

func TestDuplicatePatients(t *testing.T) {
	second := strings.Replace(strings.Replace(patientJSON, `"id": "p1"`, `"id": "p2"`, 1), `"Smith"`, `"Smyth"`, 1)
	other := strings.Replace(strings.Replace(patientJSON, `"id": "p1"`, `"id": "p3"`, 1), "9990000018", "9990000026", 1)
	criticalHb := `{"resourceType":"Observation","id":"hb2","status":"final","code":{"text":"Haemoglobin"},` +
		`"effectiveDateTime":"2024-03-01T08:00:00Z","valueQuantity":{"value":52,"unit":"g/L"},` +
		`"interpretation":[{"coding":[{"code":"LL"}]}]}`
	f, srv := newFake(t)
	var log searchLog
	f.override["Patient"] = func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, bundleJSON([]string{patientJSON, other, second}, ""))
	}
	for _, st := range searchedTypes {
		f.override[st.typ] = func(w http.ResponseWriter, r *http.Request) {
			p := r.URL.Query().Get("patient")
			log.add(st.typ+" "+p, nil)
			switch {
			case p == "Patient/p1":
				fmt.Fprint(w, bundleJSON(recordResources[st.typ], ""))
			case p == "Patient/p2" && st.typ == "Observation":
				fmt.Fprint(w, bundleJSON([]string{criticalHb}, ""))
			default:
				fmt.Fprint(w, bundleJSON(nil, ""))
			}
		}
	}
	rec, err := newClient(t, testConfig(srv.URL)).FetchRecord(t.Context(), testNHS)
	if err != nil {
		t.Fatal(err)
	}
	if rec.PatientRecords != 2 || rec.Patient.SourceID != "p1" {
		t.Errorf("PatientRecords %d, patient %s; want 2 and p1", rec.PatientRecords, rec.Patient.SourceID)
	}
	var hb *connectors.Entry
	for i, e := range rec.Entries {
		if e.ID == "Observation/hb2" {
			hb = &rec.Entries[i]
		}
	}
	if hb == nil || !hb.Result.Critical() {
		t.Fatalf("the critical result held under the second Patient is not shown critical: %+v", hb)
	}
	if len(rec.Entries) < 2 {
		t.Errorf("only %d entries: the first Patient's record was lost", len(rec.Entries))
	}
	for _, st := range searchedTypes {
		for _, p := range []string{"Patient/p1", "Patient/p2"} {
			if len(log.get(st.typ+" "+p)) != 1 {
				t.Errorf("%s searched %d times for %s, want once", st.typ, len(log.get(st.typ+" "+p)), p)
			}
		}
		if len(log.get(st.typ+" Patient/p3")) != 0 {
			t.Errorf("%s searched for a Patient with another NHS number", st.typ)
		}
	}
}

func TestIncludedResourcesAreNotEntries(t *testing.T) {
	mr := `{"resourceType":"MedicationRequest","id":"mr9","status":"active","intent":"order",` +
		`"medicationReference":{"reference":"Medication/med9","display":"Ramipril"},"authoredOn":"2024-01-01"}`
	med := `{"resourceType":"Medication","id":"med9","code":{"text":"Ramipril 5mg capsules"}}`
	f, srv := newFake(t)
	f.override["MedicationRequest"] = func(w http.ResponseWriter, r *http.Request) {
		b := bundleJSON([]string{mr, med}, "")
		// The second entry came by _include.
		b = strings.Replace(b, `"resource":`+med+`,"search":{"mode":"match"}`, `"resource":`+med+`,"search":{"mode":"include"}`, 1)
		fmt.Fprint(w, b)
	}
	f.override["med9"] = func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("Medication/%s read although it came with the search", path.Base(r.URL.Path))
	}
	rec, err := newClient(t, testConfig(srv.URL)).FetchRecord(t.Context(), testNHS)
	if err != nil {
		t.Fatal(err)
	}
	var meds []string
	for _, e := range rec.Entries {
		if e.Kind == connectors.KindMedication || strings.HasPrefix(e.ID, "Medication/") {
			meds = append(meds, e.ID)
		}
	}
	if want := []string{"MedicationRequest/mr9", "MedicationStatement/ms1"}; !reflect.DeepEqual(meds, want) {
		t.Errorf("medicine entries %v, want %v (the included Medication is not an entry of its own)", meds, want)
	}
	for _, u := range rec.Unreadable {
		if u.Kind == connectors.KindMedication || u.Kind == "" {
			t.Errorf("unreadable %+v: neither the prescription nor its Medication is", u)
		}
	}
}

func TestRequestTimeoutIsPerRequest(t *testing.T) {
	// Four pages, each well within the per-request timeout, together
	// longer than it: the whole list arrives.
	const pages = 4
	f, srv := newFake(t)
	f.override["Encounter"] = func(w http.ResponseWriter, r *http.Request) {
		page := 0
		fmt.Sscan(r.URL.Query().Get("page"), &page)
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		next := ""
		if page+1 < pages {
			next = fmt.Sprintf("Encounter?page=%d", page+1)
		}
		enc := fmt.Sprintf(`{"resourceType":"Encounter","id":"e%d","status":"finished","class":{"code":"AMB"},`+
			`"period":{"start":"2020-01-0%dT10:00:00Z"}}`, page, page+1)
		fmt.Fprint(w, bundleJSON([]string{enc}, next))
	}
	cfg := testConfig(srv.URL)
	cfg.Timeout = time.Second
	rec, err := newClient(t, cfg).FetchRecord(t.Context(), testNHS)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range rec.Entries {
		if e.Kind == connectors.KindEncounter {
			n++
		}
	}
	if n != pages || len(rec.Gaps) != 0 {
		t.Errorf("%d encounters, gaps %+v; want %d and none", n, rec.Gaps, pages)
	}
}

func TestCallerEndsTheFetch(t *testing.T) {
	f, srv := newFake(t)
	f.override["Observation"] = blockUntilDone
	ctx, cancel := context.WithCancel(t.Context())
	f.override["Encounter"] = func(w http.ResponseWriter, r *http.Request) {
		cancel()
		blockUntilDone(w, r)
	}
	_, err := newClient(t, testConfig(srv.URL)).FetchRecord(ctx, testNHS)
	if connectors.KindOf(err) != connectors.ErrCanceled {
		t.Fatalf("err = %v, want cancelled: a fetch the caller gave up on is not a record", err)
	}
}

func TestMedicinesReadByReference(t *testing.T) {
	mr := func(id, ref string) string {
		return fmt.Sprintf(`{"resourceType":"MedicationRequest","id":%q,"status":"active","intent":"order",`+
			`"medicationReference":{"reference":%q},"authoredOn":"2024-01-01"}`, id, ref)
	}
	f, srv := newFake(t)
	var log searchLog
	f.resources = map[string][]string{"MedicationRequest": {
		mr("read", "Medication/med7"),
		mr("read-again", "Medication/med7/_history/2"),
		mr("absolute", srv.URL+"/R4/Medication/med8"),
		mr("gone", "Medication/gone"),
		mr("elsewhere", "https://elsewhere.example/R4/Medication/med9"),
	}}
	for _, id := range []string{"med7", "med8", "gone", "med9"} {
		f.override[id] = func(w http.ResponseWriter, r *http.Request) {
			log.add(r.URL.Path, nil)
			if id == "gone" || id == "med9" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintf(w, `{"resourceType":"Medication","id":%q,"code":{"text":"Ramipril %s"}}`, id, id)
		}
	}
	rec, err := newClient(t, testConfig(srv.URL)).FetchRecord(t.Context(), testNHS)
	if err != nil {
		t.Fatal(err)
	}
	drugs := map[string]string{}
	for _, e := range rec.Entries {
		if e.Medication != nil {
			drugs[strings.TrimPrefix(e.ID, "MedicationRequest/")] = e.Medication.Drug
		}
	}
	for id, want := range map[string]string{"read": "Ramipril med7", "read-again": "Ramipril med7", "absolute": "Ramipril med8"} {
		if drugs[id] != want {
			t.Errorf("%s: drug %q, want %q", id, drugs[id], want)
		}
	}
	for _, id := range []string{"gone", "elsewhere"} {
		if _, ok := drugs[id]; !ok {
			t.Errorf("the prescription %s whose medicine could not be read was dropped", id)
		}
	}
	for p, want := range map[string]int{"/R4/Medication/med7": 1, "/R4/Medication/med8": 1, "/R4/Medication/gone": 1, "/R4/Medication/med9": 0} {
		if n := len(log.get(p)); n != want {
			t.Errorf("%s read %d times, want %d", p, n, want)
		}
	}
}

func TestStrictServerAcceptsEverySearch(t *testing.T) {
	// A server that rejects any parameter, sort key or _include it does
	// not know: every search the client makes is one it knows, asked
	// once, and the medicine comes by _include, not by a read.
	src := fhirtest.New(fhirtest.Options{Strict: true})
	src.MustLoad([]byte(patientJSON),
		[]byte(`{"resourceType":"Medication","id":"med1","code":{"text":"Ramipril 5mg capsules"}}`),
		[]byte(`{"resourceType":"MedicationRequest","id":"mr1","status":"active","intent":"order","subject":{"reference":"Patient/p1"},`+
			`"medicationReference":{"reference":"Medication/med1"},"authoredOn":"2024-01-01"}`))
	srv := httptest.NewServer(src)
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.BaseURL = srv.URL
	rec, err := newClient(t, cfg).FetchRecord(t.Context(), testNHS)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Gaps) != 0 || len(rec.Entries) != 1 || rec.Entries[0].Medication.Drug != "Ramipril 5mg capsules" {
		t.Errorf("gaps %+v, entries %+v", rec.Gaps, rec.Entries)
	}
	searched := map[string]int{}
	for _, r := range src.Requests() {
		u, err := url.Parse(strings.TrimPrefix(r, "GET "))
		if err != nil {
			t.Fatal(err)
		}
		searched[strings.Trim(u.Path, "/")]++
	}
	for _, st := range searchedTypes {
		if searched[st.typ] != 1 {
			t.Errorf("%s searched %d times, want once", st.typ, searched[st.typ])
		}
	}
	if searched["Medication/med1"] != 0 {
		t.Error("the included Medication was read again")
	}
}
