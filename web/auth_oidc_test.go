package web_test

import (
	"crypto/rsa"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web/devidp"
)

// TestOIDCSignIn signs in through the development OpenID provider (the
// zitadel/oidc op package) with the real relying party code: discovery,
// PKCE, private_key_jwt, the ID token, userinfo.
func TestOIDCSignIn(t *testing.T) {
	e := newEnv(t, withOIDC())
	t.Run("OK", func(t *testing.T) {
		b := e.browser()
		p := b.signInOIDC("/oidc/login", "clinician")
		if p.status != http.StatusOK || p.url.Path != "/patients" || p.h1() != "Find a patient" {
			t.Fatalf("landed on %s (status %d, h1 %q), want /patients\n%s", p.url.Path, p.status, p.h1(), e.logs)
		}
		bar := text(find(p.doc, "li", "data-testid", "signed-in-user"))
		if !strings.Contains(bar, "Dr Amara Okafor") || !strings.Contains(bar, "Clinical Practitioner, King's College Hospital NHS Foundation Trust (RJZ)") {
			t.Fatalf("header shows %q, want the name and the role profile read from CIS2's claims", bar)
		}
		evs := events(t, e, store.AuditFilter{UserID: "555000000001", Actions: []store.Action{store.ActSignIn}})
		if len(evs) == 0 || !strings.Contains(evs[0].Detail, "OpenID Connect") || evs[0].RoleCode != "R8000" || evs[0].ODS != "RJZ" {
			t.Fatalf("sign-in audit %+v, want an OpenID Connect sign-in as R8000 at RJZ", evs)
		}
	})
	t.Run("the role selected at the provider is taken, and can be switched", func(t *testing.T) {
		b := e.browser()
		p := b.signInOIDC("/oidc/login", "nurse")
		if p.url.Path != "/patients" {
			t.Fatalf("landed on %s, want /patients without asking for the role again", p.url.Path)
		}
		if bar := text(find(p.doc, "li", "data-testid", "signed-in-user")); !strings.Contains(bar, "Guy's and St Thomas' NHS Foundation Trust (RJ1)") {
			t.Fatalf("header shows %q, want the role selected at sign-in (RJ1)", bar)
		}
		f := b.get("/roles").form(t, "form[action='/roles']")
		if f.Get("role") != "0" {
			t.Fatalf("the selected role is not the current one on the role page: %q", f.Get("role"))
		}
		f.Set("role", "1")
		p = b.follow(b.post("/roles", f))
		if bar := text(find(p.doc, "li", "data-testid", "signed-in-user")); !strings.Contains(bar, "(RJ2)") {
			t.Fatalf("after switching the header shows %q, want RJ2", bar)
		}
	})
	t.Run("a user with several roles chooses one at the provider", func(t *testing.T) {
		b := e.browser()
		p := b.follow(b.get("/oidc/login"))
		form := p.form(t, "form[action='/devidp/oidc/login']")
		form.Set("username", "nurse")
		form.Set("password", "demo")
		p = b.follow(b.post("/devidp/oidc/login", form))
		if p.h1() != "Choose your role" || len(findAll(p.doc, "input", "name", "role")) != 2 {
			t.Fatalf("after the password the provider shows %q, want its role choice of the nurse's two profiles", p.h1())
		}
		if q := b.post("/devidp/oidc/role", p.form(t, "form[action='/devidp/oidc/role']")); q.status != http.StatusBadRequest {
			t.Fatalf("no role chosen: %d, want the choice again", q.status)
		}
		p = b.chooseRoleAtOP(p, "1")
		if p.url.Path != "/patients" {
			t.Fatalf("landed on %s, want /patients without carerecord asking again", p.url.Path)
		}
		if bar := text(find(p.doc, "li", "data-testid", "signed-in-user")); !strings.Contains(bar, "Lewisham and Greenwich NHS Trust (RJ2)") {
			t.Fatalf("header shows %q, want the role chosen at the provider (RJ2)", bar)
		}
		evs := events(t, e, store.AuditFilter{UserID: "555000000002", Actions: []store.Action{store.ActSignIn}})
		if len(evs) == 0 || evs[0].ODS != "RJ2" || !strings.Contains(evs[0].Detail, "role selected at the identity provider") {
			t.Fatalf("sign-in audit %+v", evs[:min(1, len(evs))])
		}
	})
	t.Run("a deep link comes back to the page asked for", func(t *testing.T) {
		b := e.browser()
		p := b.get("/ig/audit")
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/?return=") {
			t.Fatalf("anonymous /ig/audit: %d to %q, want the landing page offering both sign-ins", p.status, p.header.Get("Location"))
		}
		landing := b.follow(p)
		var hrefs []string
		for _, a := range findAll(landing.doc, "a", "data-testid", "sign-in") {
			hrefs = append(hrefs, attr(a, "href"))
		}
		if len(hrefs) != 2 || !strings.HasPrefix(hrefs[0], "/oidc/login?return=%2Fig%2Faudit") || !strings.HasPrefix(hrefs[1], "/saml/login?return=%2Fig%2Faudit") {
			t.Fatalf("landing page sign-in links %q, want OpenID Connect then SAML, each returning to /ig/audit", hrefs)
		}
		p = b.signInOIDC(hrefs[0], "igofficer")
		if p.url.Path != "/ig/audit" {
			t.Fatalf("after sign-in: %s, want /ig/audit", p.url.Path)
		}
	})
	t.Run("the client key is published for private_key_jwt", func(t *testing.T) {
		p := e.browser().get("/oidc/jwks")
		if p.status != http.StatusOK || !strings.Contains(p.body, `"kty":"RSA"`) || strings.Contains(p.body, `"d":`) {
			t.Fatalf("/oidc/jwks: %d %s, want the public key only", p.status, p.body)
		}
	})
}

// TestOIDCSignInRefused drives each refusal through the real flow; the
// ID token is rewritten in flight where the provider would never send
// such a token. Each is refused with a page, no session, and an audit event
// naming the cause.
func TestOIDCSignInRefused(t *testing.T) {
	e := newEnv(t, withOIDC())
	cases := []struct {
		name   string
		user   string
		tamper func(claims map[string]any) *rsa.PrivateKey
		// breakCallback changes the callback URL before the browser follows it.
		breakCallback func(u *url.URL)
		reason, cause string
	}{
		{name: "ErrWrongIssuer", user: "clinician",
			tamper: func(c map[string]any) *rsa.PrivateKey { c["iss"] = "https://other-idp.example"; return nil },
			reason: "could not be verified", cause: "wrong issuer"},
		{name: "ErrWrongAudience", user: "clinician",
			tamper: func(c map[string]any) *rsa.PrivateKey { c["aud"] = []string{"another-service"}; return nil },
			reason: "could not be verified", cause: "wrong audience"},
		{name: "ErrExpired", user: "clinician",
			tamper: func(c map[string]any) *rsa.PrivateKey {
				c["exp"] = e.clock.Now().Add(-10 * time.Minute).Unix() // beyond the 2-minute skew allowed
				return nil
			},
			reason: "could not be verified", cause: "expired"},
		{name: "ErrBadSignature", user: "clinician",
			tamper: func(c map[string]any) *rsa.PrivateKey { return otherKey },
			reason: "could not be verified", cause: "bad signature"},
		{name: "ErrNonceMismatch", user: "clinician",
			tamper: func(c map[string]any) *rsa.PrivateKey { c["nonce"] = "another-sign-in"; return nil },
			reason: "could not be verified", cause: "nonce mismatch"},
		{name: "ErrStateMismatch", user: "clinician",
			breakCallback: func(u *url.URL) { q := u.Query(); q.Set("state", "forged"); u.RawQuery = q.Encode() },
			reason:        "could not be verified", cause: "state mismatch"},
		{name: "ErrProviderError", user: "clinician",
			breakCallback: func(u *url.URL) {
				u.RawQuery = url.Values{"state": {u.Query().Get("state")}, "error": {"access_denied"}}.Encode()
			},
			reason: `did not sign you in (it answered "access_denied")`, cause: "provider answered access_denied"},
		{name: "ErrAssuranceBelowMinimum", user: "lowaal",
			reason: "needs authentication assurance level 3", cause: "assurance 2 below 3"},
		{name: "ErrUnknownRole", user: "unmapped",
			reason: "None of your role profiles ([R9999])", cause: "no usable role profile"},
		{name: "ErrNoRole", user: "norole",
			reason: "no role profile", cause: "no usable role profile"},
		{name: "ErrSelectedRoleNotTheirs", user: "wrongselection",
			reason: "not one of your role profiles", cause: "selected role 999999999999 is not among"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.tamper(tc.tamper)
			defer e.tamper(nil)
			b := e.browser()
			cb := cis2Flow.answer(t, b, tc.user)
			if tc.breakCallback != nil {
				tc.breakCallback(cb)
			}
			p := b.get(cb.String())
			if p.status != http.StatusForbidden {
				t.Fatalf("status %d (%s), want 403\n%s", p.status, p.url, lastLine(e.logs.String(), "sign-in"))
			}
			if got := text(find(p.doc, "p", "data-testid", "refusal-reason")); !strings.Contains(got, tc.reason) {
				t.Fatalf("refusal says %q, want %q", got, tc.reason)
			}
			if b.cookie("carerecord_session") != "" {
				t.Fatal("a refused sign-in set a session cookie")
			}
			evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActSignInRefused}})
			if len(evs) == 0 || !strings.Contains(evs[0].Detail, tc.cause) || evs[0].Outcome != store.OutcomeRefused {
				t.Fatalf("latest refusal audited as %+v, want the cause %q", evs, tc.cause)
			}
		})
	}

	t.Run("ErrReplayedCode", func(t *testing.T) {
		b := e.browser()
		oidcPath := cis2Flow.answer(t, b, "clinician")
		callback := oidcPath.String()
		var pending string
		for _, c := range b.c.Jar.Cookies(oidcPath) {
			if c.Name == "carerecord_oidc" {
				pending = c.Value
			}
		}
		if pending == "" {
			t.Fatal("no pending sign-in cookie")
		}
		if p := b.follow(b.get(callback)); p.url.Path != "/patients" {
			t.Fatalf("first use of the code: %s, want signed in", p.url.Path)
		}
		// An attacker who saw the redirect and kept the pending cookie
		// tries the same code again.
		b2 := e.browser()
		b2.c.Jar.SetCookies(oidcPath, []*http.Cookie{{Name: "carerecord_oidc", Value: pending, Path: "/oidc/"}})
		p := b2.get(callback)
		if p.status != http.StatusForbidden || b2.cookie("carerecord_session") != "" {
			t.Fatalf("replayed code: status %d, want 403 and no session", p.status)
		}
		evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActSignInRefused}})
		if len(evs) == 0 || !strings.Contains(evs[0].Detail, "code exchange refused") {
			t.Fatalf("replay audited as %+v, want a refused code exchange", evs)
		}
	})

	t.Run("a sign-in that took too long says so and offers to start again", func(t *testing.T) {
		b := e.browser()
		cb := cis2Flow.answer(t, b, "clinician")
		e.clock.Advance(6 * time.Minute) // the request window is 5 minutes
		defer e.clock.Advance(-6 * time.Minute)
		p := b.get(cb.String())
		if p.status != http.StatusBadRequest || p.h1() != "Your sign-in took too long" {
			t.Fatalf("late callback: %d %q, want the took-too-long page", p.status, p.h1())
		}
		if a := find(p.doc, "a", "href", "/oidc/login"); a == nil || text(a) != "Start again" {
			t.Fatal("no Start again link")
		}
	})
}

// openIDFlow is a sign-in at one of the development OpenID providers:
// where carerecord starts it, the provider's sign-in form, and the
// callback the provider answers at.
type openIDFlow struct{ start, login, callback string }

var (
	cis2Flow     = openIDFlow{start: "/oidc/login", login: "/devidp/oidc/login", callback: "/oidc/callback"}
	nhsLoginFlow = openIDFlow{start: "/my-record/sign-in", login: "/devidp/nhslogin/login", callback: "/my-record/callback"}
)

// answer signs username in at the provider and returns the callback URL
// the provider sends the browser back to, not yet followed.
func (f openIDFlow) answer(t *testing.T, b *browser, username string) *url.URL {
	t.Helper()
	p := b.follow(b.get(f.start))
	form := p.form(t, "form[action='"+f.login+"']")
	form.Set("username", username)
	form.Set("password", "demo")
	p = b.post(f.login, form)
	// Follow the provider's redirects up to carerecord's callback.
	for p.status == http.StatusFound && !strings.Contains(p.header.Get("Location"), f.callback) {
		p = b.get(p.header.Get("Location"))
	}
	u, err := url.Parse(p.header.Get("Location"))
	if err != nil || u.Path != f.callback {
		t.Fatalf("no redirect to %s: %d %q", f.callback, p.status, p.header.Get("Location"))
	}
	return u
}

// TestOIDCOnly is a deployment that offers OpenID Connect and no SAML:
// no SAML routes, and sign-in goes straight to the provider.
func TestOIDCOnly(t *testing.T) {
	e := newEnv(t, withOIDCOnly())
	b := e.browser()
	p := b.get("/patients")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/oidc/login?return=") {
		t.Fatalf("anonymous /patients: %d to %q, want /oidc/login", p.status, p.header.Get("Location"))
	}
	for _, path := range []string{"/saml/metadata", "/saml/login"} {
		if p := b.get(path); p.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404 with SAML off", path, p.status)
		}
	}
	if p := b.signInOIDC("/patients", "clinician"); p.url.Path != "/patients" {
		t.Fatalf("signed in to %s", p.url.Path)
	}
}

// TestOIDCLogout covers both ways an OpenID Connect session ends at the
// provider's word: RP-initiated logout through its end_session_endpoint,
// and a back-channel logout token, refused unless it is good and names
// this user.
func TestOIDCLogout(t *testing.T) {
	e := newEnv(t, withOIDC())
	signedIn := func(t *testing.T, b *browser) bool {
		t.Helper()
		p := b.get("/patients")
		return p.status == http.StatusOK
	}
	t.Run("sign-out goes through the provider's end_session_endpoint", func(t *testing.T) {
		b := e.browser()
		b.signInOIDC("/oidc/login", "clinician")
		p := b.post("/signout", url.Values{"csrf_token": {b.csrf()}})
		loc, _ := url.Parse(p.header.Get("Location"))
		if p.status != http.StatusSeeOther || loc == nil || loc.Path != "/devidp/oidc/end_session" ||
			loc.Query().Get("id_token_hint") == "" || loc.Query().Get("post_logout_redirect_uri") != e.base.String()+"/signed-out" {
			t.Fatalf("sign-out: %d to %q, want the end_session_endpoint with id_token_hint and post_logout_redirect_uri", p.status, p.header.Get("Location"))
		}
		if signedIn(t, b) {
			t.Fatal("the session is still live after sign-out")
		}
		p = b.follow(p)
		if p.url.Path != "/signed-out" || text(find(p.doc, "p", "data-testid", "signed-out")) == "" {
			t.Fatalf("after the provider: %s %q", p.url.Path, p.h1())
		}
		// The provider's session ended too: the next sign-in asks again.
		p = b.follow(b.get("/oidc/login"))
		if find(p.doc, "input", "name", "authRequestID") == nil {
			t.Fatal("the provider still had a session after RP-initiated logout")
		}
	})

	// session signs the clinician in and returns the browser and the
	// provider's session id from the ID token's sid.
	session := func(t *testing.T) (*browser, string) {
		t.Helper()
		b := e.browser()
		b.signInOIDC("/oidc/login", "clinician")
		if !signedIn(t, b) {
			t.Fatal("not signed in")
		}
		var sid string
		evs := events(t, e, store.AuditFilter{UserID: "555000000001", Actions: []store.Action{store.ActSignIn}})
		s, err := e.db.SessionByHash(t.Context(), evs[0].SessionHash)
		if err != nil || s.Protocol != store.ProtocolOIDC || s.NameID != "555000000001" {
			t.Fatalf("session %+v (%v), want an OIDC session keyed by the subject", s, err)
		}
		sid = s.SessionIndex
		if sid == "" {
			t.Fatal("the ID token carried no sid")
		}
		return b, sid
	}
	post := func(t *testing.T, tok string) int {
		t.Helper()
		resp, err := http.PostForm(e.base.String()+"/oidc/backchannel-logout", url.Values{"logout_token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The test clock is behind the wall clock the provider signs with.
	expired := e.clock.Now().Sub(time.Now()) - time.Hour

	refusals := []struct {
		name string
		opts func(sid string) devidp.LogoutTokenOptions
	}{
		{"ErrWrongAudience", func(sid string) devidp.LogoutTokenOptions {
			return devidp.LogoutTokenOptions{Audience: "another-service", Subject: "555000000001", SessionID: sid}
		}},
		{"ErrWrongIssuer", func(sid string) devidp.LogoutTokenOptions {
			return devidp.LogoutTokenOptions{Audience: "carerecord-test", Subject: "555000000001", SessionID: sid, Issuer: "https://other-idp.example"}
		}},
		{"ErrBadSignature", func(sid string) devidp.LogoutTokenOptions {
			return devidp.LogoutTokenOptions{Audience: "carerecord-test", Subject: "555000000001", SessionID: sid, Key: otherKey}
		}},
		{"ErrExpired", func(sid string) devidp.LogoutTokenOptions {
			return devidp.LogoutTokenOptions{Audience: "carerecord-test", Subject: "555000000001", SessionID: sid, Expires: expired}
		}},
		{"ErrNonce", func(sid string) devidp.LogoutTokenOptions {
			return devidp.LogoutTokenOptions{Audience: "carerecord-test", Subject: "555000000001", SessionID: sid, Nonce: "n"}
		}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			b, sid := session(t)
			tok, err := e.op.LogoutToken(tc.opts(sid))
			if err != nil {
				t.Fatal(err)
			}
			if code := post(t, tok); code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", code)
			}
			if !signedIn(t, b) {
				t.Fatal("a refused logout token ended the session")
			}
		})
	}
	t.Run("a logout token for another user ends nobody else's session", func(t *testing.T) {
		b, _ := session(t)
		tok, _ := e.op.LogoutToken(devidp.LogoutTokenOptions{Audience: "carerecord-test", Subject: "555000000002"})
		if code := post(t, tok); code != http.StatusOK {
			t.Fatalf("status %d, want 200 (a good token that names no session here)", code)
		}
		if !signedIn(t, b) {
			t.Fatal("a logout token for the nurse ended the clinician's session")
		}
	})
	t.Run("OK: a good token ends the session at once, and only once", func(t *testing.T) {
		b, sid := session(t)
		other, _ := session(t) // the same user in another browser, another provider session
		tok, _ := e.op.LogoutToken(devidp.LogoutTokenOptions{Audience: "carerecord-test", Subject: "555000000001", SessionID: sid})
		if code := post(t, tok); code != http.StatusOK {
			t.Fatalf("status %d, want 200", code)
		}
		if signedIn(t, b) {
			t.Fatal("the session named by the logout token is still live")
		}
		if !signedIn(t, other) {
			t.Fatal("a logout token naming one sid ended another session")
		}
		evs := events(t, e, store.AuditFilter{UserID: "555000000001", Actions: []store.Action{store.ActSignOut}})
		if len(evs) == 0 || !strings.Contains(evs[0].Detail, "back-channel logout") {
			t.Fatalf("sign-out audit %+v, want a back-channel logout", evs)
		}
		if code := post(t, tok); code != http.StatusBadRequest {
			t.Fatalf("replayed logout token: status %d, want 400", code)
		}
	})
}
