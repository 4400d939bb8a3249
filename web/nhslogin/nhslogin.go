// Package nhslogin signs patients in to carerecord with NHS login, as an
// OpenID Connect relying party: discovery from the issuer, the
// authorization code flow with PKCE, state and nonce, client
// authentication by private_key_jwt signed RS512 (as NHS login requires),
// the vector of trust asked for (vtr) and the one granted (vot) checked,
// the ID token verified (issuer, audience, expiry, signature from NHS
// login's JWKS), and the patient's claims read from the ID token and the
// userinfo endpoint: nhs_number, identity_proofing_level, birthdate,
// family_name, given_name.
//
// It knows nothing of carerecord's sessions: it turns a callback into a
// verified Patient. It must never log a token or a claim value: an NHS
// number, a name and a date of birth are personal data.
package nhslogin

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/web/oidc"
)

// Config is carerecord's registration with NHS login.
type Config struct {
	// Issuer is NHS login's issuer, e.g. https://auth.login.nhs.uk.
	Issuer   string
	ClientID string
	// ClientKey signs the private_key_jwt client assertions (RS512); its
	// public half is given to NHS login at registration (JWKS).
	ClientKey   *rsa.PrivateKey
	RedirectURL string
	// Scopes asked for; DefaultScopes when empty.
	Scopes []string
	// VTR is the vector of trust asked for; DefaultVTR when empty.
	VTR string
	// MinLevel is the identity proofing level required: "P9" (the
	// default) or "P5".
	MinLevel   string
	ClockSkew  time.Duration
	HTTPClient *http.Client
	Now        func() time.Time
}

// DefaultScopes: the patient's identity, NHS number and date of birth
// ("profile" at NHS login carries nhs_number, birthdate, family_name,
// given_name and identity_proofing_level).
var DefaultScopes = []string{"openid", "profile"}

// DefaultVTR asks for high identity proofing (P9) with any of NHS login's
// strong authentication methods (NHS login "Vectors of trust").
const DefaultVTR = `["P9.Cp.Cd","P9.Cp.Ck","P9.Cm"]`

// Patient is what a verified NHS login says of the person.
type Patient struct {
	Subject       string
	NHSNumber     string
	GivenName     string
	FamilyName    string
	BirthDate     connectors.Date
	ProofingLevel string // "P9", "P5"
	VOT           string // the vector of trust granted, e.g. P9.Cp.Cd
	IDToken       string
	Expiry        time.Time
}

// Client is the relying party.
type Client struct {
	cfg   Config
	keyID string

	mu       sync.Mutex
	provider *gooidc.Provider
}

// New checks cfg; it does not contact NHS login.
func New(cfg Config) (*Client, error) {
	var errs []error
	if cfg.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("client id is required"))
	}
	if cfg.ClientKey == nil {
		errs = append(errs, errors.New("a client key is required (NHS login authenticates clients by private_key_jwt)"))
	}
	if cfg.RedirectURL == "" {
		errs = append(errs, errors.New("redirect URL is required"))
	}
	switch cfg.MinLevel {
	case "":
		cfg.MinLevel = "P9"
	case "P9", "P5":
	default:
		errs = append(errs, fmt.Errorf("minimum identity level must be P9 or P5, got %q", cfg.MinLevel))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("nhslogin: %w", errors.Join(errs...))
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if cfg.VTR == "" {
		cfg.VTR = DefaultVTR
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg, keyID: oidc.KeyID(&cfg.ClientKey.PublicKey)}, nil
}

// Issuer is the configured issuer.
func (c *Client) Issuer() string { return c.cfg.Issuer }

// JWKS is the public half of the client key, for NHS login to verify the
// client assertions.
func (c *Client) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &c.cfg.ClientKey.PublicKey, KeyID: c.keyID,
		Algorithm: string(jose.RS512), Use: "sig"}}}
}

func (c *Client) ctx(ctx context.Context) context.Context {
	ctx = gooidc.ClientContext(ctx, c.cfg.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, c.cfg.HTTPClient)
}

func (c *Client) discover(ctx context.Context) (*gooidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, nil
	}
	p, err := gooidc.NewProvider(c.ctx(ctx), c.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("nhslogin: discovery: %w", err)
	}
	c.provider = p
	return p, nil
}

func (c *Client) oauth2(p *gooidc.Provider) *oauth2.Config {
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	return &oauth2.Config{ClientID: c.cfg.ClientID, Endpoint: ep, RedirectURL: c.cfg.RedirectURL, Scopes: c.cfg.Scopes}
}

// AuthCodeURL is NHS login's authorization endpoint for st, with the
// vector of trust asked for.
func (c *Client) AuthCodeURL(ctx context.Context, st oidc.Start) (string, error) {
	p, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	return c.oauth2(p).AuthCodeURL(st.State, gooidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier),
		oauth2.SetAuthURLParam("vtr", c.cfg.VTR)), nil
}

// The ways a sign-in fails, beside oidc.Error's kinds.
var (
	// ErrLevel: the identity proofing level granted is below MinLevel.
	ErrLevel = errors.New("nhslogin: identity proofing level below the minimum")
	// ErrNHSNumber: no valid NHS number was asserted.
	ErrNHSNumber = errors.New("nhslogin: no valid NHS number")
)

// Exchange turns the callback's code into a verified Patient.
func (c *Client) Exchange(ctx context.Context, code string, st oidc.Start) (*Patient, error) {
	p, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	ctx = c.ctx(ctx)
	assertion, err := c.clientAssertion(p.Endpoint().TokenURL)
	if err != nil {
		return nil, err
	}
	tok, err := c.oauth2(p).Exchange(ctx, code, oauth2.VerifierOption(st.Verifier),
		oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
		oauth2.SetAuthURLParam("client_assertion", assertion))
	if err != nil {
		return nil, &oidc.Error{Kind: oidc.ErrExchange, Err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, &oidc.Error{Kind: oidc.ErrExchange, Err: errors.New("the token response has no id_token")}
	}
	skew := c.cfg.ClockSkew
	idt, err := p.Verifier(&gooidc.Config{ClientID: c.cfg.ClientID, Now: func() time.Time { return c.cfg.Now().Add(-skew) },
		SupportedSigningAlgs: []string{"RS256", "RS512"}}).Verify(ctx, raw)
	if err != nil {
		return nil, oidc.Classify(err)
	}
	if idt.Nonce != st.Nonce {
		return nil, &oidc.Error{Kind: oidc.ErrNonce, Err: errors.New("the ID token's nonce is not the one this sign-in sent")}
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, &oidc.Error{Kind: oidc.ErrInvalid, Err: err}
		}
	}
	claims := map[string]json.RawMessage{}
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, &oidc.Error{Kind: oidc.ErrUserinfo, Err: err}
	}
	if ui.Subject != idt.Subject {
		return nil, &oidc.Error{Kind: oidc.ErrUserinfo, Err: errors.New("the userinfo subject is not the ID token's")}
	}
	if err := ui.Claims(&claims); err != nil {
		return nil, &oidc.Error{Kind: oidc.ErrUserinfo, Err: err}
	}
	var idClaims map[string]json.RawMessage
	if err := idt.Claims(&idClaims); err != nil {
		return nil, &oidc.Error{Kind: oidc.ErrInvalid, Err: err}
	}
	for k, v := range idClaims {
		claims[k] = v // the ID token is signed: its claims win
	}
	pt := &Patient{Subject: idt.Subject, IDToken: raw, Expiry: idt.Expiry}
	str := func(name string) string {
		var s string
		if v, ok := claims[name]; ok && json.Unmarshal(v, &s) == nil {
			return strings.TrimSpace(s)
		}
		return ""
	}
	pt.VOT, pt.ProofingLevel = str("vot"), str("identity_proofing_level")
	pt.GivenName, pt.FamilyName = str("given_name"), str("family_name")
	// The level granted is the vot's first component ("P9.Cp.Cd"); the
	// identity_proofing_level claim must agree with it.
	granted, _, _ := strings.Cut(pt.VOT, ".")
	if pt.ProofingLevel == "" {
		pt.ProofingLevel = granted
	}
	if granted != "" && granted != pt.ProofingLevel {
		return nil, fmt.Errorf("%w: vot %s and identity_proofing_level %s disagree", ErrLevel, granted, pt.ProofingLevel)
	}
	if levelRank(pt.ProofingLevel) < levelRank(c.cfg.MinLevel) {
		return nil, fmt.Errorf("%w: %s granted, %s required", ErrLevel, orUnknown(pt.ProofingLevel), c.cfg.MinLevel)
	}
	n, err := connectors.ParseNHSNumber(str("nhs_number"))
	if err != nil {
		return nil, ErrNHSNumber
	}
	pt.NHSNumber = n
	if bd, err := time.Parse("2006-01-02", str("birthdate")); err == nil {
		pt.BirthDate = connectors.Date{Year: bd.Year(), Month: bd.Month(), Day: bd.Day()}
	}
	return pt, nil
}

// levelRank orders NHS login's identity proofing levels.
func levelRank(l string) int {
	switch l {
	case "P9":
		return 9
	case "P5":
		return 5
	case "P0":
		return 1
	}
	return 0
}

func orUnknown(s string) string {
	if s == "" {
		return "no level"
	}
	return s
}

// clientAssertion is the private_key_jwt client assertion NHS login asks
// for: RS512, iss and sub the client id, aud the token endpoint, a unique
// jti, and an expiry within minutes.
func (c *Client) clientAssertion(aud string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS512, Key: c.cfg.ClientKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), c.keyID))
	if err != nil {
		return "", fmt.Errorf("nhslogin: client assertion: %w", err)
	}
	now := time.Now() // NHS login checks it against its own clock: the wall clock
	payload, _ := json.Marshal(map[string]any{
		"iss": c.cfg.ClientID, "sub": c.cfg.ClientID, "aud": aud, "jti": oidc.NewStart().State,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	})
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("nhslogin: client assertion: %w", err)
	}
	return jws.CompactSerialize()
}

// EndSessionURL is NHS login's end_session_endpoint for the ID token, or
// "" when it publishes none.
func (c *Client) EndSessionURL(ctx context.Context, idToken, postLogout string) (string, error) {
	p, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	var m struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&m); err != nil || m.EndSession == "" {
		return "", err
	}
	q := "?id_token_hint=" + queryEscape(idToken) + "&post_logout_redirect_uri=" + queryEscape(postLogout)
	return m.EndSession + q, nil
}

func queryEscape(s string) string { return url.QueryEscape(s) }
