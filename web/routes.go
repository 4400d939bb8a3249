package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/static"
)

// Route is one entry of the HTTP surface: method, path, the permission it
// needs, and its handler.
type Route struct {
	Method  string
	Path    string
	Perm    Permission
	Handler echo.HandlerFunc
	// Name is the handler's name, for the route table and tests.
	Name string
}

// routeTable is every route carerecord serves, in one screen.
func (s *Server) routeTable() []Route {
	rs := []Route{
		// Operations.
		{http.MethodGet, "/healthz", PermPublic, s.showHealth, "showHealth"},
		{http.MethodGet, "/readyz", PermPublic, s.showReady, "showReady"},
		{http.MethodGet, "/static/*", PermPublic, echo.WrapHandler(static.Handler()), "serveStatic"},

		// Sign-in, sign-out and role choice.
		{http.MethodGet, "/", PermPublic, s.showLanding, "showLanding"},
		{http.MethodGet, "/signed-out", PermPublic, s.showSignedOut, "showSignedOut"},
		{http.MethodPost, "/signout", PermSignedIn, s.signOut, "signOut"},
		{http.MethodGet, "/roles", PermSignedIn, s.showRoleChoice, "showRoleChoice"},
		{http.MethodPost, "/roles", PermSignedIn, s.chooseRole, "chooseRole"},
		{http.MethodGet, "/home", PermAnyRole, s.goHome, "goHome"},
		{http.MethodGet, "/help/keyboard", PermPublic, s.showKeyboardHelp, "showKeyboardHelp"},

		// Patients: search, the record, and its sub-pages. Clerical staff
		// may open a record for demographics; clinical content needs
		// PermClinical, checked again inside showRecord.
		{http.MethodGet, "/patients", PermSearch, s.showPatientSearch, "showPatientSearch"},
		{http.MethodGet, "/patients/:nhs/access", PermDemog, s.showAccessReason, "showAccessReason"},
		{http.MethodPost, "/patients/:nhs/access", PermDemog, s.giveAccessReason, "giveAccessReason"},
		{http.MethodGet, "/patients/:nhs", PermDemog, s.showRecord, "showRecord"},
		{http.MethodPost, "/patients/:nhs/override", PermClinical, s.overrideObjection, "overrideObjection"},
		{http.MethodGet, "/patients/:nhs/live", PermDemog, s.showRecordLive, "showRecordLive"},
		{http.MethodPost, "/patients/:nhs/refresh", PermDemog, s.refreshRecord, "refreshRecord"},
		{http.MethodGet, "/patients/:nhs/results", PermClinical, s.showResults, "showResults"},
		{http.MethodGet, "/patients/:nhs/trend", PermClinical, s.showTrend, "showTrend"},
		{http.MethodGet, "/patients/:nhs/document", PermClinical, s.showDocument, "showDocument"},
		{http.MethodGet, "/patients/:nhs/documents", PermClinical, s.searchDocuments, "searchDocuments"},
		{http.MethodGet, "/patients/:nhs/print", PermClinical, s.showPrint, "showPrint"},

		// Other role homes.
		// Information governance: the audit log and alerts.
		{http.MethodGet, "/ig", PermAudit, s.showIGHome, "showIGHome"},
		{http.MethodPost, "/ig/verify", PermAudit, s.verifyAudit, "verifyAudit"},
		{http.MethodGet, "/ig/audit", PermAudit, s.showAudit, "showAudit"},
		{http.MethodGet, "/ig/audit/export/:format", PermAudit, s.exportAudit, "exportAudit"},
		{http.MethodGet, "/ig/who", PermAudit, s.findPatientAccess, "findPatientAccess"},
		{http.MethodGet, "/ig/what", PermAudit, s.findUserAccess, "findUserAccess"},
		{http.MethodGet, "/ig/patients/:nhs", PermAudit, s.showPatientAccess, "showPatientAccess"},
		{http.MethodGet, "/ig/users/:user", PermAudit, s.showUserAccess, "showUserAccess"},
		{http.MethodGet, "/ig/alerts", PermAudit, s.showAlerts, "showAlerts"},
		{http.MethodGet, "/ig/alerts/:id", PermAudit, s.showAlert, "showAlert"},
		{http.MethodPost, "/ig/alerts/:id/review", PermAudit, s.reviewAlert, "reviewAlert"},
		{http.MethodGet, "/ig/staff", PermAudit, s.showStaffNHS, "showStaffNHS"},
		{http.MethodPost, "/ig/staff", PermAudit, s.setStaffNHS, "setStaffNHS"},
		{http.MethodPost, "/ig/staff/remove", PermAudit, s.removeStaffNHS, "removeStaffNHS"},
		{http.MethodGet, "/ig/patients/:nhs/patient-view", PermAudit, s.showPatientView, "showPatientView"},
		{http.MethodPost, "/ig/patients/:nhs/hide", PermAudit, s.hideAccess, "hideAccess"},
		{http.MethodPost, "/ig/patients/:nhs/unhide", PermAudit, s.unhideAccess, "unhideAccess"},
		{http.MethodGet, "/ig/hidden", PermAudit, s.showHiddenAccesses, "showHiddenAccesses"},
		{http.MethodGet, "/admin/status", PermStatus, s.showServiceStatus, "showServiceStatus"},

		// Objections to sharing: the public form (no sign-in; CSRF, a size
		// cap, a honeypot and a per-address limit instead, see
		// objection.go) and the privacy officer's case queue.
		{http.MethodGet, "/objection", PermPublic, s.showObjectionStart, "showObjectionStart"},
		{http.MethodGet, "/objection/form", PermPublic, s.showObjectionForm, "showObjectionForm"},
		{http.MethodPost, "/objection/form", PermPublic, s.submitObjection(s.objections), "submitObjection"},
		{http.MethodGet, "/objection/done", PermPublic, s.showObjectionDone, "showObjectionDone"},
		{http.MethodGet, "/ig/objections", PermObjection, s.showObjectionCases, "showObjectionCases"},
		{http.MethodGet, "/ig/objections/:id", PermObjection, s.showObjectionCase, "showObjectionCase"},
		{http.MethodPost, "/ig/objections/:id/identity", PermObjection, s.checkObjectionIdentity, "checkObjectionIdentity"},
		{http.MethodPost, "/ig/objections/:id/decide", PermObjection, s.decideObjection, "decideObjection"},
		{http.MethodPost, "/ig/objections/:id/withdraw", PermObjection, s.withdrawObjection, "withdrawObjection"},
		{http.MethodPost, "/ig/objections/:id/close", PermObjection, s.closeObjection, "closeObjection"},
	}
	if s.cfg.IDPMetadata != nil {
		// SAML 2.0 sign-in (web/auth.go).
		rs = append(rs,
			Route{http.MethodGet, "/saml/metadata", PermPublic, s.showSPMetadata, "showSPMetadata"},
			Route{http.MethodGet, "/saml/login", PermPublic, s.startSignIn, "startSignIn"},
			Route{http.MethodPost, "/saml/acs", PermPublic, s.consumeAssertion, "consumeAssertion"},
			Route{http.MethodGet, "/saml/slo", PermPublic, s.handleSingleLogout, "handleSingleLogout"},
			Route{http.MethodPost, "/saml/slo", PermPublic, s.handleSingleLogout, "handleSingleLogout"},
		)
	}
	if s.cfg.OIDC != nil {
		// OpenID Connect sign-in (web/auth_oidc.go).
		rs = append(rs,
			Route{http.MethodGet, "/oidc/login", PermPublic, s.startOIDCSignIn, "startOIDCSignIn"},
			Route{http.MethodGet, "/oidc/callback", PermPublic, s.finishOIDCSignIn, "finishOIDCSignIn"},
			Route{http.MethodGet, "/oidc/jwks", PermPublic, s.showOIDCKeys, "showOIDCKeys"},
			Route{http.MethodPost, "/oidc/backchannel-logout", PermPublic, s.receiveBackChannelLogout, "receiveBackChannelLogout"},
		)
	}
	if s.cfg.SMART != nil {
		// Launch from an EPR in patient context (web/auth_smart.go).
		// Opening the patient needs what opening a record needs.
		rs = append(rs,
			Route{http.MethodGet, "/launch", PermPublic, s.startLaunch, "startLaunch"},
			Route{http.MethodGet, "/launch/callback", PermPublic, s.finishLaunch, "finishLaunch"},
			Route{http.MethodGet, "/launch/open", PermDemog, s.openLaunch, "openLaunch"},
		)
	}
	if s.cfg.NHSLogin != nil {
		// Patients' own pages, signed in with NHS login (web/myrecord.go):
		// PermPatient, which only a patient session has.
		rs = append(rs,
			Route{http.MethodGet, myRecordPath + "/sign-in", PermPublic, s.startNHSLogin, "startNHSLogin"},
			Route{http.MethodGet, myRecordPath + "/callback", PermPublic, s.finishNHSLogin, "finishNHSLogin"},
			Route{http.MethodGet, myRecordPath + "/signed-out", PermPublic, s.showPatientSignedOut, "showPatientSignedOut"},
			Route{http.MethodGet, myRecordPath, PermPatient, s.showMyRecord, "showMyRecord"},
			Route{http.MethodGet, myRecordPath + "/accesses.csv", PermPatient, s.exportMyAccesses, "exportMyAccesses"},
			Route{http.MethodPost, myRecordPath + "/concerns", PermPatient, s.raiseConcern, "raiseConcern"},
			Route{http.MethodGet, myRecordPath + "/objection", PermPatient, s.showMyObjection, "showMyObjection"},
			Route{http.MethodPost, myRecordPath + "/objection", PermPatient, s.submitMyObjection, "submitMyObjection"},
			Route{http.MethodPost, myRecordPath + "/sign-out", PermPatient, s.signOutPatient, "signOutPatient"},
		)
	}
	if s.cfg.DevNHSLogin != nil {
		h := echo.WrapHandler(s.cfg.DevNHSLogin)
		for _, r := range s.cfg.DevNHSLogin.Routes() {
			rs = append(rs, Route{r[0], r[1], PermPublic, h, "devNHSLogin"})
		}
	}
	if s.cfg.DevOP != nil {
		h := echo.WrapHandler(s.cfg.DevOP)
		for _, r := range s.cfg.DevOP.Routes() {
			rs = append(rs, Route{r[0], r[1], PermPublic, h, "devOP"})
		}
	}
	if s.cfg.DevIdP != nil {
		h := echo.WrapHandler(s.cfg.DevIdP)
		rs = append(rs,
			Route{http.MethodGet, "/devidp/metadata", PermPublic, h, "devIdPMetadata"},
			Route{http.MethodGet, "/devidp/sso", PermPublic, h, "devIdPSignIn"},
			Route{http.MethodPost, "/devidp/sso", PermPublic, h, "devIdPSignIn"},
			Route{http.MethodGet, "/devidp/slo", PermPublic, h, "devIdPSignOut"},
		)
	}
	return rs
}

// csrfExempt lists the only state-changing routes that carry no CSRF
// token, and why each is safe without one.
var csrfExempt = map[string]string{
	"POST /saml/acs":                "the IdP posts it cross-site; its XML signature, audience, recipient and request ID are verified instead",
	"POST /saml/slo":                "a logout response from the IdP, verified by its signature",
	"POST /oidc/backchannel-logout": "the OpenID provider posts it server to server; the logout token's signature, issuer and audience are verified instead",
	// The development OpenID provider's token endpoint: carerecord's own
	// server-side call, authenticated by its client assertion.
	"POST /devidp/oidc/oauth/token": "a server-to-server token request authenticated by the client's signed assertion (development provider only)",
	// The development NHS login's likewise.
	"POST /devidp/nhslogin/oauth/token": "a server-to-server token request authenticated by the client's RS512 assertion (development NHS login only)",
}

func checkRoutes(rs []Route) error {
	seen := map[string]bool{}
	var errs []error
	for _, r := range rs {
		key := r.Method + " " + r.Path
		if seen[key] {
			errs = append(errs, fmt.Errorf("route %s registered twice", key))
		}
		seen[key] = true
		if r.Perm == "" {
			errs = append(errs, fmt.Errorf("route %s declares no permission", key))
		}
		if r.Handler == nil {
			errs = append(errs, fmt.Errorf("route %s has no handler", key))
		}
	}
	return errors.Join(errs...)
}
