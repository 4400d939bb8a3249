package web

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crewjam/saml"

	"github.com/carerecord/carerecord/web/nhslogin"
	"github.com/carerecord/carerecord/web/oidc"
	"github.com/carerecord/carerecord/web/smart"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
)

// Config is everything the server needs, already parsed and checked by
// the caller (cmd/carerecord reads it from the configuration file).
type Config struct {
	// BaseURL is the public address users reach, e.g. https://care.example.nhs.uk.
	// Cookies are Secure and HSTS is sent whenever it is https.
	BaseURL *url.URL

	// SPKey and SPCert sign AuthnRequests and identify the service provider.
	SPKey  *rsa.PrivateKey
	SPCert *x509.Certificate
	// IDPMetadata is the SAML identity provider's metadata; nil when the
	// deployment offers no SAML sign-in.
	IDPMetadata *saml.EntityDescriptor
	// RequestWindow is how long a sign-in started here may take at the IdP
	// (a smartcard PIN typed slowly included).
	RequestWindow time.Duration
	// SAMLClockSkew is how far the SAML IdP's clock may be from ours, on
	// top of the time a response may take to arrive; 3 minutes when zero.
	SAMLClockSkew time.Duration

	// OIDC, when set, offers sign-in over OpenID Connect (NHS CIS2).
	// A deployment offers SAML, OpenID Connect or both; the landing page
	// has a button for each.
	OIDC *oidc.Client
	// SMART, when set, lets the configured EPRs launch carerecord in
	// patient context (SMART App Launch 2.0 EHR launch).
	SMART *smart.Client
	// NHSLogin, when set, offers patients their own pages at /my-record,
	// signed in with NHS login (web/nhslogin).
	NHSLogin *nhslogin.Client
	// Patients configures those pages.
	Patients PatientPages
	// OIDCLabel names the OpenID provider on the landing page's button,
	// e.g. "NHS Care Identity Service"; OIDCClientID is ours there.
	OIDCLabel string

	Attributes   AttributeMap
	Roles        RoleMap
	MinAssurance int // 0 accepts any level; 3 requires a smartcard (AAL3)

	IdleTimeout time.Duration // idle time after which the session locks
	MaxLifetime time.Duration // absolute session lifetime

	// SessionKeys sign and encrypt the session cookie: a 32- or 64-byte
	// hash key, then optionally a 32-byte encryption key (gorilla/securecookie).
	SessionKeys [][]byte
	// CSRFKey keys the CSRF token's MAC.
	CSRFKey []byte

	// AccessReasons are the legitimate-relationship reasons a user can
	// give before a record opens; break glass is always offered besides.
	AccessReasons []AccessReason
	// BreakGlassGroups are the role groups offered emergency access
	// (default DefaultBreakGlassGroups).
	BreakGlassGroups []Group
	// GrantLifetime is how long a stated reason holds for that patient in
	// the session; BreakGlassLifetime, shorter, for emergency access.
	GrantLifetime      time.Duration
	BreakGlassLifetime time.Duration
	// ObjectionLimits bound stored objection forms per address and in
	// all (DefaultObjectionLimits when zero).
	ObjectionLimits ObjectionLimits
	// AllowObjectionOverride lets a user override a patient's upheld
	// objection in an emergency, with a written reason (off by default).
	AllowObjectionOverride bool
	// ClinicalPagesWhenAuditRefused keeps patient search and records
	// available when the audit log does not match its witness
	// (store.DB.AuditAlarm). Off by default: they are refused.
	ClinicalPagesWhenAuditRefused bool

	// Records fans out to the configured sources and caches their answers.
	// Nil when no source is configured: search and records say so.
	Records *records.Records
	// GPPractices are the ODS codes of sources configured as GP practices
	// (sources' gp_practice); a source whose code has a practice's form
	// is one too. A restricted patient's practice is never named.
	GPPractices map[string]bool

	// DevIdP, when set, is mounted at /devidp/ and every page carries a
	// "development sign-in" warning. Never set in production unless the
	// configuration explicitly enables it.
	DevIdP http.Handler
	// DevOP, when set, is the development OpenID provider, mounted under
	// its issuer's path with the routes it lists.
	DevOP DevOP
	// DevNHSLogin, when set, is the development NHS login (patients),
	// mounted likewise.
	DevNHSLogin DevOP

	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For header names the client. Empty: the peer address is
	// the client, and X-Forwarded-For is ignored (it could be forged to
	// dodge rate limits or mislead the audit log).
	TrustedProxies []*net.IPNet

	Logger  *slog.Logger
	Version string
	Now     func() time.Time // the clock; time.Now when nil
}

// PatientPages configures the patients' own pages.
type PatientPages struct {
	// ShowStaffNames shows patients the name of each person who opened
	// their record; off (the default), they see the organisation and role.
	ShowStaffNames bool
	// AutoUphold upholds a P9-verified patient's objection (or withdrawal)
	// at once, without waiting for an IG officer's decision.
	AutoUphold bool
}

// DevOP is the development OpenID provider as the server mounts it.
type DevOP interface {
	http.Handler
	Routes() [][2]string // method and path
}

// AttributeMap names the SAML attributes carerecord reads. Names differ
// between identity providers, so they are configuration.
type AttributeMap struct {
	UserID      string // a stable user identifier (never the transient NameID)
	DisplayName string
	// Role profiles come in one of two shapes. Combined: RoleProfile is
	// multi-valued, one value per profile, which RoleProfileSeparator
	// splits into role code, organisation ODS code and organisation name.
	RoleProfile          string
	RoleProfileSeparator string
	// Separate: RoleCode and RoleOrgCode (and optionally RoleOrgName) are
	// multi-valued attributes read in step, the nth values making the nth
	// profile; one organisation value applies to every role.
	RoleCode    string
	RoleOrgCode string
	RoleOrgName string
	Assurance   string // "AAL3", "3", ...
	// AuthnContext maps an AuthnContextClassRef to an assurance level,
	// used when the assertion carries no Assurance attribute.
	AuthnContext map[string]int
	// UserNHSNumber, optional, names an attribute holding the user's own
	// NHS number (for the own-record alert).
	UserNHSNumber string
}

// AccessReason is one reason for access a user may choose.
type AccessReason struct {
	Code  string
	Label string
	// Groups are the role groups offered the reason; empty offers it to
	// every group that may open a record. A clerk is not offered direct
	// care.
	Groups []Group
}

// For reports whether the reason is offered to group g.
func (r AccessReason) For(g Group) bool { return len(r.Groups) == 0 || slices.Contains(r.Groups, g) }

// BreakGlass is the reason code of emergency access.
const BreakGlass = "break-glass"

// DefaultAccessReasons is the list used when the configuration gives none.
func DefaultAccessReasons() []AccessReason {
	clinical := []Group{GroupClinical}
	return []AccessReason{
		{"direct-care", "I am providing direct care to this patient", clinical},
		{"referral", "I am assessing a referral for this patient", clinical},
		{"follow-up", "I am following up this patient's results, discharge or clinic letter", clinical},
		{"care-admin", "I am arranging this patient's care or appointments", []Group{GroupClinical, GroupClerical}},
	}
}

// DefaultBreakGlassGroups are the role groups offered emergency access
// when the configuration names none: clinical staff only.
func DefaultBreakGlassGroups() []Group {
	return []Group{GroupClinical}
}

// DefaultAuthnContext maps the SAML 2.0 authentication context classes
// (SAML Authn Context, section 3.4) to assurance levels: a smartcard or
// other certificate on hardware is level 3, a second factor level 2, a
// password level 1.
func DefaultAuthnContext() map[string]int {
	const c = "urn:oasis:names:tc:SAML:2.0:ac:classes:"
	return map[string]int{
		c + "SmartcardPKI": 3, c + "Smartcard": 3, c + "SoftwarePKI": 2, c + "X509": 2,
		c + "MobileTwoFactorContract": 2, c + "TimeSyncToken": 2,
		c + "PasswordProtectedTransport": 1, c + "Password": 1,
	}
}

// DefaultAttributes are the names the development IdP asserts.
func DefaultAttributes() AttributeMap {
	return AttributeMap{UserID: "uid", DisplayName: "displayName", RoleProfile: "roleProfile", RoleProfileSeparator: "|",
		Assurance: "assuranceLevel", UserNHSNumber: "nhsNumber"}
}

func (c *Config) validate() error {
	var errs []error
	if c.BaseURL == nil || c.BaseURL.Host == "" || (c.BaseURL.Scheme != "http" && c.BaseURL.Scheme != "https") {
		errs = append(errs, errors.New("base URL must be an absolute http(s) URL"))
	}
	if c.SPKey == nil || c.SPCert == nil {
		errs = append(errs, errors.New("service provider key and certificate are required"))
	}
	if c.IDPMetadata == nil && c.OIDC == nil {
		errs = append(errs, errors.New("a sign-in is required: SAML identity provider metadata, OpenID Connect, or both"))
	}
	if c.IDPMetadata != nil {
		a := c.Attributes
		if a.UserID == "" || (a.RoleProfile == "" && (a.RoleCode == "" || a.RoleOrgCode == "")) {
			errs = append(errs, errors.New("attribute names for user id and role profile (combined, or role code and organisation code) are required"))
		}
		if a.RoleProfile != "" && a.RoleProfileSeparator == "" {
			errs = append(errs, errors.New("role profile separator is empty"))
		}
		if a.RoleProfile != "" && a.RoleCode != "" {
			errs = append(errs, errors.New("role profiles come from a combined attribute or from separate ones, not both"))
		}
	}
	if c.SAMLClockSkew == 0 {
		c.SAMLClockSkew = 3 * time.Minute
	}
	if c.SAMLClockSkew < 0 || c.SAMLClockSkew > 15*time.Minute {
		errs = append(errs, errors.New("SAML clock skew must be between 0 and 15 minutes"))
	}
	if c.Attributes.AuthnContext == nil {
		c.Attributes.AuthnContext = DefaultAuthnContext()
	}
	if c.OIDCLabel == "" {
		c.OIDCLabel = "NHS Care Identity Service"
	}
	if err := c.Roles.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.IdleTimeout <= 0 || c.MaxLifetime <= 0 || c.IdleTimeout > c.MaxLifetime {
		errs = append(errs, errors.New("session idle timeout and lifetime must be positive, idle no longer than lifetime"))
	}
	if c.RequestWindow < 30*time.Second {
		errs = append(errs, errors.New("sign-in request window must be at least 30s"))
	}
	if len(c.SessionKeys) == 0 || len(c.SessionKeys[0]) < 32 {
		errs = append(errs, errors.New("session hash key must be at least 32 bytes"))
	}
	if len(c.BreakGlassGroups) == 0 {
		c.BreakGlassGroups = DefaultBreakGlassGroups()
	}
	if len(c.AccessReasons) == 0 {
		c.AccessReasons = DefaultAccessReasons()
	}
	for _, r := range c.AccessReasons {
		if r.Code == "" || r.Label == "" || r.Code == BreakGlass {
			errs = append(errs, fmt.Errorf("access reason %q: needs a code (not %q) and a label", r.Code, BreakGlass))
		}
		for _, g := range r.Groups {
			if !g.Valid() {
				errs = append(errs, fmt.Errorf("access reason %q: unknown role group %q", r.Code, g))
			}
		}
	}
	for _, g := range c.BreakGlassGroups {
		if !g.Valid() {
			errs = append(errs, fmt.Errorf("break glass: unknown role group %q", g))
		}
	}
	if c.GrantLifetime == 0 {
		c.GrantLifetime = 4 * time.Hour
	}
	if c.BreakGlassLifetime == 0 {
		c.BreakGlassLifetime = 30 * time.Minute
	}
	if c.BreakGlassLifetime > c.GrantLifetime {
		errs = append(errs, errors.New("break-glass lifetime must not be longer than the reason lifetime"))
	}
	if c.ObjectionLimits == (ObjectionLimits{}) {
		c.ObjectionLimits = DefaultObjectionLimits()
	}
	if l := c.ObjectionLimits; l.PerAddress < 1 || l.Global < l.PerAddress || l.Window <= 0 {
		errs = append(errs, errors.New("objection limits: per address at least 1, global at least per address, window positive"))
	}
	if len(c.CSRFKey) < 32 {
		errs = append(errs, errors.New("CSRF key must be at least 32 bytes"))
	}
	return errors.Join(errs...)
}

// Identity is what a verified assertion says about the user.
type Identity struct {
	UserID      string
	DisplayName string
	Profiles    []store.RoleProfile // only those with a mapped role code
	Unmapped    []string            // role codes asserted but not mapped
	Assurance   int
	NHSNumber   string // the user's own, if asserted and valid
}

// identity reads the configured attributes from an assertion.
func (m AttributeMap) identity(a *saml.Assertion, roles RoleMap) (Identity, error) {
	var id Identity
	values := func(name string) []string {
		var out []string
		for _, st := range a.AttributeStatements {
			for _, at := range st.Attributes {
				if at.Name == name || (at.FriendlyName != "" && at.FriendlyName == name) {
					for _, v := range at.Values {
						out = append(out, strings.TrimSpace(v.Value))
					}
				}
			}
		}
		return out
	}
	first := func(name string) string {
		if name == "" {
			return ""
		}
		if v := values(name); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	id.UserID = first(m.UserID)
	if id.UserID == "" {
		return id, fmt.Errorf("the assertion has no %q attribute (the user id)", m.UserID)
	}
	id.DisplayName = first(m.DisplayName)
	if id.DisplayName == "" {
		id.DisplayName = id.UserID
	}
	addProfile := func(code, ods, org string) {
		p := store.RoleProfile{Code: strings.TrimSpace(code), ODS: strings.TrimSpace(ods), OrgName: strings.TrimSpace(org)}
		if p.Code == "" || p.ODS == "" {
			return // a value we cannot read grants nothing
		}
		if _, ok := roles[p.Code]; !ok {
			id.Unmapped = append(id.Unmapped, p.Code)
			return
		}
		id.Profiles = append(id.Profiles, p)
	}
	if m.RoleProfile != "" {
		for _, v := range values(m.RoleProfile) {
			parts := strings.SplitN(v, m.RoleProfileSeparator, 3)
			if len(parts) < 2 {
				continue
			}
			org := ""
			if len(parts) == 3 {
				org = parts[2]
			}
			addProfile(parts[0], parts[1], org)
		}
	} else {
		codes, orgs, names := values(m.RoleCode), values(m.RoleOrgCode), []string(nil)
		if m.RoleOrgName != "" {
			names = values(m.RoleOrgName)
		}
		// The nth code goes with the nth organisation; a single
		// organisation goes with every code. Any other count cannot be
		// paired safely, so grants nothing.
		if len(orgs) != 1 && len(orgs) != len(codes) {
			return id, fmt.Errorf("%d %q values but %d %q values: role profiles cannot be paired", len(codes), m.RoleCode, len(orgs), m.RoleOrgCode)
		}
		for i, code := range codes {
			j := i
			if len(orgs) == 1 {
				j = 0
			}
			name := ""
			if j < len(names) && (len(names) == len(orgs)) {
				name = names[j]
			}
			addProfile(code, orgs[j], name)
		}
	}
	if v := first(m.Assurance); v != "" {
		id.Assurance = parseAssurance(v)
	} else if len(a.AuthnStatements) > 0 && a.AuthnStatements[0].AuthnContext.AuthnContextClassRef != nil {
		// No assurance attribute: the standard AuthnContextClassRef says
		// how the user authenticated, mapped by configuration.
		id.Assurance = m.AuthnContext[strings.TrimSpace(a.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value)]
	}
	if n, err := connectors.ParseNHSNumber(first(m.UserNHSNumber)); err == nil {
		id.NHSNumber = n
	}
	return id, nil
}

// parseAssurance reads "AAL3", "aal3", "3" or a level-of-assurance URI
// ending in the digit; anything else is level 0.
func parseAssurance(v string) int {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	last := v[len(v)-1:]
	n, err := strconv.Atoi(last)
	if err != nil || n < 0 || n > 3 {
		return 0
	}
	return n
}
