// Package fhir is a connector for sources that speak FHIR R4 REST with UK
// Core identifiers: it finds patients by NHS number or demographics and reads
// their record (results, imaging, medicines, encounters, procedures,
// problems, allergies, documents) into the connectors model.
//
// It talks only to the configured base URL, never follows paging links to
// another origin, and never logs: errors name the source and what went
// wrong, never the patient or their data.
package fhir

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// Identifier and code systems used on the wire.
const (
	SystemNHSNumber = "https://fhir.nhs.uk/Id/nhs-number"
	SystemODS       = "https://fhir.nhs.uk/Id/ods-organization-code"
)

const (
	// pageSize is the _count asked for; servers may send fewer per page.
	pageSize = 100
	// maxParallel bounds the requests one record fetch runs at once, so
	// that opening a record does not hammer a source with a dozen
	// requests; six lets the twelve searches go in two rounds.
	maxParallel = 6
	mediaType   = "application/fhir+json"
)

// recordTypes are the resource types read for a record, in the order their
// resources are given to the mapper.
var recordTypes = []string{
	"Observation", "ImagingStudy", "DiagnosticReport", "MedicationRequest",
	"MedicationStatement", "Encounter", "Procedure", "Condition",
	"AllergyIntolerance", "DocumentReference", "Immunization", "Flag",
}

// sortBy is the date search parameter each record type is sorted by, newest
// first (_sort=-param), so that when the page cap stops a search it is the
// oldest that are left out. The names are FHIR R4's search parameters for
// each resource's clinical date.
var sortBy = map[string]string{
	"Observation": "date", "ImagingStudy": "started", "DiagnosticReport": "date",
	"MedicationRequest": "authoredon", "MedicationStatement": "effective", "Encounter": "date",
	"Procedure": "date", "Condition": "recorded-date", "AllergyIntolerance": "date",
	"DocumentReference": "date", "Immunization": "date", "Flag": "date",
}

// includes asks for the Medication a prescription or statement names by
// reference in the same answer, where the server supports _include.
var includes = map[string]string{
	"MedicationRequest":   "MedicationRequest:medication",
	"MedicationStatement": "MedicationStatement:medication",
}

// kindOf is the kind of entry each record type's resources become.
var kindOf = map[string]connectors.Kind{
	"Observation": connectors.KindResult, "ImagingStudy": connectors.KindImaging,
	"DiagnosticReport": connectors.KindResult, "MedicationRequest": connectors.KindMedication,
	"MedicationStatement": connectors.KindMedication, "Encounter": connectors.KindEncounter,
	"Procedure": connectors.KindProcedure, "Condition": connectors.KindProblem,
	"AllergyIntolerance": connectors.KindAllergy, "DocumentReference": connectors.KindDocument,
	"Immunization": connectors.KindImmunization, "Flag": connectors.KindAlert,
}

// Client reads one FHIR R4 server. It is safe for concurrent use.
type Client struct {
	cfg   connectors.Config
	src   connectors.Source
	base  *url.URL // without a trailing slash
	http  *http.Client
	token string
	now   func() time.Time
}

var _ connectors.Connector = (*Client)(nil)

// New returns a client for the source cfg describes. getenv reads the
// environment (os.Getenv in production) so that a bearer token never has to
// be in the configuration file; nil means an empty environment. It fails when the configuration is invalid,
// the token variable is empty, or a certificate file cannot be loaded.
func New(cfg connectors.Config, getenv func(string) string) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fhir: %w", err)
	}
	if cfg.Kind != connectors.SourceKindFHIR {
		return nil, fmt.Errorf("fhir: source %q: kind: must be %q, got %q", cfg.Name, connectors.SourceKindFHIR, cfg.Kind)
	}
	cfg = cfg.WithDefaults()
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("fhir: source %q: base_url: %w", cfg.Name, err)
	}
	c := &Client{cfg: cfg, src: cfg.Source(), base: base, now: time.Now}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("fhir: source %q: ca_file: %w", cfg.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("fhir: source %q: ca_file: no PEM certificates in %s", cfg.Name, cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	switch cfg.Auth.Type {
	case connectors.AuthBearer:
		c.token = strings.TrimSpace(getenv(cfg.Auth.TokenEnv))
		if c.token == "" {
			return nil, fmt.Errorf("fhir: source %q: auth.token_env: environment variable %s is empty", cfg.Name, cfg.Auth.TokenEnv)
		}
	case connectors.AuthMTLS:
		cert, err := tls.LoadX509KeyPair(cfg.Auth.CertFile, cfg.Auth.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("fhir: source %q: auth.cert_file/key_file: %w", cfg.Name, err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.MaxIdleConnsPerHost = maxParallel
	// No http.Client.Timeout: every request runs under a context deadline
	// (cfg.Timeout), which also bounds reading the body. Requests carry
	// credentials, so a redirect is followed only within the source.
	c.http = &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !c.sameOrigin(req.URL) {
			return errors.New("redirect to another server")
		}
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	return c, nil
}

// Source names the organisation the client reads.
func (c *Client) Source() connectors.Source { return c.src }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// FindPatients searches the source's Patient resources: by NHS number when
// q has one, otherwise by family name, given name, birth date, gender and
// postcode. Restricted patients come back redacted.
func (c *Client) FindPatients(ctx context.Context, q connectors.Query) ([]connectors.Patient, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("fhir: %w", err)
	}
	params := url.Values{}
	if q.NHSNumber != "" {
		n, _ := connectors.ParseNHSNumber(q.NHSNumber) // checked by Validate
		params.Set("identifier", SystemNHSNumber+"|"+n)
	} else {
		params.Set("family", strings.TrimSpace(q.Family))
		if g := strings.TrimSpace(q.Given); g != "" {
			params.Set("given", g)
		}
		params.Set("birthdate", "eq"+q.BirthDate.String())
		if q.Gender != "" {
			params.Set("gender", q.Gender)
		}
		if pc := strings.TrimSpace(q.Postcode); pc != "" {
			params.Set("address-postalcode", pc)
		}
	}
	patients, _, _, err := c.searchPatients(ctx, params)
	connectors.Clean(patients)
	return patients, err
}

// searchPatients runs a Patient search and returns the patients with their
// logical ids, and how many Patient resources were skipped as unreadable.
func (c *Client) searchPatients(ctx context.Context, params url.Values) ([]connectors.Patient, []string, int, error) {
	var (
		patients []connectors.Patient
		ids      []string
		skipped  int
	)
	_, err := c.search(ctx, c.searchURL("Patient", params), func(raw json.RawMessage, _ string) {
		if resourceType(raw) != "Patient" {
			return // e.g. an OperationOutcome with search warnings
		}
		p, id, err := mapPatient(raw, c.src)
		if err != nil {
			skipped++
			return
		}
		patients = append(patients, p)
		ids = append(ids, id)
	})
	if err != nil {
		return nil, nil, 0, err
	}
	return patients, ids, skipped, nil
}

func (c *Client) searchURL(typ string, params url.Values) string {
	u := *c.base
	u.Path += "/" + typ
	params.Set("_count", strconv.Itoa(pageSize))
	u.RawQuery = params.Encode()
	return u.String()
}

// bundle is the envelope of a search answer, decoded loosely: entries stay
// raw so that one bad resource cannot spoil the page. The same shape also
// catches an OperationOutcome sent instead of a Bundle.
type bundle struct {
	ResourceType string `json:"resourceType"`
	Total        *int   `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []entry `json:"entry"`
	Issue []issue `json:"issue"`
}

type entry struct {
	Resource json.RawMessage `json:"resource"`
	Search   struct {
		// Mode is "match", "include" or "outcome" (FHIR R4
		// SearchEntryMode); servers may leave it out.
		Mode string `json:"mode"`
	} `json:"search"`
}

type issue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics"`
	Details     struct {
		Text string `json:"text"`
	} `json:"details"`
}

// searchInfo is what a search learnt besides its resources.
type searchInfo struct {
	// pages is how many pages were read.
	pages int
	// truncated: the page cap stopped the paging while the server had
	// more.
	truncated bool
	// total is the first page's Bundle.total, or -1 when not given.
	total int
}

// search fetches u and every following page, handing each entry's resource
// and its search mode to yield. It follows Bundle.link[next] as the server
// gave it, never building page URLs itself, and stops after cfg.MaxPages
// pages, reporting truncated when the server had more. cfg.Timeout bounds
// each page's request, not the whole search.
func (c *Client) search(ctx context.Context, u string, yield func(raw json.RawMessage, mode string)) (info searchInfo, err error) {
	info.total = -1
	for page := 1; ; page++ {
		body, err := c.get(ctx, u)
		if err != nil {
			return info, err
		}
		b, unreadable, err := decodeBundle(body)
		if err != nil {
			return info, c.malformed("response is not a FHIR Bundle", err)
		}
		switch b.ResourceType {
		case "Bundle":
		case "OperationOutcome":
			return info, &connectors.SourceError{Source: c.src, Kind: connectors.ErrRefused,
				Detail: outcomeDetail(b.Issue), Err: errors.New("OperationOutcome instead of Bundle")}
		default:
			return info, c.malformed("response is not a FHIR Bundle", fmt.Errorf("resourceType %q", b.ResourceType))
		}
		info.pages = page
		if page == 1 && b.Total != nil && *b.Total >= 0 {
			info.total = *b.Total
		}
		// An entry that could not be decoded at all reaches the mapper as
		// an empty resource, which it counts as unreadable.
		for range unreadable {
			yield(json.RawMessage(`{}`), "")
		}
		for _, e := range b.Entry {
			if len(e.Resource) > 0 {
				yield(e.Resource, e.Search.Mode)
			}
		}
		next := ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				next = l.URL
				break
			}
		}
		if next == "" {
			return info, nil
		}
		if page >= c.cfg.MaxPages {
			info.truncated = true
			return info, nil
		}
		if u, err = c.nextURL(u, next); err != nil {
			return info, err
		}
	}
}

// nextURL resolves a next link against the page it came from and refuses
// links to another origin: the request carries credentials, and a server
// must not be able to send them elsewhere.
func (c *Client) nextURL(current, next string) (string, error) {
	cur, err := url.Parse(current)
	if err != nil {
		return "", c.malformed("bad paging link", err)
	}
	n, err := cur.Parse(next)
	if err != nil {
		return "", c.malformed("bad paging link", err)
	}
	if n.Scheme != c.base.Scheme || n.Host != c.base.Host {
		return "", c.malformed("paging link points to another server", fmt.Errorf("next link origin %s://%s", n.Scheme, n.Host))
	}
	return n.String(), nil
}

// get performs one search or read and returns the body of a 2xx answer,
// read through the size cap. Failures are *connectors.SourceError.
func (c *Client) get(ctx context.Context, u string) ([]byte, error) {
	body, _, err := c.fetchURL(ctx, u, mediaType, c.cfg.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(body), nil
}

// fetchURL performs one GET under cfg.Timeout, which bounds the request and
// reading its body, and returns the body of a 2xx answer, at most maxBytes,
// with its Content-Type. Failures are *connectors.SourceError, whose Detail
// is built from structured parts of the answer only.
func (c *Client) fetchURL(ctx context.Context, u, accept string, maxBytes int64) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", c.malformed("bad request URL", err)
	}
	req.Header.Set("Accept", accept)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", c.sourceError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, "", c.sourceError(ctx, err)
	}
	tooLarge := int64(len(body)) > maxBytes
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &connectors.SourceError{Source: c.src, Kind: connectors.ErrStatus, Status: resp.StatusCode,
			Err: fmt.Errorf("HTTP %d", resp.StatusCode)}
		var oo bundle
		if !tooLarge && json.Unmarshal(body, &oo) == nil && oo.ResourceType == "OperationOutcome" {
			se.Detail = outcomeDetail(oo.Issue)
		}
		return nil, "", se
	}
	if tooLarge {
		return nil, "", &connectors.SourceError{Source: c.src, Kind: connectors.ErrMalformed,
			Detail: fmt.Sprintf("response larger than %d bytes", maxBytes), Err: errTooLarge}
	}
	return body, resp.Header.Get("Content-Type"), nil
}

var errTooLarge = errors.New("response too large")

// sourceError classifies a transport failure. The operation's own context
// decides between timeout and cancellation, because the transport reports
// both in several ways (url.Error, net.Error, context errors).
func (c *Client) sourceError(ctx context.Context, err error) error {
	kind := connectors.ErrUnavailable
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		kind = connectors.ErrTimeout
		if !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
	case errors.Is(ctx.Err(), context.Canceled):
		kind = connectors.ErrCanceled
	case errors.As(err, &ne) && ne.Timeout():
		kind = connectors.ErrTimeout
	}
	return &connectors.SourceError{Source: c.src, Kind: kind, Err: err}
}

func (c *Client) malformed(detail string, err error) error {
	return &connectors.SourceError{Source: c.src, Kind: connectors.ErrMalformed, Detail: detail, Err: err}
}

// outcomeDetail summarises an OperationOutcome for the logs from its
// structured parts only: "OperationOutcome error not-supported". The
// diagnostics and details text are left out: they are the source's own
// words and may quote the request or the patient.
func outcomeDetail(issues []issue) string {
	var parts []string
	for _, i := range issues {
		if len(parts) == 3 {
			break
		}
		if p := strings.TrimSpace(codeWord(i.Severity) + " " + codeWord(i.Code)); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "OperationOutcome"
	}
	return "OperationOutcome " + strings.Join(parts, ", ")
}

// codeWord keeps a FHIR code if it looks like one (letters, digits and
// hyphens, short), so that nothing else a source wrote reaches a log.
func codeWord(s string) string {
	if len(s) == 0 || len(s) > 32 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return ""
		}
	}
	return s
}

// resourceType reads just the resourceType of a raw resource.
func resourceType(raw json.RawMessage) string {
	var r struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return ""
	}
	return r.ResourceType
}
