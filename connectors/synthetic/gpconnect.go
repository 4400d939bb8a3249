package synthetic

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/gpconnect"
)

// ConsumerASID is the ASID the synthetic GP Connect providers expect from
// carerecord (Ssp-From).
const ConsumerASID = "918999198993"

// GPConnect is the demo's GP practices as GP Connect Access Record:
// Structured providers (STU3, release 1.6) on one loopback server: each
// practice at /{ODS}/STU3/1/gpconnect/structured/fhir. It also stands in
// for the Spine Secure Proxy: a request to /{the practice's full URL} is
// routed to the practice. Every request is checked as a provider and the
// SSP check it: the SSP headers (trace id, from the consumer's ASID, to the
// practice's, the interaction), the JWT's claims (and its signature when a
// key is given, or alg "none" when not) and the Parameters; refusals are
// OperationOutcomes with GP Connect's error codes. A practice answers for
// its registered patients only, and not for a sensitive (restricted) one.
type GPConnect struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	opts GPConnectOptions

	mu      sync.Mutex
	last    GPConnectRequest
	dissent map[string]bool
	down    map[string]bool
}

// GPConnectOptions tune the synthetic providers.
type GPConnectOptions struct {
	// JWTKey, when set, is the public key every JWT must be signed with
	// (RS256); without it a JWT must be unsecured, as GP Connect 1.6 asks.
	JWTKey *rsa.PublicKey
}

// GPConnectRequest is what the last request carried, for tests of its
// shape.
type GPConnectRequest struct {
	Path string
	// ViaSSP: the request came through the proxy's address.
	ViaSSP  bool
	Header  http.Header
	JWTAlg  string
	Claims  map[string]any
	NHS     string
	Params  []string // the Parameters' names, in order
	Refused string   // the error code answered, if any
}

// practiceASID is each practice's ASID.
func practiceASID(ods string) string {
	return fmt.Sprintf("9%011d", seed("asid", ods)%100000000000)
}

// StartGPConnect starts the synthetic providers on a loopback port.
func StartGPConnect(o GPConnectOptions) (*GPConnect, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &GPConnect{ln: ln, url: "http://" + ln.Addr().String(), opts: o, dissent: map[string]bool{}, down: map[string]bool{}}
	g.srv = &http.Server{Handler: http.HandlerFunc(g.serve), ReadHeaderTimeout: 5 * time.Second}
	go g.srv.Serve(ln)
	return g, nil
}

// Close stops the server.
func (g *GPConnect) Close() error { return g.srv.Close() }

// URL is the server's root, which also acts as the SSP.
func (g *GPConnect) URL() string { return g.url }

// Practices lists the GP practices served.
func (g *GPConnect) Practices() []Org {
	var out []Org
	for _, o := range orgs {
		if o.Type == Practice {
			out = append(out, o)
		}
	}
	return out
}

// Config is the GP Connect source configuration of one practice.
func (g *GPConnect) Config(o Org) connectors.Config {
	return connectors.Config{Name: o.Name, ODS: o.ODS, Kind: connectors.SourceKindGPConnect,
		BaseURL: g.url + "/" + o.ODS + "/STU3/1/gpconnect/structured/fhir", ASID: practiceASID(o.ODS),
		Timeout: connectors.DefaultTimeout, Auth: connectors.Auth{Type: connectors.AuthNone},
		MaxResponseBytes: connectors.DefaultMaxResponseBytes}
}

// Settings are the consumer settings these providers expect, requests
// going through this server as the SSP.
func (g *GPConnect) Settings() gpconnect.Settings {
	return gpconnect.Settings{SSPURL: g.url, ConsumerASID: ConsumerASID, Issuer: "http://127.0.0.1/carerecord"}
}

// SetDissent records the patient's dissent from sharing their GP record.
func (g *GPConnect) SetDissent(nhs string, on bool) { g.mu.Lock(); g.dissent[nhs] = on; g.mu.Unlock() }

// SetDown makes a practice's system answer 503 (or answer again).
func (g *GPConnect) SetDown(ods string, on bool) { g.mu.Lock(); g.down[ods] = on; g.mu.Unlock() }

// Last returns what the last request carried.
func (g *GPConnect) Last() GPConnectRequest { g.mu.Lock(); defer g.mu.Unlock(); return g.last }

// SDSAPIKey is the API key the synthetic Spine Directory Service expects.
const SDSAPIKey = "carerecord-demo-sds-key"

// sdsPath is the synthetic SDS FHIR API's base path on the same server.
const sdsPath = "/spine-directory/FHIR/R4"

// SDSURL is the synthetic Spine Directory Service FHIR API, which lists
// each practice's Device (with its ASID) and Endpoint (its address) for
// Access Record: Structured.
func (g *GPConnect) SDSURL() string { return g.url + sdsPath }

// sds answers GET /Device and /Endpoint searches by organization (ODS code)
// and identifier (the interaction), checking the apikey header.
func (g *GPConnect) sds(w http.ResponseWriter, r *http.Request, typ string) {
	if r.Header.Get("apikey") != SDSAPIKey {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	ods, _ := strings.CutPrefix(q.Get("organization"), gpconnect.SystemODS+"|")
	entries := []any{}
	if o, ok := OrgByODS(ods); ok && o.Type == Practice && q.Get("identifier") == "https://fhir.nhs.uk/Id/nhsServiceInteractionId|"+gpconnect.InteractionID {
		cfg := g.Config(o)
		res := map[string]any{"resourceType": typ, "id": typ + "-" + ods,
			"identifier": []any{map[string]any{"system": "https://fhir.nhs.uk/Id/nhsServiceInteractionId", "value": gpconnect.InteractionID}}}
		if typ == "Device" {
			res["identifier"] = append(res["identifier"].([]any), map[string]any{"system": "https://fhir.nhs.uk/Id/nhsSpineASID", "value": cfg.ASID})
		} else {
			res["address"] = cfg.BaseURL
			res["status"] = "active"
		}
		entries = append(entries, map[string]any{"fullUrl": g.url + sdsPath + "/" + typ + "/" + typ + "-" + ods, "resource": res})
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries})
}

func (g *GPConnect) serve(w http.ResponseWriter, r *http.Request) {
	if typ, ok := strings.CutPrefix(r.URL.Path, sdsPath+"/"); ok && (typ == "Device" || typ == "Endpoint") && r.Method == http.MethodGet {
		g.sds(w, r, typ)
		return
	}
	path := r.URL.Path
	viaSSP := false
	// As the SSP: "/http://host/..." names the practice's endpoint.
	if rest, ok := strings.CutPrefix(path, "/"+g.url); ok {
		path, viaSSP = rest, true
	} else if strings.HasPrefix(path, "/http:") || strings.HasPrefix(path, "/https:") {
		gpcOutcome(w, http.StatusBadGateway, "BAD_REQUEST", "SSP: unknown endpoint")
		return
	}
	seen := GPConnectRequest{Path: path, ViaSSP: viaSSP, Header: r.Header.Clone()}
	defer func() { g.mu.Lock(); g.last = seen; g.mu.Unlock() }()
	refuse := func(status int, code, display string) {
		seen.Refused = code
		gpcOutcome(w, status, code, display)
	}
	ods, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	org, ok := OrgByODS(ods)
	if !ok || org.Type != Practice || rest != "STU3/1/gpconnect/structured/fhir/Patient/$gpc.getstructuredrecord" {
		refuse(http.StatusNotFound, "REFERENCE_NOT_FOUND", "Unknown endpoint")
		return
	}
	if r.Method != http.MethodPost {
		refuse(http.StatusMethodNotAllowed, "BAD_REQUEST", "POST only")
		return
	}
	// The SSP's checks.
	h := r.Header
	switch {
	case !uuidPattern.MatchString(strings.ToLower(h.Get("Ssp-TraceID"))):
		refuse(http.StatusBadRequest, "BAD_REQUEST", "Ssp-TraceID missing or not a GUID")
		return
	case h.Get("Ssp-From") != ConsumerASID:
		refuse(http.StatusForbidden, "ACCESS_DENIED", "Ssp-From is not an authorised consumer")
		return
	case h.Get("Ssp-To") != practiceASID(ods):
		refuse(http.StatusForbidden, "ACCESS_DENIED", "Ssp-To is not this practice's ASID")
		return
	case h.Get("Ssp-InteractionID") != gpconnect.InteractionID:
		refuse(http.StatusForbidden, "ACCESS_DENIED", "Ssp-InteractionID not allowed")
		return
	}
	g.mu.Lock()
	down := g.down[ods]
	g.mu.Unlock()
	if down {
		refuse(http.StatusServiceUnavailable, "INTERNAL_SERVER_ERROR", "The practice's system is unavailable")
		return
	}
	alg, claims, problem := g.checkJWT(h.Get("Authorization"))
	seen.JWTAlg, seen.Claims = alg, claims
	if problem != "" {
		refuse(http.StatusBadRequest, "BAD_REQUEST", "JWT: "+problem)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	nhs, params, problem := readParameters(body)
	seen.NHS, seen.Params = nhs, params
	if problem != "" {
		refuse(http.StatusUnprocessableEntity, "INVALID_PARAMETER", problem)
		return
	}
	if _, err := connectors.ParseNHSNumber(nhs); err != nil || len(nhs) != 10 {
		refuse(http.StatusBadRequest, "INVALID_NHS_NUMBER", "Invalid NHS number")
		return
	}
	var per *person
	for _, p := range population() {
		if p.nhs == nhs {
			per = p
		}
	}
	switch {
	case per == nil || per.gp != ods || per.restricted:
		// Not registered here, or a sensitive patient, whose record the
		// practice does not share: not found, either way.
		refuse(http.StatusNotFound, "PATIENT_NOT_FOUND", "Patient not found")
		return
	case g.dissentOf(nhs):
		refuse(http.StatusForbidden, "NO_PATIENT_CONSENT", "Patient has not consented to sharing")
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json;charset=utf-8")
	json.NewEncoder(w).Encode(gpcBundle(per, org, len(params) > 0))
}

func (g *GPConnect) dissentOf(nhs string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dissent[nhs]
}

// checkJWT applies GP Connect's JWT rules and returns the algorithm, the
// claims and what is wrong, or "".
func (g *GPConnect) checkJWT(auth string) (string, map[string]any, string) {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return "", nil, "missing bearer token"
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", nil, "not a JWT"
	}
	var head struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &head) != nil {
		return "", nil, "bad header"
	}
	claims := map[string]any{}
	if g.opts.JWTKey != nil {
		t, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			return head.Alg, nil, "not signed with RS256"
		}
		if err := t.Claims(g.opts.JWTKey, &claims); err != nil {
			return head.Alg, nil, "bad signature"
		}
	} else {
		if head.Alg != "none" || parts[2] != "" {
			return head.Alg, nil, `must be unsecured ("alg": "none", empty signature)`
		}
		pb, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil || json.Unmarshal(pb, &claims) != nil {
			return head.Alg, nil, "bad payload"
		}
	}
	now := time.Now().Unix()
	num := func(k string) int64 { f, _ := claims[k].(float64); return int64(f) }
	str := func(k string) string { s, _ := claims[k].(string); return s }
	obj := func(k string) map[string]any { o, _ := claims[k].(map[string]any); return o }
	iat, exp := num("iat"), num("exp")
	switch {
	case str("iss") == "":
		return head.Alg, claims, "iss missing"
	case str("aud") != gpconnect.Audience:
		return head.Alg, claims, "aud must be " + gpconnect.Audience
	case iat == 0 || iat > now+60 || exp != iat+300:
		return head.Alg, claims, "iat must be now and exp iat + 5 minutes"
	case exp < now:
		return head.Alg, claims, "expired"
	case str("reason_for_request") != "directcare":
		return head.Alg, claims, "reason_for_request must be directcare"
	case str("requested_scope") != "patient/*.read":
		return head.Alg, claims, "requested_scope must be patient/*.read"
	case obj("requesting_device")["resourceType"] != "Device":
		return head.Alg, claims, "requesting_device must be a Device"
	case !hasIdentifier(obj("requesting_organization"), gpconnect.SystemODS):
		return head.Alg, claims, "requesting_organization needs an ODS code"
	case !hasIdentifier(obj("requesting_practitioner"), gpconnect.SystemSDSUser):
		return head.Alg, claims, "requesting_practitioner needs an SDS user id"
	case obj("requesting_practitioner")["id"] != str("sub"):
		return head.Alg, claims, "sub must be requesting_practitioner.id"
	}
	return head.Alg, claims, ""
}

func hasIdentifier(o map[string]any, system string) bool {
	ids, _ := o["identifier"].([]any)
	for _, id := range ids {
		m, _ := id.(map[string]any)
		if m["system"] == system && m["value"] != "" && m["value"] != nil {
			return true
		}
	}
	return false
}

// readParameters reads the operation's Parameters: the NHS number and the
// names of the clinical areas asked for.
func readParameters(body []byte) (nhs string, names []string, problem string) {
	var p struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name            string `json:"name"`
			ValueIdentifier *struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"valueIdentifier"`
		} `json:"parameter"`
	}
	if json.Unmarshal(body, &p) != nil || p.ResourceType != "Parameters" {
		return "", nil, "body is not a Parameters resource"
	}
	for _, x := range p.Parameter {
		if x.Name == "patientNHSNumber" {
			if x.ValueIdentifier == nil || x.ValueIdentifier.System != gpconnect.SystemNHSNumber {
				return "", nil, "patientNHSNumber must be an NHS number identifier"
			}
			nhs = x.ValueIdentifier.Value
			continue
		}
		names = append(names, x.Name)
	}
	if nhs == "" {
		return "", nil, "patientNHSNumber missing"
	}
	return nhs, names, ""
}

func gpcOutcome(w http.ResponseWriter, status int, code, display string) {
	w.Header().Set("Content-Type", "application/fhir+json;charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"resourceType": "OperationOutcome",
		"meta": map[string]any{"profile": []string{"https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-OperationOutcome-1"}},
		"issue": []any{map[string]any{"severity": "error", "code": "processing",
			"details": map[string]any{"coding": []any{map[string]any{
				"system": "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1", "code": code, "display": display}}}}}})
}
