package connectors

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultTimeout          = 3 * time.Second
	DefaultMaxPages         = 50
	DefaultMaxResponseBytes = 16 << 20
	DefaultMaxDocumentBytes = 5 << 20
)

// Kinds of source system that Config.Kind may name.
const (
	SourceKindFHIR = "fhir"
	// SourceKindGPConnect is a GP practice read through GP Connect Access
	// Record: Structured (connectors/gpconnect).
	SourceKindGPConnect = "gpconnect"
)

// Auth types for Config.Auth.Type.
const (
	AuthNone   = "none"
	AuthBearer = "bearer"
	AuthMTLS   = "mtls"
)

// Config configures one source. It is read from the [[sources]] tables of
// the TOML configuration file, for example:
//
//	[[sources]]
//	name = "King's College Hospital NHS Foundation Trust"
//	ods = "RJZ"
//	kind = "fhir"
//	base_url = "https://fhir.example.nhs.uk/R4"
//	timeout = "3s"
//	ca_file = "/etc/carerecord/nhs-ca.pem"
//	[sources.auth]
//	type = "bearer"
//	token_env = "CARERECORD_RJZ_TOKEN"
type Config struct {
	Name    string `toml:"name"`
	ODS     string `toml:"ods"`
	Kind    string `toml:"kind"`
	BaseURL string `toml:"base_url"`
	// Timeout bounds every request to the source; the caller's deadline
	// applies too, whichever is sooner. Zero means DefaultTimeout.
	Timeout time.Duration `toml:"timeout"`
	Auth    Auth          `toml:"auth"`
	// CAFile is a PEM bundle of the CAs that sign the source's server
	// certificate; empty means the system roots.
	CAFile string `toml:"ca_file"`
	// MaxPages caps how many result pages are followed per search; zero
	// means DefaultMaxPages.
	MaxPages int `toml:"max_pages"`
	// MaxResponseBytes caps each response body; zero means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64 `toml:"max_response_bytes"`
	// ASID is the practice's Accredited System ID, for GP Connect sources:
	// the Ssp-To of every request.
	ASID string `toml:"asid"`
	// MaxDocumentBytes caps each document's content fetched from a URL the
	// source gives (a letter held as a Binary); zero means
	// DefaultMaxDocumentBytes.
	MaxDocumentBytes int64 `toml:"max_document_bytes"`
	// GPPractice marks the source as a GP practice. A source whose ODS
	// code has a practice's form (IsGPPracticeCode) is one whether or not
	// this is set. A restricted patient's registered practice is never
	// named on any page (RegisteredPractice).
	GPPractice bool `toml:"gp_practice"`
}

// IsGPPractice reports whether the source is a GP practice: configured
// as one, or with a practice's ODS code.
func (c Config) IsGPPractice() bool {
	return c.GPPractice || c.Kind == SourceKindGPConnect || IsGPPracticeCode(c.ODS)
}

// Auth says how to authenticate to a source.
type Auth struct {
	Type string `toml:"type"` // "none" (or empty), "bearer" or "mtls"
	// TokenEnv names the environment variable that holds the bearer token;
	// the token itself never goes in the configuration file.
	TokenEnv string `toml:"token_env"`
	// CertFile and KeyFile are the PEM client certificate and key for
	// mutual TLS.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// Source returns the organisation the configuration names.
func (c Config) Source() Source { return Source{Name: c.Name, ODS: c.ODS} }

// WithDefaults returns c with zero values replaced by the defaults.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxPages == 0 {
		c.MaxPages = DefaultMaxPages
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxDocumentBytes == 0 {
		c.MaxDocumentBytes = DefaultMaxDocumentBytes
	}
	if c.Auth.Type == "" {
		c.Auth.Type = AuthNone
	}
	return c
}

var (
	odsPattern  = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	asidPattern = regexp.MustCompile(`^[0-9]{1,20}$`)
)

// Validate reports the first problem with c, naming the field as it is
// written in the configuration file.
func (c Config) Validate() error {
	fail := func(field, format string, args ...any) error {
		name := c.Name
		if name == "" {
			name = c.ODS
		}
		return fmt.Errorf("source %q: %s: %s", name, field, fmt.Sprintf(format, args...))
	}
	if c.Name == "" {
		return fail("name", "is required")
	}
	if !odsPattern.MatchString(c.ODS) {
		return fail("ods", "must be an ODS code of 3 to 10 capital letters and digits, got %q", c.ODS)
	}
	fromSDS := false
	switch c.Kind {
	case SourceKindFHIR:
	case SourceKindGPConnect:
		switch {
		case c.BaseURL == "" && c.ASID == "":
			// Both looked up in the Spine Directory Service by ODS code.
			fromSDS = true
		case !asidPattern.MatchString(c.ASID):
			return fail("asid", "must be the practice's ASID (digits), or leave out base_url and asid to look both up in SDS; got %q", c.ASID)
		}
	default:
		return fail("kind", "must be %q or %q, got %q", SourceKindFHIR, SourceKindGPConnect, c.Kind)
	}
	u, err := url.Parse(c.BaseURL)
	if fromSDS {
		// The endpoint comes from SDS; its scheme is checked there.
		u, err = &url.URL{Scheme: "https", Host: "sds.invalid"}, nil
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail("base_url", "must be an absolute http or https URL, got %q", c.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fail("base_url", "must not have a query or fragment")
	}
	if c.Timeout < 0 {
		return fail("timeout", "must not be negative")
	}
	if c.MaxPages < 0 {
		return fail("max_pages", "must not be negative")
	}
	if c.MaxResponseBytes < 0 {
		return fail("max_response_bytes", "must not be negative")
	}
	if c.MaxDocumentBytes < 0 {
		return fail("max_document_bytes", "must not be negative")
	}
	switch c.Auth.Type {
	case "", AuthNone:
	case AuthBearer:
		if c.Auth.TokenEnv == "" {
			return fail("auth.token_env", "is required for bearer authentication")
		}
		if u.Scheme != "https" && u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1" {
			return fail("base_url", "must use https to send a bearer token")
		}
	case AuthMTLS:
		if c.Auth.CertFile == "" {
			return fail("auth.cert_file", "is required for mtls authentication")
		}
		if c.Auth.KeyFile == "" {
			return fail("auth.key_file", "is required for mtls authentication")
		}
		if u.Scheme != "https" {
			return fail("base_url", "must use https for mtls authentication")
		}
	default:
		return fail("auth.type", "must be \"none\", \"bearer\" or \"mtls\", got %q", c.Auth.Type)
	}
	if c.CAFile != "" && u.Scheme != "https" {
		return fail("ca_file", "is only used with an https base_url")
	}
	return nil
}
