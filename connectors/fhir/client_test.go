package fhir_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func fptr(f float64) *float64 { return &f }

func TestFetchRecord(t *testing.T) {
	_, srv := newFake(t)
	c := newClient(t, testConfig(srv.URL))
	rec, err := c.FetchRecord(t.Context(), "999 000 0018")
	if err != nil {
		t.Fatal(err)
	}
	src := connectors.Source{Name: "Test Trust", ODS: "RXX"}

	t.Run("Patient", func(t *testing.T) {
		want := connectors.Patient{
			NHSNumber: "9990000018", SourceID: "p1", Title: "Mrs", Given: []string{"Jane", "Ann"}, Family: "Smith",
			BirthDate: connectors.NewDate(1965, time.March, 12), Gender: "female",
			AddressLines: []string{"12 Imaginary Road", "Camberwell"}, Postcode: "SE5 9ZZ", Phone: "020 7946 0001",
			RegisteredGP: connectors.Organisation{Name: "Fictional Green Surgery", ODS: "G85991"}, Source: src,
		}
		if !reflect.DeepEqual(*rec.Patient, want) {
			t.Errorf("patient\n got %+v\nwant %+v", *rec.Patient, want)
		}
	})

	t.Run("Omissions", func(t *testing.T) {
		// Unreadable: bad1 (a status R4 does not have), "garbage" (not a
		// resource), bad2 (a bad date). mr-bad (its contained medicine
		// missing) and d-bad (content not base64) are shown, saying what
		// is missing. Hidden: eie (entered in error), c3 (refuted).
		want := []connectors.Omission{
			{Kind: connectors.KindResult, Resource: "Observation/bad1", Reason: "does not fit FHIR R4"},
			{Kind: connectors.KindResult, Reason: "not a FHIR resource"},
			{Kind: connectors.KindResult, Resource: "Observation/bad2", Reason: "bad date"},
		}
		if !sameOmissions(rec.Unreadable, want) {
			t.Errorf("Unreadable = %+v, want %+v", rec.Unreadable, want)
		}
		wantHidden := []connectors.Omission{
			{Kind: connectors.KindResult, Resource: "Observation/eie", Reason: connectors.HideEnteredInError},
			{Kind: connectors.KindProblem, Resource: "Condition/c3", Reason: connectors.HideRefuted},
		}
		if !sameOmissions(rec.Hidden, wantHidden) {
			t.Errorf("Hidden = %+v, want %+v", rec.Hidden, wantHidden)
		}
		if rec.Truncated() {
			t.Error("Truncated on a single page")
		}
	})

	byID := map[string]connectors.Entry{}
	for _, e := range rec.Entries {
		if _, dup := byID[e.ID]; dup {
			t.Errorf("duplicate entry %s", e.ID)
		}
		byID[e.ID] = e
		if e.Source != src || !e.Fetched.Equal(rec.Fetched) || rec.Fetched.IsZero() {
			t.Errorf("%s: source %v fetched %v (record fetched %v)", e.ID, e.Source, e.Fetched, rec.Fetched)
		}
	}
	for _, id := range []string{"Observation/eie", "Observation/ue-panel", "Condition/c3", "DiagnosticReport/ctrep",
		"DiagnosticReport/fbc1", "Observation/bad1", "Observation/bad2"} {
		if _, ok := byID[id]; ok {
			t.Errorf("entry %s should not be on the timeline", id)
		}
	}
	wantIDs := []string{"Observation/hb1", "Observation/egfr1", "Observation/plt1", "Observation/k1", "Observation/covid", "Observation/note1",
		"Observation/bp1", "ImagingStudy/ct1", "DiagnosticReport/cxr", "DiagnosticReport/histo", "MedicationRequest/mr1",
		"MedicationStatement/ms1", "Encounter/enc1", "Encounter/enc2", "Procedure/proc1", "Condition/c1", "Condition/c2",
		"AllergyIntolerance/a1", "AllergyIntolerance/nka", "DocumentReference/d1", "DocumentReference/d2", "DocumentReference/d3",
		"MedicationRequest/mr-bad", "DocumentReference/d-bad"}
	if len(rec.Entries) != len(wantIDs) {
		t.Errorf("got %d entries, want %d", len(rec.Entries), len(wantIDs))
	}
	for i := 1; i < len(rec.Entries); i++ {
		if rec.Entries[i].Date.After(rec.Entries[i-1].Date) {
			t.Errorf("entries not newest first at %d", i)
		}
	}

	tests := []struct {
		id   string
		want connectors.Entry
	}{
		{"Observation/hb1", connectors.Entry{Kind: connectors.KindResult, Date: utc("2024-02-03T09:15:00Z"), Title: "Haemoglobin",
			Codes: []connectors.Code{{System: connectors.SystemLOINC, Code: "718-7", Display: "Hemoglobin [Mass/volume] in Blood"}},
			Result: &connectors.Result{Value: "98", Numeric: fptr(98), Units: "g/L", Flag: connectors.FlagLow, Status: "final",
				Range: connectors.RefRange{Low: fptr(115), High: fptr(165)}, Group: "DiagnosticReport/fbc1", GroupTitle: "Full blood count",
				GroupCodes: []connectors.Code{{System: "http://loinc.org", Code: "58410-2"}}}}},
		{"Observation/plt1", connectors.Entry{Kind: connectors.KindResult, Date: utc("2024-02-03T09:15:00Z"), Title: "Platelets [#/volume] in Blood",
			Codes: []connectors.Code{{System: connectors.SystemLOINC, Code: "777-3", Display: "Platelets [#/volume] in Blood"}},
			Result: &connectors.Result{Value: "250.0", Numeric: fptr(250), Units: "10*9/L", Flag: connectors.FlagNormal, Status: "final",
				Range: connectors.RefRange{Text: "150 - 400"}, Group: "DiagnosticReport/fbc1", GroupTitle: "Full blood count",
				GroupCodes: []connectors.Code{{System: "http://loinc.org", Code: "58410-2"}}}}},
		{"Observation/k1", connectors.Entry{Kind: connectors.KindResult, Date: utc("2023-11-20T00:00:00Z"), Precision: connectors.PrecisionDay, Title: "Potassium",
			Codes: []connectors.Code{{System: connectors.SystemLOINC, Code: "2823-3", Display: "Potassium"}},
			Result: &connectors.Result{Value: "6.9", Numeric: fptr(6.9), Comparator: ">", Units: "mmol/L", Flag: connectors.FlagCriticalHigh,
				Status: "final", Comment: "Haemolysed sample", Group: "Observation/ue-panel", GroupTitle: "Urea and electrolytes"}}},
		{"Observation/egfr1", connectors.Entry{Kind: connectors.KindResult, Date: utc("2023-11-20T00:00:00Z"), Precision: connectors.PrecisionDay, Title: "eGFR",
			Result: &connectors.Result{Value: "90", Numeric: fptr(90), Comparator: ">", Units: "mL/min/1.73m2", Status: "final"}}},
		{"Observation/covid", connectors.Entry{Kind: connectors.KindResult, Date: utc("2022-01-05T10:00:00Z"), Title: "SARS-CoV-2 RNA",
			Result: &connectors.Result{Value: "Negative", Status: "final"}}},
		{"Observation/note1", connectors.Entry{Kind: connectors.KindResult, Date: utc("2022-01-06T10:00:00Z"), Title: "Urine appearance",
			Result: &connectors.Result{Value: "Cloudy", Status: "preliminary"}}},
		{"Observation/bp1", connectors.Entry{Kind: connectors.KindResult, Date: utc("2022-01-07T10:00:00Z"), Title: "Blood pressure",
			Result: &connectors.Result{Status: "final", Components: []connectors.Component{
				{Title: "Systolic", Value: "150", Numeric: fptr(150), Units: "mmHg"},
				{Title: "Diastolic", Value: "95", Numeric: fptr(95), Units: "mmHg"}}}}},
		{"ImagingStudy/ct1", connectors.Entry{Kind: connectors.KindImaging, Date: utc("2023-06-01T13:30:00Z"), Title: "CT of head",
			Codes: []connectors.Code{{System: connectors.SystemSNOMED, Code: "303653007", Display: "CT of head"}},
			Imaging: &connectors.Imaging{Modality: "CT", BodySite: "Head structure", Status: "available",
				Report: "CT HEAD WITHOUT CONTRAST\nNo haemorrhage.", Conclusion: "No acute intracranial abnormality."}}},
		{"DiagnosticReport/cxr", connectors.Entry{Kind: connectors.KindImaging, Date: utc("2021-09-09T08:00:00Z"), Title: "Plain chest X-ray",
			Codes:   []connectors.Code{{System: connectors.SystemSNOMED, Code: "399208008", Display: "Plain chest X-ray"}},
			Imaging: &connectors.Imaging{Status: "final", Conclusion: "Clear lung fields."}}},
		{"DiagnosticReport/histo", connectors.Entry{Kind: connectors.KindResult, Date: utc("2020-03-03T08:00:00Z"), Title: "Skin biopsy histology",
			Result: &connectors.Result{Value: "Benign naevus.", Status: "final", Comment: "Macroscopy: ellipse of skin.",
				Group: "DiagnosticReport/histo", GroupTitle: "Skin biopsy histology"}}},
		{"MedicationRequest/mr1", connectors.Entry{Kind: connectors.KindMedication, Date: utc("2019-05-01T00:00:00Z"), Precision: connectors.PrecisionDay, Title: "Metformin 500mg tablets",
			Codes: []connectors.Code{{System: connectors.SystemDMD, Code: "42109611000001108", Display: "Metformin 500mg tablets"}},
			Medication: &connectors.Medication{Drug: "Metformin 500mg tablets", Dose: "500 mg", Route: "Oral", Frequency: "twice a day",
				Start: onDay("2019-05-01"), Status: connectors.MedicationCurrent, SourceStatus: "active", Prescribed: true}}},
		{"MedicationRequest/mr-bad", connectors.Entry{Kind: connectors.KindMedication, Title: "Medicine not named by the source",
			Medication: &connectors.Medication{Drug: "Medicine not named by the source", Status: connectors.MedicationCurrent,
				SourceStatus: "active", Prescribed: true}}},
		{"MedicationStatement/ms1", connectors.Entry{Kind: connectors.KindMedication, Date: utc("2021-01-10T00:00:00Z"), Precision: connectors.PrecisionDay, Title: "Amoxicillin 500mg capsules",
			Codes: []connectors.Code{{System: connectors.SystemDMD, Code: "39732311000001104", Display: "Amoxicillin 500mg capsules"}},
			Medication: &connectors.Medication{Drug: "Amoxicillin 500mg capsules", Dose: "500mg three times a day", Frequency: "Three times a day",
				Start: onDay("2021-01-10"), End: onDay("2021-01-17"), Status: connectors.MedicationPast, SourceStatus: "completed"}}},
		{"Encounter/enc1", connectors.Entry{Kind: connectors.KindEncounter, Date: utc("2023-06-01T12:00:00Z"), Title: "Emergency hospital admission",
			Codes: []connectors.Code{{System: connectors.SystemSNOMED, Code: "183452005", Display: "Emergency hospital admission"}},
			Encounter: &connectors.Encounter{Type: "Emergency hospital admission", Class: "inpatient", Location: "Princess Royal University Hospital",
				Status: "finished", Start: connectors.At(utc("2023-06-01T12:00:00Z")), End: connectors.At(utc("2023-06-04T10:00:00Z"))}}},
		{"Encounter/enc2", connectors.Entry{Kind: connectors.KindEncounter, Date: utc("2024-05-01T09:00:00Z"), Title: "Outpatient encounter",
			Encounter: &connectors.Encounter{Class: "outpatient", Location: "Diabetes clinic", Status: "in-progress", Start: connectors.At(utc("2024-05-01T09:00:00Z"))}}},
		{"Procedure/proc1", connectors.Entry{Kind: connectors.KindProcedure, Date: utc("2018-07-07T09:00:00Z"), Title: "Colonoscopy",
			Codes:     []connectors.Code{{System: connectors.SystemSNOMED, Code: "73761001", Display: "Colonoscopy"}},
			Procedure: &connectors.Procedure{Performed: connectors.At(utc("2018-07-07T09:00:00Z")), Status: "completed", BodySite: "Colon"}}},
		{"Condition/c1", connectors.Entry{Kind: connectors.KindProblem, Date: utc("2019-04-01T00:00:00Z"), Precision: connectors.PrecisionDay, Title: "Type 2 diabetes mellitus",
			Codes:   []connectors.Code{{System: connectors.SystemSNOMED, Code: "44054006", Display: "Type 2 diabetes mellitus"}},
			Problem: &connectors.Problem{Status: connectors.ProblemActive, Onset: onDay("2019-04-01")}}},
		{"Condition/c2", connectors.Entry{Kind: connectors.KindProblem, Date: utc("2020-12-01T00:00:00Z"), Precision: connectors.PrecisionDay, Title: "Pneumonia",
			Codes:   []connectors.Code{{System: connectors.SystemSNOMED, Code: "233604007", Display: "Pneumonia"}},
			Problem: &connectors.Problem{Status: connectors.ProblemResolved, Onset: onDay("2020-12-01"), Abatement: onDay("2021-01-02")}}},
		{"AllergyIntolerance/a1", connectors.Entry{Kind: connectors.KindAllergy, Date: utc("2010-02-02T00:00:00Z"), Precision: connectors.PrecisionDay, Title: "Penicillin",
			Codes: []connectors.Code{{System: connectors.SystemSNOMED, Code: "764146007", Display: "Penicillin"}},
			Allergy: &connectors.Allergy{Substance: "Penicillin", Reaction: "Anaphylaxis", Severity: "severe", Criticality: "high",
				Status: "active"}}},
		{"AllergyIntolerance/nka", connectors.Entry{Kind: connectors.KindAllergy, Date: utc("2024-01-01T00:00:00Z"), Precision: connectors.PrecisionDay, Title: "No known allergy",
			Codes:   []connectors.Code{{System: connectors.SystemSNOMED, Code: "716186003", Display: "No known allergy"}},
			Allergy: &connectors.Allergy{NoKnownAllergies: true, NoKnownScope: connectors.NoKnownAny, Status: "active"}}},
		{"DocumentReference/d1", connectors.Entry{Kind: connectors.KindDocument, Date: utc("2023-06-04T11:00:00Z"), Title: "Discharge summary",
			Codes: []connectors.Code{{System: connectors.SystemSNOMED, Code: "373942005", Display: "Discharge summary"}},
			Document: &connectors.Document{Type: "Discharge summary", ContentType: "text/plain",
				Text: "Discharged home. Follow up in clinic.", Author: "Dr A Fictional"}}},
		{"DocumentReference/d2", connectors.Entry{Kind: connectors.KindDocument, Date: utc("2024-05-01T00:00:00Z"), Precision: connectors.PrecisionDay, Title: "Diabetes clinic letter",
			Document: &connectors.Document{Type: "Clinic letter", ContentType: "application/pdf", Data: []byte("%PDF-1.4 fake")}}},
		{"DocumentReference/d3", connectors.Entry{Kind: connectors.KindDocument, Date: utc("2024-06-01T00:00:00Z"), Precision: connectors.PrecisionDay, Title: "Clinic letter",
			Document: &connectors.Document{Type: "Clinic letter", ContentType: "application/pdf", URL: "https://fhir.example/R4/Binary/d3",
				Unavailable: "held outside the source, not fetched"}}},
		{"DocumentReference/d-bad", connectors.Entry{Kind: connectors.KindDocument, Title: "Clinic letter",
			Document: &connectors.Document{Type: "Clinic letter", ContentType: "text/plain", Unavailable: "content could not be decoded"}}},
	}
	if len(tests) != len(wantIDs) {
		t.Fatalf("test table covers %d of %d entries", len(tests), len(wantIDs))
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got, ok := byID[tt.id]
			if !ok {
				t.Fatalf("no entry %s", tt.id)
			}
			tt.want.ID, tt.want.Source, tt.want.Fetched = tt.id, src, rec.Fetched
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

// onDay is a date without a time, as a detail date.
func onDay(s string) connectors.When {
	return connectors.When{Time: utc(s + "T00:00:00Z"), Precision: connectors.PrecisionDay}
}

// sameOmissions compares omissions in any order.
func sameOmissions(got, want []connectors.Omission) bool {
	if len(got) != len(want) {
		return false
	}
	left := slices.Clone(want)
	for _, g := range got {
		i := slices.Index(left, g)
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}

func dump(e connectors.Entry) string {
	s := fmt.Sprintf("%+v", e)
	for _, d := range []any{e.Result, e.Imaging, e.Medication, e.Encounter, e.Procedure, e.Problem, e.Allergy, e.Document,
		e.Immunization, e.Alert} {
		if !reflect.ValueOf(d).IsNil() {
			s += fmt.Sprintf(" detail=%+v", d)
		}
	}
	return s
}

func TestFetchRecordNoRecord(t *testing.T) {
	_, srv := newFake(t)
	c := newClient(t, testConfig(srv.URL))
	_, err := c.FetchRecord(t.Context(), "9990000026")
	if !errors.Is(err, connectors.ErrNoRecord) {
		t.Fatalf("err = %v, want ErrNoRecord", err)
	}
	if _, err := c.FetchRecord(t.Context(), "9990000019"); !errors.Is(err, connectors.ErrNHSNumberCheckDigit) {
		t.Fatalf("invalid NHS number: err = %v", err)
	}
}

// blockUntilDone answers nothing until the client gives up.
func blockUntilDone(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// stackTrace is the kind of body a Java FHIR server sends with a 500: the
// source's own words, which must reach neither a page nor a Gap.
const stackTrace = `java.lang.NullPointerException: Patient Smith 9990000018 lookup failed
	at org.example.fhir.SearchDao.search(SearchDao.java:412)
	at org.example.fhir.RestfulServer.handle(RestfulServer.java:88)`

// sourceWords are fragments of what the misbehaving sources below write,
// none of which may appear in an error message or a Gap.
var sourceWords = []string{"NullPointerException", "SearchDao", "Smith", "9990000018", "is not supported", "ignore me", "Service Unavailable"}

func TestFetchRecordErrors(t *testing.T) {
	oo := `{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational","diagnostics":"ignore me"},
	        {"severity":"error","code":"not-supported","diagnostics":"Search on DocumentReference\nis not supported"}]}`
	tests := []struct {
		name     string
		typ      string // resource type whose search misbehaves
		handler  http.HandlerFunc
		kind     connectors.ErrorKind
		status   int
		detail   string
		is       error
		maxBytes int64
		// reason is the Gap's Reason when a record search fails; a failed
		// Patient search fails the whole fetch instead.
		reason string
	}{
		{name: "MalformedJSON", typ: "Observation", kind: connectors.ErrMalformed, reason: "unreadable answer",
			handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"resourceType":"Bundle","entry":[`) }},
		{name: "NotABundle", typ: "Patient", kind: connectors.ErrMalformed, detail: "response is not a FHIR Bundle",
			handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, patientJSON) }},
		{name: "HTMLErrorPage", typ: "Patient", kind: connectors.ErrMalformed, detail: "response is not a FHIR Bundle",
			handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `<html>Service Unavailable</html>`) }},
		{name: "OperationOutcome", typ: "DocumentReference", kind: connectors.ErrRefused, reason: "refused",
			detail:  "OperationOutcome information informational, error not-supported",
			handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, oo) }},
		{name: "PatientOperationOutcome", typ: "Patient", kind: connectors.ErrRefused,
			detail:  "OperationOutcome information informational, error not-supported",
			handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, oo) }},
		{name: "HTTP500", typ: "Condition", kind: connectors.ErrStatus, status: 500, reason: "HTTP 500",
			detail: "OperationOutcome information informational, error not-supported",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, oo)
			}},
		{name: "HTTP500StackTrace", typ: "Observation", kind: connectors.ErrStatus, status: 500, reason: "HTTP 500",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, stackTrace)
			}},
		{name: "PatientHTTP500StackTrace", typ: "Patient", kind: connectors.ErrStatus, status: 500,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, stackTrace)
			}},
		{name: "HTTP404", typ: "Patient", kind: connectors.ErrStatus, status: 404,
			handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }},
		{name: "HTTP401", typ: "Patient", kind: connectors.ErrStatus, status: 401,
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }},
		{name: "Timeout", typ: "Encounter", kind: connectors.ErrTimeout, is: context.DeadlineExceeded, reason: "timed out",
			handler: blockUntilDone},
		{name: "SlowBody", typ: "Patient", kind: connectors.ErrTimeout, is: context.DeadlineExceeded,
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"resourceType":"Bundle","entry":[`)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			}},
		{name: "TooLarge", typ: "Observation", kind: connectors.ErrMalformed, maxBytes: 4096, reason: "unreadable answer",
			detail: "response larger than 4096 bytes",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, bundleJSON([]string{`{"resourceType":"Observation","id":"x","status":"final","code":{"text":"` +
					strings.Repeat("x", 5000) + `"}}`}, ""))
			}},
		{name: "NextLinkOtherServer", typ: "Procedure", kind: connectors.ErrMalformed, reason: "unreadable answer",
			detail: "paging link points to another server",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, bundleJSON(nil, "https://elsewhere.example/R4/Procedure?page=2"))
			}},
	}
	// What the source holds when nothing misbehaves.
	_, okSrv := newFake(t)
	whole, err := newClient(t, testConfig(okSrv.URL)).FetchRecord(t.Context(), testNHS)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.override[tt.typ] = tt.handler
			cfg := testConfig(srv.URL)
			cfg.MaxResponseBytes = tt.maxBytes
			if tt.kind == connectors.ErrTimeout {
				// Per request: the blocked search ends at it, and every
				// other search must answer within it on a loaded machine.
				cfg.Timeout = 2 * time.Second
			}
			c := newClient(t, cfg)
			rec, err := c.FetchRecord(t.Context(), testNHS)
			if tt.typ != "Patient" {
				checkFailedKind(t, whole, rec, err, tt.typ, tt.reason)
				return
			}
			if err == nil {
				t.Fatalf("no error; record with %d entries", len(rec.Entries))
			}
			se, ok := errors.AsType[*connectors.SourceError](err)
			if !ok {
				t.Fatalf("err = %v (%T), want *SourceError", err, err)
			}
			if se.Kind != tt.kind || se.Status != tt.status || se.Source.ODS != "RXX" {
				t.Errorf("kind %q status %d source %v; want %q %d", se.Kind, se.Status, se.Source, tt.kind, tt.status)
			}
			if se.Detail != tt.detail {
				t.Errorf("detail %q, want %q", se.Detail, tt.detail)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if !strings.HasPrefix(err.Error(), "Test Trust: ") {
				t.Errorf("message %q", err.Error())
			}
			for _, w := range sourceWords {
				if strings.Contains(err.Error(), w) || strings.Contains(se.Detail, w) {
					t.Errorf("the source's own words %q reached the message %q or detail %q", w, err.Error(), se.Detail)
				}
			}
		})
	}
}

// checkFailedKind checks a fetch in which the search for typ failed: the
// record holds everything else the source holds (whole), and a failed Gap
// with the reason for typ's kind, and nothing the source wrote.
func checkFailedKind(t *testing.T, whole, rec *connectors.Record, err error, typ, reason string) {
	t.Helper()
	if err != nil {
		t.Fatalf("a failed %s search failed the whole source: %v", typ, err)
	}
	kind := kindOf(typ)
	want := []connectors.Gap{{Kind: kind, Failed: true, Reason: reason}}
	if !reflect.DeepEqual(rec.Gaps, want) {
		t.Errorf("gaps %+v, want %+v", rec.Gaps, want)
	}
	if rec.Complete(kind) {
		t.Errorf("record complete for %s although its search failed", kind)
	}
	// Everything else is still shown (a report whose results were in the
	// failed search may now stand on its own), and nothing of typ.
	got := map[string]bool{}
	for _, e := range rec.Entries {
		got[e.ID] = true
		if strings.HasPrefix(e.ID, typ+"/") {
			t.Errorf("entry %s shown although its search failed", e.ID)
		}
	}
	for _, e := range whole.Entries {
		if !strings.HasPrefix(e.ID, typ+"/") && !got[e.ID] {
			t.Errorf("entry %s lost with the failed %s search", e.ID, typ)
		}
	}
	for _, g := range rec.Gaps {
		for _, w := range sourceWords {
			if strings.Contains(g.Reason, w) {
				t.Errorf("the source's own words %q reached the gap %+v", w, g)
			}
		}
	}
}

// kindOf is the kind each searched type's entries are, as the page names
// them; spelt out here so that a change in the client's table is noticed.
func kindOf(typ string) connectors.Kind {
	return map[string]connectors.Kind{
		"Observation": connectors.KindResult, "ImagingStudy": connectors.KindImaging, "DiagnosticReport": connectors.KindResult,
		"MedicationRequest": connectors.KindMedication, "MedicationStatement": connectors.KindMedication,
		"Encounter": connectors.KindEncounter, "Procedure": connectors.KindProcedure, "Condition": connectors.KindProblem,
		"AllergyIntolerance": connectors.KindAllergy, "DocumentReference": connectors.KindDocument,
		"Immunization": connectors.KindImmunization, "Flag": connectors.KindAlert,
	}[typ]
}

func TestCallerDeadlineAndCancel(t *testing.T) {
	f, srv := newFake(t)
	f.override["Patient"] = blockUntilDone
	c := newClient(t, testConfig(srv.URL)) // cfg.Timeout is 3s; the caller's deadline is sooner

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.FetchRecord(ctx, testNHS)
	if connectors.KindOf(err) != connectors.ErrTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v: the caller's deadline was not honoured", d)
	}

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	_, err = c.FindPatients(ctx, connectors.Query{NHSNumber: testNHS})
	if connectors.KindOf(err) != connectors.ErrCanceled {
		t.Fatalf("err = %v, want canceled", err)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c := newClient(t, testConfig(url))
	_, err := c.FetchRecord(t.Context(), testNHS)
	if k := connectors.KindOf(err); k != connectors.ErrUnavailable {
		t.Fatalf("err = %v (kind %q), want unavailable", err, k)
	}
	if want := "Test Trust: could not be reached"; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
}

func TestPaging(t *testing.T) {
	const total = 7
	var requests atomic.Int32
	pages := func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		// The first page comes from the search; the rest from opaque
		// tokens the client must follow exactly as given.
		page := 0
		if tok := r.URL.Query().Get("_page_token"); tok != "" {
			if _, err := fmt.Sscanf(tok, "opaque-%d", &page); err != nil || r.URL.Path != "/R4/_pages" {
				t.Errorf("unexpected paging request %s", r.URL)
			}
		}
		var obs []string
		for i := page * 2; i < min(total, page*2+2); i++ {
			obs = append(obs, fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","code":{"text":"Sodium"},`+
				`"effectiveDateTime":"2020-01-%02dT00:00:00Z","valueQuantity":{"value":140,"unit":"mmol/L"}}`, i, i+1))
		}
		next := ""
		if page*2+2 < total {
			next = fmt.Sprintf("_pages?_page_token=opaque-%d", page+1) // relative, as some servers send
		}
		fmt.Fprint(w, bundleJSON(obs, next))
	}
	tests := []struct {
		name      string
		maxPages  int
		entries   int
		requests  int32
		truncated bool
	}{
		{"AllPages", 0, 7, 4, false},
		{"CappedAtTwo", 2, 4, 2, true},
		{"ExactlyEnough", 4, 7, 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requests.Store(0)
			f, srv := newFake(t)
			f.override["Observation"] = pages
			f.override["_pages"] = pages
			cfg := testConfig(srv.URL)
			cfg.MaxPages = tt.maxPages
			f.resources = map[string][]string{}
			rec, err := newClient(t, cfg).FetchRecord(t.Context(), testNHS)
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Entries) != tt.entries || requests.Load() != tt.requests || rec.Truncated() != tt.truncated {
				t.Errorf("entries %d requests %d truncated %v; want %d %d %v",
					len(rec.Entries), requests.Load(), rec.Truncated(), tt.entries, tt.requests, tt.truncated)
			}
			if rec.Entries[0].ID != fmt.Sprintf("Observation/o%d", tt.entries-1) {
				t.Errorf("newest entry %s", rec.Entries[0].ID)
			}
		})
	}
}

func TestFindPatients(t *testing.T) {
	restricted := `{"resourceType":"Patient","id":"r1",
	  "meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R","display":"restricted"}]},
	  "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000034"}],
	  "name":[{"family":"Hidden","given":["Ruth"]}],"gender":"female","birthDate":"1980-01-01",
	  "telecom":[{"system":"phone","value":"020 7946 0002"}],
	  "address":[{"line":["Secret Street"],"postalCode":"SE1 2ZZ"}],
	  "generalPractitioner":[{"display":"Some Surgery"}]}`
	deceased := `{"resourceType":"Patient","id":"d1","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000050"}],
	  "name":[{"family":"Hidden","given":["Harold"]}],"gender":"male","birthDate":"1930-06-01","deceasedDateTime":"2024-03-31T23:30:00Z"}`
	var got []string
	f, srv := newFake(t)
	f.override["Patient"] = func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.RawQuery)
		fmt.Fprint(w, bundleJSON([]string{restricted, deceased, `{"resourceType":"Patient","gender":"nonsense"}`}, ""))
	}
	c := newClient(t, testConfig(srv.URL))
	ps, err := c.FindPatients(t.Context(), connectors.Query{Family: " Hidden ", Given: "R", Gender: "female",
		BirthDate: connectors.NewDate(1980, 1, 1), Postcode: "SE1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "_count=100&address-postalcode=SE1&birthdate=eq1980-01-01&family=Hidden&gender=female&given=R"; got[0] != want {
		t.Errorf("query %q, want %q", got[0], want)
	}
	if len(ps) != 2 {
		t.Fatalf("got %d patients, want 2 (the bad one skipped)", len(ps))
	}
	r := ps[0]
	if !r.Restricted || r.AddressLines != nil || r.Postcode != "" || r.Phone != "" || r.RegisteredGP != (connectors.Organisation{}) {
		t.Errorf("restricted patient not redacted: %+v", r)
	}
	if r.NHSNumber != "9990000034" || r.Family != "Hidden" {
		t.Errorf("restricted patient lost identity: %+v", r)
	}
	d := ps[1]
	// 23:30 UTC on 31 March 2024 is 00:30 on 1 April in London (BST).
	if !d.Deceased || d.DeathDate == nil || *d.DeathDate != connectors.NewDate(2024, time.April, 1) {
		t.Errorf("deceased patient: %+v", d)
	}

	if _, err := c.FindPatients(t.Context(), connectors.Query{Family: "Smith"}); !errors.Is(err, connectors.ErrInvalidQuery) {
		t.Errorf("search without birth date: err = %v", err)
	}
	got = nil
	if _, err := c.FindPatients(t.Context(), connectors.Query{NHSNumber: "999-000-0018"}); err != nil {
		t.Fatal(err)
	}
	if want := "_count=100&identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9990000018"; got[0] != want {
		t.Errorf("query %q, want %q", got[0], want)
	}
}

func TestBearerToken(t *testing.T) {
	var auth atomic.Value
	f, srv := newFake(t)
	check := func(next http.Handler) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			auth.Store(r.Header.Get("Authorization"))
			if r.Header.Get("Authorization") != "Bearer s3cret" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		}
	}
	srv.Config.Handler = check(f)
	cfg := testConfig(srv.URL)
	cfg.Auth = connectors.Auth{Type: "bearer", TokenEnv: "RXX_TOKEN"}
	env := map[string]string{"RXX_TOKEN": "s3cret\n"}
	c, err := fhir.New(cfg, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchRecord(t.Context(), testNHS); err != nil {
		t.Fatalf("with token: %v (server saw %q)", err, auth.Load())
	}
	if _, err := fhir.New(cfg, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "RXX_TOKEN") {
		t.Errorf("missing token: err = %v, want one naming the variable", err)
	}
}
