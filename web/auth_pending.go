package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/web/oidc"
)

// An OpenID sign-in in progress (NHS CIS2 for staff, NHS login for
// patients): what the callback must match (state, nonce, PKCE verifier)
// travels in a short-lived cookie, signed and encrypted with the session
// keys, never in the session itself: there is none yet.

// pendingSignIn is what the callback needs of the sign-in it finishes.
type pendingSignIn struct {
	oidc.Start
	Return  string
	Started int64 // unix seconds
}

// pendingCookie names the cookie a kind of sign-in keeps its pending
// sign-in in, and the path it is sent back to (the callback's).
type pendingCookie struct {
	Name, Path string
}

// errPendingExpired: the pending sign-in was read, but it began longer ago
// than the request window allows.
var errPendingExpired = errors.New("pending sign-in older than the request window")

// savePending starts a sign-in: st and where to return to go into the
// browser's pending cookie, good for the request window.
func (s *Server) savePending(c echo.Context, pc pendingCookie, st oidc.Start, ret string) error {
	v, err := securecookie.EncodeMulti(pc.Name, pendingSignIn{Start: st, Return: ret, Started: s.now().Unix()}, s.cookies.Codecs...)
	if err != nil {
		return fmt.Errorf("encode pending sign-in: %w", err)
	}
	s.setPendingCookie(c, pc, v, int(s.cfg.RequestWindow.Seconds()))
	return nil
}

// takePending reads the browser's pending sign-in and clears it: it is used
// once, whatever happens next. The error is errPendingExpired when the
// sign-in was found but is too old, another error when there is none this
// server can read.
func (s *Server) takePending(c echo.Context, pc pendingCookie) (pendingSignIn, error) {
	var p pendingSignIn
	ck, err := c.Request().Cookie(pc.Name)
	if err == nil {
		err = securecookie.DecodeMulti(pc.Name, ck.Value, &p, s.cookies.Codecs...)
	}
	s.setPendingCookie(c, pc, "", -1)
	if err != nil {
		return pendingSignIn{}, err
	}
	if s.now().Sub(time.Unix(p.Started, 0)) > s.cfg.RequestWindow {
		return pendingSignIn{}, errPendingExpired
	}
	return p, nil
}

func (s *Server) setPendingCookie(c echo.Context, pc pendingCookie, value string, maxAge int) {
	http.SetCookie(c.Response(), &http.Cookie{Name: pc.Name, Value: value, Path: pc.Path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode})
}
