package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
)

func openAlertKinds(t *testing.T, e *env) map[string]int {
	t.Helper()
	as, err := e.db.Alerts(context.Background(), store.AlertOpen, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, a := range as {
		out[a.Kind]++
	}
	return out
}

// Each rule fires on a constructed case, through the real request path,
// and stays quiet on a normal one.
func TestAlertRulesThroughThePortal(t *testing.T) {
	e := sourcesEnv(t)
	t.Run("NormalAccessRaisesNothing", func(t *testing.T) {
		b := e.browser()
		b.signIn("/saml/login", "clinician")
		b.giveReason(synthetic.OrdinaryNHSNumber, "direct-care", "")
		b.get("/patients/" + synthetic.OrdinaryNHSNumber)
		if got := openAlertKinds(t, e); len(got) != 0 {
			t.Fatalf("alerts for a normal access in working hours: %v", got)
		}
	})
	t.Run("OwnRecordAndSameFamilyName", func(t *testing.T) {
		b := e.browser()
		b.signIn("/saml/login", "patientstaff") // Jane Smith, whose own NHS number is 9990000018
		b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
		b.get("/patients/" + synthetic.RichNHSNumber)
		got := openAlertKinds(t, e)
		if got[store.AlertOwnRecord] != 1 || got[store.AlertSameFamilyName] != 1 {
			t.Fatalf("alerts %v, want own-record and same-family-name", got)
		}
	})
	t.Run("RestrictedRecord", func(t *testing.T) {
		b := e.browser()
		b.signIn("/saml/login", "clinician")
		b.giveReason(synthetic.RestrictedNHSNumber, "direct-care", "")
		b.get("/patients/" + synthetic.RestrictedNHSNumber)
		if openAlertKinds(t, e)[store.AlertRestricted] != 1 {
			t.Fatalf("alerts %v, want restricted-record", openAlertKinds(t, e))
		}
	})
	t.Run("OutOfHours", func(t *testing.T) {
		b := e.browser()
		b.signIn("/saml/login", "clinician")
		b.giveReason(synthetic.DeceasedNHSNumber, "direct-care", "")
		e.clock.Advance(12 * time.Hour) // 22:00; sessions lock after 15 idle minutes, so sign in again
		b.signIn("/saml/login", "clinician")
		b.giveReason(synthetic.DeceasedNHSNumber, "direct-care", "")
		b.get("/patients/" + synthetic.DeceasedNHSNumber)
		if openAlertKinds(t, e)[store.AlertOutOfHours] != 1 {
			t.Fatalf("alerts %v, want out-of-hours", openAlertKinds(t, e))
		}
	})
}

func TestAlertEscalation(t *testing.T) {
	e := sourcesEnv(t)
	c := e.browser()
	c.signIn("/saml/login", "clinician")
	c.giveReason(synthetic.RichNHSNumber, "break-glass", "Collapsed in the waiting room")
	ig := e.browser()
	ig.signIn("/saml/login", "igofficer")
	list := ig.get("/ig/alerts")
	item := find(list.doc, "li", "data-kind", store.AlertBreakGlass)
	link := attr(find(item, "a", "", ""), "href")
	if link == "" {
		t.Fatal("no break-glass alert listed")
	}
	if got := text(item); strings.Contains(got, " ,") || !strings.Contains(got, ", NHS No. ") {
		t.Errorf("the alert's line reads %q: want the name, a comma and the NHS number with no stray space", got)
	}
	page := ig.get(link)
	f := page.form(t, "form[action='"+link+"/review']")
	f.Set("note", "No record of the patient attending; referred for investigation.")
	if r := ig.post(link+"/review", f); r.status != http.StatusBadRequest {
		t.Fatalf("no outcome chosen: %d", r.status)
	}
	f.Set("outcome", store.AlertEscalated)
	r := ig.post(link+"/review", f)
	if r.status != http.StatusSeeOther {
		t.Fatalf("escalate: %d", r.status)
	}
	if got := text(find(ig.follow(r).doc, "", "data-testid", "alert-confirmation")); !strings.Contains(got, "escalated for investigation") {
		t.Errorf("after escalating, the alerts page confirms %q", got)
	}
	if b := text(find(find(page.doc, "form", "action", link+"/review"), "button", "type", "submit")); b != "Record the outcome" {
		t.Errorf("the review button says %q, which is wrong for an escalation", b)
	}
	if esc := ig.get("/ig/alerts?status=escalated"); find(esc.doc, "li", "data-kind", store.AlertBreakGlass) == nil {
		t.Fatal("the escalated alert is not in the escalated list")
	}
	again := ig.post(link+"/review", url.Values{"csrf_token": {ig.csrf()}, "outcome": {"reviewed"}, "note": {"looks fine after all"}})
	if again.status != http.StatusConflict {
		t.Fatalf("reviewing a closed alert: %d, want 409", again.status)
	}
}
