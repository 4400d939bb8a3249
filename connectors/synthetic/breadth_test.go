package synthetic_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/synthetic"
)

// fhirGet fetches u with an Accept header and returns the status, the
// content type and the body.
func fhirGet(t *testing.T, u, accept string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
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
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

type searchset struct {
	ResourceType string
	Total        int
	Link         []struct{ Relation, URL string }
	Entry        []struct {
		Resource json.RawMessage
		Search   struct{ Mode string }
	}
}

// everything follows a search through its pages and returns every entry's
// resource with its search mode.
func everything(t *testing.T, u string) (total int, matches, includes []map[string]any) {
	t.Helper()
	for u != "" {
		status, _, body := fhirGet(t, u, "application/fhir+json")
		var b searchset
		if err := json.Unmarshal(body, &b); err != nil || status != http.StatusOK || b.ResourceType != "Bundle" {
			t.Fatalf("GET %s: %d %v", u, status, err)
		}
		total = b.Total
		for _, e := range b.Entry {
			var r map[string]any
			if err := json.Unmarshal(e.Resource, &r); err != nil {
				t.Fatal(err)
			}
			if e.Search.Mode == "include" {
				includes = append(includes, r)
			} else {
				matches = append(matches, r)
			}
		}
		u = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				u = l.URL
			}
		}
	}
	return total, matches, includes
}

// bases maps ODS code to each synthetic server's base URL.
func bases(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, cfg := range startCluster(t, nil).Configs() {
		out[cfg.ODS] = strings.TrimRight(cfg.BaseURL, "/")
	}
	return out
}

// patientID finds the logical id of the patient with the NHS number.
func patientID(t *testing.T, base, nhs string) string {
	t.Helper()
	_, ps, _ := everything(t, base+"/Patient?identifier="+url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|"+nhs))
	if len(ps) != 1 {
		t.Fatalf("%d patients with NHS number %s at %s", len(ps), nhs, base)
	}
	return ps[0]["id"].(string)
}

func TestServerAnswersWhatTheClientAsks(t *testing.T) {
	b := bases(t)
	gstt := b[synthetic.GSTTODS]
	pid := patientID(t, gstt, synthetic.LongHistoryNHSNumber)

	t.Run("NewestFirstAcrossPages", func(t *testing.T) {
		total, es, _ := everything(t, gstt+"/Encounter?patient=Patient/"+pid+"&_sort=-date&_count=200")
		if total != len(es) || total < 1000 {
			t.Fatalf("Bundle.total %d, %d encounters read", total, len(es))
		}
		starts := make([]string, len(es))
		for i, e := range es {
			starts[i] = e["period"].(map[string]any)["start"].(string)
		}
		if !slices.IsSortedFunc(starts, func(a, b string) int { return strings.Compare(b, a) }) {
			t.Error("encounters are not newest first")
		}
	})
	t.Run("ImmunizationAndFlagSearches", func(t *testing.T) {
		// Each search finds what the organisation holds: the practice's
		// vaccinations and safeguarding flag, King's reasonable adjustment.
		for _, q := range []struct{ ods, typ string }{
			{synthetic.PeckhamGPODS, "Immunization"}, {synthetic.PeckhamGPODS, "Flag"}, {synthetic.KingsODS, "Flag"},
		} {
			base := b[q.ods]
			rich := patientID(t, base, synthetic.RichNHSNumber)
			if total, found, _ := everything(t, base+"/"+q.typ+"?patient=Patient/"+rich); total == 0 || len(found) != total {
				t.Errorf("%s search at %s: total %d, %d found", q.typ, q.ods, total, len(found))
			}
		}
	})
	t.Run("MedicationsIncludedAndRead", func(t *testing.T) {
		gp := b[synthetic.PeckhamGPODS]
		rich := patientID(t, gp, synthetic.RichNHSNumber)
		_, rxs, incl := everything(t, gp+"/MedicationRequest?patient=Patient/"+rich+"&_include=MedicationRequest:medication")
		var refs []string
		for _, rx := range rxs {
			if ref, ok := rx["medicationReference"].(map[string]any); ok && strings.HasPrefix(ref["reference"].(string), "Medication/") {
				refs = append(refs, ref["reference"].(string))
			}
		}
		if len(refs) == 0 {
			t.Fatal("no prescription names its medicine by a reference to a Medication resource")
		}
		for _, ref := range refs {
			if !slices.ContainsFunc(incl, func(m map[string]any) bool { return "Medication/"+m["id"].(string) == ref }) {
				t.Errorf("%s was not included", ref)
			}
			status, _, body := fhirGet(t, gp+"/"+ref, "application/fhir+json")
			if status != http.StatusOK || !strings.Contains(string(body), `"resourceType":"Medication"`) {
				t.Errorf("read %s: %d", ref, status)
			}
		}
	})
	t.Run("BinaryReadAsItsContent", func(t *testing.T) {
		kings := b[synthetic.KingsODS]
		rich := patientID(t, kings, synthetic.RichNHSNumber)
		_, docs, _ := everything(t, kings+"/DocumentReference?patient=Patient/"+rich)
		var url string
		for _, d := range docs {
			att := d["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)
			if u, ok := att["url"].(string); ok {
				url = u
			}
		}
		if !strings.HasPrefix(url, "Binary/") {
			t.Fatalf("no document held as a Binary (url %q)", url)
		}
		status, ct, body := fhirGet(t, kings+"/"+url, "application/pdf")
		if status != http.StatusOK || ct != "application/pdf" || !strings.HasPrefix(string(body), "%PDF-") {
			t.Errorf("Binary as content: %d %s %.8q", status, ct, body)
		}
		if _, ct, body := fhirGet(t, kings+"/"+url, "application/fhir+json"); !strings.HasPrefix(ct, "application/fhir+json") || !strings.Contains(string(body), `"resourceType":"Binary"`) {
			t.Errorf("Binary as a resource: %s", ct)
		}
	})
	t.Run("UnknownReadIsNotFound", func(t *testing.T) {
		if status, _, _ := fhirGet(t, gstt+"/Medication/none", "application/fhir+json"); status != http.StatusNotFound {
			t.Errorf("status %d", status)
		}
	})
}

// TestDemoBreadth checks that the demo data holds the shapes of FHIR the
// record page must show, as the servers send them (what the page makes of
// them is tested with the mapping and the pages).
func TestDemoBreadth(t *testing.T) {
	b := bases(t)
	all := func(ods, nhs, typ string) []map[string]any {
		base := b[ods]
		_, rs, _ := everything(t, base+"/"+typ+"?patient=Patient/"+patientID(t, base, nhs))
		return rs
	}
	has := func(rs []map[string]any, pred func(map[string]any) bool) bool { return slices.ContainsFunc(rs, pred) }
	str := func(v any) string { s, _ := v.(string); return s }
	list := func(v any) []any { l, _ := v.([]any); return l }
	obj := func(v any) map[string]any { m, _ := v.(map[string]any); return m }
	component := func(o map[string]any, pred func(map[string]any) bool) bool {
		for _, c := range list(o["component"]) {
			if pred(obj(c)) {
				return true
			}
		}
		return false
	}
	critical := func(c map[string]any) bool {
		return strings.Contains(mustJSON(c["interpretation"]), `"code":"HH"`)
	}
	rich := synthetic.RichNHSNumber
	checks := []struct {
		name string
		ok   bool
	}{
		{"vaccinations at her practice", len(all(synthetic.PeckhamGPODS, rich, "Immunization")) >= 5},
		{"a safeguarding alert", has(all(synthetic.PeckhamGPODS, rich, "Flag"), func(f map[string]any) bool {
			return strings.HasPrefix(str(obj(f["code"])["text"]), "Safeguarding")
		})},
		{"a reasonable adjustment", has(all(synthetic.KingsODS, rich, "Flag"), func(f map[string]any) bool {
			return strings.HasPrefix(str(obj(f["code"])["text"]), "Reasonable adjustment")
		})},
		{"a report whose results are contained", has(all(synthetic.LewishamODS, rich, "DiagnosticReport"), func(r map[string]any) bool {
			return len(list(r["contained"])) > 0 && strings.HasPrefix(str(obj(list(r["result"])[0])["reference"]), "#")
		})},
		{"a report that is only a PDF", has(all(synthetic.KingsODS, rich, "DiagnosticReport"), func(r map[string]any) bool {
			return r["result"] == nil && str(obj(list(r["presentedForm"])[0])["contentType"]) == "application/pdf"
		})},
		{"a blood pressure without its diastolic", has(all(synthetic.LewishamODS, rich, "Observation"), func(o map[string]any) bool {
			return component(o, func(c map[string]any) bool { return c["dataAbsentReason"] != nil })
		})},
		{"a critically high component", has(all(synthetic.GSTTODS, rich, "Observation"), func(o map[string]any) bool {
			return component(o, critical)
		})},
		{"a preliminary result", has(all(synthetic.KingsODS, rich, "Observation"), func(o map[string]any) bool { return o["status"] == "preliminary" })},
		{"an amended result", has(all(synthetic.KingsODS, rich, "Observation"), func(o map[string]any) bool { return o["status"] == "amended" })},
		{"a problem onset known to the month", has(all(synthetic.PeckhamGPODS, rich, "Condition"), func(c map[string]any) bool { return c["onsetDateTime"] == "1979-05" })},
		{"a problem onset known to the year", has(all(synthetic.BromleyGPODS, synthetic.LongHistoryNHSNumber, "Condition"), func(c map[string]any) bool {
			return c["onsetDateTime"] == "1957"
		})},
		{"a problem onset known to the day", has(all(synthetic.PeckhamGPODS, rich, "Condition"), func(c map[string]any) bool {
			return len(str(c["onsetDateTime"])) == len("2006-01-02")
		})},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("the demo data lacks %s", c.name)
		}
	}
	if n := len(all(synthetic.GSTTODS, synthetic.LongHistoryNHSNumber, "Encounter")) + len(all(synthetic.GSTTODS, synthetic.LongHistoryNHSNumber, "Observation")); n < 2500 || n > 3500 {
		t.Errorf("the long history has %d encounters and results at Guy's and St Thomas', want about 3,000 resources", n)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDemoBreadthThroughTheClient checks what the real client and mapping
// make of the demo's breadth: what a clinician would be shown.
func TestDemoBreadthThroughTheClient(t *testing.T) {
	cls := clients(t, startCluster(t, nil))
	recs := fetchAll(t, cls, synthetic.RichNHSNumber)
	var entries []connectors.Entry
	for _, rec := range recs {
		entries = append(entries, rec.Entries...)
	}
	find := func(pred func(e connectors.Entry) bool) bool { return slices.ContainsFunc(entries, pred) }
	loinc := func(e connectors.Entry, code string) bool {
		c, ok := e.Code(connectors.SystemLOINC)
		return ok && c.Code == code
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"the blood gas results held only inside their report", find(func(e connectors.Entry) bool {
			return loinc(e, "2744-1") && e.Result != nil && e.Result.Value == "7.31" && e.Result.Flag == connectors.FlagLow
		})},
		{"the blood pressure's missing diastolic", find(func(e connectors.Entry) bool {
			return loinc(e, "85354-9") && e.Result != nil && slices.ContainsFunc(e.Result.Components, func(c connectors.Component) bool { return c.Absent != "" })
		})},
		{"the critically high systolic", find(func(e connectors.Entry) bool {
			return loinc(e, "85354-9") && e.Result != nil && e.Result.Critical()
		})},
		{"the preliminary blood culture", find(func(e connectors.Entry) bool {
			return loinc(e, "600-7") && e.Result != nil && e.Result.Status == "preliminary"
		})},
		{"the amended potassium", find(func(e connectors.Entry) bool {
			return loinc(e, "2823-3") && e.Result != nil && e.Result.Status == "amended"
		})},
		{"the echocardiogram that is only a PDF", find(func(e connectors.Entry) bool {
			return e.Document != nil && e.Document.ContentType == "application/pdf" && strings.Contains(e.Title, "Echocardiogram")
		})},
		{"the discharge summary held as a Binary, fetched", find(func(e connectors.Entry) bool {
			return e.Document != nil && strings.HasPrefix(string(e.Document.Data), "%PDF-") && strings.Contains(string(e.Document.Data), "Day-case admission")
		})},
		{"the wrist fracture dated to the month", find(func(e connectors.Entry) bool {
			return e.Problem != nil && e.Title == "Fractured left wrist" && e.Problem.Onset.Precision == connectors.PrecisionMonth
		})},
		{"vaccinations", find(func(e connectors.Entry) bool { return e.Kind == connectors.KindImmunization })},
		{"the safeguarding alert", find(func(e connectors.Entry) bool { return e.Alert != nil && strings.HasPrefix(e.Title, "Safeguarding") })},
		{"the reasonable adjustment", find(func(e connectors.Entry) bool {
			return e.Alert != nil && strings.HasPrefix(e.Title, "Reasonable adjustment")
		})},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("the record does not show %s", c.name)
		}
	}
	// Every medicine is named: those named by a reference to a
	// Medication resource too, with the medicine's dm+d code.
	for _, e := range entries {
		if e.Medication != nil {
			if _, ok := e.Code(connectors.SystemDMD); !ok {
				t.Errorf("%s %s: medicine %q without its dm+d code", e.Source.ODS, e.ID, e.Medication.Drug)
			}
		}
	}
}
