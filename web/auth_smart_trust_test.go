package web_test

import (
	"crypto/rsa"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
)

// TestLaunchTrustingEPRSignIn: a deployment that trusts the EPR's fhirUser
// identity signs the EPR's user in from the launch alone (the EPR's
// id_token verified against its JWKS, the Practitioner read from its FHIR
// server), with the role the configuration gives that EPR's users, and
// audits that the sign-in came from that EPR.
func TestLaunchTrustingEPRSignIn(t *testing.T) {
	e := newEnv(t, withTrustedEPR())

	t.Run("SignsInThePractitionerRoleAndOpensThePatient", func(t *testing.T) {
		b := e.browser()
		p := b.follow(b.get(e.epr.LaunchURL("epr-1001")))
		if p.url.Path != "/patients/9990000018/access" {
			t.Fatalf("launch ended on %s (%d %q), want the reason page without any other sign-in", p.url.Path, p.status, p.h1())
		}
		if got := p.form(t, "form[action='/patients/9990000018/access']").Get("reason"); got != "direct-care" {
			t.Fatalf("reason preselected %q, want direct-care", got)
		}
		sess := sessionOf(t, e, b)
		if sess.Protocol != store.ProtocolEPR || sess.UserID != "555000000001" || sess.DisplayName != "Dr Amara Okafor" {
			t.Fatalf("session %s %s %q, want the EPR's Dr Amara Okafor by her SDS user id", sess.Protocol, sess.UserID, sess.DisplayName)
		}
		role, ok := sess.Role()
		if !ok || role.Code != "R8000" || role.ODS != "RJZ" {
			t.Fatalf("role %+v, want the configured R8000 at RJZ", role)
		}
		evs := events(t, e, store.AuditFilter{UserID: "555000000001", Actions: []store.Action{store.ActSignIn}})
		if len(evs) != 1 || !strings.Contains(evs[0].Detail, "signed in by Test EPR ("+e.epr.ISS()+")") ||
			!strings.Contains(evs[0].Detail, "/PractitionerRole/role-501") || evs[0].RoleCode != "R8000" || evs[0].ODS != "RJZ" {
			t.Fatalf("sign-in audit %+v, want one naming the EPR and the fhirUser", evs)
		}
		launches := events(t, e, store.AuditFilter{UserID: "555000000001", Actions: []store.Action{web.ActLaunch}})
		if len(launches) != 1 || launches[0].NHSNumber != "9990000018" || launches[0].SessionHash != sess.IDHash {
			t.Fatalf("launch audit %+v, want the launch in the EPR-made session", launches)
		}
		// The session is an ordinary clinical one: the record opens once
		// the reason is given.
		if p := b.giveReason("9990000018", "direct-care", ""); p.header.Get("Location") != "/patients/9990000018" {
			t.Fatalf("after the reason: %q", p.header.Get("Location"))
		}
	})
	t.Run("APractitionerDirectly", func(t *testing.T) {
		b := e.browser()
		p := b.follow(b.get(e.epr.LaunchURLAs("epr-1002", "practitioner")))
		if p.url.Path != "/patients/9990000042/access" {
			t.Fatalf("launch ended on %s (%d)", p.url.Path, p.status)
		}
		if sess := sessionOf(t, e, b); sess.UserID != "555000000007" || sess.DisplayName != "Lena Berg" {
			t.Fatalf("session for %s %q", sess.UserID, sess.DisplayName)
		}
	})
	t.Run("ReplacesTheSessionThisBrowserHad", func(t *testing.T) {
		b := e.browser()
		b.signIn("/saml/login", "clerk")
		before := sessionOf(t, e, b)
		b.follow(b.get(e.epr.LaunchURL("epr-1001")))
		after := sessionOf(t, e, b)
		if after.UserID != "555000000001" || after.IDHash == before.IDHash {
			t.Fatalf("after the launch the browser is %s, want the EPR's user in a new session", after.UserID)
		}
		if old, err := e.db.SessionByHash(t.Context(), before.IDHash); err != nil || old.EndedAt.IsZero() {
			t.Fatalf("the clerk's session was not ended: %+v %v", old, err)
		}
	})
	t.Run("SignOutStaysHere", func(t *testing.T) {
		b := e.browser()
		b.follow(b.get(e.epr.LaunchURL("epr-1001")))
		p := b.post("/signout", url.Values{"csrf_token": {b.csrf()}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/signed-out" {
			t.Fatalf("sign-out: %d to %q, want /signed-out (no SAML logout for a session the EPR made)", p.status, p.header.Get("Location"))
		}
	})

	refusals := []struct {
		name   string
		user   string
		tamper func(claims map[string]any) *rsa.PrivateKey
		reason string
		cause  string
	}{
		{name: "ErrNoIDToken", tamper: func(c map[string]any) *rsa.PrivateKey { c[dropIDToken] = true; return nil },
			reason: "could not be verified", cause: "sent no id_token"},
		{name: "ErrBadSignature", tamper: func(map[string]any) *rsa.PrivateKey { return otherKey },
			reason: "could not be verified", cause: "bad signature"},
		{name: "ErrWrongIssuer", tamper: func(c map[string]any) *rsa.PrivateKey { c["iss"] = "https://epr.other-trust.example/fhir"; return nil },
			reason: "could not be verified", cause: "wrong issuer"},
		{name: "ErrWrongAudience", tamper: func(c map[string]any) *rsa.PrivateKey { c["aud"] = "another-app"; return nil },
			reason: "could not be verified", cause: "wrong audience"},
		{name: "ErrExpired", tamper: func(c map[string]any) *rsa.PrivateKey {
			c["exp"] = e.clock.Now().Add(-10 * time.Minute).Unix() // beyond the 2-minute skew allowed
			return nil
		}, reason: "could not be verified", cause: "expired"},
		{name: "ErrNonceMismatch", tamper: func(c map[string]any) *rsa.PrivateKey { c["nonce"] = "another-launch"; return nil },
			reason: "could not be verified", cause: "nonce mismatch"},
		{name: "ErrFHIRUserAPatient", user: "patient",
			reason: "did not sign you in as a member of staff", cause: "it names a Patient"},
		{name: "ErrFHIRUserOnAnotherServer", user: "elsewhere",
			reason: "did not sign you in as a member of staff", cause: "not on the EPR's FHIR server"},
		{name: "ErrNoSDSUserID", user: "nosds",
			reason: "could not tell carerecord who you are", cause: "has no SDS user id"},
		{name: "ErrAnotherOrganisation", user: "otherorg",
			reason: "you work for another organisation", cause: `org_code "RJ1", not RJZ`},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			e.tamper(tc.tamper)
			defer e.tamper(nil)
			user := tc.user
			if user == "" {
				user = "okafor"
			}
			b := e.browser()
			p := b.follow(b.get(e.epr.LaunchURLAs("epr-1001", user)))
			if p.status != http.StatusForbidden || p.h1() != "You cannot sign in to carerecord" {
				t.Fatalf("status %d %s %q, want the sign-in refusal page", p.status, p.url.Path, p.h1())
			}
			if got := text(find(p.doc, "p", "data-testid", "refusal-reason")); !strings.Contains(got, tc.reason) {
				t.Fatalf("page says %q, want %q", got, tc.reason)
			}
			if b.cookie("carerecord_session") != "" {
				t.Fatal("a refused sign-in set a session cookie")
			}
			evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActSignInRefused}})
			if len(evs) == 0 || !strings.Contains(evs[0].Detail, "sign-in from Test EPR") || !strings.Contains(evs[0].Detail, tc.cause) {
				t.Fatalf("refusal audit %+v, want one from Test EPR naming %q", evs[:min(1, len(evs))], tc.cause)
			}
			if p := b.get("/launch/open"); p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "login?return=") {
				t.Fatalf("after a refusal /launch/open: %d %q, want sign-in asked (nobody signed in)", p.status, p.header.Get("Location"))
			}
		})
	}
}

// TestLaunchNotTrustingEPRSignIn: with the mode off (the default), the
// EPR's id_token signs nobody in: a launch in a browser with no session
// goes to carerecord's own sign-in, and the EPR's user is not audited as
// signed in.
func TestLaunchNotTrustingEPRSignIn(t *testing.T) {
	e := newEnv(t, withSMART())
	b := e.browser()
	p := b.get(e.epr.LaunchURL("epr-1001"))
	for p.status == http.StatusFound || p.status == http.StatusSeeOther {
		if strings.HasPrefix(p.header.Get("Location"), "/saml/login") || strings.HasPrefix(p.header.Get("Location"), "/?") {
			break
		}
		p = b.get(p.header.Get("Location"))
	}
	if loc := p.header.Get("Location"); !strings.Contains(loc, "return=%2Flaunch%2Fopen") {
		t.Fatalf("launch with the mode off: %d to %q, want carerecord's sign-in first", p.status, loc)
	}
	if b.cookie("carerecord_session") != "" {
		t.Fatal("the EPR's identity started a session with the mode off")
	}
	if evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActSignIn}}); len(evs) != 0 {
		t.Fatalf("sign-ins audited with the mode off: %+v", evs)
	}
}

// sessionOf is the session the browser's cookie names.
func sessionOf(t *testing.T, e *env, b *browser) *store.Session {
	t.Helper()
	s, err := e.db.SessionByToken(t.Context(), sessionToken(t, e, b))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
