package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/carerecord/carerecord/static"
)

// EPR is a synthetic Trust electronic patient record: a page listing a
// few patients, each with a "Shared record" button that launches
// carerecord in that patient's context by the SMART App Launch 2.0 EHR
// launch, and the EPR's side of that launch: its
// .well-known/smart-configuration, an authorization server (the EPR user
// is already signed in at the EPR, so it approves at once), and a FHIR
// server holding each patient's Patient resource.
//
// When carerecord asks for "openid fhirUser", the token response carries
// an id_token signed with the EPR's key (published at its jwks_uri) whose
// fhirUser claim names the signed-in EPR user's PractitionerRole (or
// Practitioner), with the user's role code and organisation as the EPR
// knows them; the FHIR server serves those resources to the launch's token.
//
// Launch handles and codes are single use and expire in minutes, as a
// real EPR's are, so that tampered and replayed launches are refused the
// way a real one refuses them.
type EPR struct {
	o        EPROptions
	mu       sync.Mutex
	launches map[string]*eprLaunch // by launch handle
	codes    map[string]*eprLaunch // by code
	tokens   map[string]*eprLaunch // by access token
	page     *template.Template
	mux      *http.ServeMux
	keyID    string
}

// EPRUser is someone signed in at the EPR: a Practitioner, and the role
// they work in there.
type EPRUser struct {
	Username       string
	PractitionerID string
	// PractitionerRoleID, when set, is what fhirUser names (the role the
	// user works in); else fhirUser names the Practitioner.
	PractitionerRoleID string
	SDSUserID          string // "" for a Practitioner the EPR holds no SDS user id for
	Prefix, Given      string
	Family             string
	// RoleCode and ODS are the user's role profile as the EPR knows it,
	// sent in the id_token (role_code, org_code).
	RoleCode, ODS string
	// FHIRUser, when set, is sent as fhirUser instead (a Patient, say).
	FHIRUser string
}

// EPRPatient is one patient on the EPR's list.
type EPRPatient struct {
	ID        string // the EPR's FHIR id
	Name      string // as the list shows it, e.g. "SMITH, Jane (Mrs)"
	Born      string
	NHSNumber string // "" for a patient the EPR holds no NHS number for
	// InClinic puts an encounter in the launch context.
	InClinic bool
}

// EPROptions configure NewEPR.
type EPROptions struct {
	Name string // e.g. "King's EPR (synthetic)"
	// Base is where the EPR is served, e.g. http://127.0.0.1:9001; its
	// FHIR base (the iss it sends) is {Base}/fhir.
	Base *url.URL
	// Launch is carerecord's launch URL, e.g. http://127.0.0.1:8080/launch.
	Launch string
	// ClientID and RedirectURI are carerecord's registration here.
	ClientID    string
	RedirectURI string
	Patients    []EPRPatient
	// Users are the EPR's signed-in users; the first is the one the page
	// launches as. DemoEPRUsers when empty.
	Users []EPRUser
	// Key signs id_tokens; one is made when nil.
	Key *rsa.PrivateKey
}

type eprLaunch struct {
	patient   EPRPatient
	user      EPRUser
	scopes    []string
	nonce     string
	encounter string
	expires   time.Time
	used      bool
	challenge string // PKCE S256 challenge of the authorization request
	clientID  string
}

// NewEPR builds the synthetic EPR.
func NewEPR(o EPROptions) *EPR {
	if len(o.Users) == 0 {
		o.Users = DemoEPRUsers()
	}
	if o.Key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err) // the system's randomness failed
		}
		o.Key = k
	}
	e := &EPR{o: o, launches: map[string]*eprLaunch{}, codes: map[string]*eprLaunch{}, tokens: map[string]*eprLaunch{},
		keyID: "epr-" + randomID()[3:15]}
	e.page = template.Must(template.New("epr").Funcs(template.FuncMap{"static": static.Path}).Parse(eprPage))
	e.mux = http.NewServeMux()
	e.mux.HandleFunc("GET /{$}", e.showPatients)
	e.mux.HandleFunc("GET /fhir/.well-known/smart-configuration", e.showConfiguration)
	e.mux.HandleFunc("GET /auth/authorize", e.authorize)
	e.mux.HandleFunc("POST /auth/token", e.token)
	e.mux.HandleFunc("GET /auth/jwks", e.showKeys)
	e.mux.HandleFunc("GET /fhir/Patient/{id}", e.readPatient)
	e.mux.HandleFunc("GET /fhir/Practitioner/{id}", e.readPractitioner)
	e.mux.HandleFunc("GET /fhir/PractitionerRole/{id}", e.readPractitionerRole)
	// The page's stylesheet: the portal's own assets, served here too.
	e.mux.Handle("/static/", static.Handler())
	return e
}

// ISS is the FHIR base the EPR sends as iss.
func (e *EPR) ISS() string { return strings.TrimSuffix(e.o.Base.String(), "/") + "/fhir" }

// ServeHTTP serves the EPR.
func (e *EPR) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// LaunchURL makes a fresh launch handle for the patient and returns the
// URL that opens carerecord with it, as the "Shared record" button does,
// for the EPR's first user.
func (e *EPR) LaunchURL(patientID string) string {
	return e.LaunchURLAs(patientID, e.o.Users[0].Username)
}

// LaunchURLAs is LaunchURL with another of the EPR's users signed in.
func (e *EPR) LaunchURLAs(patientID, username string) string {
	i := slices.IndexFunc(e.o.Patients, func(p EPRPatient) bool { return p.ID == patientID })
	j := slices.IndexFunc(e.o.Users, func(u EPRUser) bool { return u.Username == username })
	if i < 0 || j < 0 {
		return ""
	}
	p := e.o.Patients[i]
	l := &eprLaunch{patient: p, user: e.o.Users[j], expires: time.Now().Add(10 * time.Minute)}
	if p.InClinic {
		l.encounter = "enc-" + p.ID
	}
	h := randomID()
	e.mu.Lock()
	e.launches[h] = l
	e.mu.Unlock()
	return e.o.Launch + "?" + url.Values{"iss": {e.ISS()}, "launch": {h}}.Encode()
}

const eprPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Name}}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="{{static "nhsuk/nhsuk-frontend.min.css"}}"></head>
<body><main class="nhsuk-width-container nhsuk-main-wrapper" id="maincontent">
<h1 class="nhsuk-heading-l">{{.Name}}: clinic list</h1>
<p>A synthetic electronic patient record. "Shared record" opens carerecord in that patient's context (SMART App Launch). Signed in here as {{.User}}.</p>
<table class="nhsuk-table"><thead><tr><th>Patient</th><th>Born</th><th>NHS No.</th><th></th></tr></thead><tbody>
{{range .Rows}}<tr data-patient="{{.ID}}"><td>{{.Name}}</td><td>{{.Born}}</td><td>{{if .NHS}}{{.NHS}}{{else}}Not Known{{end}}</td>
<td><a class="nhsuk-button nhsuk-u-margin-bottom-0" href="{{.Launch}}">Shared record</a></td></tr>
{{end}}</tbody></table></main></body></html>`

func (e *EPR) showPatients(w http.ResponseWriter, r *http.Request) {
	type row struct{ ID, Name, Born, NHS, Launch string }
	var rows []row
	for _, p := range e.o.Patients {
		nhs := ""
		if p.NHSNumber != "" {
			nhs = p.NHSNumber[:3] + " " + p.NHSNumber[3:6] + " " + p.NHSNumber[6:]
		}
		rows = append(rows, row{p.ID, p.Name, p.Born, nhs, e.LaunchURL(p.ID)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = e.page.Execute(w, map[string]any{"Name": e.o.Name, "Rows": rows, "User": e.o.Users[0].displayName()})
}

func (e *EPR) showConfiguration(w http.ResponseWriter, r *http.Request) {
	base := strings.TrimSuffix(e.o.Base.String(), "/")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                e.ISS(),
		"jwks_uri":                              base + "/auth/jwks",
		"authorization_endpoint":                base + "/auth/authorize",
		"token_endpoint":                        base + "/auth/token",
		"capabilities":                          []string{"launch-ehr", "client-public", "context-ehr-patient", "context-ehr-encounter", "sso-openid-connect", "permission-v2"},
		"code_challenge_methods_supported":      []string{"S256"},
		"grant_types_supported":                 []string{"authorization_code"},
		"scopes_supported":                      []string{"launch", "openid", "fhirUser", "patient/Patient.rs"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code"},
	})
}

// authorize checks the request and, the EPR user being signed in here
// already, approves at once. A launch handle is used once.
func (e *EPR) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != e.o.ClientID || q.Get("redirect_uri") != e.o.RedirectURI {
		http.Error(w, "unknown client or redirect URI", http.StatusBadRequest)
		return
	}
	back := func(v url.Values) {
		v.Set("state", q.Get("state"))
		http.Redirect(w, r, e.o.RedirectURI+"?"+v.Encode(), http.StatusFound)
	}
	scopes := strings.Fields(q.Get("scope"))
	if q.Get("response_type") != "code" || !slices.Contains(scopes, "launch") || q.Get("aud") != e.ISS() ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		back(url.Values{"error": {"invalid_request"}})
		return
	}
	e.mu.Lock()
	l := e.launches[q.Get("launch")]
	ok := l != nil && !l.used && time.Now().Before(l.expires)
	if ok {
		l.used = true
		l.challenge, l.clientID = q.Get("code_challenge"), q.Get("client_id")
		l.scopes, l.nonce = scopes, q.Get("nonce")
	}
	code := randomID()
	if ok {
		e.codes[code] = l
	}
	e.mu.Unlock()
	if !ok {
		// An unknown (tampered), used (replayed) or expired launch.
		back(url.Values{"error": {"invalid_request"}, "error_description": {"unknown or used launch"}})
		return
	}
	back(url.Values{"code": {code}})
}

// token exchanges a code (once) for an access token and the launch context.
func (e *EPR) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	clientID, _, ok := r.BasicAuth()
	if !ok {
		clientID = r.PostForm.Get("client_id")
	}
	e.mu.Lock()
	l := e.codes[r.PostForm.Get("code")]
	delete(e.codes, r.PostForm.Get("code"))
	e.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	if l == nil || r.PostForm.Get("grant_type") != "authorization_code" || clientID != l.clientID ||
		subtle.ConstantTimeCompare([]byte(challenge), []byte(l.challenge)) != 1 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	tok := randomID()
	e.mu.Lock()
	e.tokens[tok] = l
	e.mu.Unlock()
	resp := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 300,
		"scope": "launch openid fhirUser patient/Patient.rs", "patient": l.patient.ID}
	if l.encounter != "" {
		resp["encounter"] = l.encounter
	}
	if slices.Contains(l.scopes, "openid") && slices.Contains(l.scopes, "fhirUser") {
		idt, err := e.idToken(l)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
			return
		}
		resp["id_token"] = idt
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// readPatient serves the patient in context, and only that one, to its token.
func (e *EPR) readPatient(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	e.mu.Lock()
	l := e.tokens[tok]
	e.mu.Unlock()
	if l == nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.PathValue("id") != l.patient.ID {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	p := map[string]any{"resourceType": "Patient", "id": l.patient.ID}
	if l.patient.NHSNumber != "" {
		p["identifier"] = []map[string]string{{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": l.patient.NHSNumber}}
	} else {
		p["identifier"] = []map[string]string{{"system": "https://fhir.example-trust.nhs.uk/Id/mrn", "value": "MRN" + l.patient.ID}}
	}
	writeJSON(w, http.StatusOK, p)
}

// idToken is the launch's OpenID Connect id_token: the EPR user, their
// fhirUser, and their role profile at the EPR's organisation.
func (e *EPR) idToken(l *eprLaunch) (string, error) {
	u := l.user
	now := time.Now()
	claims := map[string]any{
		"iss": e.ISS(), "sub": u.PractitionerID, "aud": l.clientID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"fhirUser": u.fhirUser(e.ISS()), "name": u.displayName(),
	}
	if l.nonce != "" {
		claims["nonce"] = l.nonce
	}
	if u.RoleCode != "" {
		claims["role_code"] = u.RoleCode
	}
	if u.ODS != "" {
		claims["org_code"] = u.ODS
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: e.o.Key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), e.keyID))
	if err != nil {
		return "", err
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func (u EPRUser) fhirUser(iss string) string {
	switch {
	case u.FHIRUser != "":
		return u.FHIRUser
	case u.PractitionerRoleID != "":
		return iss + "/PractitionerRole/" + u.PractitionerRoleID
	}
	return iss + "/Practitioner/" + u.PractitionerID
}

func (u EPRUser) displayName() string {
	return strings.Join(strings.Fields(u.Prefix+" "+u.Given+" "+u.Family), " ")
}

// showKeys publishes the public half of the id_token key.
func (e *EPR) showKeys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &e.o.Key.PublicKey, KeyID: e.keyID,
		Algorithm: string(jose.RS256), Use: "sig"}}})
}

// launchOf is the launch whose access token the request carries.
func (e *EPR) launchOf(r *http.Request) *eprLaunch {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tokens[tok]
}

// readPractitioner serves the launch's user, and only that one.
func (e *EPR) readPractitioner(w http.ResponseWriter, r *http.Request) {
	l := e.launchOf(r)
	if l == nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	u := l.user
	if r.PathValue("id") != u.PractitionerID {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	name := map[string]any{"use": "official", "family": u.Family}
	if u.Given != "" {
		name["given"] = []string{u.Given}
	}
	if u.Prefix != "" {
		name["prefix"] = []string{u.Prefix}
	}
	p := map[string]any{"resourceType": "Practitioner", "id": u.PractitionerID, "name": []any{name}}
	if u.SDSUserID != "" {
		p["identifier"] = []map[string]string{{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": u.SDSUserID}}
	}
	writeJSON(w, http.StatusOK, p)
}

// readPractitionerRole serves the launch's user's role.
func (e *EPR) readPractitionerRole(w http.ResponseWriter, r *http.Request) {
	l := e.launchOf(r)
	if l == nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	u := l.user
	if u.PractitionerRoleID == "" || r.PathValue("id") != u.PractitionerRoleID {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"resourceType": "PractitionerRole", "id": u.PractitionerRoleID,
		"practitioner": map[string]string{"reference": "Practitioner/" + u.PractitionerID},
		"organization": map[string]any{"identifier": map[string]string{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": u.ODS}},
		"code":         []any{map[string]any{"coding": []any{map[string]string{"system": "https://fhir.nhs.uk/CodeSystem/sds-job-role-name", "code": u.RoleCode}}}},
	})
}

// DemoEPRUsers are the synthetic EPR's users: Dr Amara Okafor, the demo
// clinician (the same SDS user id), working as a Clinical Practitioner
// at King's.
func DemoEPRUsers() []EPRUser {
	return []EPRUser{
		{Username: "okafor", PractitionerID: "prac-501", PractitionerRoleID: "role-501", SDSUserID: "555000000001",
			Prefix: "Dr", Given: "Amara", Family: "Okafor", RoleCode: "R8000", ODS: "RJZ"},
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DemoEPRPatients are the synthetic EPR's clinic list: demo patients of
// connectors/synthetic, and one the EPR holds no NHS number for.
func DemoEPRPatients() []EPRPatient {
	return []EPRPatient{
		{ID: "epr-1001", Name: "SMITH, Jane (Mrs)", Born: "12-Mar-1965", NHSNumber: "9990000018", InClinic: true},
		{ID: "epr-1002", Name: "THISTLEWOOD, Reginald (Mr)", Born: "29-Feb-1944", NHSNumber: "9990000042", InClinic: true},
		{ID: "epr-1003", Name: "UNKNOWN, Visitor", Born: "Not Known"},
	}
}
