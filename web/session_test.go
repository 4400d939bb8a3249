package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestIdleLock(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	old := sessionToken(t, e, b)

	t.Run("activity within the idle time keeps the session", func(t *testing.T) {
		for range 3 {
			e.clock.Advance(10 * time.Minute)
			if p := b.get("/patients"); p.status != http.StatusOK {
				t.Fatalf("after 10 idle minutes: status %d", p.status)
			}
		}
	})
	t.Run("locks after 15 idle minutes and comes back to the same page", func(t *testing.T) {
		e.clock.Advance(16 * time.Minute)
		p := b.get("/patients?tab=recent")
		loc, _ := url.Parse(p.header.Get("Location"))
		if p.status != http.StatusSeeOther || loc.Path != "/saml/login" || loc.Query().Get("return") != "/patients?tab=recent" || loc.Query().Get("fresh") != "1" {
			t.Fatalf("idle request: status %d to %q, want a fresh sign-in returning to the page", p.status, loc)
		}
		s, err := e.db.SessionByToken(context.Background(), old)
		if err != nil || !s.Ended() || s.EndReason != "locked" {
			t.Fatalf("old session after lock: %+v %v", s, err)
		}
		// The IdP must ask again (ForceAuthn), even though its own
		// session from the first sign-in is still alive.
		login := b.follow(p)
		if login.url.Path != "/devidp/sso" || find(login.doc, "input", "name", "password") == nil {
			t.Fatalf("after lock: at %s without a password prompt", login.url.Path)
		}
		f := login.form(t, "form[action='/devidp/sso']")
		f.Set("username", "clinician")
		f.Set("password", "demo")
		posted := b.post("/devidp/sso", f)
		back := b.follow(b.post(posted.formAction(t, "form[data-auto-submit]"), posted.form(t, "form[data-auto-submit]")))
		if back.url.RequestURI() != "/patients?tab=recent" || back.status != http.StatusOK {
			t.Fatalf("after fresh sign-in: %s (%d), want the same page", back.url.RequestURI(), back.status)
		}
		if sessionToken(t, e, b) == old {
			t.Fatal("the session id did not change")
		}
	})
	t.Run("a form posted after the lock is refused, not lost silently", func(t *testing.T) {
		tok := b.csrf()
		e.clock.Advance(20 * time.Minute)
		p := b.post("/roles", url.Values{"csrf_token": {tok}, "role": {"0"}})
		if p.status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", p.status)
		}
	})
}

func TestAbsoluteLifetime(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "admin")
	// Busy all day: never idle, but 12 hours is the limit.
	for elapsed := time.Duration(0); elapsed < 12*time.Hour-10*time.Minute; elapsed += 10 * time.Minute {
		e.clock.Advance(10 * time.Minute)
		if p := b.get("/admin/status"); p.status != http.StatusOK {
			t.Fatalf("after %s: status %d", elapsed, p.status)
		}
	}
	e.clock.Advance(15 * time.Minute)
	p := b.get("/admin/status")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/saml/login") {
		t.Fatalf("after 12h: status %d to %q, want sign-in", p.status, p.header.Get("Location"))
	}
}

func TestSessionRotatesAtSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	first := sessionToken(t, e, b)
	firstCookie := b.cookie("carerecord_session")
	b.signIn("/saml/login", "clinician")
	second := sessionToken(t, e, b)
	if first == second {
		t.Fatal("signing in again kept the session id")
	}
	s, _ := e.db.SessionByToken(context.Background(), first)
	if !s.Ended() {
		t.Fatal("the replaced session is still live")
	}
	// A copy of the old cookie is useless.
	stale := e.browser()
	stale.c.Jar.SetCookies(e.base, []*http.Cookie{{Name: "carerecord_session", Value: firstCookie}})
	if p := stale.get("/patients"); p.status != http.StatusSeeOther {
		t.Fatalf("old cookie: status %d, want a redirect to sign-in", p.status)
	}
}

func TestSignOut(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	home := b.signIn("/saml/login", "clinician")
	cookie := b.cookie("carerecord_session")
	tok := sessionToken(t, e, b)
	f := home.form(t, "form[action='/signout']")
	p := b.post("/signout", f)
	loc, _ := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusSeeOther || loc.Path != "/devidp/slo" || loc.Query().Get("SAMLRequest") == "" {
		t.Fatalf("sign-out: status %d to %q, want the IdP's single logout", p.status, loc)
	}
	// Server-side: ended at once, before the IdP answers.
	if s, _ := e.db.SessionByToken(context.Background(), tok); !s.Ended() || s.EndReason != "signed out" {
		t.Fatalf("session after sign-out: %+v", s)
	}
	done := b.follow(p)
	if done.url.Path != "/signed-out" || done.h1() != "You have signed out" {
		t.Fatalf("after single logout: %s %q", done.url.Path, done.h1())
	}
	if !strings.Contains(e.logs.String(), `"route":"/saml/slo","status":303`) {
		t.Fatal("the IdP's LogoutResponse was not verified (no redirect from /saml/slo)")
	}
	// A saved copy of the cookie no longer works.
	thief := e.browser()
	thief.c.Jar.SetCookies(e.base, []*http.Cookie{{Name: "carerecord_session", Value: cookie}})
	if p := thief.get("/patients"); p.status != http.StatusSeeOther {
		t.Fatalf("old cookie after sign-out: status %d", p.status)
	}
	// The IdP session ended too: signing in asks for the password again.
	login := b.follow(b.get("/saml/login"))
	if find(login.doc, "input", "name", "password") == nil {
		t.Fatal("the IdP did not end its own session")
	}
}

func TestSignOutResponseForged(t *testing.T) {
	e := newEnv(t)
	// A LogoutResponse not signed by the IdP: the user is still signed out
	// locally, and told the IdP did not confirm.
	p := e.browser().get("/saml/slo?SAMLResponse=" + url.QueryEscape("bm90IHNhbWw="))
	if p.status != http.StatusOK || !strings.Contains(p.body, "did not confirm") {
		t.Fatalf("status %d", p.status)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.signIn("/saml/login", "nurse")
	good := p.form(t, "form[action='/roles']")
	good.Set("role", "0")
	other := e.browser()
	other.signIn("/saml/login", "nurse")
	otherToken := other.csrf()

	cases := []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"ErrNoToken", url.Values{"role": {"0"}}, nil},
		{"ErrWrongToken", url.Values{"role": {"0"}, "csrf_token": {otherFirst(good.Get("csrf_token"))}}, nil},
		{"ErrAnotherSessionsToken", url.Values{"role": {"0"}, "csrf_token": {otherToken}}, nil},
		{"ErrCrossSite", good, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}},
		{"ErrOtherOrigin", good, http.Header{"Origin": {"https://evil.example"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.header = tc.header
			defer func() { b.header = http.Header{} }()
			p := b.post("/roles", tc.form)
			if p.status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", p.status)
			}
			if s, _ := e.db.SessionByToken(context.Background(), sessionToken(t, e, b)); s.RoleIndex != -1 {
				t.Fatal("the refused request changed the session")
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		b.header = http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.base.Scheme + "://" + e.base.Host}}
		defer func() { b.header = http.Header{} }()
		if p := b.post("/roles", good); p.status != http.StatusSeeOther {
			t.Fatalf("status %d, want 303", p.status)
		}
	})
}
