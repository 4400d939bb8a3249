package connectors_test

import (
	"testing"

	"github.com/carerecord/carerecord/connectors"
)

func TestCleanText(t *testing.T) {
	cases := map[string]string{
		"Metformin 500 mg":                 "Metformin 500 mg",
		"line one\nline two\ttab":          "line one\nline two\ttab",
		"dose \u202e05 mg\u202c daily":     "dose 05 mg daily",
		"nul\x00bel\x07esc\x1b[31m":        "nulbelesc[31m",
		"bad \xff byte":                    "bad \ufffd byte",
		"isolate \u2066x\u2069 and \u200f": "isolate x and ",
		"crlf\r\n":                         "crlf\n",
	}
	for in, want := range cases {
		if got := connectors.CleanText(in); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanWalksTheRecord(t *testing.T) {
	pdf := []byte("%PDF-1.4\x00\x01")
	rec := &connectors.Record{
		Patient: &connectors.Patient{Family: "Smi\u202eth", Given: []string{"Ja\x00ne"}, RegisteredGP: connectors.Organisation{Name: "GP\x07"}},
		Entries: []connectors.Entry{{Title: "Haemo\u202eglobin", Codes: []connectors.Code{{Display: "x\x1by"}},
			Result:   &connectors.Result{Value: "1\u202e2", Units: "g/L\x00"},
			Document: &connectors.Document{Text: "letter\u2066", Data: pdf}}},
	}
	connectors.Clean(rec)
	e := rec.Entries[0]
	for got, want := range map[string]string{rec.Patient.Family: "Smith", rec.Patient.Given[0]: "Jane", rec.Patient.RegisteredGP.Name: "GP",
		e.Title: "Haemoglobin", e.Codes[0].Display: "xy", e.Result.Value: "12", e.Result.Units: "g/L", e.Document.Text: "letter"} {
		if got != want {
			t.Errorf("cleaned %q, want %q", got, want)
		}
	}
	if string(e.Document.Data) != "%PDF-1.4\x00\x01" {
		t.Fatal("attachment bytes were changed")
	}
}
