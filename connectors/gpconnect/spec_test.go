package gpconnect

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// TestSpecAmendedDosage maps the specification's worked example of an
// amended dosage: the stopped authorisation, its issue and the new
// authorisation (priorPrescription) are all part of the one medicine, whose
// statement names the current authorisation.
func TestSpecAmendedDosage(t *testing.T) {
	raw, err := os.ReadFile("testdata/spec-amended-dosage.json")
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	// The statement and patient around the example, as the guidance
	// describes them.
	b["entry"] = append(b["entry"].([]any),
		map[string]any{"resource": map[string]any{"resourceType": "Patient", "id": "4DBBED7B-7A91-47DC-B99B-35CDFA970590",
			"identifier": []any{map[string]any{"system": SystemNHSNumber, "value": "9990000018"}},
			"name":       []any{map[string]any{"use": "official", "family": "Smith", "given": []string{"Jane"}}}}},
		map[string]any{"resource": map[string]any{"resourceType": "MedicationStatement", "id": "stmt-1", "status": "active",
			"basedOn":             []any{map[string]any{"reference": "MedicationRequest/E9881EF6-EF3A-4556-9202-A437C5E31128"}},
			"medicationReference": map[string]any{"reference": "Medication/F87D9962-6D02-41C7-85C7-735214FA6FC5"},
			"effectivePeriod":     map[string]any{"start": "2020-12-21"},
			"dosage":              []any{map[string]any{"text": "One To Be Taken Each Morning"}}}})
	body, _ := json.Marshal(b)
	m, err := newMapper(connectors.Source{Name: "Practice", ODS: "A82038"}, body, "9990000018", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec := m.record()
	if len(rec.Entries) != 1 || rec.Entries[0].Medication.Drug != "Furosemide 20mg tablets" ||
		rec.Entries[0].Medication.Status != connectors.MedicationCurrent || rec.Entries[0].Medication.Dose != "One To Be Taken Each Morning" {
		t.Fatalf("entries %+v", rec.Entries)
	}
	want := map[string]string{
		"MedicationRequest/E9881EF6-EF3A-4556-9202-A437C5E31128":      "part of MedicationStatement/stmt-1",
		"MedicationRequest/E9881EF6-EF3A-4556-9202-A437C5E31128-HD-1": "part of MedicationStatement/stmt-1",
		"MedicationRequest/A002B1FE-2184-4F8D-BD02-C74A813125F2":      "part of MedicationStatement/stmt-1",
		"Medication/F87D9962-6D02-41C7-85C7-735214FA6FC5":             "used by MedicationStatement/stmt-1",
		"MedicationStatement/stmt-1":                                  "shown as medication",
		"Patient/4DBBED7B-7A91-47DC-B99B-35CDFA970590":                "patient",
	}
	for k, v := range want {
		if m.account[k] != v {
			t.Errorf("%s: %q, want %q", k, m.account[k], v)
		}
	}
	if len(m.account) != len(want) {
		t.Errorf("account %v has resources the test does not expect", m.account)
	}
}
