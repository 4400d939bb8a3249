// Package oidc signs staff in to carerecord over OpenID Connect, as a
// relying party of NHS Care Identity Service 2 (CIS2) or any OpenID
// provider that speaks the same claims: discovery from the issuer, the
// authorization code flow with PKCE, state and nonce, client
// authentication by private_key_jwt or client secret, the ID token checked
// (issuer, audience, expiry, signature from the provider's JWKS, which is
// fetched again when a new key id appears), userinfo read, and the
// provider's back-channel logout tokens verified.
//
// It knows nothing of carerecord's sessions or roles: it turns a callback
// into a verified Identity, and a logout token into the user and session
// it names. It must never log a token or a claim value.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// Config is one relying party registration with one provider.
type Config struct {
	// Issuer is the provider's issuer identifier; discovery reads
	// {Issuer}/.well-known/openid-configuration.
	Issuer string
	// ClientID is carerecord's client id at the provider.
	ClientID string
	// ClientKey, when set, authenticates carerecord at the token endpoint
	// by private_key_jwt (RFC 7523), CIS2's preferred method; its public
	// half is published by JWKS. Otherwise ClientSecret is sent
	// (client_secret_post).
	ClientKey    *rsa.PrivateKey
	ClientSecret string
	// AssertionAudience is the audience of the client assertion:
	// "token_endpoint" (the default, as CIS2 asks) or "issuer".
	AssertionAudience string
	// RedirectURL is carerecord's callback, registered at the provider.
	RedirectURL string
	// Scopes asked for; "openid" is always included.
	Scopes []string
	// Claims names the claims read; DefaultClaims has CIS2's.
	Claims ClaimMap
	// ClockSkew is how far the provider's clock may be from ours.
	ClockSkew time.Duration
	// HTTPClient reaches the provider; http.DefaultClient when nil.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// DefaultScopes are CIS2's: the user's national RBAC role profiles and
// the role they selected at sign-in.
var DefaultScopes = []string{"openid", "profile", "nationalrbacaccess", "selectedrole"}

// ClaimMap names the claims carerecord reads. Each is looked for in the
// ID token first, then in the userinfo response.
type ClaimMap struct {
	UserID       string // a stable user identifier: CIS2's nhsid_useruid (the UUID, not sub, which differs per client)
	Name         string
	Roles        string // an array of role profile objects
	SelectedRole string // the id of the role the user chose at the provider
	Assurance    string // the authentication assurance level, "3" for a smartcard
	// UserOrgs, optional, is an array of {org_code, org_name} from which
	// an organisation's name is found when the role profile lacks it.
	UserOrgs string
	// Inside each role profile object:
	RoleID   string // person_roleid
	RoleCode string // role_code, e.g. "S8000:G8000:R8000": the last part is the role
	OrgCode  string // org_code, the organisation's ODS code
	RoleName string // role_name
	OrgName  string // org_name, when the provider puts it in the role profile
}

// DefaultClaims are the claims CIS2 releases (NHS CIS2 Authentication,
// "Claims and scopes").
func DefaultClaims() ClaimMap {
	return ClaimMap{
		UserID: "nhsid_useruid", Name: "name", Roles: "nhsid_nrbac_roles", SelectedRole: "selected_roleid",
		Assurance: "authentication_assurance_level", UserOrgs: "nhsid_user_orgs",
		RoleID: "person_roleid", RoleCode: "role_code", OrgCode: "org_code", RoleName: "role_name", OrgName: "org_name",
	}
}

// Identity is what a verified sign-in says about the user.
type Identity struct {
	UserID       string
	Name         string
	Roles        []Role
	SelectedRole string // a Role.ID, or "" when the provider named none
	Assurance    int    // 0 when the provider asserted none or an unreadable one
	// Subject and SessionID (sid) are what a back-channel logout token
	// names; IDToken is sent back as id_token_hint at sign-out.
	Subject   string
	SessionID string
	IDToken   string
	// Expiry is the ID token's.
	Expiry time.Time
}

// Role is one role profile.
type Role struct {
	ID       string
	Code     string // the role code carerecord maps (R8000)
	FullCode string // as the provider sent it (S8000:G8000:R8000)
	Name     string
	ODS      string
	OrgName  string
}

// Client is the relying party. Discovery happens on first use (and again
// after a failure), so that carerecord starts even when the provider is
// unreachable, and the development provider can be served by the same
// process.
type Client struct {
	cfg   Config
	keyID string

	mu       sync.Mutex
	provider *gooidc.Provider
	meta     providerMeta
}

type providerMeta struct {
	EndSession         string   `json:"end_session_endpoint"`
	BackChannelLogout  bool     `json:"backchannel_logout_supported"`
	TokenAuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeAlgos []string `json:"code_challenge_methods_supported"`
}

// New checks cfg and returns the client; it does not contact the provider.
func New(cfg Config) (*Client, error) {
	var errs []error
	if cfg.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("client id is required"))
	}
	if cfg.ClientKey == nil && cfg.ClientSecret == "" {
		errs = append(errs, errors.New("a client key (private_key_jwt) or a client secret is required"))
	}
	if cfg.RedirectURL == "" {
		errs = append(errs, errors.New("redirect URL is required"))
	}
	switch cfg.AssertionAudience {
	case "":
		cfg.AssertionAudience = "token_endpoint"
	case "token_endpoint", "issuer":
	default:
		errs = append(errs, fmt.Errorf("assertion audience must be token_endpoint or issuer, got %q", cfg.AssertionAudience))
	}
	if cfg.Claims.UserID == "" || cfg.Claims.Roles == "" || cfg.Claims.RoleCode == "" || cfg.Claims.OrgCode == "" {
		errs = append(errs, errors.New("claim names for user id, roles, role code and organisation code are required"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("oidc: %w", errors.Join(errs...))
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if !containsString(cfg.Scopes, gooidc.ScopeOpenID) {
		cfg.Scopes = append([]string{gooidc.ScopeOpenID}, cfg.Scopes...)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg}
	if cfg.ClientKey != nil {
		c.keyID = KeyID(&cfg.ClientKey.PublicKey)
	}
	return c, nil
}

// Issuer is the configured issuer.
func (c *Client) Issuer() string { return c.cfg.Issuer }

// KeyID names a public key in a JWKS: the hex SHA-256 of its DER form,
// cut short, so that the id changes whenever the key does.
func KeyID(pub *rsa.PublicKey) string {
	sum := sha256.Sum256(pub.N.Bytes())
	return hex.EncodeToString(sum[:8])
}

// JWKS is the public half of the client key, for the provider to verify
// client assertions; empty when the client authenticates by secret.
func (c *Client) JWKS() jose.JSONWebKeySet {
	if c.cfg.ClientKey == nil {
		return jose.JSONWebKeySet{}
	}
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &c.cfg.ClientKey.PublicKey, KeyID: c.keyID,
		Algorithm: string(jose.RS256), Use: "sig"}}}
}

func (c *Client) ctx(ctx context.Context) context.Context {
	ctx = gooidc.ClientContext(ctx, c.cfg.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, c.cfg.HTTPClient)
}

// discover returns the provider, reading its discovery document the first
// time. go-oidc checks that the document names the configured issuer.
func (c *Client) discover(ctx context.Context) (*gooidc.Provider, providerMeta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, c.meta, nil
	}
	p, err := gooidc.NewProvider(c.ctx(ctx), c.cfg.Issuer)
	if err != nil {
		return nil, providerMeta{}, fmt.Errorf("oidc: discovery: %w", err)
	}
	var m providerMeta
	if err := p.Claims(&m); err != nil {
		return nil, providerMeta{}, fmt.Errorf("oidc: discovery document: %w", err)
	}
	c.provider, c.meta = p, m
	return p, m, nil
}

func (c *Client) oauth2(p *gooidc.Provider) *oauth2.Config {
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, Endpoint: ep,
		RedirectURL: c.cfg.RedirectURL, Scopes: c.cfg.Scopes}
}

// Start is one sign-in in progress: what the callback must match.
type Start struct {
	State    string
	Nonce    string
	Verifier string // the PKCE code verifier
}

// NewStart makes fresh random values for a sign-in.
func NewStart() Start {
	return Start{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier()}
}

// AuthCodeURL is the provider's authorization endpoint for st. With
// fresh, the provider is asked to authenticate the user again (prompt=login,
// max_age=0) rather than reuse its own session, as after an idle lock.
func (c *Client) AuthCodeURL(ctx context.Context, st Start, fresh bool) (string, error) {
	p, _, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{gooidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)}
	if fresh {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	return c.oauth2(p).AuthCodeURL(st.State, opts...), nil
}

// Exchange turns the callback's code into a verified Identity: the code
// is exchanged with the PKCE verifier and client authentication, the ID
// token verified (issuer, audience, expiry, signature, nonce), and the
// userinfo endpoint read with the access token.
func (c *Client) Exchange(ctx context.Context, code string, st Start) (*Identity, error) {
	p, _, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	ctx = c.ctx(ctx)
	cfg := c.oauth2(p)
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(st.Verifier)}
	if c.cfg.ClientKey != nil {
		aud := p.Endpoint().TokenURL
		if c.cfg.AssertionAudience == "issuer" {
			aud = c.cfg.Issuer
		}
		assertion, err := c.clientAssertion(aud)
		if err != nil {
			return nil, err
		}
		opts = append(opts,
			oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
			oauth2.SetAuthURLParam("client_assertion", assertion))
	}
	tok, err := cfg.Exchange(ctx, code, opts...)
	if err != nil {
		return nil, &Error{Kind: ErrExchange, Err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, &Error{Kind: ErrExchange, Err: errors.New("the token response has no id_token")}
	}
	idt, err := c.verifier(p).Verify(ctx, raw)
	if err != nil {
		return nil, classify(err)
	}
	if idt.Nonce != st.Nonce {
		return nil, &Error{Kind: ErrNonce, Err: errors.New("the ID token's nonce is not the one this sign-in sent")}
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, &Error{Kind: ErrInvalid, Err: err}
		}
	}
	var idClaims map[string]json.RawMessage
	if err := idt.Claims(&idClaims); err != nil {
		return nil, &Error{Kind: ErrInvalid, Err: err}
	}
	claims := map[string]json.RawMessage{}
	if p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, &Error{Kind: ErrUserinfo, Err: err}
		}
		// "The sub Claim in the UserInfo Response MUST be verified to
		// exactly match the sub Claim in the ID Token" (OIDC Core 5.3.2).
		if ui.Subject != idt.Subject {
			return nil, &Error{Kind: ErrUserinfo, Err: errors.New("the userinfo subject is not the ID token's")}
		}
		if err := ui.Claims(&claims); err != nil {
			return nil, &Error{Kind: ErrUserinfo, Err: err}
		}
	}
	// The ID token is signed by the provider; its claims win.
	for k, v := range idClaims {
		claims[k] = v
	}
	id, err := c.cfg.Claims.identity(claims)
	if err != nil {
		return nil, &Error{Kind: ErrClaims, Err: err}
	}
	id.Subject, id.IDToken, id.Expiry = idt.Subject, raw, idt.Expiry
	_ = readString(claims, "sid", &id.SessionID)
	return id, nil
}

func (c *Client) verifier(p *gooidc.Provider) *gooidc.IDTokenVerifier {
	skew := c.cfg.ClockSkew
	return p.Verifier(&gooidc.Config{ClientID: c.cfg.ClientID, Now: func() time.Time { return c.cfg.Now().Add(-skew) }})
}

// clientAssertion is the private_key_jwt client assertion (RFC 7523
// section 2.2; OIDC Core section 9): iss and sub are the client id, aud
// the token endpoint, a unique jti, and a short expiry.
func (c *Client) clientAssertion(aud string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: c.cfg.ClientKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), c.keyID))
	if err != nil {
		return "", fmt.Errorf("oidc: client assertion: %w", err)
	}
	// The provider checks iat and exp against its own clock: the wall
	// clock, never a clock carerecord was configured with.
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{
		"iss": c.cfg.ClientID, "sub": c.cfg.ClientID, "aud": aud, "jti": random(),
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	})
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("oidc: client assertion: %w", err)
	}
	return jws.CompactSerialize()
}

// LogoutToken is what a verified back-channel logout token names.
type LogoutToken struct {
	Subject   string
	SessionID string
	ID        string // jti, for replay detection
	Expiry    time.Time
}

// VerifyLogoutToken checks a back-channel logout token (OpenID Connect
// Back-Channel Logout 1.0, section 2.6): signed by the provider, issued by
// it, for this client, not expired, with the logout event, a jti, sub or
// sid, and no nonce.
func (c *Client) VerifyLogoutToken(ctx context.Context, raw string) (*LogoutToken, error) {
	p, _, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	lt, err := c.verifier(p).VerifyLogout(c.ctx(ctx), raw)
	if err != nil {
		return nil, classify(err)
	}
	return &LogoutToken{Subject: lt.Subject, SessionID: lt.SessionID, ID: lt.TokenID, Expiry: lt.Expiry}, nil
}

// EndSessionURL is where to send the browser to end the provider's
// session (OpenID Connect RP-Initiated Logout 1.0), or "" when the
// provider publishes no end_session_endpoint.
func (c *Client) EndSessionURL(ctx context.Context, idToken, postLogout string) (string, error) {
	_, m, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	if m.EndSession == "" {
		return "", nil
	}
	q := []string{"client_id=" + urlEscape(c.cfg.ClientID)}
	if idToken != "" {
		q = append(q, "id_token_hint="+urlEscape(idToken))
	}
	if postLogout != "" {
		q = append(q, "post_logout_redirect_uri="+urlEscape(postLogout))
	}
	sep := "?"
	if strings.Contains(m.EndSession, "?") {
		sep = "&"
	}
	return m.EndSession + sep + strings.Join(q, "&"), nil
}

// identity reads the mapped claims.
func (m ClaimMap) identity(claims map[string]json.RawMessage) (*Identity, error) {
	id := &Identity{}
	if err := readString(claims, m.UserID, &id.UserID); err != nil || id.UserID == "" {
		return nil, fmt.Errorf("no %q claim (the user id)", m.UserID)
	}
	_ = readString(claims, m.Name, &id.Name)
	if id.Name == "" {
		var given, family string
		_ = readString(claims, "given_name", &given)
		_ = readString(claims, "family_name", &family)
		id.Name = strings.TrimSpace(given + " " + family)
	}
	if id.Name == "" {
		id.Name = id.UserID
	}
	_ = readString(claims, m.SelectedRole, &id.SelectedRole)
	var aal string
	_ = readString(claims, m.Assurance, &aal)
	id.Assurance = ParseAssurance(aal)

	orgNames := map[string]string{}
	if m.UserOrgs != "" {
		var orgs []map[string]json.RawMessage
		if raw, ok := claims[m.UserOrgs]; ok && json.Unmarshal(raw, &orgs) == nil {
			for _, o := range orgs {
				var code, name string
				_ = readString(o, m.OrgCode, &code)
				_ = readString(o, "org_name", &name)
				if code != "" {
					orgNames[code] = name
				}
			}
		}
	}
	var roles []map[string]json.RawMessage
	if raw, ok := claims[m.Roles]; ok {
		if err := json.Unmarshal(raw, &roles); err != nil {
			return nil, fmt.Errorf("the %q claim is not an array of role profiles", m.Roles)
		}
	}
	for _, r := range roles {
		var role Role
		_ = readString(r, m.RoleID, &role.ID)
		_ = readString(r, m.RoleCode, &role.FullCode)
		_ = readString(r, m.OrgCode, &role.ODS)
		_ = readString(r, m.RoleName, &role.Name)
		_ = readString(r, m.OrgName, &role.OrgName)
		if role.FullCode == "" || role.ODS == "" {
			continue // a profile we cannot read grants nothing
		}
		// CIS2's role_code is job role category:subgroup:role, e.g.
		// S8000:G8000:R8000; the role is the last part.
		parts := strings.Split(role.FullCode, ":")
		role.Code = strings.TrimSpace(parts[len(parts)-1])
		if role.OrgName == "" {
			role.OrgName = orgNames[role.ODS]
		}
		id.Roles = append(id.Roles, role)
	}
	return id, nil
}

// ParseAssurance reads "3", "AAL3" or a URI ending in the level; anything
// else is level 0.
func ParseAssurance(v string) int {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v[len(v)-1:])
	if err != nil || n < 0 || n > 3 {
		return 0
	}
	return n
}

// readString reads a claim that is a string or a number.
func readString(claims map[string]json.RawMessage, name string, out *string) error {
	if name == "" {
		return errors.New("no claim name")
	}
	raw, ok := claims[name]
	if !ok {
		return errors.New("absent")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		*out = strings.TrimSpace(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		*out = n.String()
		return nil
	}
	return errors.New("not a string")
}

// ErrorKind says which check a sign-in failed, for the log and the audit.
type ErrorKind string

// The kinds of failure.
const (
	ErrExchange  ErrorKind = "code exchange refused"
	ErrIssuer    ErrorKind = "wrong issuer"
	ErrAudience  ErrorKind = "wrong audience"
	ErrExpired   ErrorKind = "expired"
	ErrSignature ErrorKind = "bad signature"
	ErrNonce     ErrorKind = "nonce mismatch"
	ErrInvalid   ErrorKind = "invalid token"
	ErrUserinfo  ErrorKind = "userinfo refused"
	ErrClaims    ErrorKind = "claims unreadable"
)

// Error is a failed check.
type Error struct {
	Kind ErrorKind
	Err  error
}

func (e *Error) Error() string { return "oidc: " + string(e.Kind) + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Classify names go-oidc's verification errors, as an *Error.
func Classify(err error) error { return classify(err) }

// classify names go-oidc's verification errors.
func classify(err error) error {
	var exp *gooidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &exp):
		return &Error{Kind: ErrExpired, Err: err}
	case strings.Contains(msg, "different provider"):
		return &Error{Kind: ErrIssuer, Err: err}
	case strings.Contains(msg, "audience"):
		return &Error{Kind: ErrAudience, Err: err}
	case strings.Contains(msg, "signature"):
		return &Error{Kind: ErrSignature, Err: err}
	}
	return &Error{Kind: ErrInvalid, Err: err}
}

func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func containsString(ss []string, s string) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

func urlEscape(s string) string { return url.QueryEscape(s) }
