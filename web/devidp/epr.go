package devidp

import (
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
}

type eprLaunch struct {
	patient   EPRPatient
	encounter string
	expires   time.Time
	used      bool
	challenge string // PKCE S256 challenge of the authorization request
	clientID  string
}

// NewEPR builds the synthetic EPR.
func NewEPR(o EPROptions) *EPR {
	e := &EPR{o: o, launches: map[string]*eprLaunch{}, codes: map[string]*eprLaunch{}, tokens: map[string]*eprLaunch{}}
	e.page = template.Must(template.New("epr").Funcs(template.FuncMap{"static": static.Path}).Parse(eprPage))
	e.mux = http.NewServeMux()
	e.mux.HandleFunc("GET /{$}", e.showPatients)
	e.mux.HandleFunc("GET /fhir/.well-known/smart-configuration", e.showConfiguration)
	e.mux.HandleFunc("GET /auth/authorize", e.authorize)
	e.mux.HandleFunc("POST /auth/token", e.token)
	e.mux.HandleFunc("GET /fhir/Patient/{id}", e.readPatient)
	// The page's stylesheet: the portal's own assets, served here too.
	e.mux.Handle("/static/", static.Handler())
	return e
}

// ISS is the FHIR base the EPR sends as iss.
func (e *EPR) ISS() string { return strings.TrimSuffix(e.o.Base.String(), "/") + "/fhir" }

// ServeHTTP serves the EPR.
func (e *EPR) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// LaunchURL makes a fresh launch handle for the patient and returns the
// URL that opens carerecord with it, as the "Shared record" button does.
func (e *EPR) LaunchURL(patientID string) string {
	i := slices.IndexFunc(e.o.Patients, func(p EPRPatient) bool { return p.ID == patientID })
	if i < 0 {
		return ""
	}
	p := e.o.Patients[i]
	l := &eprLaunch{patient: p, expires: time.Now().Add(10 * time.Minute)}
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
<p>A synthetic electronic patient record. "Shared record" opens carerecord in that patient's context (SMART App Launch).</p>
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
	_ = e.page.Execute(w, map[string]any{"Name": e.o.Name, "Rows": rows})
}

func (e *EPR) showConfiguration(w http.ResponseWriter, r *http.Request) {
	base := strings.TrimSuffix(e.o.Base.String(), "/")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                           e.ISS(),
		"authorization_endpoint":           base + "/auth/authorize",
		"token_endpoint":                   base + "/auth/token",
		"capabilities":                     []string{"launch-ehr", "client-public", "context-ehr-patient", "context-ehr-encounter", "sso-openid-connect", "permission-v2"},
		"code_challenge_methods_supported": []string{"S256"},
		"grant_types_supported":            []string{"authorization_code"},
		"scopes_supported":                 []string{"launch", "openid", "fhirUser", "patient/Patient.rs"},
		"response_types_supported":         []string{"code"},
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
