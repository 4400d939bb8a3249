package synthetic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults are the failures a synthetic server injects. The zero value is a
// healthy server.
type Faults struct {
	// Latency is added before answering every request (the wait ends
	// early if the client gives up).
	Latency time.Duration
	// ErrorRate is the fraction of requests, from 0 to 1, answered with
	// HTTP 500 and an OperationOutcome.
	ErrorRate float64
	// Rand returns numbers in [0, 1) that decide which requests fail, so
	// tests can make the error rate deterministic. Nil means a generator
	// seeded by the organisation's ODS code.
	Rand func() float64
	// Down makes the server accept connections and close them without
	// answering, as a crashed service behind a load balancer does.
	Down bool
	// Unavailable answers every request with HTTP 503 and an
	// OperationOutcome, as during planned maintenance.
	Unavailable bool
	// DripInterval writes the body DripBytes at a time with this pause
	// between writes: a slow link or an overloaded server.
	DripInterval time.Duration
	DripBytes    int // default 256
}

const (
	defaultCount = 50
	maxCount     = 200
)

// Server is one synthetic organisation's FHIR R4 endpoint. It serves
// searches under /fhir: Patient by identifier and demographics, and each
// clinical resource type by patient (comma-separated alternatives), with
// Bundle.total, paging with opaque tokens, _sort by the clinical date ("-"
// for newest first) and _include of the Medications prescriptions name;
// and reads of Medication/{id} and Binary/{id} (a Binary as its own
// content unless FHIR JSON is asked for).
type Server struct {
	org  Org
	data *dataset

	mu     sync.Mutex
	faults Faults
	rnd    *rand.Rand
}

// NewServer generates the organisation's data and returns its server.
func NewServer(org Org) *Server {
	return &Server{org: org, data: generate(org), rnd: newRand("faults", org.ODS)}
}

// SetFaults replaces the server's faults; it takes effect for the next
// request.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Faults returns the server's current faults.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// fail decides whether this request is one of the ErrorRate failures.
func (s *Server) fail() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.ErrorRate <= 0 {
		return false
	}
	next := s.faults.Rand
	if next == nil {
		next = s.rnd.Float64
	}
	return next() < s.faults.ErrorRate
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := s.Faults()
	if f.Down {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without a response
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if f.Unavailable {
		w.Header().Set("Retry-After", "120")
		s.writeOutcome(w, http.StatusServiceUnavailable, "transient", "Service unavailable for planned maintenance")
		return
	}
	if s.fail() {
		s.writeOutcome(w, http.StatusInternalServerError, "exception", "Internal error (injected fault)")
		return
	}
	status, body := s.route(r)
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	if ct := s.binaryType(r); ct != "" && status == http.StatusOK {
		w.Header().Set("Content-Type", ct)
	}
	if f.DripInterval > 0 {
		w.WriteHeader(status)
		drip(r.Context(), w, body, f.DripInterval, f.DripBytes)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func drip(ctx context.Context, w http.ResponseWriter, body []byte, every time.Duration, n int) {
	if n <= 0 {
		n = 256
	}
	fl, _ := w.(http.Flusher)
	t := time.NewTicker(every)
	defer t.Stop()
	for len(body) > 0 {
		k := min(n, len(body))
		if _, err := w.Write(body[:k]); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		body = body[k:]
		if len(body) == 0 {
			return
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func (s *Server) writeOutcome(w http.ResponseWriter, status int, code, diagnostics string) {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(outcome(code, diagnostics))
}

func outcome(code, diagnostics string) []byte {
	b, _ := json.Marshal(operationOutcome{ResourceType: "OperationOutcome",
		Issue: []issue{{Severity: "error", Code: code, Diagnostics: diagnostics}}})
	return b
}

// route answers a request with a status and a FHIR JSON body.
func (s *Server) route(r *http.Request) (int, []byte) {
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, outcome("not-supported", "Only GET (search and read) is supported")
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/fhir/")
	if !ok {
		return http.StatusNotFound, outcome("not-found", "Unknown path")
	}
	q := r.URL.Query()
	switch rest {
	case "metadata":
		return http.StatusOK, s.capabilities()
	case "_page":
		tok, err := decodeToken(q.Get("token"))
		if err != nil {
			return http.StatusBadRequest, outcome("invalid", "Unknown or expired page token")
		}
		vals, err := url.ParseQuery(tok.Query)
		if err != nil {
			return http.StatusBadRequest, outcome("invalid", "Unknown or expired page token")
		}
		return s.search(r, tok.Type, vals, tok.Offset)
	}
	if typ, id, ok := strings.Cut(rest, "/"); ok {
		return s.read(r, typ, id)
	}
	return s.search(r, rest, q, 0)
}

// read answers GET [type]/[id] for the resources held by id (Medication,
// Binary). A Binary is sent as its own content unless FHIR JSON is asked
// for, as the FHIR REST API says.
func (s *Server) read(r *http.Request, typ, id string) (int, []byte) {
	raw, ok := s.data.shared[typ+"/"+id]
	if !ok {
		return http.StatusNotFound, outcome("not-found", "Resource "+typ+"/"+id+" is not known")
	}
	if typ == "Binary" && !strings.Contains(r.Header.Get("Accept"), "fhir+json") {
		var b binaryRes
		if err := json.Unmarshal(raw, &b); err == nil {
			return http.StatusOK, append([]byte(nil), b.Data...)
		}
	}
	return http.StatusOK, raw
}

// binaryType is the content type of a Binary answered as its content.
func (s *Server) binaryType(r *http.Request) string {
	rest := strings.TrimPrefix(r.URL.Path, "/fhir/")
	typ, id, ok := strings.Cut(rest, "/")
	if !ok || typ != "Binary" || strings.Contains(r.Header.Get("Accept"), "fhir+json") {
		return ""
	}
	var b binaryRes
	if json.Unmarshal(s.data.shared["Binary/"+id], &b) != nil {
		return ""
	}
	return b.ContentType
}

type pageToken struct {
	Type   string `json:"t"`
	Query  string `json:"q"`
	Offset int    `json:"o"`
}

func encodeToken(t pageToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (pageToken, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, err
	}
	err = json.Unmarshal(b, &t)
	if err == nil && t.Offset < 0 {
		err = fmt.Errorf("negative offset")
	}
	return t, err
}

// search runs a search and writes one page of it, from offset.
func (s *Server) search(r *http.Request, typ string, q url.Values, offset int) (int, []byte) {
	count := defaultCount
	if c := q.Get("_count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return http.StatusBadRequest, outcome("invalid", "_count must be a whole number")
		}
		count = min(n, maxCount)
	}
	var matches []res
	if typ == "Patient" {
		var err error
		if matches, err = s.searchPatients(q); err != nil {
			return http.StatusBadRequest, outcome("invalid", err.Error())
		}
	} else {
		if !slices.Contains(sortedTypes, typ) {
			return http.StatusNotFound, outcome("not-supported", "Resource type "+typ+" is not supported")
		}
		ref := q.Get("patient")
		if ref == "" {
			ref = q.Get("subject")
		}
		if ref == "" {
			return http.StatusBadRequest, outcome("invalid", "Search by patient is required")
		}
		// Alternatives are separated by commas (one patient's several
		// records, say).
		for ref := range strings.SplitSeq(ref, ",") {
			if pd, ok := s.data.byID[strings.TrimPrefix(ref, "Patient/")]; ok {
				matches = append(matches, pd.byType[typ]...)
			}
		}
		if sort := q.Get("_sort"); sort != "" {
			// Every type is sorted by its clinical date, whichever date
			// parameter is named; "-" is newest first.
			matches = slices.Clone(matches)
			desc := strings.HasPrefix(sort, "-")
			slices.SortStableFunc(matches, func(a, b res) int {
				if desc {
					return strings.Compare(b.date, a.date)
				}
				return strings.Compare(a.date, b.date)
			})
		}
	}
	include := slices.Contains(strings.Split(q.Get("_include"), ","), typ+":medication")

	base := "http://" + r.Host + "/fhir"
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"resourceType":"Bundle","type":"searchset","total":%d,"link":[`, len(matches))
	self := base + "/" + typ + "?" + q.Encode()
	if offset > 0 {
		self = base + "/_page?token=" + encodeToken(pageToken{typ, q.Encode(), offset})
	}
	writeLink(&b, "self", self)
	end := min(len(matches), offset+count)
	if end < len(matches) && count > 0 {
		b.WriteByte(',')
		writeLink(&b, "next", base+"/_page?token="+encodeToken(pageToken{typ, q.Encode(), end}))
	}
	b.WriteString(`],"entry":[`)
	included := map[string]bool{}
	for i := offset; i < end; i++ {
		if i > offset {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"fullUrl":%q,"resource":`, base+"/"+typ+"/"+matches[i].id)
		b.Write(matches[i].raw)
		b.WriteString(`,"search":{"mode":"match"}}`)
	}
	// _include: the Medications the page's prescriptions name, once each.
	for i := offset; include && i < end; i++ {
		for _, key := range matches[i].includes {
			if raw, ok := s.data.shared[key]; ok && !included[key] {
				included[key] = true
				fmt.Fprintf(&b, `,{"fullUrl":%q,"resource":`, base+"/"+key)
				b.Write(raw)
				b.WriteString(`,"search":{"mode":"include"}}`)
			}
		}
	}
	b.WriteString("]}")
	return http.StatusOK, b.Bytes()
}

func writeLink(b *bytes.Buffer, rel, u string) {
	l, _ := json.Marshal(struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	}{rel, u})
	b.Write(l)
}

// searchPatients supports the Patient search parameters the connector uses,
// with FHIR string matching: case-insensitive and "starts with".
func (s *Server) searchPatients(q url.Values) ([]res, error) {
	ident := q.Get("identifier")
	identSys, identVal, found := strings.Cut(ident, "|")
	if !found {
		identSys, identVal = "", ident
	}
	family := strings.ToLower(strings.TrimSpace(q.Get("family")))
	given := strings.ToLower(strings.TrimSpace(q.Get("given")))
	birth := strings.TrimPrefix(q.Get("birthdate"), "eq")
	gender := q.Get("gender")
	postcode := normPostcode(q.Get("address-postalcode"))
	if ident == "" && family == "" && birth == "" {
		return nil, fmt.Errorf("search by identifier, or by family name and birthdate")
	}
	var out []res
	for _, pd := range s.data.patients {
		p := pd.p
		if ident != "" && ((identSys != "" && identSys != sysNHS) || identVal != p.nhs) {
			continue
		}
		if family != "" && !strings.HasPrefix(strings.ToLower(p.family), family) {
			continue
		}
		if given != "" && !anyPrefix(p.given, given) {
			continue
		}
		if birth != "" && p.birth.String() != birth {
			continue
		}
		if gender != "" && p.gender != gender {
			continue
		}
		// A restricted patient's address is not disclosed, so it cannot
		// be matched on either.
		if postcode != "" && (p.restricted || !strings.HasPrefix(normPostcode(p.postcode), postcode)) {
			continue
		}
		out = append(out, res{id: pd.id, raw: pd.raw})
	}
	return out, nil
}

func anyPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(strings.ToLower(n), prefix) {
			return true
		}
	}
	return false
}

func normPostcode(s string) string { return strings.ToUpper(strings.ReplaceAll(s, " ", "")) }

func (s *Server) capabilities() []byte {
	type param struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	type interaction struct {
		Code string `json:"code"`
	}
	type resource struct {
		Type          string        `json:"type"`
		Interaction   []interaction `json:"interaction,omitempty"`
		SearchInclude []string      `json:"searchInclude,omitempty"`
		SearchParam   []param       `json:"searchParam,omitempty"`
	}
	rs := []resource{{Type: "Patient", SearchParam: []param{{"identifier", "token"}, {"family", "string"}, {"given", "string"},
		{"birthdate", "date"}, {"gender", "token"}, {"address-postalcode", "string"}}}}
	for _, t := range sortedTypes {
		r := resource{Type: t, SearchParam: []param{{"patient", "reference"}, {"subject", "reference"}}}
		if t == "MedicationRequest" || t == "MedicationStatement" {
			r.SearchInclude = []string{t + ":medication"}
		}
		rs = append(rs, r)
	}
	rs = append(rs, resource{Type: "Medication", Interaction: []interaction{{"read"}}}, resource{Type: "Binary", Interaction: []interaction{{"read"}}})
	b, _ := json.Marshal(struct {
		ResourceType string   `json:"resourceType"`
		Status       string   `json:"status"`
		Kind         string   `json:"kind"`
		FHIRVersion  string   `json:"fhirVersion"`
		Format       []string `json:"format"`
		Publisher    string   `json:"publisher"`
		Rest         []struct {
			Mode     string     `json:"mode"`
			Resource []resource `json:"resource"`
		} `json:"rest"`
	}{ResourceType: "CapabilityStatement", Status: "active", Kind: "instance", FHIRVersion: "4.0.1",
		Format: []string{"application/fhir+json"}, Publisher: s.org.Name + " (synthetic)",
		Rest: []struct {
			Mode     string     `json:"mode"`
			Resource []resource `json:"resource"`
		}{{Mode: "server", Resource: rs}}})
	return b
}
