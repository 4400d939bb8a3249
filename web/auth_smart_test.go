package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
)

// TestLaunchFromEPR: the synthetic EPR (a real server on loopback, with
// its smart-configuration, authorization server and FHIR Patient) launches
// carerecord; the patient the EPR has in context is the one whose reason
// page opens, after sign-in when needed, with the launch audited.
func TestLaunchFromEPR(t *testing.T) {
	e := newEnv(t, withSMART())
	// launch follows the EPR's button to where carerecord stops.
	launch := func(b *browser, patient string) *page {
		return b.follow(b.get(e.epr.LaunchURL(patient)))
	}
	t.Run("OpensThePatientInContext", func(t *testing.T) {
		b := e.browser()
		b.signIn("/saml/login", "clinician")
		p := launch(b, "epr-1001")
		if p.url.Path != "/patients/9990000018/access" {
			t.Fatalf("launch ended on %s (%d %q), want the reason page of the EPR's patient", p.url.Path, p.status, p.h1())
		}
		f := p.form(t, "form[action='/patients/9990000018/access']")
		if f.Get("reason") != "direct-care" {
			t.Fatalf("reason preselected %q, want direct-care (the EPR has an encounter in context)", f.Get("reason"))
		}
		if f.Get("return") != "/patients/9990000018" {
			t.Fatalf("return %q", f.Get("return"))
		}
		evs := events(t, e, store.AuditFilter{Actions: []store.Action{web.ActLaunch}})
		if len(evs) != 1 || evs[0].NHSNumber != "9990000018" || evs[0].UserID != "555000000001" ||
			!strings.Contains(evs[0].Detail, "opened from Test EPR") || !strings.Contains(evs[0].Detail, "encounter in context") {
			t.Fatalf("launch audit %+v, want the clinician opening 9990000018 from Test EPR", evs)
		}
		// The reason is still the user's to give.
		if p := b.giveReason("9990000018", "direct-care", ""); p.header.Get("Location") != "/patients/9990000018" {
			t.Fatalf("after the reason: %q", p.header.Get("Location"))
		}
	})
	t.Run("NoEncounterNothingPreselected", func(t *testing.T) {
		b := e.browser()
		b.signIn("/saml/login", "clinician")
		p := launch(b, "epr-2001") // not in clinic: no encounter in context
		if p.url.Path != "/patients/9990000042/access" {
			t.Fatalf("launch ended on %s", p.url.Path)
		}
		if got := p.form(t, "form[action='/patients/9990000042/access']").Get("reason"); got != "" {
			t.Fatalf("reason preselected %q without an encounter", got)
		}
	})
	t.Run("SignInFirstThenThePatient", func(t *testing.T) {
		b := e.browser()
		p := b.get(e.epr.LaunchURL("epr-1001"))
		for i := 0; p.status == http.StatusFound || p.status == http.StatusSeeOther; i++ {
			if strings.HasPrefix(p.header.Get("Location"), "/saml/login") {
				break
			}
			p = b.get(p.header.Get("Location"))
		}
		if !strings.HasPrefix(p.header.Get("Location"), "/saml/login?return=%2Flaunch%2Fopen") {
			t.Fatalf("not signed in: %d to %q, want sign-in returning to the launch", p.status, p.header.Get("Location"))
		}
		p = b.signIn(p.header.Get("Location"), "clinician")
		if p.url.Path != "/patients/9990000018/access" {
			t.Fatalf("after sign-in: %s, want the launched patient's reason page", p.url.Path)
		}
	})
	t.Run("EachLaunchOpensItsOwnPatientOnce", func(t *testing.T) {
		b := e.browser()
		b.signIn("/saml/login", "clinician")
		first := e.epr.LaunchURL("epr-1001")
		// Another launch starts before the first is followed: the later
		// one is what opens, and the first cannot open afterwards.
		p := launch(b, "epr-1002")
		if p.url.Path != "/patients/9990000042/access" {
			t.Fatalf("second launch opened %s", p.url.Path)
		}
		if p := b.get("/launch/open"); p.status != http.StatusForbidden {
			t.Fatalf("a used launch opened again: %d to %q", p.status, p.header.Get("Location"))
		}
		if p := b.follow(b.get(first)); p.url.Path != "/patients/9990000018/access" {
			t.Fatalf("first launch then opened %s", p.url.Path)
		}
	})

	refusals := []struct {
		name   string
		target func(b *browser) string
		reason string
		cause  string
	}{
		{"ErrUnconfiguredISS", func(*browser) string {
			return "/launch?" + url.Values{"iss": {"https://epr.other-trust.example/fhir"}, "launch": {"abc"}}.Encode()
		}, "not set up to be opened from this system", "is not a configured EPR"},
		{"ErrTamperedLaunch", func(*browser) string {
			u, _ := url.Parse(e.epr.LaunchURL("epr-1001"))
			q := u.Query()
			q.Set("launch", q.Get("launch")+"x")
			u.RawQuery = q.Encode()
			return u.String()
		}, "did not confirm this launch", "the EPR answered invalid_request"},
		{"ErrReplayedLaunch", func(b *browser) string {
			u := e.epr.LaunchURL("epr-1001")
			if p := b.follow(b.get(u)); p.url.Path != "/patients/9990000018/access" {
				t.Fatalf("first use: %s", p.url.Path)
			}
			return u
		}, "did not confirm this launch", "the EPR answered invalid_request"},
		{"ErrPatientWithoutNHSNumber", func(*browser) string { return e.epr.LaunchURL("epr-1003") },
			"has no NHS number recorded there", "no valid NHS number"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			b.signIn("/saml/login", "clinician")
			p := b.follow(b.get(tc.target(b)))
			if p.status != http.StatusForbidden || p.h1() != "This patient could not be opened" {
				t.Fatalf("status %d %s %q, want the refusal page", p.status, p.url.Path, p.h1())
			}
			if got := text(find(p.doc, "p", "data-testid", "launch-refusal")); !strings.Contains(got, tc.reason) {
				t.Fatalf("page says %q, want %q", got, tc.reason)
			}
			evs := events(t, e, store.AuditFilter{Actions: []store.Action{web.ActLaunchRefused}})
			if len(evs) == 0 || !strings.Contains(evs[0].Detail, tc.cause) || evs[0].UserID != "555000000001" {
				t.Fatalf("refusal audit %+v, want the clinician's refusal for %q", evs, tc.cause)
			}
			if p := b.get("/launch/open"); p.status != http.StatusForbidden {
				t.Fatalf("after a refusal /launch/open: %d %q, want nothing to open", p.status, p.header.Get("Location"))
			}
		})
	}
	t.Run("ErrStateMismatch", func(t *testing.T) {
		b := e.browser()
		b.signIn("/saml/login", "clinician")
		p := b.get(e.epr.LaunchURL("epr-1001"))
		p = b.get(p.header.Get("Location")) // the EPR's authorize answers with the code
		cb, _ := url.Parse(p.header.Get("Location"))
		q := cb.Query()
		q.Set("state", "forged")
		cb.RawQuery = q.Encode()
		p = b.get(cb.String())
		if p.status != http.StatusForbidden {
			t.Fatalf("status %d, want refused", p.status)
		}
		evs := events(t, e, store.AuditFilter{Actions: []store.Action{web.ActLaunchRefused}})
		if len(evs) == 0 || !strings.Contains(evs[0].Detail, "state mismatch") {
			t.Fatalf("audit %+v", evs)
		}
	})
}
