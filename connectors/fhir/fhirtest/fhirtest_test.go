package fhirtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/fhir/fhirtest"
)

// page is what the tests read of a searchset Bundle.
type page struct {
	ResourceType string
	Total        *int
	Link         []struct{ Relation, URL string }
	Entry        []struct {
		FullURL  string
		Resource struct {
			ResourceType, ID    string
			Subject             struct{ Reference string }
			MedicationReference struct{ Reference string }
		}
		Search struct{ Mode string }
	}
	Issue []struct{ Severity, Code, Diagnostics string }
}

func (p page) ids(mode string) []string {
	var out []string
	for _, e := range p.Entry {
		if e.Search.Mode == mode {
			out = append(out, e.Resource.ResourceType+"/"+e.Resource.ID)
		}
	}
	return out
}

func (p page) next() string {
	for _, l := range p.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

func get(t *testing.T, u string, accept string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func search(t *testing.T, u string) (int, page) {
	t.Helper()
	status, _, body := get(t, u, "application/fhir+json")
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return status, p
}

const transaction = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],"name":[{"family":"Example","given":["Ann"]}],"birthDate":"1965-03-12"}},
 {"fullUrl":"urn:uuid:m1","resource":{"resourceType":"Medication","id":"m1","code":{"text":"Amoxicillin 500mg capsules"}}},
 {"fullUrl":"urn:uuid:o1","resource":{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"Haemoglobin"},"subject":{"reference":"urn:uuid:p1"},"effectiveDateTime":"2024-01-05"}},
 {"fullUrl":"urn:uuid:o2","resource":{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"Sodium"},"subject":{"reference":"urn:uuid:p1"},"effectiveDateTime":"2025-06-01T10:00:00Z"}},
 {"fullUrl":"urn:uuid:o3","resource":{"resourceType":"Observation","id":"o3","status":"final","code":{"text":"Potassium"},"subject":{"reference":"urn:uuid:p1"}}},
 {"fullUrl":"urn:uuid:mr1","resource":{"resourceType":"MedicationRequest","id":"mr1","status":"active","intent":"order","medicationReference":{"reference":"urn:uuid:m1"},"subject":{"reference":"urn:uuid:p1"}}},
 {"fullUrl":"http://elsewhere.example/fhir/Binary/b9","resource":{"resourceType":"Binary","id":"b9","contentType":"text/plain","data":"aGVsbG8="}},
 {"fullUrl":"urn:uuid:d9","resource":{"resourceType":"DocumentReference","id":"d9","status":"current","subject":{"reference":"urn:uuid:p1"},"content":[{"attachment":{"contentType":"text/plain","url":"http://elsewhere.example/fhir/Binary/b9"}}]}}
]}`

func newServer(t *testing.T, opts fhirtest.Options, raws ...string) (*fhirtest.Server, string) {
	t.Helper()
	s := fhirtest.New(opts)
	for _, raw := range raws {
		if err := s.Load([]byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

func TestLoadBundleResolvesFullURLReferences(t *testing.T) {
	s, base := newServer(t, fhirtest.Options{}, transaction)
	pats := s.Keys("Patient")
	if len(pats) != 1 {
		t.Fatalf("patients loaded: %v", pats)
	}
	pid := strings.TrimPrefix(pats[0], "Patient/")
	if got, want := s.ForPatient(pid), []string{"Observation/o1", "Observation/o2", "Observation/o3", "MedicationRequest/mr1", "DocumentReference/d9"}; !slices.Equal(got, want) {
		t.Errorf("ForPatient = %v, want %v", got, want)
	}
	_, p := search(t, base+"/MedicationRequest?patient=Patient/"+pid)
	if len(p.Entry) != 1 || p.Entry[0].Resource.MedicationReference.Reference != "Medication/m1" {
		t.Errorf("the medicationReference was not rewritten to Medication/m1: %+v", p.Entry)
	}
	// An attachment's url naming a Binary of the Bundle is rewritten too.
	if doc := string(s.Resource("DocumentReference/d9")); !strings.Contains(doc, `"url":"Binary/b9"`) {
		t.Errorf("the attachment url was not rewritten to Binary/b9: %s", doc)
	}
}

func TestSearch(t *testing.T) {
	// A resource whose type element is not a string, loaded on its own.
	doc := `{"resourceType":"DocumentReference","id":"d1","status":"current","type":{"text":"Letter"},"subject":{"reference":"Patient/elsewhere"}}`
	_, base := newServer(t, fhirtest.Options{}, transaction, doc)
	_, pp := search(t, base+"/Patient?identifier="+url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|9990000018"))
	if len(pp.Entry) != 1 {
		t.Fatalf("identifier search found %d patients", len(pp.Entry))
	}
	pid := pp.Entry[0].Resource.ID
	tests := []struct {
		name  string
		query string
		match []string
		incl  []string
	}{
		{"by patient reference, in load order", "Observation?patient=Patient/" + pid, []string{"Observation/o1", "Observation/o2", "Observation/o3"}, nil},
		{"by subject as a URL", "Observation?subject=" + url.QueryEscape("http://elsewhere.example/fhir/Patient/"+pid), []string{"Observation/o1", "Observation/o2", "Observation/o3"}, nil},
		{"by a list of alternatives", "Observation?patient=Patient/nobody,Patient/" + pid, []string{"Observation/o1", "Observation/o2", "Observation/o3"}, nil},
		{"newest first, undated last", "Observation?patient=" + pid + "&_sort=-date", []string{"Observation/o2", "Observation/o1", "Observation/o3"}, nil},
		{"oldest first, undated last", "Observation?patient=" + pid + "&_sort=date", []string{"Observation/o1", "Observation/o2", "Observation/o3"}, nil},
		{"another patient has nothing", "Observation?patient=Patient/nobody", nil, nil},
		{"with the medicines included", "MedicationRequest?patient=" + pid + "&_include=MedicationRequest:medication", []string{"MedicationRequest/mr1"}, []string{"Medication/m1"}},
		{"an unknown parameter is ignored when lenient", "Observation?patient=" + pid + "&code=1234-5&_sort=-nonsense", []string{"Observation/o1", "Observation/o2", "Observation/o3"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, p := search(t, base+"/"+tt.query)
			if status != http.StatusOK || p.ResourceType != "Bundle" {
				t.Fatalf("status %d, %s", status, p.ResourceType)
			}
			if got := p.ids("match"); !slices.Equal(got, tt.match) {
				t.Errorf("matches %v, want %v", got, tt.match)
			}
			if got := p.ids("include"); !slices.Equal(got, tt.incl) {
				t.Errorf("includes %v, want %v", got, tt.incl)
			}
			if p.Total == nil || *p.Total != len(tt.match) {
				t.Errorf("Bundle.total = %v, want %d", p.Total, len(tt.match))
			}
		})
	}
}

func TestPaging(t *testing.T) {
	for _, relative := range []bool{false, true} {
		name := "absolute next links"
		if relative {
			name = "relative next links"
		}
		t.Run(name, func(t *testing.T) {
			_, base := newServer(t, fhirtest.Options{RelativeLinks: relative}, transaction)
			_, pp := search(t, base+"/Patient?identifier=9990000018")
			u := base + "/Observation?patient=" + pp.Entry[0].Resource.ID + "&_count=2&_sort=-date"
			var got []string
			for pages := 0; u != ""; pages++ {
				if pages > 3 {
					t.Fatal("paging does not end")
				}
				_, p := search(t, u)
				if p.Total == nil || *p.Total != 3 {
					t.Errorf("page %d: Bundle.total = %v, want 3 on every page", pages+1, p.Total)
				}
				got = append(got, p.ids("match")...)
				u = p.next()
				if u != "" {
					if strings.HasPrefix(u, "http") == relative {
						t.Errorf("next link %q: relative=%v", u, relative)
					}
					next, _ := url.Parse(base + "/")
					ref, _ := next.Parse(u)
					u = ref.String()
				}
			}
			if want := []string{"Observation/o2", "Observation/o1", "Observation/o3"}; !slices.Equal(got, want) {
				t.Errorf("pages gave %v, want %v", got, want)
			}
		})
	}
}

func TestStrictRejectsWhatItDoesNotKnow(t *testing.T) {
	_, base := newServer(t, fhirtest.Options{Strict: true}, transaction)
	for _, q := range []string{
		"Observation?patient=x&code=1234-5",
		"Observation?patient=x&_sort=-authoredon",
		"Observation?patient=x&_include=Observation:performer",
	} {
		status, p := search(t, base+"/"+q)
		if status != http.StatusBadRequest || p.ResourceType != "OperationOutcome" {
			t.Errorf("%s: status %d %s, want 400 OperationOutcome", q, status, p.ResourceType)
		}
	}
	if status, _ := search(t, base+"/MedicationRequest?patient=x&_sort=-authoredon&_include=MedicationRequest:medication&_count=5"); status != http.StatusOK {
		t.Errorf("known parameters answered %d", status)
	}
}

func TestRead(t *testing.T) {
	binary := `{"resourceType":"Binary","id":"b1","contentType":"application/pdf","data":"JVBERi0xLjQK"}`
	_, base := newServer(t, fhirtest.Options{}, transaction, binary)
	t.Run("a Medication", func(t *testing.T) {
		status, _, body := get(t, base+"/Medication/m1", "application/fhir+json")
		if status != http.StatusOK || !strings.Contains(string(body), "Amoxicillin") {
			t.Errorf("status %d body %s", status, body)
		}
	})
	t.Run("a Binary as its content", func(t *testing.T) {
		status, h, body := get(t, base+"/Binary/b1", "*/*")
		if status != http.StatusOK || h.Get("Content-Type") != "application/pdf" || string(body) != "%PDF-1.4\n" {
			t.Errorf("status %d, %s, %q", status, h.Get("Content-Type"), body)
		}
	})
	t.Run("a Binary as a resource", func(t *testing.T) {
		_, h, body := get(t, base+"/Binary/b1", "application/fhir+json")
		if !strings.HasPrefix(h.Get("Content-Type"), "application/fhir+json") || !strings.Contains(string(body), `"resourceType":"Binary"`) {
			t.Errorf("%s, %s", h.Get("Content-Type"), body)
		}
	})
	t.Run("a missing resource", func(t *testing.T) {
		if status, _, _ := get(t, base+"/Medication/none", "application/fhir+json"); status != http.StatusNotFound {
			t.Errorf("status %d, want 404", status)
		}
	})
}

func TestFaults(t *testing.T) {
	s, base := newServer(t, fhirtest.Options{}, transaction)
	s.SetFault("Observation", fhirtest.Fault{Status: 500, Diagnostics: "java.lang.NullPointerException"})
	s.SetFault("MedicationRequest", fhirtest.Fault{Status: 200, Diagnostics: "too costly"})

	if status, p := search(t, base+"/Observation?patient=x"); status != 500 || p.ResourceType != "OperationOutcome" || p.Issue[0].Diagnostics != "java.lang.NullPointerException" {
		t.Errorf("Observation: %d %+v", status, p)
	}
	if status, p := search(t, base+"/MedicationRequest?patient=x"); status != 200 || p.ResourceType != "OperationOutcome" {
		t.Errorf("MedicationRequest: %d %+v", status, p)
	}
	if status, p := search(t, base+"/Procedure?patient=x"); status != 200 || p.ResourceType != "Bundle" {
		t.Errorf("a type without a fault: %d %s", status, p.ResourceType)
	}
	s.SetFault("Observation", fhirtest.Fault{})
	if status, _ := search(t, base+"/Observation?patient=x"); status != 200 {
		t.Errorf("after clearing the fault: %d", status)
	}
	if got := s.Requests(); len(got) != 4 || got[0] != "GET /Observation?patient=x" {
		t.Errorf("Requests() = %q", got)
	}
}
