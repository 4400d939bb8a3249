package web

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
	"github.com/carerecord/carerecord/web/smart"
)

// Launch from a Trust's EPR in patient context (SMART App Launch 2.0 EHR
// launch, web/smart). The EPR opens /launch?iss=&launch=; carerecord asks
// the EPR's authorization server for the launch context, reads the
// patient's NHS number from the EPR, and then, once the user is signed in
// through CIS2 or SAML as always, opens that patient: the reason for
// access is still asked (direct care preselected when the EPR has an
// encounter in context), and the launch is audited with the EPR's name.
//
// What the launch found travels in a short-lived cookie, signed and
// encrypted with the session keys and used once, so that the patient
// opened is the one the EPR named in this browser and no other.

const (
	launchCookie = "carerecord_launch"
	launchPath   = "/launch"
	// ActLaunch and ActLaunchRefused are the audit actions of a launch.
	ActLaunch        store.Action = "ehr-launch"
	ActLaunchRefused store.Action = "ehr-launch-refused"
)

type launchState struct {
	// Before the callback:
	State, Nonce, Verifier, ISS string
	// After it:
	NHS       string
	Encounter bool
	Started   int64
}

func (s *Server) setLaunchCookie(c echo.Context, st launchState) error {
	v, err := securecookie.EncodeMulti(launchCookie, st, s.cookies.Codecs...)
	if err != nil {
		return fmt.Errorf("launch: encode: %w", err)
	}
	http.SetCookie(c.Response(), &http.Cookie{Name: launchCookie, Value: v, Path: launchPath, MaxAge: int(s.cfg.RequestWindow.Seconds()),
		HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode})
	return nil
}

// takeLaunchCookie reads and clears the launch cookie.
func (s *Server) takeLaunchCookie(c echo.Context) (launchState, bool) {
	var st launchState
	ck, err := c.Request().Cookie(launchCookie)
	if err == nil {
		err = securecookie.DecodeMulti(launchCookie, ck.Value, &st, s.cookies.Codecs...)
	}
	http.SetCookie(c.Response(), &http.Cookie{Name: launchCookie, Value: "", Path: launchPath, MaxAge: -1, HttpOnly: true,
		Secure: s.secure(), SameSite: http.SameSiteLaxMode})
	if err != nil || s.now().Sub(time.Unix(st.Started, 0)) > s.cfg.RequestWindow {
		return st, false
	}
	return st, true
}

// refuseLaunch audits the refusal and shows a page that opens nothing.
func (s *Server) refuseLaunch(c echo.Context, epr, reason string, cause error) error {
	s.log.Warn("launch refused", "epr", epr, "reason", reason, "error", fmt.Sprint(cause))
	if err := s.audit(c, store.AuditEvent{Action: ActLaunchRefused, Outcome: store.OutcomeRefused, OutcomeWhy: reason,
		Detail: trimTo("from "+epr+": "+fmt.Sprint(cause), 300)}); err != nil {
		return err
	}
	return render(c, http.StatusForbidden, views.LaunchRefused(s.page(c, "This patient could not be opened"), reason))
}

// startLaunch is the launch URL the EPR opens.
func (s *Server) startLaunch(c echo.Context) error {
	r := c.Request()
	iss, launch := r.URL.Query().Get("iss"), r.URL.Query().Get("launch")
	e, ok := s.cfg.SMART.EPR(iss)
	if !ok {
		return s.refuseLaunch(c, "an unknown system", "carerecord is not set up to be opened from this system, so it opened nothing. Search for the patient in carerecord instead.",
			fmt.Errorf("iss %q is not a configured EPR", trimTo(iss, 200)))
	}
	if launch == "" {
		return s.refuseLaunch(c, e.Name, "The launch from your EPR was incomplete, so carerecord opened nothing. Try the button in your EPR again.",
			errors.New("no launch parameter"))
	}
	conf, err := s.cfg.SMART.Discover(r.Context(), e.ISS)
	if err != nil {
		return s.refuseLaunch(c, e.Name, "carerecord could not reach your EPR to confirm the launch, so it opened nothing. Try again in a few minutes.", err)
	}
	st := launchState{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier(), ISS: e.ISS, Started: s.now().Unix()}
	if err := s.setLaunchCookie(c, st); err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, s.cfg.SMART.AuthorizeURL(e, conf, launch, st.State, st.Nonce, st.Verifier))
}

// finishLaunch is the redirect URI registered with the EPRs.
func (s *Server) finishLaunch(c echo.Context) error {
	r := c.Request()
	q := r.URL.Query()
	st, ok := s.takeLaunchCookie(c)
	if !ok {
		return s.refuseLaunch(c, "an EPR", "The launch from your EPR took too long or was started in another window, so carerecord opened nothing. Try the button in your EPR again.",
			errors.New("no live launch in this browser"))
	}
	e, ok := s.cfg.SMART.EPR(st.ISS)
	if !ok {
		return s.refuseLaunch(c, "an unknown system", "carerecord is not set up to be opened from this system.", errors.New("launch cookie names an EPR no longer configured"))
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		return s.refuseLaunch(c, e.Name, "The launch from your EPR could not be verified, so carerecord opened nothing. Try the button in your EPR again.",
			errors.New("state mismatch"))
	}
	if errCode := q.Get("error"); errCode != "" {
		if !providerError.MatchString(errCode) {
			errCode = "an error"
		}
		return s.refuseLaunch(c, e.Name, "Your EPR did not confirm this launch (it may have been used already, or altered), so carerecord opened nothing. Try the button in your EPR again.",
			fmt.Errorf("the EPR answered %s", errCode))
	}
	conf, err := s.cfg.SMART.Discover(r.Context(), e.ISS)
	if err != nil {
		return s.refuseLaunch(c, e.Name, "carerecord could not reach your EPR to confirm the launch, so it opened nothing.", err)
	}
	lc, err := s.cfg.SMART.Exchange(r.Context(), e, conf, q.Get("code"), st.Verifier)
	if err != nil {
		return s.refuseLaunch(c, e.Name, "Your EPR did not confirm this launch, so carerecord opened nothing. Try the button in your EPR again.", err)
	}
	nhs, err := s.cfg.SMART.NHSNumber(r.Context(), e, lc)
	if errors.Is(err, smart.ErrNoNHSNumber) {
		return s.refuseLaunch(c, e.Name, "The patient open in your EPR has no NHS number recorded there, so carerecord cannot tell whose shared record it is and opened nothing. Search for the patient in carerecord by name and date of birth instead.", err)
	}
	if err != nil {
		return s.refuseLaunch(c, e.Name, "carerecord could not read the patient from your EPR, so it opened nothing.", err)
	}
	opened := launchState{ISS: e.ISS, NHS: nhs, Encounter: lc.EncounterID != "", Started: s.now().Unix()}
	if e.Trust != nil {
		// This deployment takes the EPR's own sign-in: the user is the
		// one its id_token names, whoever this browser was signed in as.
		return s.signInFromEPR(c, e, conf, lc, st.Nonce, opened)
	}
	if err := s.setLaunchCookie(c, opened); err != nil {
		return err
	}
	// Sign-in, if needed, happens on the way to /launch/open.
	return c.Redirect(http.StatusSeeOther, launchPath+"/open")
}

// signInFromEPR starts a staff session for the user the EPR's verified
// id_token names (its fhirUser, a Practitioner or PractitionerRole read
// from the EPR), with the role profile the configuration gives that EPR's
// users, and goes on to open the launched patient. Any failure refuses
// the sign-in: a clear page, the refusal audited with the EPR's name, and
// nothing left to open.
func (s *Server) signInFromEPR(c echo.Context, e smart.EPR, conf smart.Configuration, lc smart.Context, nonce string, opened launchState) error {
	who, err := s.cfg.SMART.VerifyIdentity(c.Request().Context(), e, conf, lc, nonce)
	if err != nil {
		reason := "Your EPR's sign-in could not be verified, so carerecord opened nothing. Try the button in your EPR again; if it keeps happening, sign in to carerecord directly."
		switch {
		case errors.Is(err, smart.ErrNotPractitioner):
			reason = "Your EPR did not sign you in as a member of staff, so carerecord opened nothing. carerecord is for health and care staff."
		case errors.Is(err, smart.ErrUnknownUser):
			reason = "Your EPR could not tell carerecord who you are (your NHS smartcard user id), so carerecord opened nothing. Sign in to carerecord directly."
		case errors.Is(err, smart.ErrOtherOrg):
			reason = "Your EPR says you work for another organisation than the one carerecord trusts it for, so carerecord opened nothing. Sign in to carerecord directly."
		}
		return s.refuseSignIn(c, reason, fmt.Errorf("sign-in from %s (%s): %w", e.Name, e.ISS, err))
	}
	def, ok := s.cfg.Roles[e.Trust.RoleCode]
	if !ok {
		return s.refuseSignIn(c, "carerecord is not set up with a role for your EPR's users, so it opened nothing. Contact your IT service desk.",
			fmt.Errorf("sign-in from %s: role %s is not in the role map", e.Name, e.Trust.RoleCode))
	}
	id := Identity{UserID: who.UserID, DisplayName: who.Name, Assurance: e.Trust.Assurance,
		Profiles: []store.RoleProfile{{Code: def.Code, ODS: e.Trust.ODS, OrgName: e.Trust.OrgName}}}
	if reason, cause := s.unusable(id); cause != nil {
		return s.refuseSignIn(c, reason, fmt.Errorf("sign-in from %s: %w", e.Name, cause))
	}
	if err := s.setLaunchCookie(c, opened); err != nil {
		return err
	}
	how := "signed in by " + e.Name + " (" + e.ISS + ") as " + who.FHIRUser
	if who.RoleCode != "" || who.ODS != "" {
		how += " (the EPR says role " + who.RoleCode + " at " + who.ODS + ")"
	}
	return s.beginSession(c, id, store.NewSession{Protocol: store.ProtocolEPR, NameID: who.FHIRUser}, 0, launchPath+"/open", trimTo(how, 250))
}

// openLaunch, with the user signed in, audits the launch and opens the
// patient the EPR named, by way of the reason for access.
func (s *Server) openLaunch(c echo.Context) error {
	st, ok := s.takeLaunchCookie(c)
	if !ok || st.NHS == "" {
		return s.refuseLaunch(c, "an EPR", "The launch from your EPR took too long, was used already or was started in another window, so carerecord opened nothing. Try the button in your EPR again.",
			errors.New("no completed launch in this browser"))
	}
	e, _ := s.cfg.SMART.EPR(st.ISS)
	detail := "opened from " + e.Name + " (" + e.ISS + ")"
	if st.Encounter {
		detail += ", an encounter in context"
	}
	if err := s.audit(c, store.AuditEvent{Action: ActLaunch, NHSNumber: st.NHS, Detail: trimTo(detail, 300)}); err != nil {
		return err
	}
	s.log.Info("launched from EPR", "epr", e.Name)
	q := url.Values{"return": {"/patients/" + st.NHS}}
	if st.Encounter {
		q.Set("reason", "direct-care")
	}
	return c.Redirect(http.StatusSeeOther, "/patients/"+st.NHS+"/access?"+q.Encode())
}
