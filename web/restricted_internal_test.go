package web

import (
	"testing"

	"github.com/carerecord/carerecord/connectors"
)

func TestPracticeStandIns(t *testing.T) {
	a := connectors.Source{Name: "A Practice", ODS: "G00001"}
	b := connectors.Source{Name: "B Practice", ODS: "G00002"}
	c := connectors.Source{Name: "C Practice", ODS: "G00003"}
	reg := connectors.RegisteredPractice()
	cases := []struct {
		name        string
		named, hold map[string]bool
		want        map[string]connectors.Source
	}{
		{"TheNamedPracticeIsRegistered", map[string]bool{"G00002": true}, map[string]bool{"G00001": true, "G00002": true},
			map[string]connectors.Source{"G00001": connectors.OtherPractice(1), "G00002": reg, "G00003": connectors.OtherPractice(2)}},
		{"TheOnlyPracticeHoldingThePatientIsRegistered", nil, map[string]bool{"G00003": true},
			map[string]connectors.Source{"G00001": connectors.OtherPractice(1), "G00002": connectors.OtherPractice(2), "G00003": reg}},
		{"SeveralHoldNoneNamedNoneIsRegistered", nil, map[string]bool{"G00001": true, "G00002": true},
			map[string]connectors.Source{"G00001": connectors.OtherPractice(1), "G00002": connectors.OtherPractice(2), "G00003": connectors.OtherPractice(3)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := practiceStandIns([]connectors.Source{a, b, c}, tc.named, tc.hold)
			for ods, want := range tc.want {
				if got[ods] != want {
					t.Errorf("%s stands in as %+v, want %+v", ods, got[ods], want)
				}
			}
			for _, s := range got {
				if !s.Withheld() || s.String() != s.Name {
					t.Errorf("stand-in %+v is printed with a code", s)
				}
			}
		})
	}
}

func TestWithholdingScrubsText(t *testing.T) {
	p := connectors.Source{Name: "Peckham Example Practice", ODS: "G85991"}
	w := newWithholding(map[string]connectors.Source{p.ODS: connectors.RegisteredPractice()}, []connectors.Source{p}, nil)
	e := connectors.Entry{Kind: connectors.KindEncounter, ID: "Encounter/1", Source: p, Title: "Seen at PECKHAM example practice (G85991) & ward",
		Encounter: &connectors.Encounter{}}
	got := w.entry(e)
	if got.Title != "Seen at the patient's registered GP practice (the patient's registered GP practice) & ward" {
		t.Errorf("title = %q", got.Title)
	}
	if got.Source != connectors.RegisteredPractice() || e.Source != p {
		t.Errorf("source %+v; the original changed to %+v", got.Source, e.Source)
	}
}

func TestIsCarePlan(t *testing.T) {
	cases := []struct {
		typ, title string
		want       bool
	}{
		{"ReSPECT form", "ReSPECT form — Ward 3", true},
		{"Clinic letter", "DNACPR decision", true},
		{"Care plan", "Care plan — Maudsley Hospital", true},
		{"Treatment escalation plan", "", true},
		{"Clinic letter", "Seen with respect to her knee", false},
		{"Discharge summary", "Discharge summary", false},
	}
	for _, tc := range cases {
		e := connectors.Entry{Kind: connectors.KindDocument, Title: tc.title, Document: &connectors.Document{Type: tc.typ}}
		if got := isCarePlan(&e); got != tc.want {
			t.Errorf("%q / %q: care plan %v, want %v", tc.typ, tc.title, got, tc.want)
		}
	}
}
