// Package gpconnect is the consumer side of GP Connect Access Record:
// Structured (FHIR STU3, CareConnect profiles, release 1.6): it asks a GP
// practice's system, through the Spine Secure Proxy, for a patient's
// structured record and maps the Bundle it returns into the connectors
// model, accounting for every resource it holds.
//
// Each request carries the SSP headers and a JWT, made afresh, naming the
// signed-in user (connectors.RequesterFrom) as the requesting practitioner;
// a request without a signed-in user is not sent. Like every connector it
// never logs, and its errors name the practice and what went wrong, never
// the patient.
package gpconnect

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// InteractionID is the Ssp-InteractionID of Access Record: Structured.
const InteractionID = "urn:nhs:names:services:gpconnect:fhir:operation:gpc.getstructuredrecord-1"

const (
	operation = "/Patient/$gpc.getstructuredrecord"
	mediaType = "application/fhir+json"
)

// Settings are the consumer's own, shared by every GP Connect source, from
// the [gpconnect] table of the configuration file.
type Settings struct {
	// SSPURL is the Spine Secure Proxy's address; each request goes to
	// SSPURL + "/" + the practice's endpoint. Empty sends requests to the
	// practice directly (the demo and tests).
	SSPURL string `toml:"ssp_url"`
	// ConsumerASID is carerecord's Accredited System ID: Ssp-From.
	ConsumerASID string `toml:"consumer_asid"`
	// SDSURL is the Spine Directory Service FHIR API
	// (https://api.service.nhs.uk/spine-directory/FHIR/R4). With it, a
	// gpconnect source without base_url and asid has both looked up by its
	// ODS code.
	SDSURL string `toml:"sds_url"`
	// SDSAPIKeyEnv names the environment variable holding the SDS API key
	// (sent as apikey).
	SDSAPIKeyEnv string `toml:"sds_api_key_env"`
	// SDSAPIKey may be given directly instead of SDSAPIKeyEnv.
	SDSAPIKey string `toml:"-"`
	// JWTKeyFile, when set, is an RSA key (PEM) with which each request's
	// JWT is signed (RS256). GP Connect 1.6 asks for an unsecured JWT
	// (alg "none"), which is what is sent without it.
	JWTKeyFile string `toml:"jwt_key_file"`

	// Issuer is the JWT's iss: carerecord's base URL (set from base_url).
	Issuer string `toml:"-"`
	// JWTKey may be given directly instead of JWTKeyFile.
	JWTKey *rsa.PrivateKey `toml:"-"`
	// Version is the requesting device's version (the build's).
	Version string `toml:"-"`
}

// Validate reports the problems with s, naming each key as written in the
// configuration file.
func (s Settings) Validate() []error {
	var errs []error
	if s.ConsumerASID == "" || strings.Trim(s.ConsumerASID, "0123456789") != "" {
		errs = append(errs, fmt.Errorf("gpconnect.consumer_asid: must be carerecord's ASID (digits), got %q", s.ConsumerASID))
	}
	if s.SDSURL != "" {
		u, err := url.Parse(s.SDSURL)
		if err != nil || u.Host == "" || u.RawQuery != "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
			errs = append(errs, fmt.Errorf("gpconnect.sds_url: must be an https URL, got %q", s.SDSURL))
		}
		if s.SDSAPIKey == "" && s.SDSAPIKeyEnv == "" {
			errs = append(errs, errors.New("gpconnect.sds_api_key_env: is required with sds_url"))
		}
	}
	if s.SSPURL != "" {
		u, err := url.Parse(s.SSPURL)
		if err != nil || u.Host == "" || u.RawQuery != "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
			errs = append(errs, fmt.Errorf("gpconnect.ssp_url: must be an https URL, got %q", s.SSPURL))
		}
	}
	return errs
}

// Client reads one GP practice through GP Connect. It is safe for
// concurrent use.
type Client struct {
	cfg      connectors.Config
	set      Settings
	src      connectors.Source
	endpoint string // the operation's URL, through the SSP when configured
	sds      *directory
	http     *http.Client
	now      func() time.Time
}

var _ connectors.Connector = (*Client)(nil)

// New returns a client for the practice cfg describes (kind "gpconnect",
// base_url the practice's GP Connect endpoint, asid its ASID).
func New(cfg connectors.Config, set Settings, getenv func(string) string) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gpconnect: %w", err)
	}
	if cfg.Kind != connectors.SourceKindGPConnect {
		return nil, fmt.Errorf("gpconnect: source %q: kind: must be %q", cfg.Name, connectors.SourceKindGPConnect)
	}
	if errs := set.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg = cfg.WithDefaults()
	if set.JWTKey == nil && set.JWTKeyFile != "" {
		k, err := loadKey(set.JWTKeyFile)
		if err != nil {
			return nil, fmt.Errorf("gpconnect.jwt_key_file: %w", err)
		}
		set.JWTKey = k
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		b, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("gpconnect: source %q: ca_file: %w", cfg.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("gpconnect: source %q: ca_file: no PEM certificates", cfg.Name)
		}
		tlsConfig.RootCAs = pool
	}
	if cfg.Auth.Type == connectors.AuthMTLS {
		cert, err := tls.LoadX509KeyPair(cfg.Auth.CertFile, cfg.Auth.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("gpconnect: source %q: auth.cert_file/key_file: %w", cfg.Name, err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c := &Client{cfg: cfg, set: set, src: cfg.Source(), http: hc, now: time.Now}
	switch {
	case cfg.BaseURL != "":
		c.endpoint = c.endpointURL(cfg.BaseURL)
	case set.SDSURL == "":
		return nil, fmt.Errorf("gpconnect: source %q: base_url and asid: required unless [gpconnect] sds_url is set to look them up", cfg.Name)
	default:
		key := set.SDSAPIKey
		if key == "" {
			key = strings.TrimSpace(getenv(set.SDSAPIKeyEnv))
		}
		if key == "" {
			return nil, fmt.Errorf("gpconnect.sds_api_key_env: environment variable %s is empty", set.SDSAPIKeyEnv)
		}
		c.sds = &directory{base: strings.TrimRight(set.SDSURL, "/"), apiKey: key, http: hc}
	}
	return c, nil
}

// endpointURL is the operation's URL at the practice's endpoint, through
// the SSP when configured: "https://[proxy_server]/https://[provider_server]/..."
// (the practice's full endpoint follows the proxy's address).
func (c *Client) endpointURL(base string) string {
	u := strings.TrimRight(base, "/") + operation
	if c.set.SSPURL != "" {
		u = strings.TrimRight(c.set.SSPURL, "/") + "/" + u
	}
	return u
}

// Source names the practice.
func (c *Client) Source() connectors.Source { return c.src }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// FindPatients answers a search by NHS number with the practice's own
// Patient, by asking for the structured record with no clinical section
// (which returns the Patient and their practice only); GP Connect offers
// no search by demographics, so such a search finds nobody here.
func (c *Client) FindPatients(ctx context.Context, q connectors.Query) ([]connectors.Patient, error) {
	if q.NHSNumber == "" {
		return []connectors.Patient{}, nil
	}
	b, err := c.post(ctx, q.NHSNumber, false)
	if errors.Is(err, connectors.ErrNoRecord) {
		return []connectors.Patient{}, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := newMapper(c.src, b, q.NHSNumber, c.now())
	if err != nil {
		return nil, c.malformed(err.Error(), err)
	}
	if m.patient == nil {
		return []connectors.Patient{}, nil
	}
	return []connectors.Patient{*m.patient}, nil
}

// FetchRecord asks for the patient's structured record (every clinical
// section) and maps it. A patient the practice does not find is
// connectors.ErrNoRecord (ErrPatientNotFound); GP Connect's refusals are
// *connectors.SourceError with the outcome in fixed words.
func (c *Client) FetchRecord(ctx context.Context, nhs string) (*connectors.Record, error) {
	rec, _, err := c.fetch(ctx, nhs)
	return rec, err
}

// fetch returns the record and the account of every resource in the
// Bundle (see mapper.account).
func (c *Client) fetch(ctx context.Context, nhs string) (*connectors.Record, map[string]string, error) {
	b, err := c.post(ctx, nhs, true)
	if err != nil {
		return nil, nil, err
	}
	m, err := newMapper(c.src, b, nhs, c.now())
	if err != nil {
		return nil, nil, c.malformed(err.Error(), err)
	}
	rec := m.record()
	if rec.Patient == nil {
		return nil, nil, c.malformed("no Patient with the NHS number in the Bundle", nil)
	}
	return rec, m.account, nil
}

// post sends one $gpc.getstructuredrecord request and returns the Bundle.
func (c *Client) post(ctx context.Context, nhs string, clinical bool) ([]byte, error) {
	who, ok := connectors.RequesterFrom(ctx)
	if !ok || who.UserID == "" || who.OrgODS == "" {
		return nil, &connectors.SourceError{Source: c.src, Kind: connectors.ErrRefused,
			Outcome: "not asked: GP Connect needs the signed-in user to name", Err: errNoRequester}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	endpoint, asid, err := c.resolve(ctx)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(parameters(nhs, clinical))
	if err != nil {
		return nil, c.malformed("parameters", err)
	}
	token, err := c.token(who)
	if err != nil {
		return nil, c.malformed("JWT", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, c.malformed("bad request URL", err)
	}
	req.Header.Set("Accept", mediaType)
	req.Header.Set("Content-Type", mediaType)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Ssp-TraceID", traceID())
	req.Header.Set("Ssp-From", c.set.ConsumerASID)
	req.Header.Set("Ssp-To", asid)
	req.Header.Set("Ssp-InteractionID", InteractionID)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if int64(len(out)) > c.cfg.MaxResponseBytes {
		return nil, c.malformed(fmt.Sprintf("response larger than %d bytes", c.cfg.MaxResponseBytes), nil)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.outcome(resp.StatusCode, out)
	}
	return out, nil
}

var errNoRequester = errors.New("no signed-in user in the request context")

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
	return &connectors.SourceError{Source: c.src, Kind: kind, Err: err}
}

func (c *Client) malformed(detail string, err error) error {
	return &connectors.SourceError{Source: c.src, Kind: connectors.ErrMalformed, Detail: detail, Err: err}
}

// traceID is a GUID for Ssp-TraceID.
func traceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
