package fhir

import (
	"reflect"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

func day(y int, m time.Month, d int) connectors.When {
	return connectors.When{Time: time.Date(y, m, d, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionDay}
}

func TestAllergy(t *testing.T) {
	t.Run("HL7Example", func(t *testing.T) {
		r := mapResources(t, nil, hl7(t, "AllergyIntolerance-example"))
		e := r.entry(t, "AllergyIntolerance/example")
		want := &connectors.Allergy{Substance: "Cashew nuts", Reaction: "Anaphylactic reaction; Urticaria", Severity: "severe",
			Criticality: "high", Status: "active", Verification: "confirmed", Category: "food"}
		if e.Title != "Cashew nuts" || !reflect.DeepEqual(e.Allergy, want) || !e.Allergy.HighRisk() {
			t.Errorf("\n got %s\nwant %+v", dumpEntry(e), want)
		}
	})
	t.Run("SubstanceOnlyInReaction", func(t *testing.T) {
		// A high-criticality penicillin anaphylaxis coded only in
		// reaction.substance, as in the International Patient Summary
		// examples: never "Allergies not recorded".
		r := mapResources(t, nil, `{"resourceType":"AllergyIntolerance","id":"pen",
			"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
			"type":"allergy","category":["medication"],"criticality":"high","patient":{"reference":"Patient/p"},
			"reaction":[{"substance":{"coding":[{"system":"http://snomed.info/sct","code":"373270004","display":"Substance with penicillin structure and antibacterial mechanism of action"}]},
			  "manifestation":[{"coding":[{"system":"http://snomed.info/sct","code":"39579001","display":"Anaphylaxis"}]}],"severity":"severe"}]}`)
		e := r.entry(t, "AllergyIntolerance/pen")
		if e.Allergy.Substance != "Substance with penicillin structure and antibacterial mechanism of action" || e.Title != e.Allergy.Substance ||
			len(e.Codes) != 1 || e.Codes[0].Code != "373270004" || !e.Allergy.HighRisk() || e.Allergy.Category != "medication" {
			t.Errorf("%s", dumpEntry(e))
		}
	})
	t.Run("NotNamed", func(t *testing.T) {
		r := mapResources(t, nil, `{"resourceType":"AllergyIntolerance","id":"x","patient":{"reference":"Patient/p"},
			"reaction":[{"manifestation":[{"text":"Rash"}]}]}`)
		if e := r.entry(t, "AllergyIntolerance/x"); e.Title != "Allergen not named by the source" || e.Allergy.Reaction != "Rash" {
			t.Errorf("%s", dumpEntry(e))
		}
	})
	for _, code := range []string{
		`{"system":"http://snomed.info/sct","code":"716186003","display":"No known allergy"}`,
		`{"system":"http://snomed.info/sct","code":"409137002","display":"No known drug allergy"}`,
		// HL7's nkla example: not an allergy to "No Known Latex Allergy".
		`{"system":"http://snomed.info/sct","code":"716184000","display":"No Known Latex Allergy (situation)"}`,
		`{"system":"http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips","code":"no-known-allergies"}`,
	} {
		t.Run("NoKnownAllergies", func(t *testing.T) {
			r := mapResources(t, nil, `{"resourceType":"AllergyIntolerance","id":"nka","patient":{"reference":"Patient/p"},
				"code":{"coding":[`+code+`]}}`)
			if a := r.entry(t, "AllergyIntolerance/nka").Allergy; !a.NoKnownAllergies || a.Substance != "" {
				t.Errorf("%s: %+v", code, a)
			}
		})
	}
	for code, rule := range map[string]string{"refuted": connectors.HideRefuted, "entered-in-error": connectors.HideEnteredInError} {
		t.Run(code, func(t *testing.T) {
			r := mapResources(t, nil, `{"resourceType":"AllergyIntolerance","id":"x","patient":{"reference":"Patient/p"},"code":{"text":"Latex"},
				"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"`+code+`"}]}}`)
			want := []connectors.Omission{{Kind: connectors.KindAllergy, Resource: "AllergyIntolerance/x", Reason: rule}}
			if len(r.entries) != 0 || !reflect.DeepEqual(r.m.hidden, want) {
				t.Errorf("entries %d hidden %+v", len(r.entries), r.m.hidden)
			}
		})
	}
}

func TestConditionOnsetAndAbatement(t *testing.T) {
	cond := func(extra string) string {
		return `{"resourceType":"Condition","id":"c","code":{"text":"Asthma"},"subject":{"reference":"Patient/p"}` + extra + `}`
	}
	tests := []struct {
		name      string
		resource  string
		onset     connectors.When
		abatement connectors.When
		status    connectors.ProblemStatus
		date      connectors.When
	}{
		// HL7's f202: onset and abatement as ages.
		{"Age", hl7(t, "Condition-f202"), connectors.When{Text: "age 52"}, connectors.When{Text: "age 54"},
			connectors.ProblemResolved, day(2012, time.December, 1)},
		// HL7's example2: onset as words, and no other date, so the
		// entry has no place on the timeline rather than an invented one.
		{"String", hl7(t, "Condition-example2"), connectors.When{Text: "approximately November 2012"}, connectors.When{},
			connectors.ProblemActive, connectors.When{}},
		{"AbatementString", hl7(t, "Condition-f201"), day(2013, time.April, 2),
			connectors.When{Text: "around April 9, 2013"}, connectors.ProblemResolved, day(2013, time.April, 2)},
		{"DateTime", cond(`,"onsetDateTime":"2019-04-01T10:30:00Z"`), connectors.At(time.Date(2019, 4, 1, 10, 30, 0, 0, time.UTC)),
			connectors.When{}, connectors.ProblemActive, connectors.At(time.Date(2019, 4, 1, 10, 30, 0, 0, time.UTC))},
		{"PartialYear", cond(`,"onsetDateTime":"1957"`),
			connectors.When{Time: time.Date(1957, 1, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionYear},
			connectors.When{}, connectors.ProblemActive,
			connectors.When{Time: time.Date(1957, 1, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionYear}},
		{"PartialMonth", cond(`,"onsetDateTime":"1957-05","abatementDateTime":"1960-02"`),
			connectors.When{Time: time.Date(1957, 5, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionMonth},
			connectors.When{Time: time.Date(1960, 2, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionMonth},
			connectors.ProblemResolved,
			connectors.When{Time: time.Date(1957, 5, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionMonth}},
		{"Period", cond(`,"onsetPeriod":{"start":"2020-01-10","end":"2020-01-20"},"abatementPeriod":{"start":"2021-03-01","end":"2021-03-05"}`),
			day(2020, time.January, 10), day(2021, time.March, 5), connectors.ProblemResolved, day(2020, time.January, 10)},
		{"Range", cond(`,"onsetRange":{"low":{"value":30,"unit":"years","system":"http://unitsofmeasure.org","code":"a"},` +
			`"high":{"value":40,"unit":"years","system":"http://unitsofmeasure.org","code":"a"}},"abatementAge":{"value":6,"code":"mo"}`),
			connectors.When{Text: "age 30–40"}, connectors.When{Text: "age 6 months"}, connectors.ProblemResolved, connectors.When{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mapResources(t, nil, tt.resource)
			if len(r.entries) != 1 {
				t.Fatalf("%d entries", len(r.entries))
			}
			e := r.entries[0]
			p := e.Problem
			if p.Onset != tt.onset || p.Abatement != tt.abatement || p.Status != tt.status {
				t.Errorf("onset %+v abatement %+v status %q\nwant %+v %+v %q", p.Onset, p.Abatement, p.Status, tt.onset, tt.abatement, tt.status)
			}
			if e.When() != (connectors.When{Time: tt.date.Time, Precision: tt.date.Precision}) {
				t.Errorf("entry dated %+v, want %+v", e.When(), tt.date)
			}
		})
	}
	t.Run("Refuted", func(t *testing.T) {
		r := mapResources(t, nil, cond(`,"verificationStatus":{"coding":[{"code":"refuted"}]}`))
		if r.m.account()["Condition/c"] != "hidden: refuted" {
			t.Errorf("account %v", r.m.account())
		}
	})
}

func TestImmunization(t *testing.T) {
	tests := []struct {
		name string
		res  string
		id   string
		date connectors.When
		want connectors.Immunization
	}{
		{"HL7Example", hl7(t, "Immunization-example"), "Immunization/example", day(2013, time.January, 10),
			connectors.Immunization{Vaccine: "Fluvax (Influenza)", Occurred: day(2013, time.January, 10), Status: "completed",
				Dose: "5 mg", Site: "left arm", Route: "Injection, intramuscular", Lot: "AAJN11K"}},
		{"NotGiven", hl7(t, "Immunization-notGiven"), "Immunization/notGiven", day(2013, time.January, 10),
			connectors.Immunization{Vaccine: "DTP", Occurred: day(2013, time.January, 10), Status: "not-done", NotDoneReason: "medical precaution"}},
		{"Protocol", hl7(t, "Immunization-protocol"), "Immunization/protocol", day(2018, time.June, 18),
			connectors.Immunization{Vaccine: "Twinrix (HepA/HepB)", Occurred: day(2018, time.June, 18), Status: "completed",
				Dose: "5 mg", DoseNumber: "1", Site: "left arm", Route: "Injection, intramuscular", Lot: "PT123F"}},
		{"OccurrenceString", `{"resourceType":"Immunization","id":"bcg","status":"completed","vaccineCode":{"text":"BCG"},
			"patient":{"reference":"Patient/p"},"occurrenceString":"In childhood","primarySource":false,
			"performer":[{"actor":{"display":"School nurse"}}],"protocolApplied":[{"doseNumberPositiveInt":2,"seriesDosesPositiveInt":3}]}`,
			"Immunization/bcg", connectors.When{},
			connectors.Immunization{Vaccine: "BCG", Occurred: connectors.When{Text: "In childhood"}, Status: "completed",
				DoseNumber: "2 of 3", Performer: "School nurse"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mapResources(t, nil, tt.res)
			e := r.entry(t, tt.id)
			if e.Kind != connectors.KindImmunization || e.Title != tt.want.Vaccine || !reflect.DeepEqual(*e.Immunization, tt.want) ||
				e.When() != tt.date {
				t.Errorf("\n got %s\nwant %+v at %+v", dumpEntry(e), tt.want, tt.date)
			}
		})
	}
	t.Run("EnteredInError", func(t *testing.T) {
		r := mapResources(t, nil, `{"resourceType":"Immunization","id":"x","status":"entered-in-error","vaccineCode":{"text":"BCG"},
			"patient":{"reference":"Patient/p"},"occurrenceDateTime":"2020-01-01"}`)
		if r.m.account()["Immunization/x"] != "hidden: entered-in-error" {
			t.Errorf("account %v", r.m.account())
		}
	})
}

func TestFlag(t *testing.T) {
	r := mapResources(t, nil, hl7(t, "Flag-example"),
		`{"resourceType":"Flag","id":"eie","status":"entered-in-error","code":{"text":"x"},"subject":{"reference":"Patient/p"}}`)
	e := r.entry(t, "Flag/example")
	want := connectors.Alert{Category: "Safety", Status: "inactive", Start: day(2015, time.January, 17), End: day(2016, time.December, 1),
		Author: "Nancy Nurse"}
	if e.Kind != connectors.KindAlert || e.Title != "Patient has a big dog at his home. Always always wear a suit of armor or take other active counter-measures" ||
		!reflect.DeepEqual(*e.Alert, want) || e.When() != want.Start {
		t.Errorf("\n got %s\nwant %+v", dumpEntry(e), want)
	}
	if r.m.account()["Flag/eie"] != "hidden: entered-in-error" {
		t.Errorf("account %v", r.m.account())
	}
}

func TestDocumentReference(t *testing.T) {
	doc := func(id, extra string) string {
		return `{"resourceType":"DocumentReference","id":"` + id + `","status":"current","type":{"text":"Clinic letter"},"date":"2024-05-01T10:00:00Z"` + extra + `}`
	}
	tests := []struct {
		name string
		res  string
		want connectors.Document
	}{
		{"Text", doc("d", `,"content":[{"attachment":{"contentType":"text/plain","data":"`+b64("Seen in clinic.")+`"}}]`),
			connectors.Document{Type: "Clinic letter", ContentType: "text/plain", Text: "Seen in clinic."}},
		{"HTMLKeptForTheSanitiser", doc("d", `,"content":[{"attachment":{"contentType":"text/html","data":"`+b64("<p>Seen</p><script>x</script>")+`"}}]`),
			connectors.Document{Type: "Clinic letter", ContentType: "text/html", Text: "<p>Seen</p><script>x</script>"}},
		{"URLForTheClient", doc("d", `,"content":[{"attachment":{"contentType":"application/pdf","url":"Binary/1"}}]`),
			connectors.Document{Type: "Clinic letter", ContentType: "application/pdf", URL: "Binary/1"}},
		// Of several contents, the best one held here; undecodable data
		// and types a page cannot show are passed over.
		{"BestContent", doc("d", `,"content":[
			{"attachment":{"contentType":"application/msword","data":"`+b64("doc")+`"}},
			{"attachment":{"contentType":"application/pdf","data":"***"}},
			{"attachment":{"contentType":"application/pdf","url":"Binary/2"}},
			{"attachment":{"contentType":"text/plain","data":"`+b64("Seen.")+`"}}]`),
			connectors.Document{Type: "Clinic letter", ContentType: "text/plain", Text: "Seen."}},
		{"PDFOverText", doc("d", `,"content":[{"attachment":{"contentType":"text/plain","data":"`+b64("Seen.")+`"}},
			{"attachment":{"contentType":"application/pdf","data":"`+b64("%PDF-1.4")+`"}}]`),
			connectors.Document{Type: "Clinic letter", ContentType: "application/pdf", Data: []byte("%PDF-1.4")}},
		{"NothingShowable", doc("d", `,"content":[{"attachment":{"contentType":"application/msword","data":"`+b64("doc")+`"}}]`),
			connectors.Document{Type: "Clinic letter", ContentType: "application/msword", Unavailable: "content of a type that cannot be shown"}},
		{"Undecodable", doc("d", `,"content":[{"attachment":{"contentType":"text/plain","data":"***"}}]`),
			connectors.Document{Type: "Clinic letter", ContentType: "text/plain", Unavailable: "content could not be decoded"}},
		// HL7's example: a CDA document held at a URL, left for the client
		// to fetch and type-check.
		{"HL7Example", hl7(t, "DocumentReference-example"),
			connectors.Document{Type: "Outpatient Note", ContentType: "application/hl7-v3+xml",
				URL: "http://example.org/xds/mhd/Binary/07a6483f-732b-461e-86b6-edb665c45510"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mapResources(t, nil, tt.res)
			if len(r.entries) != 1 {
				t.Fatalf("%d entries", len(r.entries))
			}
			if got := r.entries[0].Document; !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
	t.Run("Superseded", func(t *testing.T) {
		old := `{"resourceType":"DocumentReference","id":"v1","status":"superseded","content":[{"attachment":{"contentType":"text/plain","data":"` + b64("v1") + `"}}]}`
		v2 := `{"resourceType":"DocumentReference","id":"v2","status":"current","relatesTo":[{"code":"replaces","target":{"reference":"DocumentReference/v1"}}],
			"content":[{"attachment":{"contentType":"text/plain","data":"` + b64("v2") + `"}}]}`
		r := mapResources(t, nil, old, v2)
		if r.m.account()["DocumentReference/v1"] != "hidden: superseded" || len(r.entries) != 1 {
			t.Errorf("with its replacement: account %v", r.m.account())
		}
		// Without the replacement, the superseded version is all there is.
		r = mapResources(t, nil, old)
		if len(r.entries) != 1 {
			t.Errorf("without its replacement: account %v", r.m.account())
		}
	})
}

func TestDatesKeepPrecision(t *testing.T) {
	tests := []struct {
		name string
		res  string
		want connectors.When
	}{
		{"DateOnly", `{"resourceType":"Encounter","id":"e","status":"finished","class":{"code":"AMB"},"period":{"start":"2024-06-01"}}`,
			day(2024, time.June, 1)},
		{"DateTime", `{"resourceType":"Encounter","id":"e","status":"finished","class":{"code":"AMB"},"period":{"start":"2024-06-01T23:30:00+01:00"}}`,
			connectors.At(time.Date(2024, 6, 1, 22, 30, 0, 0, time.UTC))},
		{"Month", `{"resourceType":"Procedure","id":"p","status":"completed","code":{"text":"Appendicectomy"},"subject":{"reference":"Patient/p"},"performedDateTime":"1975-06"}`,
			connectors.When{Time: time.Date(1975, 6, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionMonth}},
		{"Year", `{"resourceType":"Procedure","id":"p","status":"completed","code":{"text":"Appendicectomy"},"subject":{"reference":"Patient/p"},"performedPeriod":{"start":"1975"}}`,
			connectors.When{Time: time.Date(1975, 1, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionYear}},
		{"ObservationDay", hl7(t, "Observation-date-lastmp"), day(2016, time.January, 24)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mapResources(t, nil, tt.res)
			if len(r.entries) != 1 {
				t.Fatalf("%d entries", len(r.entries))
			}
			if got := r.entries[0].When(); got != tt.want {
				t.Errorf("dated %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("ProcedureWords", func(t *testing.T) {
		r := mapResources(t, nil, `{"resourceType":"Procedure","id":"p","status":"completed","code":{"text":"Tonsillectomy"},
			"subject":{"reference":"Patient/p"},"performedString":"as a child"}`)
		e := r.entry(t, "Procedure/p")
		if e.Procedure.Performed != (connectors.When{Text: "as a child"}) || !e.Date.IsZero() {
			t.Errorf("%s", dumpEntry(e))
		}
	})
}

func TestNamedOnlyByNarrative(t *testing.T) {
	// code is optional on Condition and Procedure: HL7's
	// appendectomy-narrative names the procedure only in its narrative.
	r := mapResources(t, nil, hl7(t, "Procedure-appendectomy-narrative"),
		`{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"onsetDateTime":"2020-01-01",
		  "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Chronic <b>back</b>\n pain</p></div>"}}`,
		`{"resourceType":"Condition","id":"unnamed","subject":{"reference":"Patient/p"},"onsetDateTime":"2020-01-01"}`)
	for id, title := range map[string]string{
		"Procedure/appendectomy-narrative": "Routine Appendectomy in April 2013 performed by Dr Cecil Surgeon",
		"Condition/c":                      "Chronic back pain",
		"Condition/unnamed":                "Problem not named by the source",
	} {
		if got := r.entry(t, id).Title; got != title {
			t.Errorf("%s titled %q, want %q", id, got, title)
		}
	}
}

func TestResourceOfAnotherType(t *testing.T) {
	// A Medication given as if from a search of its own is no entry, but
	// names the prescription and is accounted for.
	m := newMapper(testSource, testFetched)
	m.add("Medication", []byte(`{"resourceType":"Medication","id":"m","code":{"text":"Aspirin"}}`))
	m.add("MedicationRequest", []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"processing"}]}`))
	m.add("MedicationRequest", []byte(`{"resourceType":"MedicationRequest","id":"rx","status":"active","intent":"order","medicationReference":{"reference":"Medication/m"}}`))
	entries := m.finish()
	checkAccount(t, m, entries)
	if len(entries) != 1 || entries[0].Title != "Aspirin" || m.account()["Medication/m"] != "used by MedicationRequest/rx" || len(m.account()) != 2 {
		t.Errorf("entries %d, account %v", len(entries), m.account())
	}
}
