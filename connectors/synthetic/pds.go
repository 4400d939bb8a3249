package synthetic

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/pds"
)

// SupersededNHSNumber is an NHS number the synthetic PDS says was
// superseded by RichNHSNumber (two records merged): reading it returns
// Jane Smith under her current number.
const SupersededNHSNumber = "9990000611"

// PDSDisagreesNHSNumber is a generated patient whose given name PDS spells
// differently from every source ("Calum", where the sources hold
// "Callum"), so the banner names each source against PDS.
const PDSDisagreesNHSNumber = "9990010005"

// The synthetic PDS's paths, as the NHS API platform lays them out.
const (
	pdsTokenPath = "/oauth2/token"
	pdsBasePath  = "/personal-demographics/FHIR/R4"
)

// The application registered with the synthetic API platform.
const (
	PDSAPIKey = "carerecord-demo-application"
	PDSKeyID  = "carerecord-demo-1"
)

// PDS is a synthetic Personal Demographics Service on loopback: the NHS API
// platform's token endpoint (signed JWT client assertions, RS512, checked
// against the registered key) and the PDS FHIR API's Patient read and
// search, answering from the same generated patients as the synthetic
// organisations, including the restricted and deceased patients and one
// superseded NHS number. It refuses what the real service refuses: a bad
// or expired access token, a missing X-Request-ID, an invalid NHS number.
type PDS struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	key  *rsa.PrivateKey
	opts PDSOptions

	mu         sync.Mutex
	tokens     map[string]time.Time // access token: expiry
	seenJTI    map[string]bool
	exchanges  int
	reads      int
	down       bool
	overrides  map[string]func(map[string]any)
	invalidate map[string]bool
}

// PDSOptions tune the synthetic PDS.
type PDSOptions struct {
	// TokenLifetime is the expires_in of access tokens (default 599 s, as
	// the API platform gives).
	TokenLifetime time.Duration
	// Now is the clock the token checks use (default time.Now).
	Now func() time.Time
}

// StartPDS starts a synthetic PDS on a loopback port.
func StartPDS(o PDSOptions) (*PDS, error) {
	if o.TokenLifetime == 0 {
		o.TokenLifetime = 599 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &PDS{ln: ln, url: "http://" + ln.Addr().String(), key: key, opts: o,
		tokens: map[string]time.Time{}, seenJTI: map[string]bool{},
		overrides: map[string]func(map[string]any){}, invalidate: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pdsTokenPath, p.token)
	mux.HandleFunc("GET "+pdsBasePath+"/Patient/{id}", p.api(p.read))
	mux.HandleFunc("GET "+pdsBasePath+"/Patient", p.api(p.search))
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the server.
func (p *PDS) Close() error { return p.srv.Close() }

// URL is the server's root.
func (p *PDS) URL() string { return p.url }

// Config is the connector configuration for this PDS, with the registered
// application's API key and private key given directly.
func (p *PDS) Config() pds.Config {
	return pds.Config{BaseURL: p.url + pdsBasePath, TokenURL: p.url + pdsTokenPath,
		APIKey: PDSAPIKey, Key: p.key, KeyID: PDSKeyID}
}

// SetDown makes every request fail with 503 (or answer again).
func (p *PDS) SetDown(down bool) { p.mu.Lock(); p.down = down; p.mu.Unlock() }

// Exchanges is how many access tokens have been issued.
func (p *PDS) Exchanges() int { p.mu.Lock(); defer p.mu.Unlock(); return p.exchanges }

// Override changes what PDS holds for one patient: f edits the Patient
// resource (as JSON-shaped maps) before it is sent.
func (p *PDS) Override(nhs string, f func(map[string]any)) {
	p.mu.Lock()
	p.overrides[nhs] = f
	p.mu.Unlock()
}

// Invalidate marks an NHS number invalidated and not superseded.
func (p *PDS) Invalidate(nhs string) { p.mu.Lock(); p.invalidate[nhs] = true; p.mu.Unlock() }

// token is the API platform's token endpoint: a client_credentials grant
// authenticated by a signed JWT client assertion.
func (p *PDS) token(w http.ResponseWriter, r *http.Request) {
	if p.isDown() {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
		return
	}
	if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "missing or invalid client_assertion_type")
		return
	}
	if problem := p.checkAssertion(r.PostForm.Get("client_assertion")); problem != "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", problem)
		return
	}
	tok := randomHex(16)
	p.mu.Lock()
	p.tokens[tok] = p.opts.Now().Add(p.opts.TokenLifetime)
	p.exchanges++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer",
		"expires_in": int(p.opts.TokenLifetime / time.Second), "issued_at": p.opts.Now().UnixMilli()})
}

// checkAssertion applies the platform's rules to a client assertion and
// says what is wrong with it, or "".
func (p *PDS) checkAssertion(raw string) string {
	if raw == "" {
		return "missing client_assertion"
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS512})
	if err != nil {
		return "client_assertion is not a JWT signed with RS512"
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID != PDSKeyID {
		return "unknown kid"
	}
	var c jwt.Claims
	if err := tok.Claims(&p.key.PublicKey, &c); err != nil {
		return "bad signature"
	}
	now := p.opts.Now()
	if c.Issuer != PDSAPIKey || c.Subject != PDSAPIKey {
		return "iss and sub must be the API key"
	}
	if !c.Audience.Contains(p.url + pdsTokenPath) {
		return "aud must be the token endpoint"
	}
	if c.Expiry == nil || !now.Before(c.Expiry.Time()) {
		return "expired"
	}
	if c.Expiry.Time().After(now.Add(5 * time.Minute)) {
		return "exp more than 5 minutes in the future"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.ID == "" || p.seenJTI[c.ID] {
		return "jti missing or reused"
	}
	p.seenJTI[c.ID] = true
	return ""
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (p *PDS) isDown() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.down }

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// api checks what every PDS request needs: a current access token and an
// X-Request-ID that is a UUID.
func (p *PDS) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p.isDown() {
			pdsOutcome(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "Service unavailable")
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		p.mu.Lock()
		exp, known := p.tokens[tok]
		p.mu.Unlock()
		if !ok || !known || !p.opts.Now().Before(exp) {
			pdsOutcome(w, http.StatusUnauthorized, "ACCESS_DENIED", "Access Denied - Unauthorised")
			return
		}
		switch id := r.Header.Get("X-Request-ID"); {
		case id == "":
			pdsOutcome(w, http.StatusBadRequest, "MISSING_VALUE", "Missing value - 'X-Request-ID'")
			return
		case !uuidPattern.MatchString(id):
			pdsOutcome(w, http.StatusBadRequest, "INVALID_VALUE", "Invalid value - 'X-Request-ID'")
			return
		}
		w.Header().Set("X-Request-ID", r.Header.Get("X-Request-ID"))
		h(w, r)
	}
}

func pdsOutcome(w http.ResponseWriter, status int, code, display string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"resourceType": "OperationOutcome", "issue": []any{map[string]any{
		"severity": "error", "code": "processing",
		"details": map[string]any{"coding": []any{map[string]any{
			"system": "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode", "version": "1", "code": code, "display": display}}}}}})
}

// read is GET /Patient/{id}. "On retrieval of a superseded patient's
// details, the new details are automatically returned in place of the
// requested details."
func (p *PDS) read(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := connectors.ParseNHSNumber(id); err != nil || len(id) != 10 {
		pdsOutcome(w, http.StatusBadRequest, "INVALID_RESOURCE_ID", "Resource Id is invalid")
		return
	}
	p.mu.Lock()
	p.reads++
	invalid := p.invalidate[id]
	p.mu.Unlock()
	if invalid {
		pdsOutcome(w, http.StatusNotFound, "INVALIDATED_RESOURCE", "Resource that has been marked as invalid was requested")
		return
	}
	if id == SupersededNHSNumber {
		id = RichNHSNumber
	}
	for _, per := range population() {
		if per.nhs == id {
			w.Header().Set("Content-Type", "application/fhir+json")
			w.Header().Set("ETag", `W/"1"`)
			json.NewEncoder(w).Encode(p.patient(per))
			return
		}
	}
	pdsOutcome(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Resource not found")
}

// search is GET /Patient?...: in the application-restricted access mode,
// "only a single unique match returned". Restricted patients are not
// returned when the search names a postcode.
func (p *PDS) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	family, birth := q.Get("family"), strings.TrimPrefix(q.Get("birthdate"), "eq")
	if family == "" || birth == "" {
		pdsOutcome(w, http.StatusBadRequest, "MISSING_VALUE", "Missing value - 'birth_date/family'")
		return
	}
	given, gender, postcode := q.Get("given"), q.Get("gender"), normPostcode(q.Get("address-postalcode"))
	var hits []*person
	for _, per := range population() {
		if !wildMatch(family, per.family) || per.birth.String() != birth {
			continue
		}
		if given != "" && !slicesAny(per.given, func(g string) bool { return wildMatch(given, g) }) {
			continue
		}
		if gender != "" && gender != per.gender {
			continue
		}
		if postcode != "" && (per.restricted || !strings.HasPrefix(normPostcode(per.postcode), strings.TrimSuffix(postcode, "*"))) {
			continue
		}
		hits = append(hits, per)
	}
	entries := []any{}
	if len(hits) == 1 {
		entries = append(entries, map[string]any{"fullUrl": p.url + pdsBasePath + "/Patient/" + hits[0].nhs,
			"search": map[string]any{"score": 1}, "resource": p.patient(hits[0])})
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "searchset",
		"timestamp": p.opts.Now().UTC().Format(time.RFC3339), "total": len(entries), "entry": entries})
}

// wildMatch compares a name as PDS's non-fuzzy search does: case-blind,
// with a trailing * matching the start of the name.
func wildMatch(pattern, name string) bool {
	pattern, name = strings.ToLower(pattern), strings.ToLower(name)
	if pre, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, pre)
	}
	return pattern == name
}

func slicesAny(ss []string, f func(string) bool) bool {
	for _, s := range ss {
		if f(s) {
			return true
		}
	}
	return false
}

// patient is PDS's Patient resource for per: the usual name, home
// address and phone, registered practice by ODS code, death, and the
// security label; a restricted record has its address, telecom and GP
// removed, as PDS does.
func (p *PDS) patient(per *person) map[string]any {
	label := map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "U", "display": "unrestricted"}
	if per.restricted {
		label["code"], label["display"] = "R", "restricted"
	}
	given := per.given
	if per.nhs == PDSDisagreesNHSNumber && len(given) > 0 {
		given = append([]string{strings.Replace(given[0], "Callum", "Calum", 1)}, given[1:]...)
	}
	name := map[string]any{"use": "usual", "family": per.family, "given": given}
	if per.title != "" {
		name["prefix"] = []string{per.title}
	}
	res := map[string]any{
		"resourceType": "Patient", "id": per.nhs,
		"meta":       map[string]any{"versionId": "1", "security": []any{label}},
		"identifier": []any{map[string]any{"system": sysNHS, "value": per.nhs}},
		"name":       []any{name},
		"gender":     per.gender,
		"birthDate":  per.birth.String(),
	}
	if !per.death.IsZero() {
		res["deceasedDateTime"] = per.death.UTC().Format(time.RFC3339)
	}
	if !per.restricted {
		res["address"] = []any{map[string]any{"use": "home", "line": append(append([]string{}, per.lines...), per.town), "postalCode": per.postcode}}
		res["telecom"] = []any{map[string]any{"system": "phone", "value": per.phone, "use": "home"}}
		res["generalPractitioner"] = []any{map[string]any{"type": "Organization",
			"identifier": map[string]any{"system": sysODS, "value": per.gp}}}
	}
	p.mu.Lock()
	f := p.overrides[per.nhs]
	p.mu.Unlock()
	if f != nil {
		f(res)
	}
	return res
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
