package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/views"
)

// csrfGuard protects every state-changing request twice over: the
// request must not come from another origin (net/http's
// CrossOriginProtection, from Sec-Fetch-Site and Origin), and it must
// carry a token. The token is an HMAC of a random per-browser cookie and
// the session id, so a token taken from one session or browser is
// useless in another and a planted cookie alone is not enough.
//
// Echo's CSRF middleware is not used because it waives the token for any
// browser request marked same-origin; we want both checks.
type csrfGuard struct {
	key    []byte
	cookie string
	secure bool
	cop    *http.CrossOriginProtection
}

const csrfField = "csrf_token"

func newCSRFGuard(key []byte, base *url.URL, secure bool) (*csrfGuard, error) {
	g := &csrfGuard{key: key, cookie: "carerecord_csrf", secure: secure, cop: http.NewCrossOriginProtection()}
	if secure {
		// __Host- cookies cannot be set by a sibling subdomain.
		g.cookie = "__Host-carerecord_csrf"
	}
	if err := g.cop.AddTrustedOrigin(base.Scheme + "://" + base.Host); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *csrfGuard) token(browser, session string) string {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(browser))
	m.Write([]byte{0})
	m.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errCSRF = errors.New("csrf")

func (g *csrfGuard) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		browser := ""
		if ck, err := r.Cookie(g.cookie); err == nil && len(ck.Value) >= 32 {
			browser = ck.Value
		}
		if browser == "" {
			var b [32]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			browser = base64.RawURLEncoding.EncodeToString(b[:])
			http.SetCookie(c.Response(), &http.Cookie{
				Name: g.cookie, Value: browser, Path: "/", HttpOnly: true,
				Secure: g.secure, SameSite: http.SameSiteLaxMode,
			})
		}
		session := ""
		if u := UserFrom(r.Context()); u != nil {
			session = u.SessionHash
		}
		want := g.token(browser, session)

		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if _, exempt := csrfExempt[r.Method+" "+c.Path()]; !exempt {
				if err := g.cop.Check(r); err != nil {
					return Errorf(EFORBIDDEN, "This request came from another website",
						"For your security, carerecord only accepts forms sent from its own pages. Go back to carerecord and try again.")
				}
				got := r.Header.Get("X-CSRF-Token")
				if got == "" {
					got = r.FormValue(csrfField)
				}
				if !hmac.Equal([]byte(got), []byte(want)) {
					if locked, _ := c.Get(ctxKeyLocked).(bool); locked {
						// The token was bound to a session that has since
						// locked: say so, rather than call the form expired.
						return Errorf(EUNAUTHORIZED, "Your session was locked",
							"Your session was locked because it was idle. Sign in again with your smartcard, then repeat what you were doing.")
					}
					return &Error{Code: EFORBIDDEN, Title: "This form has expired",
						Message: "For your security, the form could not be accepted. Go back, reload the page and try again.", Err: errCSRF}
				}
			}
		}
		c.SetRequest(r.WithContext(views.WithCSRFToken(r.Context(), want)))
		return next(c)
	}
}
