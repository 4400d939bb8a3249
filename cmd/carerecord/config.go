package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/gpconnect"
	"github.com/carerecord/carerecord/connectors/pds"
	"github.com/carerecord/carerecord/store"

	"github.com/carerecord/carerecord/web"
	"github.com/carerecord/carerecord/web/oidc"
)

// fileConfig is the configuration file (TOML), field for field. The
// example in docs/carerecord.example.toml documents every key.
type fileConfig struct {
	BaseURL        string   `toml:"base_url"`
	TrustedProxies []string `toml:"trusted_proxies"`
	Listen         string   `toml:"listen"`
	// MetricsListen serves /metrics (Prometheus) on its own address; off
	// when empty.
	MetricsListen string `toml:"metrics_listen"`
	Database      string `toml:"database"`
	TLS           struct {
		CertFile string `toml:"cert_file"`
		KeyFile  string `toml:"key_file"`
	} `toml:"tls"`
	SAML struct {
		IDPMetadataURL  string   `toml:"idp_metadata_url"`
		IDPMetadataFile string   `toml:"idp_metadata_file"`
		SPCertFile      string   `toml:"sp_cert_file"`
		SPKeyFile       string   `toml:"sp_key_file"`
		RequestWindow   duration `toml:"request_window"`
		MinAssurance    *int     `toml:"min_assurance"`
		DevIdP          bool     `toml:"dev_idp"`
		Attributes      struct {
			UserID               string `toml:"user_id"`
			DisplayName          string `toml:"display_name"`
			RoleProfile          string `toml:"role_profile"`
			RoleProfileSeparator string `toml:"role_profile_separator"`
			RoleCode             string `toml:"role_code"`
			RoleOrgCode          string `toml:"role_org_code"`
			RoleOrgName          string `toml:"role_org_name"`
			Assurance            string `toml:"assurance"`
			UserNHSNumber        string `toml:"user_nhs_number"`
		} `toml:"attributes"`
		// AuthnContext maps AuthnContextClassRef URIs to assurance levels,
		// used when the assertion has no assurance attribute.
		AuthnContext map[string]int `toml:"authn_context"`
		ClockSkew    duration       `toml:"clock_skew"`
	} `toml:"saml"`
	OIDC oidcConfig `toml:"oidc"`
	// NHSLogin offers patients their own pages, signed in with NHS login.
	NHSLogin nhsLoginConfig `toml:"nhs_login"`
	Patients struct {
		ShowStaffNames bool `toml:"show_staff_names"`
		AutoUphold     bool `toml:"auto_uphold"`
	} `toml:"patients"`
	SMART struct {
		EPRs   []smartEPRConfig `toml:"epr"`
		Scopes []string         `toml:"scopes"`
	} `toml:"smart"`
	Roles   []roleConfig        `toml:"roles"`
	Sources []connectors.Config `toml:"sources"`
	// PDS is the Personal Demographics Service, asked for who the patient
	// is when configured.
	PDS pds.Config `toml:"pds"`
	// GPConnect is carerecord's own GP Connect consumer settings, for the
	// sources of kind "gpconnect".
	GPConnect gpconnect.Settings `toml:"gpconnect"`
	Records   struct {
		Deadline    duration `toml:"deadline"`
		Fresh       duration `toml:"fresh"`
		MaxAge      duration `toml:"max_age"`
		CacheKeyEnv string   `toml:"cache_key_env"`
	} `toml:"records"`
	Session struct {
		IdleTimeout duration `toml:"idle_timeout"`
		Lifetime    duration `toml:"lifetime"`
		KeyEnv      string   `toml:"key_env"`
	} `toml:"session"`
	Log struct {
		Level string `toml:"level"`
	} `toml:"log"`
	HTTP struct {
		ReadHeaderTimeout duration `toml:"read_header_timeout"`
		ReadTimeout       duration `toml:"read_timeout"`
		WriteTimeout      duration `toml:"write_timeout"`
		IdleTimeout       duration `toml:"idle_timeout"`
		MaxConnections    int      `toml:"max_connections"`
	} `toml:"http"`
	Objections struct {
		PerAddressLimit int      `toml:"per_address_limit"`
		GlobalLimit     int      `toml:"global_limit"`
		Window          duration `toml:"window"`
	} `toml:"objections"`
	Alerts struct {
		Off                []string `toml:"off"`
		ManyPatients       int      `toml:"many_patients"`
		ManyPatientsWindow duration `toml:"many_patients_window"`
		Refusals           int      `toml:"refusals"`
		RefusalWindow      duration `toml:"refusal_window"`
		WorkingDayStart    string   `toml:"working_day_start"`
		WorkingDayEnd      string   `toml:"working_day_end"`
	} `toml:"alerts"`
	Audit struct {
		KeyEnv                   string   `toml:"key_env"`
		KeyFile                  string   `toml:"key_file"`
		WitnessFile              string   `toml:"witness_file"`
		WitnessSyslog            bool     `toml:"witness_syslog"`
		WitnessURL               string   `toml:"witness_url"`
		CheckpointEvery          duration `toml:"checkpoint_every"`
		VerifyEvery              duration `toml:"verify_every"`
		ClinicalPagesWhenRefused bool     `toml:"clinical_pages_when_refused"`
	} `toml:"audit"`
	Access struct {
		Reasons                []reasonConfig `toml:"reasons"`
		ReasonLifetime         duration       `toml:"reason_lifetime"`
		BreakGlassLifetime     duration       `toml:"break_glass_lifetime"`
		AllowObjectionOverride bool           `toml:"allow_objection_override"`
		// BreakGlassGroups are the role groups offered emergency access
		// (default: clinical only).
		BreakGlassGroups []string `toml:"break_glass_groups"`
	} `toml:"access"`

	// What check parsed, kept so that start-up uses the values that were
	// checked instead of parsing them again and ignoring the errors.
	base          *url.URL
	roles         web.RoleMap
	sessionMaster []byte
	recordsKey    []byte // nil when no source is configured
	auditKey      []byte
	alertRules    store.AlertRules
	proxies       []*net.IPNet
}

// nhsLoginConfig is [nhs_login]: patients' sign-in to their own pages.
type nhsLoginConfig struct {
	Issuer        string   `toml:"issuer"`
	ClientID      string   `toml:"client_id"`
	ClientKeyFile string   `toml:"client_key_file"`
	MinLevel      string   `toml:"min_level"`
	VTR           string   `toml:"vtr"`
	Scopes        []string `toml:"scopes"`
	// DevNHSLogin mounts the development NHS login at /devidp/nhslogin.
	DevNHSLogin bool `toml:"dev_nhs_login"`
}

func (n *nhsLoginConfig) enabled() bool { return n.Issuer != "" || n.DevNHSLogin }

// odsCode is the shape of an ODS organisation code.
var odsCode = regexp.MustCompile(`^[A-Z0-9]{3,6}$`)

// smartEPRConfig is one [[smart.epr]]: an EPR allowed to launch carerecord.
type smartEPRConfig struct {
	Name            string `toml:"name"`
	ISS             string `toml:"iss"`
	ClientID        string `toml:"client_id"`
	ClientSecretEnv string `toml:"client_secret_env"`
	// TrustFHIRUser makes the EPR's own sign-in (the fhirUser of its
	// id_token) start a staff session here with role Role at ODS, instead
	// of a CIS2 or SAML sign-in. Off by default.
	TrustFHIRUser bool   `toml:"trust_fhir_user"`
	Role          string `toml:"role"`
	ODS           string `toml:"ods"`
	OrgName       string `toml:"org_name"`
	// Assurance is the level the EPR's sign-in is taken to have (default
	// 3: its users sign in to it with a smartcard).
	Assurance *int `toml:"assurance"`
}

// oidcConfig is [oidc]: sign-in over OpenID Connect (NHS CIS2).
type oidcConfig struct {
	Issuer            string   `toml:"issuer"`
	ClientID          string   `toml:"client_id"`
	ClientKeyFile     string   `toml:"client_key_file"`
	ClientSecretEnv   string   `toml:"client_secret_env"`
	AssertionAudience string   `toml:"assertion_audience"`
	Scopes            []string `toml:"scopes"`
	Label             string   `toml:"label"`
	ClockSkew         duration `toml:"clock_skew"`
	DevOP             bool     `toml:"dev_op"`
	Claims            struct {
		UserID       string `toml:"user_id"`
		Name         string `toml:"name"`
		Roles        string `toml:"roles"`
		SelectedRole string `toml:"selected_role"`
		Assurance    string `toml:"assurance"`
		UserOrgs     string `toml:"user_orgs"`
		RoleID       string `toml:"role_id"`
		RoleCode     string `toml:"role_code"`
		OrgCode      string `toml:"org_code"`
		RoleName     string `toml:"role_name"`
		OrgName      string `toml:"org_name"`
	} `toml:"claims"`
}

// enabled reports whether the configuration offers OpenID Connect.
func (o *oidcConfig) enabled() bool { return o.Issuer != "" || o.DevOP }

// claimMap is the configured claim names over CIS2's defaults.
func (o *oidcConfig) claimMap() oidc.ClaimMap {
	m := oidc.DefaultClaims()
	c := o.Claims
	for _, f := range []struct {
		to   *string
		from string
	}{{&m.UserID, c.UserID}, {&m.Name, c.Name}, {&m.Roles, c.Roles}, {&m.SelectedRole, c.SelectedRole},
		{&m.Assurance, c.Assurance}, {&m.UserOrgs, c.UserOrgs}, {&m.RoleID, c.RoleID}, {&m.RoleCode, c.RoleCode},
		{&m.OrgCode, c.OrgCode}, {&m.RoleName, c.RoleName}, {&m.OrgName, c.OrgName}} {
		if f.from != "" {
			*f.to = f.from
		}
	}
	return m
}

// samlEnabled reports whether the configuration offers SAML: always,
// unless OpenID Connect is configured and no SAML identity provider is.
func (fc *fileConfig) samlEnabled() bool {
	s := &fc.SAML
	return !fc.OIDC.enabled() || s.DevIdP || s.IDPMetadataURL != "" || s.IDPMetadataFile != ""
}

type reasonConfig struct {
	Code  string `toml:"code"`
	Label string `toml:"label"`
	// Groups are the role groups offered the reason (clinical, clerical);
	// empty offers it to every group that may open a record.
	Groups []string `toml:"groups"`
}

type roleConfig struct {
	Code  string `toml:"code"`
	Name  string `toml:"name"`
	Group string `toml:"group"`
}

// duration reads "15m", "12h" and the like.
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration like \"15m\" or \"12h\": %q", string(b))
	}
	d.Duration = v
	return nil
}

// fieldError names the configuration key that is wrong.
type fieldError struct{ field, problem string }

func (e fieldError) Error() string { return e.field + ": " + e.problem }

// loadConfig reads and checks the configuration file. Every problem found
// is reported at once, each naming its key.
func loadConfig(path string, getenv func(string) string) (*fileConfig, error) {
	var fc fileConfig
	md, err := toml.DecodeFile(path, &fc)
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	var errs []error
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		for _, k := range keys {
			errs = append(errs, fieldError{k, "unknown key (check the spelling against the example configuration)"})
		}
	}
	fc.applyDefaults()
	errs = append(errs, fc.check(getenv)...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("configuration %s:\n  %w", path, joinIndented(errs))
	}
	return &fc, nil
}

func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

func (fc *fileConfig) applyDefaults() {
	a := &fc.SAML.Attributes
	def := web.DefaultAttributes()
	if a.UserID == "" {
		a.UserID = def.UserID
	}
	if a.DisplayName == "" {
		a.DisplayName = def.DisplayName
	}
	if a.RoleProfile == "" && a.RoleCode == "" {
		a.RoleProfile = def.RoleProfile
	}
	if a.RoleProfileSeparator == "" && a.RoleProfile != "" {
		a.RoleProfileSeparator = def.RoleProfileSeparator
	}
	if fc.SAML.ClockSkew.Duration == 0 {
		fc.SAML.ClockSkew.Duration = 3 * time.Minute
	}
	if a.Assurance == "" {
		a.Assurance = def.Assurance
	}
	if fc.SAML.RequestWindow.Duration == 0 {
		fc.SAML.RequestWindow.Duration = 5 * time.Minute
	}
	if fc.SAML.MinAssurance == nil {
		three := 3
		fc.SAML.MinAssurance = &three
	}
	if fc.OIDC.ClockSkew.Duration == 0 {
		fc.OIDC.ClockSkew.Duration = 2 * time.Minute
	}
	if fc.OIDC.Label == "" {
		fc.OIDC.Label = "NHS Care Identity Service"
	}
	if fc.Session.IdleTimeout.Duration == 0 {
		fc.Session.IdleTimeout.Duration = 15 * time.Minute
	}
	if fc.Session.Lifetime.Duration == 0 {
		fc.Session.Lifetime.Duration = 12 * time.Hour
	}
	if fc.Session.KeyEnv == "" {
		fc.Session.KeyEnv = "CARERECORD_SESSION_KEY"
	}
	if fc.Log.Level == "" {
		fc.Log.Level = "info"
	}
	h, hdef := &fc.HTTP, defaultHTTPLimits()
	for _, d := range []struct {
		v   *duration
		def time.Duration
	}{{&h.ReadHeaderTimeout, hdef.ReadHeaderTimeout},
		{&h.ReadTimeout, hdef.ReadTimeout}, {&h.WriteTimeout, hdef.WriteTimeout}, {&h.IdleTimeout, hdef.IdleTimeout}} {
		if d.v.Duration == 0 {
			d.v.Duration = d.def
		}
	}
	o, odef := &fc.Objections, web.DefaultObjectionLimits()
	if o.PerAddressLimit == 0 {
		o.PerAddressLimit = odef.PerAddress
	}
	if o.GlobalLimit == 0 {
		o.GlobalLimit = odef.Global
	}
	if o.Window.Duration == 0 {
		o.Window.Duration = odef.Window
	}
	if fc.Access.ReasonLifetime.Duration == 0 {
		fc.Access.ReasonLifetime.Duration = 4 * time.Hour
	}
	if fc.Access.BreakGlassLifetime.Duration == 0 {
		fc.Access.BreakGlassLifetime.Duration = 30 * time.Minute
	}
	au := &fc.Audit
	if au.KeyEnv == "" && au.KeyFile == "" {
		au.KeyEnv = defaultAuditKeyEnv
	}
	if au.WitnessFile == "" && fc.Database != "" && !store.IsPostgresURL(fc.Database) {
		au.WitnessFile = defaultWitnessPath(fc.Database)
	}
	if au.CheckpointEvery.Duration == 0 {
		au.CheckpointEvery.Duration = store.DefaultCheckpointEvery
	}
	if au.VerifyEvery.Duration == 0 {
		au.VerifyEvery.Duration = time.Hour
	}
	r := &fc.Records
	if r.Deadline.Duration == 0 {
		r.Deadline.Duration = 3 * time.Second
	}
	if r.Fresh.Duration == 0 {
		r.Fresh.Duration = 10 * time.Minute
	}
	if r.MaxAge.Duration == 0 {
		r.MaxAge.Duration = 24 * time.Hour
	}
	if r.CacheKeyEnv == "" {
		r.CacheKeyEnv = "CARERECORD_CACHE_KEY"
	}
}

func (fc *fileConfig) check(getenv func(string) string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fieldError{field, fmt.Sprintf(format, args...)})
	}
	if fc.BaseURL == "" {
		bad("base_url", "required: the public address users reach, e.g. https://carerecord.example.nhs.uk")
	} else if u, err := url.Parse(fc.BaseURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		bad("base_url", "must be an absolute http(s) URL, got %q", fc.BaseURL)
	} else if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		bad("base_url", "must be https unless the host is loopback: session cookies must be Secure")
	} else {
		fc.base = u
	}
	if fc.Listen == "" {
		bad("listen", "required: host:port to listen on, e.g. 127.0.0.1:8080")
	} else if _, _, err := net.SplitHostPort(fc.Listen); err != nil {
		bad("listen", "must be host:port, got %q", fc.Listen)
	}
	if fc.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(fc.MetricsListen); err != nil {
			bad("metrics_listen", "must be host:port, got %q", fc.MetricsListen)
		} else if fc.MetricsListen == fc.Listen {
			bad("metrics_listen", "must differ from listen: /metrics is for the operator's network only")
		}
	}
	for i, p := range fc.TrustedProxies {
		if _, n, err := net.ParseCIDR(p); err != nil {
			bad(fmt.Sprintf("trusted_proxies[%d]", i), "must be a network like 10.0.0.0/8, got %q", p)
		} else {
			fc.proxies = append(fc.proxies, n)
		}
	}
	switch {
	case fc.Database == "":
		bad("database", "required: path of the SQLite database file, or a postgres:// URL")
	case store.IsPostgresURL(fc.Database):
		if u, err := url.Parse(fc.Database); err != nil || u.Host == "" {
			bad("database", "the PostgreSQL URL does not parse or names no host")
		} else if _, ok := u.User.Password(); ok {
			bad("database", "the PostgreSQL URL holds a password: give it in PGPASSWORD or ~/.pgpass instead, so the configuration file holds no secret")
		}
		if fc.Audit.WitnessFile == "" {
			bad("audit.witness_file", "required with a PostgreSQL database: each node checkpoints the shared audit head to a file of its own")
		}
	}
	if (fc.TLS.CertFile == "") != (fc.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file must be given together (or neither, behind a TLS proxy)")
	}
	for _, f := range []struct{ key, path string }{{"tls.cert_file", fc.TLS.CertFile}, {"tls.key_file", fc.TLS.KeyFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				bad(f.key, "cannot read %s: %v", f.path, errors.Unwrap(err))
			}
		}
	}
	// Private keys must be their owner's alone: refuse to start otherwise.
	for _, f := range []struct{ key, path string }{{"tls.key_file", fc.TLS.KeyFile}, {"saml.sp_key_file", fc.SAML.SPKeyFile}} {
		if f.path == "" {
			continue
		}
		if err := store.CheckKeyFile(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			bad(f.key, "%v", err)
		}
	}
	s := &fc.SAML
	if fc.samlEnabled() && !s.DevIdP {
		switch {
		case s.IDPMetadataURL == "" && s.IDPMetadataFile == "":
			bad("saml.idp_metadata_url", "required (or saml.idp_metadata_file): where to read the identity provider's metadata")
		case s.IDPMetadataURL != "" && s.IDPMetadataFile != "":
			bad("saml.idp_metadata_url", "give either idp_metadata_url or idp_metadata_file, not both")
		case s.IDPMetadataURL != "":
			if u, err := url.Parse(s.IDPMetadataURL); err != nil || !httpsOrLoopback(u) {
				bad("saml.idp_metadata_url", "must be an https URL, got %q", s.IDPMetadataURL)
			}
		}
		if s.SPCertFile == "" {
			bad("saml.sp_cert_file", "required: the service provider's signing certificate (PEM)")
		}
		if s.SPKeyFile == "" {
			bad("saml.sp_key_file", "required: the service provider's private key (PEM)")
		}
	}
	if s.RequestWindow.Duration < 30*time.Second || s.RequestWindow.Duration > time.Hour {
		bad("saml.request_window", "must be between 30s and 1h, got %s", s.RequestWindow.Duration)
	}
	if s.ClockSkew.Duration < 0 || s.ClockSkew.Duration > 15*time.Minute {
		bad("saml.clock_skew", "must be between 0s and 15m, got %s", s.ClockSkew.Duration)
	}
	if at := s.Attributes; at.RoleCode != "" && at.RoleOrgCode == "" {
		bad("saml.attributes.role_org_code", "required with role_code: the attribute naming each role's organisation (ODS code)")
	}
	for uri, lvl := range s.AuthnContext {
		if lvl < 0 || lvl > 3 {
			bad("saml.authn_context", "%s: level must be 0 to 3, got %d", uri, lvl)
		}
	}
	if *s.MinAssurance < 0 || *s.MinAssurance > 3 {
		bad("saml.min_assurance", "must be 0 to 3 (3 = smartcard), got %d", *s.MinAssurance)
	}
	if o := &fc.OIDC; o.enabled() && !o.DevOP {
		if u, err := url.Parse(o.Issuer); err != nil || !httpsOrLoopback(u) {
			bad("oidc.issuer", "must be an https URL, got %q", o.Issuer)
		}
		if o.ClientID == "" {
			bad("oidc.client_id", "required: carerecord's client id at the OpenID provider")
		}
		if (o.ClientKeyFile == "") == (o.ClientSecretEnv == "") {
			bad("oidc.client_key_file", "give client_key_file (private_key_jwt, as CIS2 prefers) or client_secret_env, not both")
		} else if o.ClientSecretEnv != "" && getenv(o.ClientSecretEnv) == "" {
			bad("oidc.client_secret_env", "environment variable %s is not set", o.ClientSecretEnv)
		}
		switch o.AssertionAudience {
		case "", "token_endpoint", "issuer":
		default:
			bad("oidc.assertion_audience", "must be token_endpoint or issuer, got %q", o.AssertionAudience)
		}
	}
	if n := &fc.NHSLogin; n.Issuer != "" && !n.DevNHSLogin {
		if u, err := url.Parse(n.Issuer); err != nil || !httpsOrLoopback(u) {
			bad("nhs_login.issuer", "must be NHS login's issuer (https), e.g. https://auth.login.nhs.uk, got %q", n.Issuer)
		}
		if n.ClientID == "" {
			bad("nhs_login.client_id", "required: carerecord's client id at NHS login")
		}
		if n.ClientKeyFile == "" {
			bad("nhs_login.client_key_file", "required: the RSA key (PEM) whose public half NHS login holds (private_key_jwt, RS512)")
		}
	}
	switch fc.NHSLogin.MinLevel {
	case "", "P9", "P5":
	default:
		bad("nhs_login.min_level", "must be P9 or P5, got %q", fc.NHSLogin.MinLevel)
	}
	if !fc.NHSLogin.enabled() && (fc.Patients.ShowStaffNames || fc.Patients.AutoUphold) {
		bad("patients", "applies only with [nhs_login]")
	}
	if fc.OIDC.ClockSkew.Duration < 0 || fc.OIDC.ClockSkew.Duration > 10*time.Minute {
		bad("oidc.clock_skew", "must be between 0s and 10m, got %s", fc.OIDC.ClockSkew.Duration)
	}
	seenISS := map[string]bool{}
	for i, e := range fc.SMART.EPRs {
		field := fmt.Sprintf("smart.epr[%d]", i)
		if e.Name == "" {
			bad(field+".name", "required: the EPR's name, shown and audited, e.g. King's EPR")
		}
		if u, err := url.Parse(e.ISS); err != nil || !httpsOrLoopback(u) {
			bad(field+".iss", "must be the EPR's FHIR base URL (https), exactly as it sends it in iss, got %q", e.ISS)
		} else if seenISS[e.ISS] {
			bad(field+".iss", "%s is configured twice", e.ISS)
		}
		seenISS[e.ISS] = true
		if e.ClientID == "" {
			bad(field+".client_id", "required: carerecord's client id at the EPR")
		}
		if e.ClientSecretEnv != "" && getenv(e.ClientSecretEnv) == "" {
			bad(field+".client_secret_env", "environment variable %s is not set", e.ClientSecretEnv)
		}
	}
	roles, rerrs := fc.roleMap()
	errs = append(errs, rerrs...)
	fc.roles = roles
	for i, e := range fc.SMART.EPRs {
		field := fmt.Sprintf("smart.epr[%d]", i)
		if !e.TrustFHIRUser {
			if e.Role != "" || e.ODS != "" || e.Assurance != nil {
				bad(field+".trust_fhir_user", "role, ods and assurance apply only with trust_fhir_user = true")
			}
			continue
		}
		if _, ok := roles[e.Role]; !ok {
			bad(field+".role", "required with trust_fhir_user: a role code of [[roles]] that the EPR's users get, got %q", e.Role)
		}
		if !odsCode.MatchString(e.ODS) {
			bad(field+".ods", "required with trust_fhir_user: the EPR's organisation's ODS code, got %q", e.ODS)
		}
		if e.Assurance != nil && (*e.Assurance < 0 || *e.Assurance > 3) {
			bad(field+".assurance", "must be 0 to 3 (3 = smartcard), got %d", *e.Assurance)
		}
	}
	ss := &fc.Session
	if ss.IdleTimeout.Duration < time.Minute {
		bad("session.idle_timeout", "must be at least 1m, got %s", ss.IdleTimeout.Duration)
	}
	if ss.Lifetime.Duration < ss.IdleTimeout.Duration {
		bad("session.lifetime", "must be at least session.idle_timeout (%s), got %s", ss.IdleTimeout.Duration, ss.Lifetime.Duration)
	}
	if k, err := sessionKey(getenv(ss.KeyEnv)); err != nil {
		bad("session.key_env", "environment variable %s: %v", ss.KeyEnv, err)
	} else {
		fc.sessionMaster = k
	}
	codes := map[string]bool{}
	for i, r := range fc.Access.Reasons {
		field := fmt.Sprintf("access.reasons[%d]", i)
		switch {
		case r.Code == "" || r.Code == web.BreakGlass:
			bad(field+".code", "required, and not %q (break glass is always offered)", web.BreakGlass)
		case codes[r.Code]:
			bad(field+".code", "%s is listed twice", r.Code)
		case r.Label == "":
			bad(field+".label", "required: the sentence the user chooses, e.g. I am providing direct care to this patient")
		}
		for j, g := range r.Groups {
			if !web.Group(g).Valid() {
				bad(fmt.Sprintf("%s.groups[%d]", field, j), "unknown role group %q (clinical, clerical, privacy or admin)", g)
			}
		}
		codes[r.Code] = true
	}
	a := &fc.Access
	for j, g := range a.BreakGlassGroups {
		if !web.Group(g).Valid() {
			bad(fmt.Sprintf("access.break_glass_groups[%d]", j), "unknown role group %q (clinical, clerical, privacy or admin)", g)
		}
	}
	if a.BreakGlassLifetime.Duration <= 0 || a.BreakGlassLifetime.Duration > a.ReasonLifetime.Duration {
		bad("access.break_glass_lifetime", "must be positive and no longer than access.reason_lifetime (%s)", a.ReasonLifetime.Duration)
	}
	if a.ReasonLifetime.Duration > fc.Session.Lifetime.Duration {
		bad("access.reason_lifetime", "must not be longer than session.lifetime (%s)", fc.Session.Lifetime.Duration)
	}
	if r, err := fc.parseAlertRules(); err != nil {
		errs = append(errs, err)
	} else {
		fc.alertRules = r
	}
	seen := map[string]bool{}
	for i, src := range fc.Sources {
		if err := src.Validate(); err != nil {
			errs = append(errs, fieldError{fmt.Sprintf("sources[%d]", i), err.Error()})
		}
		if seen[src.ODS] {
			bad(fmt.Sprintf("sources[%d].ods", i), "%s is configured twice", src.ODS)
		}
		seen[src.ODS] = true
	}
	if slices.ContainsFunc(fc.Sources, func(c connectors.Config) bool { return c.Kind == connectors.SourceKindGPConnect }) {
		errs = append(errs, fc.GPConnect.Validate()...)
		if e := fc.GPConnect.SDSAPIKeyEnv; e != "" && getenv(e) == "" {
			bad("gpconnect.sds_api_key_env", "environment variable %s is empty", e)
		}
		if f := fc.GPConnect.JWTKeyFile; f != "" {
			if err := store.CheckKeyFile(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				bad("gpconnect.jwt_key_file", "%v", err)
			}
		}
	}
	if fc.PDS.Enabled() {
		errs = append(errs, fc.PDS.Validate()...)
		if fc.PDS.KeyFile != "" {
			if err := store.CheckKeyFile(fc.PDS.KeyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
				bad("pds.key_file", "%v", err)
			}
		}
		if fc.PDS.APIKeyEnv != "" && getenv(fc.PDS.APIKeyEnv) == "" {
			bad("pds.api_key_env", "environment variable %s is empty", fc.PDS.APIKeyEnv)
		}
	}
	rc := &fc.Records
	if rc.Deadline.Duration < 100*time.Millisecond || rc.Deadline.Duration > time.Minute {
		bad("records.deadline", "must be between 100ms and 1m, got %s", rc.Deadline.Duration)
	}
	if rc.MaxAge.Duration < rc.Fresh.Duration {
		bad("records.max_age", "must be at least records.fresh (%s), got %s", rc.Fresh.Duration, rc.MaxAge.Duration)
	}
	if len(fc.Sources) > 0 {
		if k, err := cacheKey(getenv(rc.CacheKeyEnv)); err != nil {
			bad("records.cache_key_env", "environment variable %s: %v", rc.CacheKeyEnv, err)
		} else {
			fc.recordsKey = k
		}
	}
	errs = append(errs, fc.checkAudit(getenv)...)
	h := &fc.HTTP
	if h.ReadHeaderTimeout.Duration < time.Second || h.ReadHeaderTimeout.Duration > h.ReadTimeout.Duration {
		bad("http.read_header_timeout", "must be at least 1s and no longer than http.read_timeout (%s), got %s", h.ReadTimeout.Duration, h.ReadHeaderTimeout.Duration)
	}
	if h.ReadTimeout.Duration < time.Second || h.ReadTimeout.Duration > 10*time.Minute {
		bad("http.read_timeout", "must be between 1s and 10m, got %s", h.ReadTimeout.Duration)
	}
	if h.WriteTimeout.Duration < time.Second {
		bad("http.write_timeout", "must be at least 1s, got %s", h.WriteTimeout.Duration)
	}
	if h.IdleTimeout.Duration < time.Second {
		bad("http.idle_timeout", "must be at least 1s, got %s", h.IdleTimeout.Duration)
	}
	if err := checkMaxConnections(h.MaxConnections); err != nil {
		bad("http.max_connections", "%v", err)
	}
	o := &fc.Objections
	if o.PerAddressLimit < 1 || o.GlobalLimit < o.PerAddressLimit {
		bad("objections.global_limit", "per_address_limit must be at least 1 and global_limit at least per_address_limit, got %d and %d", o.PerAddressLimit, o.GlobalLimit)
	}
	if o.Window.Duration < time.Minute || o.Window.Duration > 7*24*time.Hour {
		bad("objections.window", "must be between 1m and 168h, got %s", o.Window.Duration)
	}
	switch fc.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", fc.Log.Level)
	}
	return errs
}

// defaultAuditKeyEnv holds the audit chain key unless audit.key_env or
// audit.key_file says otherwise.
const defaultAuditKeyEnv = "CARERECORD_AUDIT_KEY"

// checkAudit checks [audit] and reads the audit key.
func (fc *fileConfig) checkAudit(getenv func(string) string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fieldError{field, fmt.Sprintf(format, args...)})
	}
	au := &fc.Audit
	switch {
	case au.KeyFile != "" && au.KeyEnv != "":
		bad("audit.key_file", "give audit.key_file or audit.key_env, not both")
	case au.KeyFile != "":
		if k, err := store.LoadAuditKeyFile(au.KeyFile); err != nil {
			bad("audit.key_file", "%v", err)
		} else {
			fc.auditKey = k
		}
	default:
		v := getenv(au.KeyEnv)
		if strings.TrimSpace(v) == "" {
			bad("audit.key_env", "environment variable %s is not set (32 random bytes as base64 or hex, e.g. from `openssl rand -base64 32`); it keys the audit chain and must be kept outside the database", au.KeyEnv)
		} else if k, err := store.ParseAuditKey(v); err != nil {
			bad("audit.key_env", "environment variable %s is not 32 bytes written as base64 or as 64 hex digits", au.KeyEnv)
		} else {
			fc.auditKey = k
		}
	}
	if au.WitnessURL != "" {
		if u, err := url.Parse(au.WitnessURL); err != nil || u.Host == "" || !httpsOrLoopback(u) {
			bad("audit.witness_url", "must be an https URL (http only on loopback), got %q", au.WitnessURL)
		}
	}
	if d := au.CheckpointEvery.Duration; d < 100*time.Millisecond || d > time.Hour {
		bad("audit.checkpoint_every", "must be between 100ms and 1h, got %s", d)
	}
	if d := au.VerifyEvery.Duration; d < time.Minute || d > 7*24*time.Hour {
		bad("audit.verify_every", "must be between 1m and 168h, got %s", d)
	}
	return errs
}

func (fc *fileConfig) roleMap() (web.RoleMap, []error) {
	if len(fc.Roles) == 0 {
		return web.DefaultRoles(), nil
	}
	var errs []error
	m := web.RoleMap{}
	for i, r := range fc.Roles {
		field := fmt.Sprintf("roles[%d]", i)
		switch {
		case r.Code == "":
			errs = append(errs, fieldError{field + ".code", "required, e.g. R8000"})
			continue
		case r.Name == "":
			errs = append(errs, fieldError{field + ".name", "required, e.g. Clinical Practitioner"})
		case !web.Group(r.Group).Valid():
			errs = append(errs, fieldError{field + ".group", fmt.Sprintf("must be one of %v, got %q", web.Groups(), r.Group)})
		}
		if _, dup := m[r.Code]; dup {
			errs = append(errs, fieldError{field + ".code", fmt.Sprintf("%s is mapped twice", r.Code)})
		}
		m[r.Code] = web.RoleDef{Code: r.Code, Name: r.Name, Group: web.Group(r.Group)}
	}
	return m, errs
}

// decodeKey decodes a base64 key from the environment or a file; unset
// says how to make one.
func decodeKey(v, howToMake string) ([]byte, error) {
	if v == "" {
		return nil, errors.New("is not set (" + howToMake + ")")
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return nil, errors.New("is not valid base64")
	}
	return k, nil
}

// sessionKey decodes the base64 master key (at least 32 bytes).
func sessionKey(v string) ([]byte, error) {
	k, err := decodeKey(v, "base64 of at least 32 random bytes, e.g. from `openssl rand -base64 48`")
	if err != nil {
		return nil, err
	}
	if len(k) < 32 {
		return nil, fmt.Errorf("decodes to %d bytes; at least 32 are needed", len(k))
	}
	return k, nil
}

// cacheKey decodes the AES-256 key for the record cache as the store reads
// one (store.ParseCacheKey: exactly 32 bytes, so that a key is never
// silently stretched or cut, in base64 or in hex as the demo writes it).
func cacheKey(v string) ([]byte, error) {
	if strings.TrimSpace(v) == "" {
		return nil, errors.New("is not set (base64 of 32 random bytes, e.g. from `openssl rand -base64 32`)")
	}
	k, err := store.ParseCacheKey(v)
	if err != nil {
		return nil, errors.New("is not 32 bytes written as base64 or as 64 hex digits")
	}
	return k, nil
}

// deriveKeys turns one master secret into the independent keys the
// server needs: session cookie hash and encryption keys, and the CSRF key.
func deriveKeys(master []byte) (sessionKeys [][]byte, csrfKey []byte) {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, master)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return [][]byte{derive("carerecord session hash"), derive("carerecord session block")}, derive("carerecord csrf")
}

// httpsOrLoopback reports whether u is https, or plain http to this
// machine (a development or test peer).
func httpsOrLoopback(u *url.URL) bool {
	return u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname()))
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (fc *fileConfig) accessReasons() []web.AccessReason {
	var out []web.AccessReason
	for _, r := range fc.Access.Reasons {
		out = append(out, web.AccessReason{Code: r.Code, Label: r.Label, Groups: groups(r.Groups)})
	}
	return out
}

func groups(names []string) []web.Group {
	var out []web.Group
	for _, n := range names {
		out = append(out, web.Group(n))
	}
	return out
}

// parseAlertRules turns [alerts] into the store's rules.
func (fc *fileConfig) parseAlertRules() (store.AlertRules, error) {
	a := fc.Alerts
	r := store.AlertRules{ManyPatients: a.ManyPatients, ManyPatientsWindow: a.ManyPatientsWindow.Duration,
		Refusals: a.Refusals, RefusalWindow: a.RefusalWindow.Duration, Off: map[string]bool{}}
	for i, k := range a.Off {
		if !slices.Contains(store.AlertKinds, k) {
			return r, fieldError{fmt.Sprintf("alerts.off[%d]", i), fmt.Sprintf("must be one of %v, got %q", store.AlertKinds, k)}
		}
		r.Off[k] = true
	}
	clock := func(field, v string, def time.Duration) (time.Duration, error) {
		if v == "" {
			return def, nil
		}
		t, err := time.Parse("15:04", v)
		if err != nil {
			return 0, fieldError{field, fmt.Sprintf("must be a time like 08:00, got %q", v)}
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
	}
	var err error
	if r.DayStart, err = clock("alerts.working_day_start", a.WorkingDayStart, store.DefaultDayStart); err != nil {
		return r, err
	}
	if r.DayEnd, err = clock("alerts.working_day_end", a.WorkingDayEnd, store.DefaultDayEnd); err != nil {
		return r, err
	}
	if r.DayEnd <= r.DayStart {
		return r, fieldError{"alerts.working_day_end", "must be after alerts.working_day_start"}
	}
	if a.ManyPatients < 0 || a.Refusals < 0 {
		return r, fieldError{"alerts", "thresholds must not be negative"}
	}
	return r, nil
}

// httpLimits is [http] as the server takes it.
func (fc *fileConfig) httpLimits() httpLimits {
	h := fc.HTTP
	return httpLimits{ReadHeaderTimeout: h.ReadHeaderTimeout.Duration, ReadTimeout: h.ReadTimeout.Duration,
		WriteTimeout: h.WriteTimeout.Duration, IdleTimeout: h.IdleTimeout.Duration, MaxConnections: h.MaxConnections}
}

// objectionLimits is [objections] as web takes it.
func (fc *fileConfig) objectionLimits() web.ObjectionLimits {
	o := fc.Objections
	return web.ObjectionLimits{PerAddress: o.PerAddressLimit, Global: o.GlobalLimit, Window: o.Window.Duration}
}

// gpConnectSettings are the GP Connect consumer settings, with the JWT's
// issuer (carerecord's base URL) and the requesting device's version.
func (fc *fileConfig) gpConnectSettings() gpconnect.Settings {
	s := fc.GPConnect
	s.Issuer, s.Version = fc.BaseURL, version
	return s
}
