// Package devidp is a development SAML 2.0 identity provider for the demo
// and for tests: a username and password form in front of crewjam/saml's
// IdentityProvider, with fixed synthetic users and their role profiles.
//
// It must never be mounted in production unless the operator explicitly
// enables it, and then every page of the portal warns about it.
package devidp

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/carerecord/carerecord/static"
	"github.com/carerecord/carerecord/views"
)

// Profile is one role profile of a user: role code at an organisation.
type Profile struct {
	Code    string
	ODS     string
	OrgName string
}

// User is a development sign-in.
type User struct {
	Username    string
	UserID      string // asserted in the user-id attribute
	DisplayName string
	Profiles    []Profile
	Assurance   string // e.g. "AAL3"
	NHSNumber   string // the user's own NHS number, asserted when set
	// SelectedRoleID, for OpenID Connect, overrides the role the user
	// "picked" at sign-in (the first profile's); tests name one that is
	// not the user's.
	SelectedRoleID string
	// Patient makes the user an NHS login user (for an OP with
	// OPOptions.NHSLogin): a member of the public, no role profiles.
	Patient *PatientIdentity
}

// PatientIdentity is what the development NHS login asserts of a patient.
type PatientIdentity struct {
	NHSNumber     string
	GivenName     string
	FamilyName    string
	BirthDate     string // YYYY-MM-DD
	ProofingLevel string // "P9" (high, the default) or "P5"
}

// DemoPatients are the development NHS login's users, one per demo
// patient whose own pages matter: an ordinary patient, the one whose
// record is restricted, and the one with an upheld objection. Their
// NHS login ids are made up; every password is the demo password.
func DemoPatients() []User {
	return []User{
		{Username: "patient", UserID: "nhslogin-0018", DisplayName: "Jane Smith",
			Patient: &PatientIdentity{NHSNumber: "9990000018", GivenName: "Jane", FamilyName: "Smith", BirthDate: "1965-03-12", ProofingLevel: "P9"}},
		{Username: "restricted", UserID: "nhslogin-0034", DisplayName: "Rowan Ashdown",
			Patient: &PatientIdentity{NHSNumber: "9990000034", GivenName: "Rowan", FamilyName: "Ashdown", BirthDate: "1991-12-04", ProofingLevel: "P9"}},
		{Username: "objector", UserID: "nhslogin-0026", DisplayName: "Oliver Brackenbury",
			Patient: &PatientIdentity{NHSNumber: "9990000026", GivenName: "Oliver", FamilyName: "Brackenbury", BirthDate: "1978-08-23", ProofingLevel: "P9"}},
	}
}

// Attributes names the SAML attributes the IdP asserts; they must match
// the portal's attribute mapping.
type Attributes struct {
	UserID, DisplayName, RoleProfile, Separator, Assurance string
	UserNHSNumber                                          string // optional
	// RoleCode, RoleOrgCode and RoleOrgName, when RoleCode is set, send
	// role profiles as separate multi-valued attributes (in step) instead
	// of the combined RoleProfile, as many IdPs release them.
	RoleCode, RoleOrgCode, RoleOrgName string
}

// Options configure New.
type Options struct {
	// BaseURL is where the IdP is mounted, e.g. http://127.0.0.1:8080/devidp.
	BaseURL    *url.URL
	Key        *rsa.PrivateKey
	Cert       *x509.Certificate
	Users      []User
	Password   string // the one password every development user has
	Attributes Attributes
	Logger     *slog.Logger
}

// IdP is the development identity provider.
type IdP struct {
	idp      saml.IdentityProvider
	opts     Options
	users    map[string]User
	mu       sync.Mutex
	sps      map[string]*saml.EntityDescriptor
	sessions map[string]*saml.Session
}

const sessionCookie = "devidp_session"

// New builds the IdP.
func New(o Options) (*IdP, error) {
	if o.BaseURL == nil || o.Key == nil || o.Cert == nil {
		return nil, errors.New("devidp: base URL, key and certificate are required")
	}
	if o.Password == "" {
		return nil, errors.New("devidp: password is empty")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	// Keep paths absolute: url.JoinPath on an empty path yields a
	// relative one, which would break routing and cookie paths.
	b := *o.BaseURL
	b.Path = "/" + strings.Trim(b.Path, "/")
	o.BaseURL = &b
	d := &IdP{opts: o, users: map[string]User{}, sps: map[string]*saml.EntityDescriptor{}, sessions: map[string]*saml.Session{}}
	for _, u := range o.Users {
		d.users[u.Username] = u
	}
	tmpl, err := template.New("saml-post").Funcs(template.FuncMap{"static": static.Path}).Parse(postForm)
	if err != nil {
		return nil, err
	}
	d.idp = saml.IdentityProvider{
		Key:                     o.Key,
		Certificate:             o.Cert,
		Logger:                  logAdapter{o.Logger},
		MetadataURL:             *o.BaseURL.JoinPath("metadata"),
		SSOURL:                  *o.BaseURL.JoinPath("sso"),
		LogoutURL:               *o.BaseURL.JoinPath("slo"),
		ServiceProviderProvider: d,
		SessionProvider:         d,
		SignatureMethod:         dsig.RSASHA256SignatureMethod,
		ResponseFormTemplate:    tmpl,
	}
	return d, nil
}

// The HTTP-POST binding page: no inline script (the portal's CSP forbids
// it); a static script submits the form, and without JavaScript the user
// presses Continue.
const postForm = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signing you in - carerecord development sign-in</title>
<link rel="stylesheet" href="{{static "nhsuk/nhsuk-frontend.min.css"}}">
<script src="{{static "js/samlpost.js"}}" defer></script></head>
<body><div class="app-dev-warning"><div class="nhsuk-width-container"><p class="app-dev-warning__text">Development sign-in: never use with real patients.</p></div></div>
<main class="nhsuk-width-container nhsuk-main-wrapper" id="maincontent">
<h1 class="nhsuk-heading-l">Signing you in</h1>
<form method="post" action="{{.URL}}" data-auto-submit>
<input type="hidden" name="SAMLResponse" value="{{.SAMLResponse}}">
<input type="hidden" name="RelayState" value="{{.RelayState}}">
<button type="submit" class="nhsuk-button">Continue</button>
</form></main></body></html>`

// Metadata is the IdP's SAML metadata.
func (d *IdP) Metadata() *saml.EntityDescriptor { return d.idp.Metadata() }

// AddServiceProvider trusts a service provider by its metadata.
func (d *IdP) AddServiceProvider(ed *saml.EntityDescriptor) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sps[ed.EntityID] = ed
}

// GetServiceProvider implements saml.ServiceProviderProvider.
func (d *IdP) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ed, ok := d.sps[id]; ok {
		return ed, nil
	}
	return nil, os.ErrNotExist
}

// ServeHTTP serves metadata, sign-in and single logout under BaseURL.
func (d *IdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case d.idp.MetadataURL.Path:
		d.idp.ServeMetadata(w, r)
	case d.idp.SSOURL.Path:
		d.idp.ServeSSO(w, r)
	case d.idp.LogoutURL.Path:
		d.serveLogout(w, r)
	default:
		http.NotFound(w, r)
	}
}

// GetSession implements saml.SessionProvider: the sign-in form.
func (d *IdP) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	force := req.Request.ForceAuthn != nil && *req.Request.ForceAuthn
	if r.Method == http.MethodPost && r.PostForm.Has("username") {
		username := strings.TrimSpace(r.PostForm.Get("username"))
		u, known := d.users[username]
		pwOK := subtle.ConstantTimeCompare([]byte(r.PostForm.Get("password")), []byte(d.opts.Password)) == 1
		if !known || !pwOK {
			d.opts.Logger.Info("development sign-in failed", "username_known", known)
			d.showLogin(w, r, req, username, "Enter a correct username and password")
			return nil
		}
		s := d.newSession(u, r)
		d.mu.Lock()
		d.sessions[s.ID] = s
		d.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.ID, Path: d.opts.BaseURL.Path, HttpOnly: true,
			Secure: d.opts.BaseURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
		return s
	}
	if !force {
		if ck, err := r.Cookie(sessionCookie); err == nil {
			d.mu.Lock()
			s := d.sessions[ck.Value]
			d.mu.Unlock()
			if s != nil && time.Now().Before(s.ExpireTime) {
				return s
			}
		}
	}
	d.showLogin(w, r, req, "", "")
	return nil
}

func (d *IdP) showLogin(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest, username, errMsg string) {
	form := views.DevLoginForm{
		Action:      d.idp.SSOURL.Path,
		SAMLRequest: base64.StdEncoding.EncodeToString(req.RequestBuffer),
		RelayState:  req.RelayState,
		Username:    username,
		Error:       errMsg,
	}
	for _, u := range d.opts.Users {
		form.Users = append(form.Users, u.Username)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	status := http.StatusOK
	if errMsg != "" {
		status = http.StatusUnauthorized
	}
	w.WriteHeader(status)
	_ = views.DevLogin(views.Page{Title: "Development sign-in", DevSignIn: true}, form).Render(r.Context(), w)
}

func (d *IdP) newSession(u User, r *http.Request) *saml.Session {
	now := time.Now()
	a := d.opts.Attributes
	attr := func(name string, values ...string) saml.Attribute {
		at := saml.Attribute{FriendlyName: name, Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
		for _, v := range values {
			at.Values = append(at.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		return at
	}
	var profiles []string
	for _, p := range u.Profiles {
		profiles = append(profiles, strings.Join([]string{p.Code, p.ODS, p.OrgName}, a.Separator))
	}
	attrs := []saml.Attribute{attr(a.UserID, u.UserID), attr(a.DisplayName, u.DisplayName)}
	switch {
	case len(u.Profiles) > 0 && a.RoleCode != "":
		var codes, orgs, names []string
		for _, p := range u.Profiles {
			codes, orgs, names = append(codes, p.Code), append(orgs, p.ODS), append(names, p.OrgName)
		}
		attrs = append(attrs, attr(a.RoleCode, codes...), attr(a.RoleOrgCode, orgs...))
		if a.RoleOrgName != "" {
			attrs = append(attrs, attr(a.RoleOrgName, names...))
		}
	case len(profiles) > 0:
		attrs = append(attrs, attr(a.RoleProfile, profiles...))
	}
	if u.Assurance != "" {
		attrs = append(attrs, attr(a.Assurance, u.Assurance))
	}
	if u.NHSNumber != "" && a.UserNHSNumber != "" {
		attrs = append(attrs, attr(a.UserNHSNumber, u.NHSNumber))
	}
	return &saml.Session{
		ID:         randomID(),
		CreateTime: now,
		ExpireTime: now.Add(8 * time.Hour),
		Index:      randomID(),
		// A transient NameID, as the national IdP issues: the portal must
		// key users on the user-id attribute, never on this.
		NameID:           randomID(),
		NameIDFormat:     "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
		CustomAttributes: attrs,
	}
}

// serveLogout handles a LogoutRequest (HTTP-Redirect binding): it ends
// the IdP session and answers with a signed LogoutResponse.
func (d *IdP) serveLogout(w http.ResponseWriter, r *http.Request) {
	raw, err := base64.StdEncoding.DecodeString(r.URL.Query().Get("SAMLRequest"))
	if err != nil {
		http.Error(w, "bad SAMLRequest", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), 1<<20))
	if err != nil {
		http.Error(w, "bad SAMLRequest", http.StatusBadRequest)
		return
	}
	var lr saml.LogoutRequest
	if err := xml.Unmarshal(body, &lr); err != nil || lr.Issuer == nil {
		http.Error(w, "bad LogoutRequest", http.StatusBadRequest)
		return
	}
	sp, err := d.GetServiceProvider(r, lr.Issuer.Value)
	if err != nil {
		http.Error(w, "unknown service provider", http.StatusBadRequest)
		return
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		d.mu.Lock()
		delete(d.sessions, ck.Value)
		d.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: d.opts.BaseURL.Path, MaxAge: -1, HttpOnly: true})
	dest := ""
	for _, spd := range sp.SPSSODescriptors {
		for _, e := range spd.SingleLogoutServices {
			if e.Binding == saml.HTTPRedirectBinding {
				dest = e.Location
			}
		}
	}
	if dest == "" {
		http.Error(w, "service provider has no redirect single logout endpoint", http.StatusBadRequest)
		return
	}
	// Answered as SimpleSAMLphp does: the signature over the query string.
	to, err := d.LogoutResponseRedirect(dest, lr.ID, r.URL.Query().Get("RelayState"), SLOOptions{})
	if err != nil {
		http.Error(w, "cannot build LogoutResponse", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, to.String(), http.StatusFound)
}

// RespondOptions change what Respond builds.
type RespondOptions struct {
	// Mutate changes the assertion before it is signed.
	Mutate func(*saml.Assertion)
	// Plaintext leaves the assertion unencrypted even though the service
	// provider publishes an encryption key, so a test can read and alter it.
	Plaintext bool
}

// Respond builds the signed HTTP-POST response the IdP would send for an
// AuthnRequest redirect URL and a user. Tests use it to make expired,
// misdirected, unsigned or otherwise wrong assertions through the real
// signing code.
func (d *IdP) Respond(authnRedirect *url.URL, username string, o RespondOptions) (saml.IdpAuthnRequestForm, error) {
	u, ok := d.users[username]
	if !ok {
		return saml.IdpAuthnRequestForm{}, fmt.Errorf("devidp: no user %q", username)
	}
	r, err := http.NewRequest(http.MethodGet, authnRedirect.String(), nil)
	if err != nil {
		return saml.IdpAuthnRequestForm{}, err
	}
	r.RemoteAddr = "127.0.0.1:1"
	req, err := saml.NewIdpAuthnRequest(&d.idp, r)
	if err != nil {
		return saml.IdpAuthnRequestForm{}, err
	}
	if err := req.Validate(); err != nil {
		return saml.IdpAuthnRequestForm{}, err
	}
	if o.Plaintext {
		spd := *req.SPSSODescriptor
		spd.KeyDescriptors = nil
		req.SPSSODescriptor = &spd
	}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, d.newSession(u, r)); err != nil {
		return saml.IdpAuthnRequestForm{}, err
	}
	if o.Mutate != nil {
		o.Mutate(req.Assertion)
	}
	return req.PostBinding()
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "id-" + hex.EncodeToString(b[:])
}

type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Printf(format string, v ...any) { a.l.Info("devidp: " + fmt.Sprintf(format, v...)) }
func (a logAdapter) Print(v ...any)                 { a.l.Info("devidp: " + fmt.Sprint(v...)) }
func (a logAdapter) Println(v ...any)               { a.l.Info("devidp: " + fmt.Sprint(v...)) }
func (a logAdapter) Fatal(v ...any)                 { a.l.Error("devidp: " + fmt.Sprint(v...)); os.Exit(1) }
func (a logAdapter) Fatalf(format string, v ...any) { a.Fatal(fmt.Sprintf(format, v...)) }
func (a logAdapter) Fatalln(v ...any)               { a.Fatal(v...) }
func (a logAdapter) Panic(v ...any)                 { panic(fmt.Sprint(v...)) }
func (a logAdapter) Panicf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }
func (a logAdapter) Panicln(v ...any)               { panic(fmt.Sprint(v...)) }

// DemoUsers are the demo's development sign-ins (password "demo").
func DemoUsers() []User {
	const kings, guys, lewisham = "King's College Hospital NHS Foundation Trust", "Guy's and St Thomas' NHS Foundation Trust", "Lewisham and Greenwich NHS Trust"
	return []User{
		{Username: "clinician", UserID: "555000000001", DisplayName: "Dr Amara Okafor", Assurance: "AAL3",
			Profiles: []Profile{{"R8000", "RJZ", kings}}},
		{Username: "nurse", UserID: "555000000002", DisplayName: "Ciaran Doyle", Assurance: "AAL3",
			Profiles: []Profile{{"R8001", "RJ1", guys}, {"R8001", "RJ2", lewisham}}},
		{Username: "clerk", UserID: "555000000003", DisplayName: "Priya Shah", Assurance: "AAL3",
			Profiles: []Profile{{"R8010", "RJZ", kings}}},
		{Username: "igofficer", UserID: "555000000004", DisplayName: "Helen Marsh", Assurance: "AAL3",
			Profiles: []Profile{{"R0001", "RJZ", kings}}},
		{Username: "admin", UserID: "555000000005", DisplayName: "Tomasz Nowak", Assurance: "AAL3",
			Profiles: []Profile{{"R8015", "RJZ", kings}}},
	}
}
