// Package fhirtest is a small FHIR R4 server for tests: an http.Handler to
// run with httptest on loopback, loaded with resources, that answers the
// requests the FHIR connector makes. It is a test server, never a
// production one: it keeps everything in memory, checks no credentials and
// implements only the search parameters below.
//
//   - GET [type]?patient=|subject= a patient reference ("Patient/x", "x" or
//     a URL ending "Patient/x"), comma-separated for alternatives; a
//     resource belongs to a patient through its `patient` or `subject`
//     element.
//   - GET Patient?identifier=system|value (or a bare value), and family,
//     given, birthdate, gender with FHIR's string matching.
//   - _count, paging by Bundle.link next (absolute URLs on the request's
//     origin, or relative ones with Options.RelativeLinks), Bundle.total.
//   - _sort by the type's clinical date parameters (sortParams), "-" for
//     newest first, resources without the date last; _lastUpdated too.
//   - _include=MedicationRequest:medication, MedicationStatement:medication,
//     DiagnosticReport:result: the referenced resources are added to the
//     page with search.mode "include".
//   - GET [type]/[id]: a read. A Binary is answered with its own content and
//     contentType unless the request accepts application/fhir+json.
//
// Unknown parameters are ignored, as lenient servers do, or rejected with
// 400 and an OperationOutcome in Options.Strict mode. SetFault makes the
// searches (and reads) of one type fail, answer an OperationOutcome or wait.
package fhirtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options change how the server answers.
type Options struct {
	// Strict rejects search parameters, _sort keys and _include values the
	// server does not know with 400 and an OperationOutcome.
	Strict bool
	// RelativeLinks writes Bundle.link URLs relative to the server's root
	// ("Observation?patient=..."), as some servers do.
	RelativeLinks bool
	// DefaultCount is the page size when the request has no _count
	// (default 20); MaxCount caps _count (default 100).
	DefaultCount, MaxCount int
	// NoTotal leaves Bundle.total out of search answers.
	NoTotal bool
}

// Fault is how requests for one resource type misbehave.
type Fault struct {
	// Delay is waited before answering (ending early if the client gives up).
	Delay time.Duration
	// Status, when not zero, answers with this HTTP status and an
	// OperationOutcome carrying Diagnostics (200 sends an OperationOutcome
	// where a Bundle was expected).
	Status      int
	Diagnostics string
}

// Server holds resources by type and id and answers FHIR requests for them.
// It is safe for concurrent use.
type Server struct {
	opts Options

	mu        sync.Mutex
	resources map[string]json.RawMessage // "Type/id" -> resource
	order     []string                   // keys in the order loaded
	faults    map[string]Fault
	requests  []string
}

// New returns an empty server.
func New(opts Options) *Server {
	if opts.DefaultCount <= 0 {
		opts.DefaultCount = 20
	}
	if opts.MaxCount <= 0 {
		opts.MaxCount = 100
	}
	return &Server{opts: opts, resources: map[string]json.RawMessage{}, faults: map[string]Fault{}}
}

// Load adds a resource, or every entry of a Bundle of type collection,
// document, transaction, batch or searchset. An entry without an id gets
// one; references between entries by fullUrl (urn:uuid:..., or an absolute
// URL), in references and in uri and url elements, are rewritten to
// "Type/id", as a server does when it stores a transaction. A resource
// with the key of one already loaded replaces it.
func (s *Server) Load(raw []byte) error {
	var rt struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(raw, &rt); err != nil {
		return fmt.Errorf("fhirtest: %w", err)
	}
	if rt.ResourceType == "" {
		return errors.New("fhirtest: not a FHIR resource (no resourceType)")
	}
	if rt.ResourceType != "Bundle" {
		return s.Put(raw)
	}
	var head struct {
		ID    string `json:"id"`
		Type  string `json:"type"`
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("fhirtest: %w", err)
	}
	switch head.Type {
	case "collection", "document", "transaction", "batch", "searchset":
	default:
		return fmt.Errorf("fhirtest: Bundle of type %q is not loaded", head.Type)
	}
	// First give every entry its key, then rewrite references by fullUrl.
	keyOf := map[string]string{}
	entries := make([]map[string]any, 0, len(head.Entry))
	for i, e := range head.Entry {
		if len(e.Resource) == 0 {
			continue
		}
		r, err := decode(e.Resource)
		if err != nil {
			return fmt.Errorf("fhirtest: entry %d: %w", i, err)
		}
		typ, _ := r["resourceType"].(string)
		id, _ := r["id"].(string)
		if typ == "" {
			return fmt.Errorf("fhirtest: entry %d has no resourceType", i)
		}
		if id == "" {
			id = fmt.Sprintf("%s-%d", strings.ToLower(typ), i+1)
			if head.ID != "" {
				id = head.ID + "-" + id
			}
			r["id"] = id
		}
		if e.FullURL != "" {
			keyOf[e.FullURL] = typ + "/" + id
		}
		entries = append(entries, r)
	}
	for _, r := range entries {
		rewriteRefs(r, keyOf)
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("fhirtest: %w", err)
		}
		if err := s.Put(b); err != nil {
			return err
		}
	}
	return nil
}

// Put adds or replaces one resource (not a Bundle's entries: use Load).
func (s *Server) Put(raw []byte) error {
	r, err := decode(raw)
	if err != nil {
		return fmt.Errorf("fhirtest: %w", err)
	}
	typ, _ := r["resourceType"].(string)
	id, _ := r["id"].(string)
	if typ == "" || id == "" {
		return errors.New("fhirtest: a resource needs a resourceType and an id")
	}
	key := typ + "/" + id
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.resources[key]; !ok {
		s.order = append(s.order, key)
	}
	s.resources[key] = bytes.Clone(raw)
	return nil
}

// MustLoad is Load for test set-up: it panics on an error.
func (s *Server) MustLoad(raws ...[]byte) *Server {
	for _, raw := range raws {
		if err := s.Load(raw); err != nil {
			panic(err)
		}
	}
	return s
}

// Resource returns the resource held under "Type/id", or nil.
func (s *Server) Resource(key string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resources[key]
}

// Keys lists the keys ("Type/id") of the resources of type typ (every
// type when typ is ""), in the order they were loaded.
func (s *Server) Keys(typ string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, k := range s.order {
		if typ == "" || strings.HasPrefix(k, typ+"/") {
			out = append(out, k)
		}
	}
	return out
}

// ForPatient lists the keys of the resources whose patient or subject is
// Patient/id, in the order they were loaded.
func (s *Server) ForPatient(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, k := range s.order {
		if slices.Contains(patientsOf(s.resources[k]), id) {
			out = append(out, k)
		}
	}
	return out
}

// SetFault makes requests for resources of type typ misbehave as f says;
// the zero Fault clears it.
func (s *Server) SetFault(typ string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == (Fault{}) {
		delete(s.faults, typ)
		return
	}
	s.faults[typ] = f
}

// Requests lists the requests answered so far, as "GET /path?query".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	s.mu.Unlock()
	if r.Method != http.MethodGet {
		writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "only GET is supported")
		return
	}
	path := strings.Trim(r.URL.Path, "/")
	typ, id, isRead := strings.Cut(path, "/")
	if typ == "" || strings.Contains(id, "/") {
		writeOutcome(w, http.StatusNotFound, "not-found", "unknown path")
		return
	}
	s.mu.Lock()
	f := s.faults[typ]
	s.mu.Unlock()
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if f.Status != 0 {
		writeOutcome(w, f.Status, "exception", f.Diagnostics)
		return
	}
	if isRead {
		s.read(w, r, typ+"/"+id)
		return
	}
	status, body := s.search(r, typ)
	writeJSON(w, status, body)
}

// read answers GET [type]/[id].
func (s *Server) read(w http.ResponseWriter, r *http.Request, key string) {
	raw := s.Resource(key)
	if raw == nil {
		writeOutcome(w, http.StatusNotFound, "not-found", "no resource "+key)
		return
	}
	if strings.HasPrefix(key, "Binary/") && !strings.Contains(r.Header.Get("Accept"), "fhir+json") {
		// A Binary read with another Accept returns the content itself.
		var b struct {
			ContentType string `json:"contentType"`
			Data        []byte `json:"data"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			writeOutcome(w, http.StatusInternalServerError, "exception", "Binary cannot be decoded")
			return
		}
		w.Header().Set("Content-Type", b.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(b.Data)))
		w.Write(b.Data)
		return
	}
	writeJSON(w, http.StatusOK, raw)
}

// sortParams are the date search parameters each type can be sorted by,
// with the elements they read (the first one present counts).
var sortParams = map[string]map[string][]string{
	"Observation":         {"date": {"effectiveDateTime", "effectivePeriod.start", "effectiveInstant"}},
	"DiagnosticReport":    {"date": {"effectiveDateTime", "effectivePeriod.start"}, "issued": {"issued"}},
	"ImagingStudy":        {"started": {"started"}},
	"MedicationRequest":   {"authoredon": {"authoredOn"}},
	"MedicationStatement": {"effective": {"effectiveDateTime", "effectivePeriod.start"}},
	"Encounter":           {"date": {"period.start"}},
	"Procedure":           {"date": {"performedDateTime", "performedPeriod.start"}},
	"Condition":           {"onset-date": {"onsetDateTime", "onsetPeriod.start"}, "recorded-date": {"recordedDate"}},
	"AllergyIntolerance":  {"date": {"recordedDate"}},
	"DocumentReference":   {"date": {"date"}},
	"Immunization":        {"date": {"occurrenceDateTime"}},
	"Flag":                {"date": {"period.start"}},
}

// includes are the _include values served: the element holding the
// reference(s) to add.
var includes = map[string]string{
	"MedicationRequest:medication":   "medicationReference",
	"MedicationStatement:medication": "medicationReference",
	"DiagnosticReport:result":        "result",
}

// known are the parameters every search accepts; patientParams those of
// patient searches.
var (
	known         = []string{"_count", "_sort", "_include", "_offset", "_total", "_format"}
	patientParams = []string{"identifier", "family", "given", "birthdate", "gender"}
)

type match struct {
	key string
	raw json.RawMessage
}

// search answers GET [type]?... with one page of a searchset Bundle.
func (s *Server) search(r *http.Request, typ string) (int, []byte) {
	q := r.URL.Query()
	for p := range q {
		ok := slices.Contains(known, p) || (typ == "Patient" && slices.Contains(patientParams, p)) ||
			(typ != "Patient" && (p == "patient" || p == "subject"))
		if !ok && s.opts.Strict {
			return http.StatusBadRequest, outcome("not-supported", "unknown search parameter "+p)
		}
	}
	count := s.opts.DefaultCount
	if c := q.Get("_count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return http.StatusBadRequest, outcome("invalid", "_count must be a whole number")
		}
		count = min(n, s.opts.MaxCount)
	}
	offset := 0
	if o := q.Get("_offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			return http.StatusBadRequest, outcome("invalid", "_offset must be a whole number")
		}
		offset = n
	}
	var incl []string
	for _, v := range q["_include"] {
		for v := range strings.SplitSeq(v, ",") {
			if el, ok := includes[v]; ok && strings.HasPrefix(v, typ+":") {
				incl = append(incl, el)
			} else if s.opts.Strict {
				return http.StatusBadRequest, outcome("not-supported", "unknown _include "+v)
			}
		}
	}

	var matches []match
	if typ == "Patient" {
		matches = s.patients(q)
	} else {
		want := patientIDs(append(q["patient"], q["subject"]...))
		if len(want) == 0 {
			return http.StatusBadRequest, outcome("invalid", "search by patient or subject is required")
		}
		s.mu.Lock()
		for _, k := range s.order {
			if strings.HasPrefix(k, typ+"/") && slices.ContainsFunc(patientsOf(s.resources[k]), func(id string) bool {
				return slices.Contains(want, id)
			}) {
				matches = append(matches, match{k, s.resources[k]})
			}
		}
		s.mu.Unlock()
	}
	if v := q.Get("_sort"); v != "" {
		if err := sortMatches(typ, v, matches, s.opts.Strict); err != nil {
			return http.StatusBadRequest, outcome("not-supported", err.Error())
		}
	}

	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"searchset"`)
	if !s.opts.NoTotal {
		fmt.Fprintf(&b, `,"total":%d`, len(matches))
	}
	b.WriteString(`,"link":[`)
	writeLink(&b, "self", s.link(r, typ, q))
	end := min(len(matches), offset+count)
	if end < len(matches) && count > 0 {
		next := cloneValues(q)
		next.Set("_offset", strconv.Itoa(end))
		b.WriteByte(',')
		writeLink(&b, "next", s.link(r, typ, next))
	}
	b.WriteString(`],"entry":[`)
	origin := origin(r)
	seen := map[string]bool{}
	first := true
	entry := func(key string, raw json.RawMessage, mode string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, `{"fullUrl":%q,"resource":`, origin+"/"+key)
		b.Write(raw)
		fmt.Fprintf(&b, `,"search":{"mode":%q}}`, mode)
	}
	if offset < end {
		for _, m := range matches[offset:end] {
			seen[m.key] = true
			entry(m.key, m.raw, "match")
		}
		for _, m := range matches[offset:end] {
			for _, el := range incl {
				for _, ref := range references(m.raw, el) {
					key := localKey(ref)
					if seen[key] {
						continue
					}
					if raw := s.Resource(key); raw != nil {
						seen[key] = true
						entry(key, raw, "include")
					}
				}
			}
		}
	}
	b.WriteString("]}")
	return http.StatusOK, b.Bytes()
}

// link is a Bundle.link URL for a search of typ with query q.
func (s *Server) link(r *http.Request, typ string, q url.Values) string {
	rel := typ + "?" + q.Encode()
	if s.opts.RelativeLinks {
		return rel
	}
	return origin(r) + "/" + rel
}

func origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// patients answers a Patient search.
func (s *Server) patients(q url.Values) []match {
	var out []match
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.order {
		if !strings.HasPrefix(k, "Patient/") {
			continue
		}
		var p struct {
			Identifier []struct{ System, Value string }
			Name       []struct {
				Family string
				Given  []string
			}
			BirthDate string
			Gender    string
		}
		json.Unmarshal(s.resources[k], &p)
		if v := q.Get("identifier"); v != "" {
			sys, val, hasSys := strings.Cut(v, "|")
			if !hasSys {
				sys, val = "", v
			}
			if !slices.ContainsFunc(p.Identifier, func(i struct{ System, Value string }) bool {
				return i.Value == val && (sys == "" || i.System == sys)
			}) {
				continue
			}
		}
		family, given := strings.ToLower(q.Get("family")), strings.ToLower(q.Get("given"))
		if family != "" && !slices.ContainsFunc(p.Name, func(n struct {
			Family string
			Given  []string
		}) bool {
			return strings.HasPrefix(strings.ToLower(n.Family), family)
		}) {
			continue
		}
		if given != "" && !slices.ContainsFunc(p.Name, func(n struct {
			Family string
			Given  []string
		}) bool {
			return slices.ContainsFunc(n.Given, func(g string) bool { return strings.HasPrefix(strings.ToLower(g), given) })
		}) {
			continue
		}
		if v := strings.TrimPrefix(q.Get("birthdate"), "eq"); v != "" && p.BirthDate != v {
			continue
		}
		if v := q.Get("gender"); v != "" && p.Gender != v {
			continue
		}
		out = append(out, match{k, s.resources[k]})
	}
	return out
}

// sortMatches sorts by a _sort value: comma-separated parameters, each
// "-" prefixed for descending. Resources without the date go last.
func sortMatches(typ, v string, ms []match, strict bool) error {
	type key struct {
		paths []string
		desc  bool
	}
	var keys []key
	for p := range strings.SplitSeq(v, ",") {
		desc := strings.HasPrefix(p, "-")
		p = strings.TrimPrefix(p, "-")
		paths, ok := sortParams[typ][p]
		if p == "_lastUpdated" {
			paths, ok = []string{"meta.lastUpdated"}, true
		}
		if !ok {
			if strict {
				return fmt.Errorf("unknown _sort parameter %s for %s", p, typ)
			}
			continue
		}
		keys = append(keys, key{paths, desc})
	}
	if len(keys) == 0 {
		return nil
	}
	dates := make(map[string][]time.Time, len(ms))
	for _, m := range ms {
		r, _ := decode(m.raw)
		for _, k := range keys {
			dates[m.key] = append(dates[m.key], dateAt(r, k.paths))
		}
	}
	slices.SortStableFunc(ms, func(a, b match) int {
		for i, k := range keys {
			ta, tb := dates[a.key][i], dates[b.key][i]
			switch {
			case ta.Equal(tb):
				continue
			case ta.IsZero():
				return 1
			case tb.IsZero():
				return -1
			case k.desc:
				return tb.Compare(ta)
			default:
				return ta.Compare(tb)
			}
		}
		return 0
	})
	return nil
}

// dateAt reads the first of the dotted paths present in r as a time; a
// partial date counts as its first instant. Zero when none is present.
func dateAt(r map[string]any, paths []string) time.Time {
	for _, p := range paths {
		var v any = r
		for part := range strings.SplitSeq(p, ".") {
			obj, _ := v.(map[string]any)
			v = obj[part]
		}
		s, _ := v.(string)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", time.DateOnly, "2006-01", "2006"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// patientsOf lists the ids of the patients a resource belongs to, through
// its patient or subject element.
func patientsOf(raw json.RawMessage) []string {
	var r struct {
		Patient *struct{ Reference string }
		Subject *struct{ Reference string }
	}
	// A resource whose subject is of another shape (a list, say) still
	// yields its patient element.
	_ = json.Unmarshal(raw, &r)
	var out []string
	for _, ref := range []*struct{ Reference string }{r.Patient, r.Subject} {
		if ref == nil {
			continue
		}
		if typ, id, ok := strings.Cut(localKey(ref.Reference), "/"); ok && typ == "Patient" {
			out = append(out, id)
		}
	}
	return out
}

// patientIDs reads the values of patient/subject parameters: references
// ("Patient/x", a URL ending so) or bare ids, comma-separated.
func patientIDs(values []string) []string {
	var out []string
	for _, v := range values {
		for ref := range strings.SplitSeq(v, ",") {
			if !strings.Contains(ref, "/") {
				out = append(out, ref)
			} else if typ, id, _ := strings.Cut(localKey(ref), "/"); typ == "Patient" {
				out = append(out, id)
			}
		}
	}
	return out
}

// localKey turns a reference ("Type/id", "http://host/fhir/Type/id",
// "Type/id/_history/2") into "Type/id"; other references come back as
// they were.
func localKey(ref string) string {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 {
		return ref
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// references reads the reference strings of element el (an object or a
// list of objects with a reference) of a raw resource.
func references(raw json.RawMessage, el string) []string {
	r, _ := decode(raw)
	var out []string
	add := func(v any) {
		if obj, ok := v.(map[string]any); ok {
			if s, ok := obj["reference"].(string); ok && !strings.HasPrefix(s, "#") {
				out = append(out, s)
			}
		}
	}
	switch v := r[el].(type) {
	case []any:
		for _, x := range v {
			add(x)
		}
	default:
		add(v)
	}
	return out
}

// rewriteRefs replaces every string naming a key of keyOf (a Bundle
// entry's fullUrl) with the entry's "Type/id": references, and, as FHIR's
// transaction rules say, uri and url elements too (an attachment's url
// naming a Binary in the same Bundle).
func rewriteRefs(v any, keyOf map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok {
				if key, ok := keyOf[s]; ok {
					v[k] = key
				}
				continue
			}
			rewriteRefs(x, keyOf)
		}
	case []any:
		for i, x := range v {
			if s, ok := x.(string); ok {
				if key, ok := keyOf[s]; ok {
					v[i] = key
				}
				continue
			}
			rewriteRefs(x, keyOf)
		}
	}
}

// decode reads a resource keeping its numbers exactly as written.
func decode(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var r map[string]any
	if err := d.Decode(&r); err != nil {
		return nil, err
	}
	return r, nil
}

func writeLink(b *bytes.Buffer, rel, u string) {
	l, _ := json.Marshal(struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	}{rel, u})
	b.Write(l)
}

func outcome(code, diagnostics string) []byte {
	type issue struct {
		Severity    string `json:"severity"`
		Code        string `json:"code"`
		Diagnostics string `json:"diagnostics,omitempty"`
	}
	b, _ := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []issue `json:"issue"`
	}{"OperationOutcome", []issue{{"error", code, diagnostics}}})
	return b
}

func writeOutcome(w http.ResponseWriter, status int, code, diagnostics string) {
	writeJSON(w, status, outcome(code, diagnostics))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
