// Package pds reads the Personal Demographics Service (PDS FHIR R4 API),
// the national record of who a patient is: their name, birth date, gender,
// address, registered GP, death, whether their record is restricted, and
// whether their NHS number has been superseded by another.
//
// It authenticates as an application (the NHS API platform's
// application-restricted "signed JWT" pattern) and reads a patient by NHS
// number or finds the one patient that uniquely matches a demographic
// search. Like every connector it never logs, and its errors name what went
// wrong, never the patient.
package pds

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/carerecord/carerecord/connectors"
)

// Source is how PDS is named where its demographics are shown.
var Source = connectors.Source{Name: "PDS"}

const (
	mediaType = "application/fhir+json"
	// DefaultTimeout bounds each request to PDS (and each token exchange).
	DefaultTimeout = 3 * time.Second
	maxResponse    = 1 << 20
)

// Config configures the connection to PDS, from the [pds] table of the
// configuration file:
//
//	[pds]
//	base_url = "https://api.service.nhs.uk/personal-demographics/FHIR/R4"
//	token_url = "https://api.service.nhs.uk/oauth2/token"
//	api_key_env = "CARERECORD_PDS_API_KEY"
//	key_file = "/etc/carerecord/pds.key"
//	key_id = "carerecord-1"
type Config struct {
	BaseURL  string `toml:"base_url"`
	TokenURL string `toml:"token_url"`
	// APIKeyEnv names the environment variable holding the application's
	// API key, the iss and sub of its client assertions.
	APIKeyEnv string `toml:"api_key_env"`
	// KeyFile is the RSA private key (PEM) whose public half is registered
	// with the API platform under KeyID.
	KeyFile string `toml:"key_file"`
	KeyID   string `toml:"key_id"`
	// EndUserODS, when set, is sent as NHSD-End-User-Organisation-ODS: the
	// organisation the service acts for.
	EndUserODS string        `toml:"end_user_ods"`
	Timeout    time.Duration `toml:"timeout"`
	CAFile     string        `toml:"ca_file"`

	// APIKey and Key may be given directly (the demo and tests) instead
	// of through APIKeyEnv and KeyFile.
	APIKey string          `toml:"-"`
	Key    *rsa.PrivateKey `toml:"-"`
}

// Enabled reports whether PDS is configured at all.
func (c Config) Enabled() bool { return c.BaseURL != "" }

// Validate reports the problems with c, naming each key as it is written in
// the configuration file.
func (c Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("pds.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for key, v := range map[string]string{"base_url": c.BaseURL, "token_url": c.TokenURL} {
		u, err := url.Parse(v)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad(key, "must be an absolute https URL, got %q", v)
		case u.Scheme != "https" && !loopback(u.Hostname()):
			bad(key, "must use https (PDS is sent an access token)")
		case u.RawQuery != "" || u.Fragment != "":
			bad(key, "must not have a query or fragment")
		}
	}
	if c.Key == nil && c.KeyFile == "" {
		bad("key_file", "is required: the private key that signs client assertions")
	}
	if c.KeyID == "" {
		bad("key_id", "is required: the kid the public key was registered under")
	}
	if c.APIKey == "" && c.APIKeyEnv == "" {
		bad("api_key_env", "is required: the environment variable holding the API key")
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	if c.CAFile != "" && !strings.HasPrefix(c.BaseURL, "https:") {
		bad("ca_file", "is only used with an https base_url")
	}
	return errs
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Client reads PDS. It is safe for concurrent use.
type Client struct {
	cfg    Config
	base   string
	http   *http.Client
	tokens oauth2.TokenSource
}

// New returns a client for PDS. getenv reads the API key's environment
// variable (nil: an empty environment).
func New(cfg Config, getenv func(string) string) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if cfg.APIKey == "" {
		cfg.APIKey = strings.TrimSpace(getenv(cfg.APIKeyEnv))
		if cfg.APIKey == "" {
			return nil, fmt.Errorf("pds.api_key_env: environment variable %s is empty", cfg.APIKeyEnv)
		}
	}
	if cfg.Key == nil {
		k, err := LoadKey(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("pds.key_file: %w", err)
		}
		cfg.Key = k
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		b, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("pds.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("pds.ca_file: no PEM certificates in %s", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	// Requests carry an access token: no redirects anywhere.
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	src := &assertionSource{tokenURL: cfg.TokenURL, apiKey: cfg.APIKey, keyID: cfg.KeyID, key: cfg.Key,
		http: hc, timeout: cfg.Timeout, now: time.Now}
	return &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), http: hc, tokens: src.tokens()}, nil
}

// LoadKey reads an RSA private key from a PEM file (PKCS #1 or PKCS #8).
func LoadKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

var _ connectors.Demographics = (*Client)(nil)

// Source names PDS.
func (c *Client) Source() connectors.Source { return Source }

// Demographics returns PDS's record of the patient (see Read).
func (c *Client) Demographics(ctx context.Context, nhs string) (*connectors.Patient, error) {
	r, err := c.Read(ctx, nhs)
	if err != nil {
		return nil, err
	}
	return &r.Patient, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Errors of Read besides *connectors.SourceError.
var (
	// ErrNotFound: PDS holds no patient with this NHS number. It wraps
	// connectors.ErrNoRecord.
	ErrNotFound = fmt.Errorf("pds: %w", connectors.ErrNoRecord)
	// ErrInvalidated: the NHS number was invalidated without being
	// superseded by another; it identifies nobody now. It wraps
	// connectors.ErrNHSNumberInvalidated.
	ErrInvalidated = fmt.Errorf("pds: %w", connectors.ErrNHSNumberInvalidated)
)

// Result is what PDS says of one NHS number.
type Result struct {
	// Requested is the NHS number asked for.
	Requested string
	// Patient is PDS's record, redacted when restricted. Its NHSNumber
	// differs from Requested when Requested was superseded.
	Patient connectors.Patient
}

// Superseded reports whether the NHS number asked for has been replaced by
// another (merged records): Patient.NHSNumber is the current one.
func (r *Result) Superseded() bool { return r.Patient.NHSNumber != r.Requested }

// Read returns PDS's record of the patient with this NHS number (10
// digits). It fails with ErrNotFound, ErrInvalidated or a
// *connectors.SourceError.
func (c *Client) Read(ctx context.Context, nhs string) (*Result, error) {
	body, err := c.get(ctx, c.base+"/Patient/"+url.PathEscape(nhs))
	if err != nil {
		return nil, err
	}
	var pr patient
	if err := json.Unmarshal(body, &pr); err != nil || pr.ResourceType != "Patient" {
		return nil, c.malformed("not a Patient", err)
	}
	p, err := mapPatient(pr)
	if err != nil {
		return nil, c.malformed("Patient: "+err.Error(), err)
	}
	return &Result{Requested: nhs, Patient: p}, nil
}

// FindPatients searches PDS by demographics: family name and date of birth,
// with given name, gender and postcode when given. In the
// application-restricted access mode PDS answers with a single patient,
// and only when the match is unique. An NHS number query is a Read; its
// current patient is returned (a superseded number finds the patient under
// their current number).
func (c *Client) FindPatients(ctx context.Context, q connectors.Query) ([]connectors.Patient, error) {
	if q.NHSNumber != "" {
		r, err := c.Read(ctx, q.NHSNumber)
		switch {
		case errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidated):
			return []connectors.Patient{}, nil
		case err != nil:
			return nil, err
		}
		return []connectors.Patient{r.Patient}, nil
	}
	body, err := c.get(ctx, c.base+"/Patient?"+searchParams(q).Encode())
	if err != nil {
		return nil, err
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource patient `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" {
		return nil, c.malformed("not a Bundle", err)
	}
	out := []connectors.Patient{}
	for _, e := range b.Entry {
		p, err := mapPatient(e.Resource)
		if err != nil {
			return nil, c.malformed("Patient: "+err.Error(), err)
		}
		out = append(out, p)
	}
	return out, nil
}

// searchParams words a query as PDS's search parameters. "birthdate" takes
// a prefix ("eq2010-10-22"); a non-fuzzy search with history, as the API's
// guidance suggests for a unique match.
func searchParams(q connectors.Query) url.Values {
	v := url.Values{"family": {q.Family}, "birthdate": {"eq" + q.BirthDate.String()}, "_history": {"true"}}
	if q.Given != "" {
		v.Set("given", q.Given)
	}
	if q.Gender != "" {
		v.Set("gender", q.Gender)
	}
	if q.Postcode != "" {
		v.Set("address-postalcode", q.Postcode)
	}
	return v
}

// get performs one GET with a current access token and the headers PDS
// requires, and returns the body of a 2xx answer.
func (c *Client) get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	tok, err := c.tokens.Token()
	if err != nil {
		return nil, c.tokenError(ctx, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, c.malformed("bad request URL", err)
	}
	req.Header.Set("Accept", mediaType)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("X-Request-ID", requestID())
	if c.cfg.EndUserODS != "" {
		req.Header.Set("NHSD-End-User-Organisation-ODS", c.cfg.EndUserODS)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if len(body) > maxResponse {
		return nil, c.malformed("response too large", nil)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return bytes.TrimSpace(body), nil
	}
	code := spineCode(body)
	switch {
	case resp.StatusCode == http.StatusNotFound && code == "INVALIDATED_RESOURCE":
		return nil, ErrInvalidated
	case resp.StatusCode == http.StatusNotFound:
		return nil, ErrNotFound
	}
	se := &connectors.SourceError{Source: Source, Kind: connectors.ErrStatus, Status: resp.StatusCode,
		Err: fmt.Errorf("HTTP %d", resp.StatusCode)}
	if code != "" {
		se.Detail = "OperationOutcome " + code
	}
	return nil, se
}

// spineCode is the Spine error code of an OperationOutcome
// (issue.details.coding.code, e.g. RESOURCE_NOT_FOUND), if it looks like
// one; never the diagnostics, which may quote the request.
func spineCode(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Details struct {
				Coding []struct {
					Code string `json:"code"`
				} `json:"coding"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return ""
	}
	for _, i := range oo.Issue {
		for _, cd := range i.Details.Coding {
			if isCode(cd.Code) {
				return cd.Code
			}
		}
	}
	return ""
}

func isCode(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// tokenError classifies a failed token exchange: the platform refusing
// the assertion is a refusal (HTTP status of the token endpoint), anything
// else a transport failure.
func (c *Client) tokenError(ctx context.Context, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return &connectors.SourceError{Source: Source, Kind: connectors.ErrStatus, Status: re.Response.StatusCode,
			Detail: "token exchange refused " + codeOf(re.ErrorCode), Err: err}
	}
	return c.transportError(ctx, err)
}

func codeOf(s string) string {
	if isCode(s) {
		return s
	}
	return ""
}

func (c *Client) transportError(ctx context.Context, err error) error {
	kind := connectors.ErrUnavailable
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		kind = connectors.ErrTimeout
	case errors.Is(ctx.Err(), context.Canceled):
		kind = connectors.ErrCanceled
	case errors.As(err, &ne) && ne.Timeout():
		kind = connectors.ErrTimeout
	}
	return &connectors.SourceError{Source: Source, Kind: kind, Err: err}
}

func (c *Client) malformed(detail string, err error) error {
	return &connectors.SourceError{Source: Source, Kind: connectors.ErrMalformed, Detail: detail, Err: err}
}
