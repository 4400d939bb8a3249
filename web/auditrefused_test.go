package web_test

import (
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/web"
)

// TestAuditRefused checks what a refused audit log (here: its append-only
// triggers dropped, found by a verification) does to the service: the IG
// home says so, /readyz fails, and patient search and records are refused
// unless the configuration keeps them.
func TestAuditRefused(t *testing.T) {
	for _, tc := range []struct {
		name         string
		keepClinical bool
	}{
		{"ClinicalPagesRefused", false},
		{"ClinicalPagesKeptByConfiguration", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt, _ := withSources(t, nil, 3*time.Second)
			e := newEnv(t, opt, withConfig(func(c *web.Config) { c.ClinicalPagesWhenAuditRefused = tc.keepClinical }))
			c := e.browser()
			c.signIn("/saml/login", "clinician")
			c.giveReason(synthetic.RichNHSNumber, "direct-care", "")
			if p := c.get("/readyz"); p.status != http.StatusOK {
				t.Fatalf("/readyz before: %d", p.status)
			}

			raw, err := sql.Open("sqlite3", "file:"+e.db.Path()+"?_busy_timeout=5000")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Exec(`DROP TRIGGER audit_events_no_delete`); err != nil {
				t.Fatal(err)
			}
			ig := e.browser()
			ig.signIn("/saml/login", "igofficer")
			home := ig.follow(ig.post("/ig/verify", url.Values{"csrf_token": {ig.csrf()}}))
			banner := find(home.doc, "div", "data-testid", "audit-refused")
			if banner == nil || !strings.Contains(text(banner), "audit_events_no_delete is missing") {
				t.Fatalf("IG home after verify does not show the refused log: %q", text(home.doc))
			}
			if p := c.get("/readyz"); p.status != http.StatusServiceUnavailable {
				t.Fatalf("/readyz with a refused audit log: %d", p.status)
			}
			for _, path := range []string{"/patients", "/patients/" + synthetic.RichNHSNumber, "/patients/" + synthetic.RichNHSNumber + "/results"} {
				p := c.get(path)
				if tc.keepClinical {
					if p.status != http.StatusOK {
						t.Errorf("%s kept by configuration: status %d", path, p.status)
					}
					continue
				}
				h1 := find(p.doc, "h1", "", "")
				if p.status != http.StatusServiceUnavailable || h1 == nil || text(h1) != "Patient records are not available" {
					t.Errorf("%s with a refused audit log: status %d, heading %q", path, p.status, text(h1))
				}
				if strings.Contains(p.body, "Penicillin") {
					t.Errorf("%s: clinical data sent", path)
				}
			}
		})
	}
}

// TestSearchTermsSealed checks that a clinician's patient search and
// break-glass reason reach the database sealed, and that the privacy
// officer's audit page and CSV export show them in clear.
func TestSearchTermsSealed(t *testing.T) {
	opt, _ := withSources(t, nil, 3*time.Second)
	e := newEnv(t, opt)
	c := e.browser()
	c.signIn("/saml/login", "clinician")
	if p := c.get("/patients?family=smith&dob-day=12&dob-month=3&dob-year=1965"); p.status != http.StatusOK {
		t.Fatalf("search: %d", p.status)
	}
	c.giveReason(synthetic.RichNHSNumber, "break-glass", "Unconscious in ED, no history available")

	raw, err := sql.Open("sqlite3", "file:"+e.db.Path()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE detail LIKE '%smith%' OR detail LIKE '%1965%' OR detail LIKE '%Unconscious%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d audit rows hold the search terms or the break-glass reason in clear", n)
	}

	ig := e.browser()
	ig.signIn("/saml/login", "igofficer")
	p := ig.get("/ig/audit?action=patient-search")
	var details []string
	for _, r := range findAll(p.doc, "tr", "data-testid", "audit-event") {
		details = append(details, text(r))
	}
	if !strings.Contains(strings.Join(details, "\n"), "family=smith") {
		t.Fatalf("the IG audit page does not show the search terms: %q", details)
	}
	csv := ig.get("/ig/audit/export/csv")
	for _, want := range []string{"family=smith", "Unconscious in ED, no history available"} {
		if csv.status != http.StatusOK || !strings.Contains(csv.body, want) {
			t.Fatalf("CSV export (%d) lacks %q", csv.status, want)
		}
	}
}
