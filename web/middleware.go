package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/metrics"
	"github.com/carerecord/carerecord/store"
)

const (
	sessionCookie = "carerecord_session"
	// hostSessionCookie is its name over https: the __Host- prefix makes
	// browsers refuse it unless it is Secure, for Path=/ and without a
	// Domain, so a sibling subdomain can neither set nor shadow it.
	hostSessionCookie = "__Host-" + sessionCookie
	sessionToken      = "t"
	// touchEvery limits how often a request writes last-seen time: idle
	// locking is measured in minutes, so seconds of slack cost nothing
	// and save a write per request.
	touchEvery = 10 * time.Second
)

// securityHeaders sets the headers every response carries.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	formAction := "'self'"
	for _, o := range s.idpOrigins() {
		formAction += " " + o
	}
	csp := strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"font-src 'self'",
		"connect-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action " + formAction,
		"frame-ancestors 'none'",
	}, "; ")
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		// Pages show patient or audit data; nothing but fingerprinted
		// static files may be stored by a browser or proxy (the static
		// handler sets its own long lifetime).
		h.Set("Cache-Control", "no-store")
		if s.secure() {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

// idpOrigins are the identity providers' SSO and SLO origins: a form that posts here
// may be redirected there (sign-out), and CSP form-action must allow it.
func (s *Server) idpOrigins() []string {
	seen := map[string]bool{}
	var out []string
	add := func(loc string) {
		u, err := url.Parse(loc)
		if err != nil || u.Host == "" {
			return
		}
		o := u.Scheme + "://" + u.Host
		if !seen[o] && o != s.origin() {
			seen[o] = true
			out = append(out, o)
		}
	}
	if s.cfg.IDPMetadata != nil {
		for _, d := range s.cfg.IDPMetadata.IDPSSODescriptors {
			for _, e := range d.SingleSignOnServices {
				add(e.Location)
			}
			for _, e := range d.SingleLogoutServices {
				add(e.Location)
			}
		}
	}
	// Sign-out posts here and is redirected to the OpenID provider's
	// end_session_endpoint, found at discovery; its host is the issuer's
	// in every provider carerecord knows.
	if s.cfg.OIDC != nil {
		add(s.cfg.OIDC.Issuer())
	}
	// A patient's sign-out goes on to NHS login's end_session_endpoint.
	if s.cfg.NHSLogin != nil {
		add(s.cfg.NHSLogin.Issuer())
	}
	return out
}

func (s *Server) origin() string { return s.cfg.BaseURL.Scheme + "://" + s.cfg.BaseURL.Host }

// logRequests writes one structured line per request: never a query
// string, a form value or a response body, which may hold patient data.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		user := ""
		if u := UserFrom(c.Request().Context()); u != nil {
			user = u.ID
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		metrics.Request(route, c.Request().Method, c.Response().Status, time.Since(start))
		s.log.Info("request",
			"method", c.Request().Method,
			"route", route,
			"status", c.Response().Status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"user", user,
		)
		return nil
	}
}

// recoverPanics turns a panic into a 500 page and a log line.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = &Error{Code: EINTERNAL, Title: "Sorry, there is a problem with the service",
					Message: "Try again later.", Err: fmt.Errorf("panic: %v", r)}
			}
		}()
		return next(c)
	}
}

// loadSession puts the signed-in user, if any, into the request context.
// An idle session is locked (ended) here, an expired one ended.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			// The probes answer whoever asks, with or without a session,
			// and /healthz whether or not the database answers.
			return next(c)
		}
		gs, _ := s.cookies.Get(r, s.sessionCookie()) // a bad cookie reads as a new, empty session
		tok, _ := gs.Values[sessionToken].(string)
		if tok == "" {
			return next(c)
		}
		ctx := r.Context()
		sess, err := s.db.SessionByToken(ctx, tok)
		if errors.Is(err, store.ErrNotFound) {
			return next(c)
		}
		if err != nil {
			return &Error{Code: EUNAVAILABLE, Title: "Sorry, the service is unavailable", Message: "Try again in a few minutes.", Err: err}
		}
		now := s.now()
		switch {
		case sess.Ended():
			if sess.EndReason == endLocked {
				c.Set(ctxKeyLocked, true)
			}
			return next(c)
		case !now.Before(sess.ExpiresAt):
			if err := s.db.EndSession(ctx, sess.IDHash, endExpired); err != nil {
				return notRecorded(err)
			}
			c.Set(ctxKeyLocked, true)
			return next(c)
		case now.Sub(sess.LastSeenAt) > s.cfg.IdleTimeout:
			if err := s.db.EndSession(ctx, sess.IDHash, endLocked); err != nil {
				return notRecorded(err)
			}
			s.log.Info("session locked", "user", sess.UserID, "session", sess.IDHash[:12])
			ev := store.AuditEvent{Action: store.ActSessionLocked, UserID: sess.UserID, UserName: sess.DisplayName, SessionHash: sess.IDHash,
				Detail: "idle for " + now.Sub(sess.LastSeenAt).Round(time.Second).String()}
			if role, ok := sess.Role(); ok {
				ev.RoleCode, ev.ODS = role.Code, role.ODS
			}
			if err := s.audit(c, ev); err != nil {
				return err
			}
			c.Set(ctxKeyLocked, true)
			return next(c)
		}
		if now.Sub(sess.LastSeenAt) >= touchEvery {
			if err := s.db.TouchSession(ctx, sess.IDHash, now); err != nil {
				return notRecorded(err)
			}
		}
		u := &User{ID: sess.UserID, Name: sess.DisplayName, Profiles: sess.Profiles, Assurance: sess.Assurance, NHSNumber: sess.UserNHS, SessionHash: sess.IDHash}
		if sess.Protocol == store.ProtocolNHSLogin {
			// A patient: their verified NHS number, no profile, no role.
			u.Patient, u.Profiles, u.ProofingLevel = true, nil, sess.NameIDFormat
		} else if role, ok := sess.Role(); ok {
			if def, ok := s.cfg.Roles[role.Code]; ok {
				u.Role, u.RoleDef = &role, def
			}
		}
		c.SetRequest(r.WithContext(WithUser(ctx, u)))
		return next(c)
	}
}

const (
	ctxKeyLocked = "carerecord.locked"
	endSignedOut = "signed out"
	endLocked    = "locked"
	endExpired   = "expired"
	endReplaced  = "replaced by a new sign-in"
	// endBackChannel: the identity provider said the user signed out there.
	endBackChannel = "signed out at the identity provider"
	// endIdPLogout: a SAML LogoutRequest from the identity provider.
	endIdPLogout = "signed out by the identity provider"
)

// sessionCookie is the session cookie's name: __Host- prefixed over
// https; the plain name on loopback http, where browsers would refuse a
// __Host- cookie (it must be Secure).
func (s *Server) sessionCookie() string {
	if s.secure() {
		return hostSessionCookie
	}
	return sessionCookie
}

// require enforces a route's permission.
func (s *Server) require(p Permission) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p == PermPublic {
				return next(c)
			}
			r := c.Request()
			u := UserFrom(r.Context())
			safe := r.Method == http.MethodGet || r.Method == http.MethodHead
			if u == nil {
				if safe && p == PermPatient {
					return c.Redirect(http.StatusSeeOther, myRecordPath+"/sign-in?"+url.Values{"return": {r.URL.RequestURI()}}.Encode())
				}
				if safe {
					locked, _ := c.Get(ctxKeyLocked).(bool)
					return c.Redirect(http.StatusSeeOther, s.signInPath(r.URL.RequestURI(), locked))
				}
				return Errorf(EUNAUTHORIZED, "You are not signed in",
					"Your session has ended or was locked. Sign in again with your smartcard, then repeat what you were doing.")
			}
			if u.Patient || p == PermPatient {
				// Patients' pages and staff pages never meet: a patient
				// reaches their own pages only, staff never reach them.
				if u.Can(p) {
					return next(c)
				}
				return s.refuseAcrossKinds(c, u, p)
			}
			if p == PermSignedIn || u.Can(p) {
				if err := s.refuseWhenAuditRefused(p); err != nil {
					return err
				}
				return next(c)
			}
			if u.Role == nil {
				if safe {
					return c.Redirect(http.StatusSeeOther, "/roles?"+url.Values{"return": {r.URL.RequestURI()}}.Encode())
				}
				return Errorf(EFORBIDDEN, "Choose a role first", "Choose the role you are working in before you continue.")
			}
			if err := s.audit(c, store.AuditEvent{Action: store.ActAccessRefused, Outcome: store.OutcomeRefused,
				NHSNumber: validNHS(c.Param("nhs")), OutcomeWhy: "needs permission " + string(p), Detail: r.Method + " " + c.Path()}); err != nil {
				return err
			}
			return Errorf(EFORBIDDEN, "You do not have permission to see this page",
				"This page needs permission to %s. Your role, %s at %s (%s), does not give it. If you need it, ask your Registration Authority.",
				p.Describe(), u.RoleDef.Name, orgLabel(u.Role), u.Role.ODS)
		}
	}
}

// refuseAcrossKinds refuses a patient a staff page, or a member of staff
// a patient's page, audited as any refusal.
func (s *Server) refuseAcrossKinds(c echo.Context, u *User, p Permission) error {
	r := c.Request()
	if err := s.audit(c, store.AuditEvent{Action: store.ActAccessRefused, Outcome: store.OutcomeRefused,
		OutcomeWhy: "needs permission " + string(p), Detail: r.Method + " " + c.Path()}); err != nil {
		return err
	}
	if u.Patient {
		return Errorf(EFORBIDDEN, "This page is for health and care staff",
			"This page needs permission to %s. You signed in with NHS login, which lets you see your own record's page only. Go to your page: %s",
			p.Describe(), myRecordPath)
	}
	return Errorf(EFORBIDDEN, "This page is for patients",
		"This page needs permission to %s. Staff cannot see patients' own pages.", p.Describe())
}

// refuseWhenAuditRefused stops patient search and records while the audit
// log does not match its witness (an access could not be proven to have
// been recorded), unless the configuration keeps them available.
func (s *Server) refuseWhenAuditRefused(p Permission) error {
	switch p {
	case PermSearch, PermDemog, PermClinical:
	default:
		return nil
	}
	if s.cfg.ClinicalPagesWhenAuditRefused {
		return nil
	}
	if _, bad := s.db.AuditAlarm(); !bad {
		return nil
	}
	return Errorf(EUNAVAILABLE, "Patient records are not available",
		"The audit log that records every access does not match its independent copy, so no record can be shown until it is checked. "+
			"This is not a problem with your account. Contact your IT service desk; your information governance team has been told.")
}

func orgLabel(p *store.RoleProfile) string {
	if p.OrgName != "" {
		return p.OrgName
	}
	return p.ODS
}

// localPath returns p as a path on this site, or "/" when p is not one:
// the one check every return address goes through (a query parameter, a
// hidden form field, the address kept across a SAML sign-in), so that a
// return address can never send the user elsewhere. The result starts
// with exactly one "/" (never "//" or "/\\", which browsers read as
// another host), holds no fragment, and is its own localPath.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	// The decoded path must not start like another host either: a path
	// escaped in the input ("/%2Fevil.example") may be written out
	// decoded ("//evil.example") when it is encoded again.
	if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/\\") {
		return "/"
	}
	out := u.EscapedPath()
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "/"
		}
		if enc := q.Encode(); enc != "" {
			out += "?" + enc
		}
	}
	// Belt and braces: what goes out must read back as this same path.
	back, err := url.Parse(out)
	if err != nil || back.Host != "" || back.Scheme != "" || back.Path != u.Path ||
		!strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.HasPrefix(out, "/\\") {
		return "/"
	}
	return out
}

// readBody reads a request's body whole before any handler runs, within
// the server's read timeout (http.Server.ReadTimeout covers the body): a
// body trickled slower than that is answered 408, and logged as 408,
// instead of reaching a handler as an empty form that answers 200. Bodies
// are small (BodyLimit caps them at 1 MiB, before this).
func readBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			return next(c)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			var he *echo.HTTPError
			var ne net.Error
			switch {
			case errors.As(err, &he):
				return err // over the body limit: 413
			case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
				// The connection cannot be read again: close it after the
				// answer. The server has cancelled the request's context
				// (it gave up reading); the answer is still written.
				c.Response().Header().Set(echo.HeaderConnection, "close")
				c.SetRequest(r.WithContext(context.WithoutCancel(r.Context())))
				return Errorf(ETIMEOUT, "The request took too long to arrive",
					"Your browser did not finish sending what you submitted in time. Check your connection, go back and try again.")
			default:
				return Errorf(EINVALID, "The request could not be read", "Go back and try again.")
			}
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(b))
		return next(c)
	}
}
