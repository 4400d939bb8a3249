package web

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// showSPMetadata serves this service provider's SAML metadata, from which
// any standards-compliant IdP can be configured.
func (s *Server) showSPMetadata(c echo.Context) error {
	buf, err := xml.MarshalIndent(s.SPMetadata(), "", "  ")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "application/samlmetadata+xml", buf)
}

// startSignIn sends the browser to the IdP with a signed AuthnRequest.
// ?return= is where to come back to; ?fresh=1 (after an idle lock) asks
// the IdP to authenticate again rather than reuse its own session.
func (s *Server) startSignIn(c echo.Context) error {
	r := c.Request()
	ret := localPath(r.URL.Query().Get("return"))
	if ret == "/" {
		ret = "/home"
	}
	ssoURL := s.sp.GetSSOBindingLocation(saml.HTTPRedirectBinding)
	if ssoURL == "" {
		return &Error{Code: EUNAVAILABLE, Title: "Sign-in is not available",
			Message: "The identity provider offers no sign-in address this service can use. Contact your IT service desk.",
			Err:     errors.New("IdP metadata has no HTTP-Redirect SingleSignOnService")}
	}
	req, err := s.sp.MakeAuthenticationRequest(ssoURL, saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return fmt.Errorf("make AuthnRequest: %w", err)
	}
	if r.URL.Query().Get("fresh") == "1" {
		force := true
		req.ForceAuthn = &force
	}
	// The tracker remembers the return address, keyed by the relay state;
	// give it a request whose URL is that address.
	back := r.Clone(r.Context())
	back.URL, _ = url.Parse(ret)
	relay, err := s.tracker.TrackRequest(c.Response(), back, req.ID)
	if err != nil {
		return fmt.Errorf("track AuthnRequest: %w", err)
	}
	// The server remembers, for a day, that it sent this request: a
	// response to it arriving after the browser's tracking cookie has
	// gone is then known for a sign-in that took too long, not a forgery.
	if err := s.db.UseAssertion(r.Context(), sentRequestKey(req.ID), s.now().Add(24*time.Hour)); err != nil {
		return fmt.Errorf("remember AuthnRequest: %w", err)
	}
	to, err := req.Redirect(relay, s.sp)
	if err != nil {
		return fmt.Errorf("sign AuthnRequest: %w", err)
	}
	return c.Redirect(http.StatusFound, to.String())
}

// consumeAssertion is the assertion consumer service: it verifies the
// IdP's response, checks the user's role profiles and assurance level,
// and starts a new session (a new id: no fixation).
func (s *Server) consumeAssertion(c echo.Context) error {
	r := c.Request()
	if err := r.ParseForm(); err != nil || r.PostForm.Get("SAMLResponse") == "" {
		return Errorf(EINVALID, "No sign-in response was received",
			"This address receives sign-in responses from your identity provider. Start again from the sign-in page.")
	}
	if err := checkSAMLResponse(r.PostForm.Get("SAMLResponse"), s.cfg.SPKey, s.sp.IDPMetadata.EntityID); err != nil {
		// A response carries exactly one assertion, with an Issuer and a
		// SAML NameID: anything else is refused before crewjam/saml sees
		// it (samlguard.go says which shapes and why).
		return s.refuseSignIn(c, "The sign-in response from your identity provider could not be verified.", err)
	}
	var ids []string
	for _, tr := range s.tracker.GetTrackedRequests(r) {
		ids = append(ids, tr.SAMLRequestID)
	}
	inResponseTo, issued := responseHeader(r.PostForm.Get("SAMLResponse"))
	skew := issued.Sub(saml.TimeNow()).Round(time.Second)
	if inResponseTo != "" && !slices.Contains(ids, inResponseTo) && s.sentRequest(r, inResponseTo) {
		// The response answers a request this browser no longer tracks:
		// the tracking cookie lived for the request window, and the
		// sign-in took longer (or was started in another browser).
		s.log.Info("sign-in took too long", "protocol", "saml", "tracked", len(ids), "idp_clock_skew", skew.String())
		if err := s.audit(c, store.AuditEvent{Action: store.ActSignInRefused, Outcome: store.OutcomeRefused,
			OutcomeWhy: "The sign-in took longer than the request window", Detail: "SAML response for a request this browser no longer tracks"}); err != nil {
			return err
		}
		return s.signInTookTooLong(c, "/saml/login")
	}
	assertion, err := s.sp.ParseResponse(r, ids)
	if err != nil {
		var ire *saml.InvalidResponseError
		if errors.As(err, &ire) {
			err = ire.PrivateErr
		}
		// The IdP's clock, as its IssueInstant shows it, is logged: a
		// refusal for time is then seen to be the clocks' doing.
		return s.refuseSignIn(c, "The sign-in response from your identity provider could not be verified.",
			fmt.Errorf("%w (IdP clock skew about %s, %s allowed)", err, skew, saml.MaxClockSkew))
	}
	s.log.Info("SAML response verified", "idp_clock_skew", skew.String())
	expires := s.now().Add(saml.MaxIssueDelay + saml.MaxClockSkew)
	if assertion.Conditions != nil && !assertion.Conditions.NotOnOrAfter.IsZero() {
		expires = assertion.Conditions.NotOnOrAfter.Add(saml.MaxClockSkew)
	}
	if err := s.db.UseAssertion(r.Context(), assertion.ID, expires); err != nil {
		if errors.Is(err, store.ErrReplay) {
			return s.refuseSignIn(c, "This sign-in response has already been used.", err)
		}
		return err
	}
	ret := "/home"
	if relay := r.Form.Get("RelayState"); relay != "" {
		if tr, err := s.tracker.GetTrackedRequest(r, relay); err == nil {
			if p := localPath(tr.URI); p != "/" {
				ret = p
			}
			_ = s.tracker.StopTrackingRequest(c.Response(), r, relay)
		}
	}

	id, err := s.cfg.Attributes.identity(assertion, s.cfg.Roles)
	if err != nil {
		return s.refuseSignIn(c, "Your identity provider did not say who you are.", err)
	}
	if reason, cause := s.unusable(id); cause != nil {
		return s.refuseSignIn(c, reason, cause)
	}

	nameID := ""
	nameIDFormat := ""
	if assertion.Subject != nil && assertion.Subject.NameID != nil {
		nameID, nameIDFormat = assertion.Subject.NameID.Value, assertion.Subject.NameID.Format
	}
	sessionIndex := ""
	if len(assertion.AuthnStatements) > 0 {
		sessionIndex = assertion.AuthnStatements[0].SessionIndex
	}
	return s.beginSession(c, id, store.NewSession{Protocol: store.ProtocolSAML,
		NameID: nameID, NameIDFormat: nameIDFormat, SessionIndex: sessionIndex}, -1, ret, "SAML")
}

// beginSession starts a new session for a verified identity (a new id:
// no fixation), audits the sign-in and sends the user on: to role choice
// when they hold several profiles and chosen is -1, else to ret (or their
// home). link carries what single logout needs to find the session.
func (s *Server) beginSession(c echo.Context, id Identity, link store.NewSession, chosen int, ret, how string) error {
	r := c.Request()
	// End whatever session this browser had: a sign-in always starts a
	// new session id.
	gs, _ := s.cookies.Get(r, s.sessionCookie())
	if old, _ := gs.Values[sessionToken].(string); old != "" {
		_ = s.db.EndSession(r.Context(), store.HashToken(old), endReplaced)
	}
	link.UserID, link.DisplayName, link.Profiles, link.Assurance, link.UserNHS = id.UserID, id.DisplayName, id.Profiles, id.Assurance, id.NHSNumber
	link.ClientAddr, link.Lifetime = c.RealIP(), s.cfg.MaxLifetime
	token, sess, err := s.db.CreateSession(r.Context(), link)
	if err != nil {
		return err
	}
	if chosen >= 0 && chosen < len(id.Profiles) && sess.RoleIndex != chosen {
		if err := s.db.ChooseRole(r.Context(), sess.IDHash, chosen); err != nil {
			return err
		}
		sess.RoleIndex = chosen
	}
	gs.Values = map[any]any{sessionToken: token}
	gs.IsNew = true
	if err := gs.Save(r, c.Response()); err != nil {
		return err
	}
	detail := fmt.Sprintf("%s, assurance level %d, %d role profile(s)", how, id.Assurance, len(id.Profiles))
	if chosen >= 0 && len(id.Profiles) > 1 {
		detail += ", role selected at the identity provider"
	}
	ev := store.AuditEvent{Action: store.ActSignIn, UserID: id.UserID, UserName: id.DisplayName, SessionHash: sess.IDHash, Detail: detail}
	if r, ok := sess.Role(); ok {
		ev.RoleCode, ev.ODS = r.Code, r.ODS
	}
	if err := s.audit(c, ev); err != nil {
		return err
	}
	s.log.Info("signed in", "user", id.UserID, "session", sess.IDHash[:12], "protocol", link.Protocol, "profiles", len(id.Profiles), "assurance", id.Assurance)
	if sess.RoleIndex < 0 {
		return c.Redirect(http.StatusSeeOther, "/roles?"+url.Values{"return": {ret}}.Encode())
	}
	if ret == "/home" {
		ret = s.cfg.Roles[id.Profiles[sess.RoleIndex].Code].Group.Home()
	}
	return c.Redirect(http.StatusSeeOther, ret)
}

// unusable says why a verified identity may not sign in (no mapped role
// profile, assurance below the minimum), or returns a nil cause.
func (s *Server) unusable(id Identity) (reason string, cause error) {
	if len(id.Profiles) == 0 {
		reason := "Your smartcard has no role profile that gives access to carerecord."
		if len(id.Unmapped) > 0 {
			reason = fmt.Sprintf("None of your role profiles (%v) gives access to carerecord.", id.Unmapped)
		}
		return reason + " Ask your Registration Authority for a suitable role.", fmt.Errorf("user %s: no usable role profile", id.UserID)
	}
	if id.Assurance < s.cfg.MinAssurance {
		return fmt.Sprintf("carerecord needs authentication assurance level %d (a smartcard); you signed in at level %d. Sign in with your smartcard.",
			s.cfg.MinAssurance, id.Assurance), fmt.Errorf("user %s: assurance %d below %d", id.UserID, id.Assurance, s.cfg.MinAssurance)
	}
	return "", nil
}

func (s *Server) refuseSignIn(c echo.Context, reason string, cause error) error {
	s.log.Warn("sign-in refused", "reason", reason, "error", fmt.Sprint(cause))
	if err := s.audit(c, store.AuditEvent{Action: store.ActSignInRefused, Outcome: store.OutcomeRefused,
		OutcomeWhy: reason, Detail: trimTo(fmt.Sprint(cause), 300)}); err != nil {
		return err
	}
	return render(c, http.StatusForbidden, views.SignInRefused(s.page(c, "Sign-in refused"), reason, s.signInPath("", false)))
}

// signOut ends the session here at once, then asks the IdP to end its
// own session where it supports single logout.
func (s *Server) signOut(c echo.Context) error {
	r := c.Request()
	u := UserFrom(r.Context())
	full, err := s.db.SessionByHash(r.Context(), u.SessionHash)
	if err != nil {
		return err
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActSignOut}); err != nil {
		return err
	}
	if err := s.db.EndSession(r.Context(), u.SessionHash, endSignedOut); err != nil {
		return err
	}
	gs, _ := s.cookies.Get(r, s.sessionCookie())
	gs.Options.MaxAge = -1
	_ = gs.Save(r, c.Response())
	// Pages kept by the browser (back/forward cache) must not show patient
	// data after sign-out.
	c.Response().Header().Set("Clear-Site-Data", `"cache"`)
	s.log.Info("signed out", "user", u.ID, "session", u.SessionHash[:12])

	if full.Protocol == store.ProtocolOIDC && s.cfg.OIDC != nil {
		// RP-initiated logout: the provider ends its session and comes
		// back to /signed-out.
		to, err := s.cfg.OIDC.EndSessionURL(r.Context(), full.IDToken, at(s.cfg.BaseURL, "/signed-out").String())
		if err == nil && to != "" {
			return c.Redirect(http.StatusSeeOther, to)
		}
		if err != nil {
			s.log.Warn("OpenID provider sign-out unavailable; signed out locally", "error", err.Error())
		}
		return c.Redirect(http.StatusSeeOther, "/signed-out")
	}
	if s.cfg.IDPMetadata == nil || full.Protocol != store.ProtocolSAML {
		// (A session an EPR signed in ends here; the EPR keeps its own.)
		return c.Redirect(http.StatusSeeOther, "/signed-out")
	}
	if slo := s.sp.GetSLOBindingLocation(saml.HTTPRedirectBinding); slo != "" {
		if full.NameID != "" {
			to, err := s.sp.MakeRedirectLogoutRequest(full.NameID, "")
			if err == nil {
				return c.Redirect(http.StatusSeeOther, to.String())
			}
			s.log.Warn("single logout request failed; signed out locally", "error", err.Error())
		}
	}
	return c.Redirect(http.StatusSeeOther, "/signed-out")
}

func (s *Server) showSignedOut(c echo.Context) error {
	return render(c, http.StatusOK, views.SignedOut(s.page(c, "You have signed out"), views.SignedOutEverywhere, s.signInPath("", false)))
}

// signInPath is where a sign-in starts: the one protocol offered, or the
// landing page that offers both.
func (s *Server) signInPath(ret string, fresh bool) string {
	q := url.Values{}
	if ret != "" {
		q.Set("return", ret)
	}
	if fresh {
		q.Set("fresh", "1")
	}
	p := "/"
	switch {
	case s.cfg.IDPMetadata != nil && s.cfg.OIDC != nil:
	case s.cfg.OIDC != nil:
		p = "/oidc/login"
	default:
		p = "/saml/login"
	}
	if len(q) == 0 {
		return p
	}
	return p + "?" + q.Encode()
}

// showLanding is the start page: signed-in users go to their home.
func (s *Server) showLanding(c echo.Context) error {
	if u := UserFrom(c.Request().Context()); u != nil {
		return c.Redirect(http.StatusSeeOther, u.Home())
	}
	locked, _ := c.Get(ctxKeyLocked).(bool)
	q := url.Values{}
	if ret := localPath(c.QueryParam("return")); ret != "/" {
		q.Set("return", ret)
	}
	if locked || c.QueryParam("fresh") == "1" {
		locked = true
		q.Set("fresh", "1")
	}
	suffix := ""
	if len(q) > 0 {
		suffix = "?" + q.Encode()
	}
	var opts []views.SignInOption
	if s.cfg.OIDC != nil {
		opts = append(opts, views.SignInOption{Label: "Sign in with " + s.cfg.OIDCLabel, Href: "/oidc/login" + suffix,
			Hint: "With your smartcard, or another way your organisation has set up for you."})
	}
	if s.cfg.IDPMetadata != nil {
		label := "Sign in with your smartcard"
		hint := ""
		if s.cfg.OIDC != nil {
			label = "Sign in with your organisation's account"
			hint = "Your Trust's own sign-in."
		}
		opts = append(opts, views.SignInOption{Label: label, Href: "/saml/login" + suffix, Hint: hint})
	}
	return render(c, http.StatusOK, views.Landing(s.page(c, "Sign in"), locked, opts))
}

func (s *Server) goHome(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, UserFrom(c.Request().Context()).Home())
}

// showRoleChoice lists the user's role profiles to choose from.
func (s *Server) showRoleChoice(c echo.Context) error {
	u := UserFrom(c.Request().Context())
	return render(c, http.StatusOK, views.RoleChoice(s.page(c, "Choose your role"), s.roleOptions(u), localPath(c.QueryParam("return")), ""))
}

func (s *Server) roleOptions(u *User) []views.RoleOption {
	opts := make([]views.RoleOption, len(u.Profiles))
	for i, p := range u.Profiles {
		opts[i] = views.RoleOption{Index: i, RoleName: s.cfg.Roles[p.Code].Name, Code: p.Code, OrgName: p.OrgName, ODS: p.ODS,
			Current: u.Role != nil && *u.Role == p}
	}
	return opts
}

// chooseRole sets the session's role profile and goes on.
func (s *Server) chooseRole(c echo.Context) error {
	u := UserFrom(c.Request().Context())
	ret := localPath(c.FormValue("return"))
	i, err := strconv.Atoi(c.FormValue("role"))
	if err != nil || i < 0 || i >= len(u.Profiles) {
		return render(c, http.StatusBadRequest, views.RoleChoice(s.page(c, "Choose your role"), s.roleOptions(u), ret, "Select the role you are working in"))
	}
	if err := s.db.ChooseRole(c.Request().Context(), u.SessionHash, i); err != nil {
		return err
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActRoleChosen, RoleCode: u.Profiles[i].Code, ODS: u.Profiles[i].ODS,
		Detail: u.Profiles[i].Code + " at " + u.Profiles[i].ODS}); err != nil {
		return err
	}
	s.log.Info("role chosen", "user", u.ID, "role", u.Profiles[i].Code, "ods", u.Profiles[i].ODS)
	if ret == "/" || ret == "/home" {
		ret = s.cfg.Roles[u.Profiles[i].Code].Group.Home()
	}
	return c.Redirect(http.StatusSeeOther, ret)
}

func sentRequestKey(id string) string { return "authn-request:" + id }

// sentRequest reports whether this server sent the AuthnRequest id (in
// the last day). UseAssertion records an id and reports ErrReplay when it
// was recorded before; recording an unknown one here is harmless, since
// no request is ever sent with it afterwards (ids are random).
func (s *Server) sentRequest(r *http.Request, id string) bool {
	err := s.db.UseAssertion(r.Context(), sentRequestKey(id), s.now().Add(time.Hour))
	return errors.Is(err, store.ErrReplay)
}

// responseHeader reads a base64 SAML response's InResponseTo and
// IssueInstant, unverified: for the log, and to tell a late sign-in from
// other failures before the real checks.
func responseHeader(b64 string) (inResponseTo string, issued time.Time) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", time.Time{}
	}
	doc := etree.NewDocument()
	if doc.ReadFromBytes(raw) != nil || doc.Root() == nil {
		return "", time.Time{}
	}
	issued, _ = time.Parse(time.RFC3339Nano, doc.Root().SelectAttrValue("IssueInstant", ""))
	return doc.Root().SelectAttrValue("InResponseTo", ""), issued
}
