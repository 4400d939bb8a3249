package web_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// recentRows are the search page's recent patients, by NHS number as
// shown (999 000 0018).
func recentRows(t *testing.T, b *browser) map[string]string {
	t.Helper()
	p := b.get("/patients")
	rows := map[string]string{}
	for _, li := range findAll(p.doc, "li", "data-testid", "recent-patient") {
		row := strings.Join(strings.Fields(text(li)), " ")
		for _, dp := range synthetic.Patients() {
			if strings.Contains(row, formatNHS(dp.NHSNumber)) {
				rows[dp.NHSNumber] = row
			}
		}
	}
	return rows
}

// TestRecentPatientsNamed: "Your recent patients" names each patient as
// their record page did when the user opened it, with the birth date; a
// restricted patient by name only; a patient who has since objected to
// sharing by what their record page may still show. The names are kept
// sealed: none is in the database file in the clear.
func TestRecentPatientsNamed(t *testing.T) {
	e := sourcesEnv(t)
	clin := e.browser()
	clin.signIn("/saml/login", "clinician") // King's (RJZ)
	// A clinician at Guy's (RJ1): King's, first in configuration order,
	// names the patients on their record pages too.
	guys := e.browser()
	guys.signIn("/saml/login", "patientstaff")
	for _, b := range []*browser{clin, guys} {
		for _, n := range []string{synthetic.RichNHSNumber, synthetic.RestrictedNHSNumber, synthetic.OrdinaryNHSNumber} {
			b.giveReason(n, "direct-care", "")
			if p := b.get("/patients/" + n); p.status != 200 {
				t.Fatalf("record %s: status %d", n, p.status)
			}
		}
	}

	t.Run("NameAndBirthDate", func(t *testing.T) {
		row := recentRows(t, clin)[synthetic.RichNHSNumber]
		if !strings.Contains(row, "SMITH, Jane (Mrs), born 12-Mar-1965, NHS No. 999 000 0018") {
			t.Errorf("recent row %q, want her name and birth date beside the number", row)
		}
	})
	t.Run("RestrictedByNameOnly", func(t *testing.T) {
		row := recentRows(t, clin)[synthetic.RestrictedNHSNumber]
		if !strings.Contains(row, "ASHDOWN, Rowan (Ms)") || !strings.Contains(row, "Restricted record") {
			t.Errorf("recent row %q, want the name and that the record is restricted", row)
		}
		for _, never := range []string{"1991", "SE22", "Address withheld", "born"} {
			if strings.Contains(row, never) {
				t.Errorf("recent row %q of a restricted patient shows %q", row, never)
			}
		}
	})
	t.Run("SealedAtRest", func(t *testing.T) {
		var file []byte
		for _, p := range []string{e.db.Path(), e.db.Path() + "-wal"} {
			b, _ := os.ReadFile(p)
			file = append(file, b...)
		}
		if len(file) == 0 {
			t.Fatal("the database file could not be read")
		}
		for _, name := range []string{"SMITH, Jane", "ASHDOWN, Rowan", "BRACKENBURY"} {
			if bytes.Contains(file, []byte(name)) {
				t.Errorf("%q is in the database file in the clear", name)
			}
		}
	})

	if err := e.db.SeedUpheldObjection(context.Background(), objecting, "test"); err != nil {
		t.Fatal(err)
	}
	t.Run("ObjectionUpheldSince", func(t *testing.T) {
		// At Guy's the name came from King's record, which Guy's record
		// page no longer shows: the list gives the number and the
		// objection, no name.
		row := recentRows(t, guys)[objecting]
		if !strings.Contains(row, "Objected to sharing") || strings.Contains(row, "BRACKENBURY") {
			t.Errorf("Guy's recent row %q, want the objection and no name from another organisation", row)
		}
		// At King's the name came from King's own record, which its
		// record page still shows: the list names the patient as the page does.
		row = recentRows(t, clin)[objecting]
		banner := text(find(clin.get("/patients/"+objecting).doc, "", "data-testid", "patient-name"))
		if banner == "" || !strings.Contains(row, banner) || !strings.Contains(row, "Objected to sharing") {
			t.Errorf("King's recent row %q, want the record page's name %q and the objection", row, banner)
		}
	})
}
