package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web/devidp"
)

// checkHeaders asserts the headers every response must carry.
func checkHeaders(t *testing.T, what string, h http.Header, static bool) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: CSP allows unsafe scripts: %q", what, csp)
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
		if h.Get(k) != v {
			t.Errorf("%s: %s = %q, want %q", what, k, h.Get(k), v)
		}
	}
	cc := h.Get("Cache-Control")
	if static {
		if !strings.Contains(cc, "immutable") {
			t.Errorf("%s: static file Cache-Control %q", what, cc)
		}
	} else if strings.HasSuffix(what, "GET /saml/metadata") {
		// Public metadata, no personal data: IdPs may cache it.
		if !strings.HasPrefix(cc, "public") {
			t.Errorf("%s: Cache-Control %q", what, cc)
		}
	} else if cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, withOIDC(), withSMART())
	for _, who := range []string{"", "clinician", "igofficer"} {
		b := e.browser()
		if who != "" {
			b.signIn("/saml/login", who)
		}
		tok := b.csrf()
		for _, r := range e.srv.Routes() {
			if r.Path == "/signout" {
				continue
			}
			var p *page
			if r.Method == http.MethodGet {
				p = b.get(samplePath(r.Path))
			} else {
				p = b.post(samplePath(r.Path), url.Values{"csrf_token": {tok}})
			}
			checkHeaders(t, who+" "+r.Method+" "+r.Path, p.header, r.Path == "/static/*")
		}
		// Errors too: an unknown page and a refused one.
		checkHeaders(t, who+" 404", b.get("/no/such/page").header, false)
	}
	t.Run("no HSTS over plain http", func(t *testing.T) {
		if h := e.browser().get("/").header.Get("Strict-Transport-Security"); h != "" {
			t.Fatalf("HSTS %q on http", h)
		}
	})
}

func TestHTTPSBaseURL(t *testing.T) {
	e := newEnv(t, withConfig(func(c *webConfig) { c.BaseURL, _ = url.Parse("https://carerecord.test") }))
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://carerecord.test/saml/login", nil))
	h := rec.Result().Header
	if !strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("no HSTS over https: %q", h.Get("Strict-Transport-Security"))
	}
	cookies := rec.Result().Cookies()
	if len(cookies) < 2 {
		t.Fatalf("want the CSRF and SAML tracking cookies, got %d", len(cookies))
	}
	for _, c := range cookies {
		if !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %s: Secure=%v HttpOnly=%v, want both", c.Name, c.Secure, c.HttpOnly)
		}
		if strings.HasPrefix(c.Name, "saml_") && c.SameSite != http.SameSiteNoneMode {
			t.Errorf("tracking cookie %s must be SameSite=None to survive the IdP's cross-site POST", c.Name)
		}
	}
	if !strings.HasPrefix(cookies[0].Name, "__Host-") && !strings.HasPrefix(cookies[1].Name, "__Host-") {
		t.Error("the CSRF cookie should use the __Host- prefix over https")
	}
}

func TestSessionCookieFlags(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	f, _ := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{})
	resp, err := b.c.PostForm(e.base.String()+"/saml/acs", url.Values{"SAMLResponse": {f.SAMLResponse}, "RelayState": {f.RelayState}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "carerecord_session" {
			sc = c
		}
	}
	if sc == nil {
		t.Fatal("no session cookie")
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" {
		t.Fatalf("session cookie flags: HttpOnly=%v SameSite=%v Path=%q", sc.HttpOnly, sc.SameSite, sc.Path)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if p := b.get("/healthz"); p.status != http.StatusOK {
		t.Fatalf("/healthz %d", p.status)
	}
	if p := b.get("/readyz"); p.status != http.StatusOK {
		t.Fatalf("/readyz %d", p.status)
	}
	e.db.Close()
	if p := b.get("/readyz"); p.status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the database closed: %d, want 503", p.status)
	}
	if p := b.get("/healthz"); p.status != http.StatusOK {
		t.Fatalf("/healthz with the database closed: %d, want 200 (the process is alive)", p.status)
	}
}

func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.get("/patients?nhs=9990000018&family=SMITH")
	line := lastLine(e.logs.String(), `"route":"/patients"`)
	for _, want := range []string{`"method":"GET"`, `"status":200`, `"duration_ms":`, `"user":"555000000001"`} {
		if !strings.Contains(line, want) {
			t.Errorf("request log line %s lacks %s", line, want)
		}
	}
	for _, never := range []string{"9990000018", "SMITH"} {
		if strings.Contains(e.logs.String(), never) {
			t.Errorf("the log holds %q from a query string", never)
		}
	}
}

// A forged X-Forwarded-For changes nothing: the audit log records the
// connecting address, so rate limits and investigations cannot be misled.
func TestForwardedForIgnoredByDefault(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.header.Set("X-Forwarded-For", "203.0.113.9")
	b.post("/saml/acs", url.Values{"SAMLResponse": {"bm90IHNhbWw="}})
	evs, _, err := e.db.SearchAudit(context.Background(), store.AuditFilter{Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %d", err, len(evs))
	}
	if evs[0].ClientAddr != "127.0.0.1" {
		t.Fatalf("client address %q, want the connecting address 127.0.0.1", evs[0].ClientAddr)
	}
}
