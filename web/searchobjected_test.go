package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/synthetic"
	"golang.org/x/net/html"
)

// samePostcode checks that a search hit shows the postcode the record
// page's banner shows for the same patient, and that it is one.
func samePostcode(t *testing.T, hit *html.Node, record *page) {
	t.Helper()
	cells := findAll(hit, "td", "", "")
	if len(cells) < 5 {
		t.Fatalf("the hit has %d cells", len(cells))
	}
	postcode := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text(cells[4])), "Postcode"))
	address := text(find(record.doc, "dd", "data-testid", "patient-address"))
	if record.status != http.StatusOK || postcode == "" || postcode == "Not Known" || !strings.Contains(address, postcode) {
		t.Errorf("search shows postcode %q, the record's banner (status %d) the address %q: they should agree", postcode, record.status, address)
	}
}

// TestObjectingPatientSearchAgreesWithBanner: a patient who objected to
// sharing is shown by search with the postcode their record's banner
// shows. With PDS, both are PDS's: the objection withholds what other
// organisations hold of the patient's care, not the national
// demographics. PDS holds a postcode here that no source holds, so a
// search showing a source's (or none) fails.
func TestObjectingPatientSearchAgreesWithBanner(t *testing.T) {
	e, srv := pdsEnv(t)
	srv.Override(objecting, func(p map[string]any) {
		p["address"] = []any{map[string]any{"use": "home", "line": []string{"4 Moved Lane", "London"}, "postalCode": "SW2 1ZZ"}}
	})
	if err := e.db.SeedUpheldObjection(context.Background(), objecting, "test"); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	born := objectingBirth(t)
	for name, search := range map[string]string{
		"ByNHSNumber":    "/patients?nhs=" + objecting,
		"ByNameAndBirth": "/patients?family=brackenbury&dob-day=" + itoa(born.Day) + "&dob-month=" + itoa(int(born.Month)) + "&dob-year=" + itoa(born.Year),
	} {
		t.Run(name, func(t *testing.T) {
			p := b.get(search)
			var hit *html.Node
			for _, h := range findAll(p.doc, "tr", "data-testid", "search-hit") {
				if strings.Contains(text(h), formatNHS(objecting)) {
					hit = h
				}
			}
			if p.status != http.StatusOK || hit == nil || find(hit, "strong", "data-testid", "objected") == nil {
				t.Fatalf("status %d: the objecting patient is not listed as objecting", p.status)
			}
			if strings.Contains(text(hit), "Coldharbour") || strings.Contains(text(hit), "Known to PDS only") {
				t.Errorf("the hit %q names the organisations holding the record, or says none does", text(hit))
			}
			b.giveReason(objecting, "direct-care", "")
			record := b.get("/patients/" + objecting)
			if !strings.Contains(text(find(record.doc, "dd", "data-testid", "patient-address")), "SW2 1ZZ") {
				t.Fatal("the banner does not show PDS's address: the test's premise fails")
			}
			samePostcode(t, hit, record)
		})
	}
}

// objectingBirth is the objecting patient's date of birth.
func objectingBirth(t *testing.T) connectors.Date {
	t.Helper()
	for _, dp := range synthetic.Patients() {
		if dp.NHSNumber == objecting {
			return dp.BirthDate
		}
	}
	t.Fatal("the objecting patient is not among the synthetic patients")
	return connectors.Date{}
}
