package fhir

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/carerecord/carerecord/connectors"
)

func TestMedicineNamed(t *testing.T) {
	tests := []struct {
		name        string
		resources   []string
		id          string
		drug        string
		ingredients []string
	}{
		{"ContainedCode", []string{hl7(t, "MedicationRequest-medrx0310")}, "MedicationRequest/medrx0310", "Tylenol PM", nil},
		// HL7's compounded ointment: no code, named by its ingredients
		// (the example itself names the second one twice).
		{"ContainedIngredients", []string{hl7(t, "MedicationRequest-medrx0329")}, "MedicationRequest/medrx0329",
			"Salicyclic Acid (substance) + Salicyclic Acid (substance) + White Petrolatum (substance) (Ointment)",
			[]string{"Salicyclic Acid (substance) 5 g/100 g", "Salicyclic Acid (substance) 1 g/100 g", "White Petrolatum (substance) 94 g/100 g"}},
		// HL7's TPN: three ingredients, no strengths.
		{"TPN", []string{hl7(t, "MedicationRequest-medrx0323")}, "MedicationRequest/medrx0323",
			"Clinimix 4.25/10 sulfite-free (4.25% Amino Acid in 10% Dextrose) Injection, 1000ml + " +
				"TPN Electrolytes SODIUM CHLORIDE, CALCIUM CHLORIDE, POTASSIUM CHLORIDE, MAGNESIUM CHLORIDE, and SODIUM ACETATE ANHYDROUS | " +
				"INJECTION, SOLUTION, CONCENTRATE | 321 mg/20mL, 331 mg/20mL, 1491 mg/20mL, 508 mg/20mL, 2420 mg/20mL + " +
				"Intralipid 20% IV Fat Emulsion (Injection emulsion)",
			[]string{"Clinimix 4.25/10 sulfite-free (4.25% Amino Acid in 10% Dextrose) Injection, 1000ml",
				"TPN Electrolytes SODIUM CHLORIDE, CALCIUM CHLORIDE, POTASSIUM CHLORIDE, MAGNESIUM CHLORIDE, and SODIUM ACETATE ANHYDROUS | " +
					"INJECTION, SOLUTION, CONCENTRATE | 321 mg/20mL, 331 mg/20mL, 1491 mg/20mL, 508 mg/20mL, 2420 mg/20mL",
				"Intralipid 20% IV Fat Emulsion"}},
		// A Medication read from the source: HL7's med0319, an ointment.
		{"Included", []string{hl7(t, "Medication-med0319"),
			`{"resourceType":"MedicationRequest","id":"rx","status":"active","intent":"order","medicationReference":{"reference":"Medication/med0319","display":"ointment"}}`},
			"MedicationRequest/rx",
			"Salicyclic Acid (substance) + Hydrocortisone (substance) + White Petrolatum (substance) (Ointment)",
			[]string{"Salicyclic Acid (substance) 5 g/100 g", "Hydrocortisone (substance) 1 g/100 g", "White Petrolatum (substance) 94 g/100 g"}},
		{"DisplayOnly", []string{`{"resourceType":"MedicationStatement","id":"ms","status":"active","subject":{"reference":"Patient/p"},
			"medicationReference":{"reference":"Medication/not-sent","display":"Warfarin 1mg tablets"}}`},
			"MedicationStatement/ms", "Warfarin 1mg tablets", nil},
		// A current medicine nothing names is still shown.
		{"Unnamed", []string{`{"resourceType":"MedicationRequest","id":"rx","status":"active","intent":"order","medicationReference":{"reference":"#gone"}}`},
			"MedicationRequest/rx", "Medicine not named by the source", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mapResources(t, nil, tt.resources...)
			e := r.entry(t, tt.id)
			if e.Title != tt.drug || e.Medication.Drug != tt.drug || !reflect.DeepEqual(e.Medication.Ingredients, tt.ingredients) {
				t.Errorf("title %q drug %q ingredients %q\nwant %q %q", e.Title, e.Medication.Drug, e.Medication.Ingredients, tt.drug, tt.ingredients)
			}
		})
	}
}

func TestMedicationReferenceRead(t *testing.T) {
	// The client reads what unresolved names and includes it; the mapping
	// is the same whichever order that happens in.
	m := newMapper(testSource, testFetched)
	m.add("MedicationRequest", json.RawMessage(`{"resourceType":"MedicationRequest","id":"rx","status":"active","intent":"order",
		"medicationReference":{"reference":"https://fhir.example/R4/Medication/med0319/_history/2"}}`))
	m.add("MedicationRequest", json.RawMessage(`{"resourceType":"MedicationRequest","id":"rx2","status":"active","intent":"order",
		"medicationReference":{"reference":"Medication/med0319"}}`))
	m.add("MedicationStatement", json.RawMessage(`{"resourceType":"MedicationStatement","id":"ms","status":"active","subject":{"reference":"Patient/p"},
		"medicationReference":{"reference":"#contained"}}`))
	if got := m.unresolved(); !reflect.DeepEqual(got, []string{"Medication/med0319"}) {
		t.Fatalf("unresolved %q, want the one Medication, once", got)
	}
	m.include(json.RawMessage(hl7(t, "Medication-med0319")))
	if got := m.unresolved(); len(got) != 0 {
		t.Fatalf("unresolved %q after the read", got)
	}
	entries := m.finish()
	checkAccount(t, m, entries)
	if got := m.account()["Medication/med0319"]; got != "used by MedicationRequest/rx" {
		t.Errorf("medication accounted %q", got)
	}
	for _, e := range entries {
		if e.ID != "MedicationStatement/ms" && len(e.Medication.Ingredients) != 3 {
			t.Errorf("%s not named by the Medication read: %q", e.ID, e.Title)
		}
	}
}

func TestMedicationStatus(t *testing.T) {
	tests := []struct {
		typ, status string
		want        connectors.MedicationStatus
		hidden      string
	}{
		{"MedicationRequest", "active", connectors.MedicationCurrent, ""},
		{"MedicationRequest", "on-hold", connectors.MedicationCurrent, ""},
		{"MedicationRequest", "unknown", connectors.MedicationCurrent, ""},
		{"MedicationRequest", "completed", connectors.MedicationPast, ""},
		{"MedicationRequest", "stopped", connectors.MedicationPast, ""},
		{"MedicationRequest", "draft", connectors.MedicationPast, ""},
		{"MedicationRequest", "cancelled", "", connectors.HideCancelled},
		{"MedicationRequest", "entered-in-error", "", connectors.HideEnteredInError},
		{"MedicationStatement", "active", connectors.MedicationCurrent, ""},
		{"MedicationStatement", "intended", connectors.MedicationCurrent, ""},
		{"MedicationStatement", "on-hold", connectors.MedicationCurrent, ""},
		{"MedicationStatement", "unknown", connectors.MedicationCurrent, ""},
		{"MedicationStatement", "completed", connectors.MedicationPast, ""},
		{"MedicationStatement", "stopped", connectors.MedicationPast, ""},
		{"MedicationStatement", "not-taken", connectors.MedicationPast, ""},
		{"MedicationStatement", "entered-in-error", "", connectors.HideEnteredInError},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.status, func(t *testing.T) {
			res := `{"resourceType":"` + tt.typ + `","id":"x","status":"` + tt.status + `","intent":"order","subject":{"reference":"Patient/p"},` +
				`"medicationCodeableConcept":{"text":"Aspirin 75mg tablets"},"authoredOn":"2024-01-02","effectiveDateTime":"2024-01-02",` +
				`"dosageInstruction":[{"doseAndRate":[{"doseRange":{"low":{"value":1,"unit":"tablet"},"high":{"value":2,"unit":"tablet"}}}],` +
				`"route":{"text":"Oral"},"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}}}],` +
				`"dosage":[{"doseAndRate":[{"doseRange":{"low":{"value":1,"unit":"tablet"},"high":{"value":2,"unit":"tablet"}}}],` +
				`"route":{"text":"Oral"},"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}}}]}`
			if tt.typ == "MedicationStatement" {
				res = `{"resourceType":"MedicationStatement","id":"x","status":"` + tt.status + `","subject":{"reference":"Patient/p"},` +
					`"medicationCodeableConcept":{"text":"Aspirin 75mg tablets"},"effectiveDateTime":"2024-01-02",` +
					`"dosage":[{"doseAndRate":[{"doseRange":{"low":{"value":1,"unit":"tablet"},"high":{"value":2,"unit":"tablet"}}}],` +
					`"route":{"text":"Oral"},"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}}}]}`
			}
			r := mapResources(t, nil, res)
			if tt.hidden != "" {
				if len(r.entries) != 0 || r.m.account()[tt.typ+"/x"] != "hidden: "+tt.hidden {
					t.Errorf("%d entries, account %v; want hidden by %s", len(r.entries), r.m.account(), tt.hidden)
				}
				return
			}
			e := r.entry(t, tt.typ+"/x")
			want := &connectors.Medication{Drug: "Aspirin 75mg tablets", Dose: "1–2 tablet", Route: "Oral", Frequency: "once a day",
				Start: connectors.When{Time: e.Date, Precision: connectors.PrecisionDay}, Status: tt.want, SourceStatus: tt.status,
				Prescribed: tt.typ == "MedicationRequest"}
			if !reflect.DeepEqual(e.Medication, want) || e.Precision != connectors.PrecisionDay {
				t.Errorf("\n got %+v\nwant %+v", e.Medication, want)
			}
		})
	}
}
