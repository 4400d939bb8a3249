package fhir

import (
	"encoding/base64"
	"reflect"
	"testing"

	"github.com/carerecord/carerecord/connectors"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDiagnosticReport(t *testing.T) {
	t.Run("ContainedResults", func(t *testing.T) {
		// Results held only inside the report, as in HL7's lipid panel
		// examples: each is a result of its own, grouped under the report.
		r := mapResources(t, nil, `{"resourceType":"DiagnosticReport","id":"lipids","status":"final",
			"contained":[
			  {"resourceType":"Observation","id":"chol","status":"final","code":{"text":"Cholesterol"},
			   "valueQuantity":{"value":6.3,"unit":"mmol/L"},"referenceRange":[{"high":{"value":4.5}}],
			   "interpretation":[{"coding":[{"code":"H"}]}]},
			  {"resourceType":"Observation","id":"trig","status":"entered-in-error","code":{"text":"Triglyceride"},
			   "valueQuantity":{"value":1.3,"unit":"mmol/L"}},
			  {"resourceType":"Observation","id":"hdl","status":"final","code":{"text":"HDL"},
			   "valueQuantity":{"value":1.3,"unit":"mmol/L"}}],
			"code":{"text":"Lipid panel"},"effectiveDateTime":"2024-03-01T08:00:00Z",
			"result":[{"reference":"#chol"},{"reference":"#trig"},{"reference":"#hdl"},{"reference":"#missing"}]}`)
		chol := r.entry(t, "DiagnosticReport/lipids#chol")
		if chol.Result.Value != "6.3" || chol.Result.Flag != connectors.FlagHigh || chol.Result.Group != "DiagnosticReport/lipids" ||
			chol.Result.GroupTitle != "Lipid panel" || chol.Title != "Cholesterol" {
			t.Errorf("cholesterol %s", dumpEntry(chol))
		}
		r.entry(t, "DiagnosticReport/lipids#hdl")
		acct := r.m.account()
		want := map[string]string{
			"DiagnosticReport/lipids":         "part of DiagnosticReport/lipids#chol",
			"DiagnosticReport/lipids#chol":    "shown as result",
			"DiagnosticReport/lipids#hdl":     "shown as result",
			"DiagnosticReport/lipids#trig":    "hidden: entered-in-error",
			"DiagnosticReport/lipids#missing": "unreadable: contained result not found",
		}
		if !reflect.DeepEqual(acct, want) {
			t.Errorf("account %v, want %v", acct, want)
		}
	})
	t.Run("ConclusionWithResults", func(t *testing.T) {
		r := mapResources(t, nil, `{"resourceType":"DiagnosticReport","id":"fbc","status":"final","code":{"text":"Full blood count"},
			"effectiveDateTime":"2024-03-01T08:00:00Z","result":[{"reference":"Observation/hb"}],
			"conclusion":"Iron deficiency anaemia likely.",
			"conclusionCode":[{"coding":[{"system":"http://snomed.info/sct","code":"87522002","display":"Iron deficiency anaemia"}]}]}`,
			`{"resourceType":"Observation","id":"hb","status":"final","code":{"text":"Haemoglobin"},"valueQuantity":{"value":98,"unit":"g/L"}}`)
		rep := r.entry(t, "DiagnosticReport/fbc").Result
		if rep.Value != "Iron deficiency anaemia likely." || rep.Comment != "Coded conclusion: Iron deficiency anaemia" ||
			rep.Group != "DiagnosticReport/fbc" {
			t.Errorf("report %+v", rep)
		}
		if hb := r.entry(t, "Observation/hb").Result; hb.Group != "DiagnosticReport/fbc" {
			t.Errorf("haemoglobin not grouped under the report: %+v", hb)
		}
	})
	t.Run("CodedConclusionOnly", func(t *testing.T) {
		r := mapResources(t, nil, `{"resourceType":"DiagnosticReport","id":"r","status":"final","code":{"text":"Biopsy"},
			"conclusionCode":[{"text":"Benign"}]}`)
		if v := r.entry(t, "DiagnosticReport/r").Result.Value; v != "Benign" {
			t.Errorf("value %q", v)
		}
	})
	t.Run("PDFOnly", func(t *testing.T) {
		// HL7's pharmacogenetics report: a PDF, and a result not sent.
		r := mapResources(t, nil, hl7(t, "DiagnosticReport-example-pgx"))
		doc := r.entry(t, "DiagnosticReport/example-pgx#form1")
		want := &connectors.Document{Type: "Report", ContentType: "application/pdf", Data: []byte("pdfInBase64Binary"),
			Report: "DiagnosticReport/example-pgx"}
		if doc.Kind != connectors.KindDocument || doc.Title != "Pharmacogenetics Report" || !reflect.DeepEqual(doc.Document, want) {
			t.Errorf("document %s", dumpEntry(doc))
		}
		if got := r.m.account()["DiagnosticReport/example-pgx"]; got != "shown as document" {
			t.Errorf("report accounted %q", got)
		}
		if doc.Date.IsZero() || doc.Precision != connectors.PrecisionTime {
			t.Errorf("document undated: %v", doc.Date)
		}
	})
	t.Run("Forms", func(t *testing.T) {
		r := mapResources(t, nil, `{"resourceType":"DiagnosticReport","id":"r","status":"preliminary","code":{"text":"Histology"},
			"effectiveDateTime":"2024-03-01","conclusion":"Benign.",
			"presentedForm":[
			  {"contentType":"text/plain","data":"`+b64("Macroscopy: ellipse of skin.")+`"},
			  {"contentType":"text/html; charset=utf-8","data":"`+b64("<p>Macroscopy</p>")+`"},
			  {"contentType":"application/pdf","url":"https://fhir.example/Binary/1","title":"Signed report"},
			  {"contentType":"application/pdf","data":"***"}]}`)
		rep := r.entry(t, "DiagnosticReport/r")
		if rep.Result.Value != "Benign." || rep.Result.Comment != "Macroscopy: ellipse of skin." || rep.Result.Status != "preliminary" ||
			rep.Precision != connectors.PrecisionDay {
			t.Errorf("report %s", dumpEntry(rep))
		}
		tests := map[string]connectors.Document{
			"DiagnosticReport/r#form2": {Type: "Report", ContentType: "text/html; charset=utf-8", Text: "<p>Macroscopy</p>", Report: "DiagnosticReport/r"},
			"DiagnosticReport/r#form3": {Type: "Report", ContentType: "application/pdf", URL: "https://fhir.example/Binary/1", Report: "DiagnosticReport/r"},
			"DiagnosticReport/r#form4": {Type: "Report", ContentType: "application/pdf", Unavailable: "content could not be decoded", Report: "DiagnosticReport/r"},
		}
		for id, want := range tests {
			if got := r.entry(t, id).Document; !reflect.DeepEqual(*got, want) {
				t.Errorf("%s\n got %+v\nwant %+v", id, *got, want)
			}
		}
		if len(r.entries) != 4 {
			t.Errorf("%d entries, want the report and three forms", len(r.entries))
		}
	})
	t.Run("ImagingMergedIntoStudy", func(t *testing.T) {
		r := mapResources(t, nil,
			`{"resourceType":"ImagingStudy","id":"ct","status":"available","started":"2023-06-01T13:30:00Z","modality":[{"code":"CT"}]}`,
			`{"resourceType":"DiagnosticReport","id":"rep","status":"final","category":[{"coding":[{"code":"RAD"}]}],
			  "code":{"text":"CT head"},"imagingStudy":[{"reference":"ImagingStudy/ct"}],"conclusion":"Normal.",
			  "conclusionCode":[{"text":"No abnormality"}]}`)
		img := r.entry(t, "ImagingStudy/ct").Imaging
		if img.Conclusion != "Normal.\nNo abnormality" {
			t.Errorf("conclusion %q", img.Conclusion)
		}
		if got := r.m.account()["DiagnosticReport/rep"]; got != "part of ImagingStudy/ct" {
			t.Errorf("report accounted %q", got)
		}
	})
	t.Run("NothingSent", func(t *testing.T) {
		r := mapResources(t, nil, `{"resourceType":"DiagnosticReport","id":"r","status":"registered","code":{"text":"Urine culture"},
			"issued":"2024-03-01T10:00:00Z","result":[{"reference":"Observation/not-sent"}]}`)
		res := r.entry(t, "DiagnosticReport/r").Result
		if res.Status != "registered" || res.Absent != "results not sent by the source" {
			t.Errorf("report %+v", res)
		}
	})
	for status, rule := range map[string]string{"entered-in-error": connectors.HideEnteredInError, "cancelled": connectors.HideCancelled} {
		t.Run(status, func(t *testing.T) {
			r := mapResources(t, nil, `{"resourceType":"DiagnosticReport","id":"r","status":"`+status+`","code":{"text":"X"},"conclusion":"x",
				"presentedForm":[{"contentType":"application/pdf","data":"`+b64("%PDF")+`"}]}`)
			if len(r.entries) != 0 || r.m.account()["DiagnosticReport/r"] != "hidden: "+rule {
				t.Errorf("%d entries, account %v", len(r.entries), r.m.account())
			}
		})
	}
}
