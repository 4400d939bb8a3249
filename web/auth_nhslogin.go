package web

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
	"github.com/carerecord/carerecord/web/nhslogin"
	"github.com/carerecord/carerecord/web/oidc"
)

// Patients sign in with NHS login (web/nhslogin) to their own pages. A
// patient's session is a separate kind (store.ProtocolNHSLogin): its user
// is the patient, with the NHS number NHS login verified, PermPatient and
// nothing else (User.Can), so no staff page is ever reachable from it.

const myRecordPath = "/my-record"

var nhsLoginPendingCookie = pendingCookie{Name: "carerecord_nhslogin", Path: myRecordPath + "/"}

// patientUserID is the audit log's user id for a patient: NHS login's
// subject, marked as such so that it is never taken for a member of staff.
func patientUserID(sub string) string { return "nhslogin:" + sub }

// startNHSLogin sends the browser to NHS login, asking for P9.
func (s *Server) startNHSLogin(c echo.Context) error {
	r := c.Request()
	ret := localPath(r.URL.Query().Get("return"))
	if !strings.HasPrefix(ret, myRecordPath) {
		ret = myRecordPath
	}
	st := oidc.NewStart()
	to, err := s.cfg.NHSLogin.AuthCodeURL(r.Context(), st)
	if err != nil {
		return &Error{Code: EUNAVAILABLE, Title: "NHS login is not available",
			Message: "carerecord cannot reach NHS login just now. Try again in a few minutes.", Err: err}
	}
	if err := s.savePending(c, nhsLoginPendingCookie, st, ret); err != nil {
		return fmt.Errorf("nhs login: %w", err)
	}
	return c.Redirect(http.StatusFound, to)
}

// finishNHSLogin is the redirect URI registered with NHS login.
func (s *Server) finishNHSLogin(c echo.Context) error {
	r := c.Request()
	q := r.URL.Query()
	p, err := s.takePending(c, nhsLoginPendingCookie)
	if err != nil {
		return s.refusePatientSignIn(c, "Signing in took too long, or was started in another window. Try again.",
			errors.New("nhs login: no live sign-in in this browser"))
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(p.State)) != 1 {
		return s.refusePatientSignIn(c, "Your sign-in could not be checked. Try again.", errors.New("nhs login: state mismatch"))
	}
	if e := q.Get("error"); e != "" {
		if !providerError.MatchString(e) {
			e = "an error"
		}
		return s.refusePatientSignIn(c, "NHS login did not sign you in. Try again.", fmt.Errorf("nhs login: provider answered %s", e))
	}
	pt, err := s.cfg.NHSLogin.Exchange(r.Context(), q.Get("code"), p.Start)
	switch {
	case errors.Is(err, nhslogin.ErrLevel):
		return s.refusePatientSignIn(c, "To see who has looked at your record, your NHS login needs the highest level of identity checks "+
			"(you prove who you are with photo ID, or through your GP surgery). You can do this in the NHS App or at NHS login, then try again.", err)
	case errors.Is(err, nhslogin.ErrNHSNumber):
		return s.refusePatientSignIn(c, "NHS login did not give us your NHS number, so we cannot show your record's page.", err)
	case err != nil:
		return s.refusePatientSignIn(c, "Your sign-in could not be checked. Try again.", err)
	}
	// A new session, whatever this browser had: a sign-in never reuses one.
	gs, _ := s.cookies.Get(r, s.sessionCookie())
	if old, _ := gs.Values[sessionToken].(string); old != "" {
		_ = s.db.EndSession(r.Context(), store.HashToken(old), endReplaced)
	}
	name := strings.TrimSpace(pt.GivenName + " " + pt.FamilyName)
	if name == "" {
		name = "NHS login user"
	}
	token, sess, err := s.db.CreateSession(r.Context(), store.NewSession{Protocol: store.ProtocolNHSLogin,
		UserID: patientUserID(pt.Subject), DisplayName: name, UserNHS: pt.NHSNumber, NameID: pt.Subject,
		NameIDFormat: pt.ProofingLevel, IDToken: pt.IDToken, ClientAddr: c.RealIP(), Lifetime: s.cfg.MaxLifetime})
	if err != nil {
		return err
	}
	gs.Values = map[any]any{sessionToken: token}
	gs.IsNew = true
	if err := gs.Save(r, c.Response()); err != nil {
		return err
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActSignIn, UserID: sess.UserID, UserName: name, SessionHash: sess.IDHash,
		NHSNumber: pt.NHSNumber, Detail: fmt.Sprintf("NHS login (patient), identity proofing level %s, vector of trust %s", pt.ProofingLevel, pt.VOT)}); err != nil {
		return err
	}
	s.log.Info("patient signed in", "protocol", "nhslogin", "session", sess.IDHash[:12], "level", pt.ProofingLevel)
	return c.Redirect(http.StatusSeeOther, p.Return)
}

// refusePatientSignIn audits the refusal and explains it for the public.
func (s *Server) refusePatientSignIn(c echo.Context, reason string, cause error) error {
	s.log.Warn("patient sign-in refused", "error", fmt.Sprint(cause))
	if err := s.audit(c, store.AuditEvent{Action: store.ActSignInRefused, Outcome: store.OutcomeRefused, OutcomeWhy: reason,
		Detail: trimTo("NHS login: "+fmt.Sprint(cause), 300)}); err != nil {
		return err
	}
	return render(c, http.StatusForbidden, views.PatientSignInRefused(s.page(c, "You cannot see your record's page"), reason))
}

// signOutPatient ends the patient's session here, then at NHS login.
func (s *Server) signOutPatient(c echo.Context) error {
	r := c.Request()
	u := UserFrom(r.Context())
	full, err := s.db.SessionByHash(r.Context(), u.SessionHash)
	if err != nil {
		return err
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActSignOut, NHSNumber: u.NHSNumber}); err != nil {
		return err
	}
	if err := s.db.EndSession(r.Context(), u.SessionHash, endSignedOut); err != nil {
		return err
	}
	gs, _ := s.cookies.Get(r, s.sessionCookie())
	gs.Options.MaxAge = -1
	_ = gs.Save(r, c.Response())
	c.Response().Header().Set("Clear-Site-Data", `"cache"`)
	done := at(s.cfg.BaseURL, myRecordPath+"/signed-out").String()
	if to, err := s.cfg.NHSLogin.EndSessionURL(r.Context(), full.IDToken, done); err == nil && to != "" {
		return c.Redirect(http.StatusSeeOther, to)
	}
	return c.Redirect(http.StatusSeeOther, myRecordPath+"/signed-out")
}

func (s *Server) showPatientSignedOut(c echo.Context) error {
	return render(c, http.StatusOK, views.PatientSignedOut(s.page(c, "You have signed out")))
}
