package web

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
	"github.com/carerecord/carerecord/web/oidc"
)

// OpenID Connect sign-in (NHS CIS2): the handlers around web/oidc, which
// does the protocol. The sign-in in progress waits in a pending cookie
// (auth_pending.go).

var oidcPendingCookie = pendingCookie{Name: "carerecord_oidc", Path: "/oidc/"}

// startOIDCSignIn sends the browser to the OpenID provider. ?return= is
// where to come back to; ?fresh=1 (after an idle lock) asks the provider
// to authenticate again.
func (s *Server) startOIDCSignIn(c echo.Context) error {
	r := c.Request()
	ret := localPath(r.URL.Query().Get("return"))
	if ret == "/" {
		ret = "/home"
	}
	st := oidc.NewStart()
	to, err := s.cfg.OIDC.AuthCodeURL(r.Context(), st, r.URL.Query().Get("fresh") == "1")
	if err != nil {
		return &Error{Code: EUNAVAILABLE, Title: "Sign-in is not available",
			Message: "carerecord cannot reach " + s.cfg.OIDCLabel + " just now. Try again in a few minutes; if it keeps happening, contact your IT service desk.",
			Err:     err}
	}
	if err := s.savePending(c, oidcPendingCookie, st, ret); err != nil {
		return fmt.Errorf("oidc: %w", err)
	}
	return c.Redirect(http.StatusFound, to)
}

// providerError is the shape of an OAuth error code; anything else the
// provider sends is not shown.
var providerError = regexp.MustCompile(`^[a-z_]{1,40}$`)

// finishOIDCSignIn is the redirect URI: it checks the state against the
// pending sign-in, exchanges the code, checks the identity, and starts a
// session with the role the user selected at the provider.
func (s *Server) finishOIDCSignIn(c echo.Context) error {
	r := c.Request()
	q := r.URL.Query()
	p, err := s.takePending(c, oidcPendingCookie)
	if err != nil {
		s.log.Info("sign-in took too long or was not started here", "protocol", "oidc", "cookie", errors.Is(err, errPendingExpired))
		return s.signInTookTooLong(c, "/oidc/login")
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(p.State)) != 1 {
		return s.refuseSignIn(c, "The sign-in response from your identity provider could not be verified.",
			errors.New("oidc: state mismatch: the callback's state is not the one this browser's sign-in sent"))
	}
	if e := q.Get("error"); e != "" {
		if !providerError.MatchString(e) {
			e = "an error"
		}
		return s.refuseSignIn(c, fmt.Sprintf("%s did not sign you in (it answered %q).", s.cfg.OIDCLabel, e),
			fmt.Errorf("oidc: provider answered %s", e))
	}
	oid, err := s.cfg.OIDC.Exchange(r.Context(), q.Get("code"), p.Start)
	if err != nil {
		return s.refuseSignIn(c, "The sign-in response from your identity provider could not be verified.", err)
	}
	id := Identity{UserID: oid.UserID, DisplayName: oid.Name, Assurance: oid.Assurance}
	chosen := -1
	selectedKnown := oid.SelectedRole == ""
	for _, role := range oid.Roles {
		if role.ID == oid.SelectedRole && oid.SelectedRole != "" {
			selectedKnown = true
		}
		if _, ok := s.cfg.Roles[role.Code]; !ok {
			id.Unmapped = append(id.Unmapped, role.Code)
			continue
		}
		if role.ID == oid.SelectedRole && oid.SelectedRole != "" {
			chosen = len(id.Profiles)
		}
		id.Profiles = append(id.Profiles, store.RoleProfile{Code: role.Code, ODS: role.ODS, OrgName: role.OrgName, ID: role.ID})
	}
	if !selectedKnown {
		// The provider says the user selected a role it does not list
		// among theirs: the claims disagree, and no role can be trusted.
		return s.refuseSignIn(c, "The role you selected is not one of your role profiles. Sign in again and select one of your roles.",
			fmt.Errorf("oidc: user %s: selected role %s is not among the role profiles", oid.UserID, oid.SelectedRole))
	}
	if reason, cause := s.unusable(id); cause != nil {
		return s.refuseSignIn(c, reason, cause)
	}
	return s.beginSession(c, id, store.NewSession{Protocol: store.ProtocolOIDC, NameID: oid.Subject,
		SessionIndex: oid.SessionID, IDToken: oid.IDToken}, chosen, p.Return, "OpenID Connect")
}

// signInTookTooLong says so and offers to start again.
func (s *Server) signInTookTooLong(c echo.Context, again string) error {
	return render(c, http.StatusBadRequest, views.SignInTimedOut(s.page(c, "Your sign-in took too long"), again))
}

// showOIDCKeys publishes the public half of carerecord's client key, which
// the OpenID provider uses to verify its private_key_jwt assertions.
func (s *Server) showOIDCKeys(c echo.Context) error {
	return c.JSON(http.StatusOK, s.cfg.OIDC.JWKS())
}

// receiveBackChannelLogout ends, at once, the sessions a verified logout
// token names (OpenID Connect Back-Channel Logout 1.0, section 2.8): the
// answer is 200 when the token is good, 400 otherwise, and never cached.
func (s *Server) receiveBackChannelLogout(c echo.Context) error {
	r := c.Request()
	c.Response().Header().Set("Cache-Control", "no-store")
	raw := r.PostFormValue("logout_token")
	bad := func(cause error) error {
		s.log.Warn("back-channel logout refused", "error", cause.Error())
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "invalid_request"})
	}
	if raw == "" {
		return bad(errors.New("no logout_token"))
	}
	lt, err := s.cfg.OIDC.VerifyLogoutToken(r.Context(), raw)
	if err != nil {
		return bad(err)
	}
	// A logout token is used once (section 2.6: "SHOULD ... not been
	// recently received"); the assertion table keeps its jti until expiry.
	if err := s.db.UseAssertion(r.Context(), "oidc-logout:"+lt.ID, lt.Expiry.Add(time.Minute)); err != nil {
		if errors.Is(err, store.ErrReplay) {
			return bad(errors.New("logout token replayed"))
		}
		return err
	}
	ended, err := s.db.EndSessionsFor(r.Context(), store.ProtocolOIDC, lt.Subject, lt.SessionID, endBackChannel)
	if err != nil {
		return err
	}
	for _, h := range ended {
		sess, err := s.db.SessionByHash(r.Context(), h)
		if err != nil {
			return err
		}
		ev := store.AuditEvent{Action: store.ActSignOut, UserID: sess.UserID, UserName: sess.DisplayName, SessionHash: h,
			Detail: "ended by the identity provider (back-channel logout)"}
		if role, ok := sess.Role(); ok {
			ev.RoleCode, ev.ODS = role.Code, role.ODS
		}
		if err := s.audit(c, ev); err != nil {
			return err
		}
	}
	s.log.Info("back-channel logout", "sessions_ended", len(ended))
	return c.NoContent(http.StatusOK)
}
