package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

func TestReasonForAccess(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	nhs := synthetic.RichNHSNumber

	t.Run("AskedBeforeAnythingIsShown", func(t *testing.T) {
		before := upstreamRequests.Load()
		p := b.get("/patients/" + nhs + "/trend?code=" + url.QueryEscape("http://loinc.org|4548-4"))
		loc, _ := url.Parse(p.header.Get("Location"))
		if p.status != http.StatusSeeOther || loc.Path != "/patients/"+nhs+"/access" {
			t.Fatalf("status %d to %s, want the reason page", p.status, loc)
		}
		if n := upstreamRequests.Load() - before; n != 0 {
			t.Fatalf("%d requests reached the sources before a reason was given", n)
		}
		form := b.follow(p)
		if form.h1() != "Why are you opening this record?" || len(findAll(form.doc, "input", "name", "reason")) < 3 {
			t.Fatalf("reason page: %q", form.h1())
		}
		if strings.Contains(form.body, "SMITH") {
			t.Fatal("the reason page shows the patient's name before a reason is given")
		}
		if live := b.do(http.MethodGet, "/patients/"+nhs+"/live", nil); live.status != http.StatusSeeOther {
			// a plain GET of the fragment is redirected like a page
			t.Fatalf("fragment without a reason: %d", live.status)
		}
	})
	t.Run("ErrNoChoice", func(t *testing.T) {
		p := b.post("/patients/"+nhs+"/access", url.Values{"csrf_token": {b.csrf()}})
		if p.status != http.StatusBadRequest || !strings.Contains(text(find(p.doc, "div", "class", "nhsuk-error-summary")), "Select why") {
			t.Fatalf("status %d", p.status)
		}
	})
	t.Run("ErrUnknownReason", func(t *testing.T) {
		p := b.post("/patients/"+nhs+"/access", url.Values{"csrf_token": {b.csrf()}, "reason": {"curiosity"}})
		if p.status != http.StatusBadRequest {
			t.Fatalf("status %d", p.status)
		}
	})
	t.Run("ErrBreakGlassWithoutExplanation", func(t *testing.T) {
		p := b.post("/patients/"+nhs+"/access", url.Values{"csrf_token": {b.csrf()}, "reason": {"break-glass"}, "detail": {"urgent"}})
		if p.status != http.StatusBadRequest || attr(find(find(p.doc, "div", "class", "nhsuk-error-summary"), "a", "", ""), "href") != "#detail" {
			t.Fatalf("status %d", p.status)
		}
		if r := b.get("/patients/" + nhs); r.status != http.StatusSeeOther {
			t.Fatal("a refused reason opened the record")
		}
	})
	t.Run("ReasonReturnsToThePageAsked", func(t *testing.T) {
		ret := "/patients/" + nhs + "/results"
		p := b.post("/patients/"+nhs+"/access", url.Values{"csrf_token": {b.csrf()}, "reason": {"direct-care"}, "return": {ret}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != ret {
			t.Fatalf("status %d to %q", p.status, p.header.Get("Location"))
		}
		if r := b.get(ret); r.status != http.StatusOK {
			t.Fatalf("results after reason: %d", r.status)
		}
	})
	t.Run("ReturnCannotLeaveThePatient", func(t *testing.T) {
		p := b.post("/patients/"+nhs+"/access", url.Values{"csrf_token": {b.csrf()}, "reason": {"direct-care"}, "return": {"https://evil.example/"}})
		if p.header.Get("Location") != "/patients/"+nhs {
			t.Fatalf("redirected to %q", p.header.Get("Location"))
		}
	})
	t.Run("HoldsOnlyForThatPatient", func(t *testing.T) {
		if p := b.get("/patients/" + synthetic.OrdinaryNHSNumber); p.status != http.StatusSeeOther {
			t.Fatalf("another patient opened without a reason: %d", p.status)
		}
	})
}

func TestBreakGlassExpiresSooner(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "break-glass", "Unconscious in ED, no history available")
	b.giveReason(synthetic.OrdinaryNHSNumber, "direct-care", "")
	for _, n := range []string{synthetic.RichNHSNumber, synthetic.OrdinaryNHSNumber} {
		if p := b.get("/patients/" + n); p.status != http.StatusOK {
			t.Fatalf("%s: %d", n, p.status)
		}
	}
	// Keep the session alive (idle lock is 15 minutes) past 30 minutes.
	for range 4 {
		e.clock.Advance(9 * time.Minute)
		b.get("/patients")
	}
	if p := b.get("/patients/" + synthetic.RichNHSNumber); p.status != http.StatusSeeOther {
		t.Fatalf("break glass after 36 minutes: %d, want the reason page again", p.status)
	}
	if p := b.get("/patients/" + synthetic.OrdinaryNHSNumber); p.status != http.StatusOK {
		t.Fatalf("ordinary reason after 36 minutes: %d, want it still to hold", p.status)
	}
}

func TestReasonEndsWithSession(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	b.signIn("/saml/login", "clinician") // a new session
	if p := b.get("/patients/" + synthetic.RichNHSNumber); p.status != http.StatusSeeOther {
		t.Fatalf("a reason from the previous session still held: %d", p.status)
	}
}

// TestReasonsPerRoleGroup: the reasons offered follow the user's role
// group, as configured: a clerk is offered neither the clinical reasons
// nor break glass, and cannot post them either.
func TestReasonsPerRoleGroup(t *testing.T) {
	e := sourcesEnv(t)
	nhs := synthetic.RichNHSNumber
	offered := func(p *page) (codes []string) {
		for _, in := range findAll(p.doc, "input", "name", "reason") {
			codes = append(codes, attr(in, "value"))
		}
		return codes
	}
	clin := e.browser()
	clin.signIn("/saml/login", "clinician")
	if got := strings.Join(offered(clin.get("/patients/"+nhs+"/access")), " "); got != "direct-care referral follow-up care-admin break-glass" {
		t.Errorf("a clinician is offered %q", got)
	}
	clerk := e.browser()
	clerk.signIn("/saml/login", "clerk")
	if got := strings.Join(offered(clerk.get("/patients/"+nhs+"/access")), " "); got != "care-admin" {
		t.Errorf("a clerk is offered %q, want only care-admin", got)
	}
	for _, tc := range []struct{ name, reason, detail string }{
		{"ClinicalReasonRefused", "direct-care", ""},
		{"BreakGlassRefused", "break-glass", "Unconscious in ED, no history available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := clerk.post("/patients/"+nhs+"/access", url.Values{"csrf_token": {clerk.csrf()}, "reason": {tc.reason}, "detail": {tc.detail}})
			if p.status != http.StatusBadRequest {
				t.Fatalf("a clerk posting %s: status %d, want 400", tc.reason, p.status)
			}
			if r := clerk.get("/patients/" + nhs); r.status != http.StatusSeeOther {
				t.Fatalf("after a refused %s the record opens for the clerk: status %d", tc.reason, r.status)
			}
		})
	}
}
