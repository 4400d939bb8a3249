package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
)

// A privacy officer keeps the list of staff NHS numbers; a clinician on it
// who opens their own record raises the own-record alert although their
// sign-in asserted no NHS number. Bad entries are refused with the error
// summary and change nothing; every view and change is audited without the
// staff member's NHS number.
func TestStaffNHSListThroughThePortal(t *testing.T) {
	e := sourcesEnv(t)
	ctx := context.Background()
	ig := e.browser()
	ig.signIn("/saml/login", "igofficer")
	if p := ig.get("/ig/staff"); p.status != http.StatusOK || find(p.doc, "p", "data-testid", "staff-empty") == nil {
		t.Fatalf("list: status %d, want 200 and an empty list", p.status)
	}

	for _, tt := range []struct{ name, user, nhs, field string }{
		{"ErrNoUser", " ", "9990000018", "staff-user"},
		{"ErrNoNHS", "555000000001", "", "staff-nhs"},
		{"ErrCheckDigit", "555000000001", "999 000 0019", "staff-nhs"},
		{"ErrUserTooLong", strings.Repeat("5", 101), "9990000018", "staff-user"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ig.post("/ig/staff", url2(ig, "user", tt.user, "nhs", tt.nhs))
			if r.status != http.StatusBadRequest || find(find(r.doc, "div", "class", "nhsuk-error-summary"), "a", "href", "#"+tt.field) == nil {
				t.Fatalf("status %d, want 400 with the summary linking to #%s", r.status, tt.field)
			}
			if list, _ := e.db.StaffNHSList(ctx); len(list) != 0 {
				t.Fatalf("a refused entry was kept: %+v", list)
			}
		})
	}

	if r := ig.post("/ig/staff", url2(ig, "user", "555000000001", "nhs", synthetic.OrdinaryNHSNumber)); r.status != http.StatusSeeOther {
		t.Fatalf("add: status %d", r.status)
	}
	p := ig.get("/ig/staff")
	if row := find(p.doc, "tr", "data-user", "555000000001"); row == nil || !strings.Contains(text(row), formatNHS(synthetic.OrdinaryNHSNumber)) {
		t.Fatalf("the entry is not listed: %s", text(find(p.doc, "table", "data-testid", "staff-list")))
	}

	c := e.browser()
	c.signIn("/saml/login", "clinician")
	c.giveReason(synthetic.OrdinaryNHSNumber, "direct-care", "")
	c.get("/patients/" + synthetic.OrdinaryNHSNumber)
	if got := openAlertKinds(t, e); got[store.AlertOwnRecord] != 1 {
		t.Fatalf("alerts %v, want own-record from the IG list", got)
	}

	if r := ig.post("/ig/staff/remove", url2(ig, "user", "555000000001")); r.status != http.StatusSeeOther {
		t.Fatalf("remove: status %d", r.status)
	}
	if list, _ := e.db.StaffNHSList(ctx); len(list) != 0 {
		t.Fatalf("still listed after removal: %+v", list)
	}
	if r := ig.post("/ig/staff/remove", url2(ig, "user", "555000000001")); r.status != http.StatusNotFound {
		t.Fatalf("removing twice: status %d, want 404", r.status)
	}

	evs, _, _ := e.db.SearchAudit(ctx, store.AuditFilter{Actions: []store.Action{store.ActStaffNHSChange}})
	if len(evs) != 3 || evs[0].Outcome != store.OutcomeRefused || evs[1].Outcome != store.OutcomeAllowed || evs[2].Outcome != store.OutcomeAllowed {
		t.Fatalf("staff list changes audited: %+v; want added, removed, and the second removal refused", evs)
	}
	for _, ev := range evs {
		if ev.NHSNumber != "" || strings.Contains(ev.Detail, synthetic.OrdinaryNHSNumber) || !strings.Contains(ev.Detail, "555000000001") {
			t.Errorf("audit event %+v: want the user id and not the staff NHS number", ev)
		}
	}
}
