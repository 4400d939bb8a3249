// Package smart launches carerecord from a Trust's EPR in patient context:
// the client side of the SMART App Launch 2.0 EHR launch. The EPR opens
// carerecord with iss (its FHIR base) and launch (an opaque handle on the
// launch context); carerecord discovers the EPR's authorization server
// from {iss}/.well-known/smart-configuration, asks for "launch openid
// fhirUser" and a patient scope with PKCE, reads the patient in context
// (and any encounter) from the token response, and reads that Patient's
// NHS number from the EPR's FHIR server.
//
// It does not sign the user in unless the deployment trusts an EPR's own
// sign-in by configuration (EPR.Trust): then VerifyIdentity checks the
// EPR's signed id_token (issuer, audience, expiry, signature from the
// EPR's JWKS, nonce) and reads the Practitioner its fhirUser claim names.
// Otherwise the deployment's CIS2 or SAML sign-in does that. It must
// never log a token, a launch handle or anything read from the Patient.
package smart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/carerecord/carerecord/connectors"
)

// EPR is one electronic patient record system allowed to launch carerecord.
type EPR struct {
	Name string // shown and audited, e.g. "King's EPR"
	// ISS is the EPR's FHIR base URL, exactly as it sends it in iss.
	ISS string
	// ClientID is carerecord's client id at the EPR's authorization
	// server; ClientSecret, when set, authenticates it (else it is a
	// public client, with PKCE).
	ClientID     string
	ClientSecret string
	// Trust, when set, makes the EPR's own sign-in (its id_token's
	// fhirUser) enough to start a staff session in carerecord, with the
	// role profile it gives; nil (the default) means the user still signs
	// in through CIS2 or SAML.
	Trust *Trust
}

// Trust is what a deployment grants the users an EPR signs in: one role
// profile (a role code of the role map, at the EPR's organisation) and the
// assurance level the EPR's own sign-in is taken to have.
type Trust struct {
	RoleCode  string // e.g. R8000; must be in the deployment's role map
	ODS       string // the EPR's organisation, e.g. RJZ
	OrgName   string
	Assurance int
}

// Config configures the client.
type Config struct {
	EPRs []EPR
	// RedirectURL is carerecord's launch callback, registered with every EPR.
	RedirectURL string
	// Scopes asked for; DefaultScopes when empty.
	Scopes     []string
	HTTPClient *http.Client
	// Now is the clock id_tokens are checked against (time.Now when nil);
	// ClockSkew is how far an EPR's clock may be from it.
	Now       func() time.Time
	ClockSkew time.Duration
}

// DefaultScopes: the launch context, the user's identity, and read access
// to the patient in context (SMART App Launch 2.0 scope syntax).
var DefaultScopes = []string{"launch", "openid", "fhirUser", "patient/Patient.rs"}

// Client is the SMART launch client.
type Client struct {
	cfg Config

	mu   sync.Mutex
	keys map[string]*gooidc.RemoteKeySet // by jwks_uri: fetched again when a new key id appears
}

// New checks cfg.
func New(cfg Config) (*Client, error) {
	if cfg.RedirectURL == "" {
		return nil, errors.New("smart: redirect URL is required")
	}
	seen := map[string]bool{}
	for i, e := range cfg.EPRs {
		if e.ISS == "" || e.ClientID == "" || e.Name == "" {
			return nil, fmt.Errorf("smart: EPR %d: name, iss and client id are required", i)
		}
		if e.Trust != nil && (e.Trust.RoleCode == "" || e.Trust.ODS == "") {
			return nil, fmt.Errorf("smart: EPR %s: trusting its sign-in needs a role code and an ODS code", e.ISS)
		}
		if seen[e.ISS] {
			return nil, fmt.Errorf("smart: EPR %s configured twice", e.ISS)
		}
		seen[e.ISS] = true
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg, keys: map[string]*gooidc.RemoteKeySet{}}, nil
}

// EPR returns the configured EPR whose FHIR base is iss.
func (c *Client) EPR(iss string) (EPR, bool) {
	for _, e := range c.cfg.EPRs {
		if e.ISS == iss {
			return e, true
		}
	}
	return EPR{}, false
}

// Configuration is what carerecord reads of the EPR's
// .well-known/smart-configuration.
type Configuration struct {
	// Issuer and JWKSURI are the EPR's OpenID Connect issuer and signing
	// keys ("REQUIRED if the sso-openid-connect capability is supported").
	Issuer                string   `json:"issuer"`
	JWKSURI               string   `json:"jwks_uri"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	Capabilities          []string `json:"capabilities"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// Discover reads {iss}/.well-known/smart-configuration. "The EHR SHALL
// ... support launch-ehr" for an EHR launch, and SMART 2.0 servers
// "SHALL support S256" PKCE.
func (c *Client) Discover(ctx context.Context, iss string) (Configuration, error) {
	var conf Configuration
	if err := c.getJSON(ctx, strings.TrimSuffix(iss, "/")+"/.well-known/smart-configuration", "", &conf); err != nil {
		return conf, fmt.Errorf("smart: discovery: %w", err)
	}
	if conf.AuthorizationEndpoint == "" || conf.TokenEndpoint == "" {
		return conf, errors.New("smart: discovery: no authorization or token endpoint")
	}
	if !slices.Contains(conf.Capabilities, "launch-ehr") {
		return conf, errors.New("smart: discovery: the EPR does not offer launch-ehr")
	}
	if len(conf.CodeChallengeMethods) > 0 && !slices.Contains(conf.CodeChallengeMethods, "S256") {
		return conf, errors.New("smart: discovery: the EPR does not offer S256 PKCE")
	}
	return conf, nil
}

func (c *Client) oauth2(e EPR, conf Configuration) *oauth2.Config {
	return &oauth2.Config{ClientID: e.ClientID, ClientSecret: e.ClientSecret, RedirectURL: c.cfg.RedirectURL, Scopes: c.cfg.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: conf.AuthorizationEndpoint, TokenURL: conf.TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader}}
}

// AuthorizeURL is where to send the browser: the EPR's authorization
// endpoint with the launch handle, aud (the FHIR base the token is for),
// state, the nonce its id_token must carry back, and the PKCE challenge.
func (c *Client) AuthorizeURL(e EPR, conf Configuration, launch, state, nonce, verifier string) string {
	return c.oauth2(e, conf).AuthCodeURL(state, oauth2.SetAuthURLParam("launch", launch),
		oauth2.SetAuthURLParam("aud", e.ISS), gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
}

// Context is the launch context the token response carries.
type Context struct {
	PatientID   string // the FHIR id of the patient in context at the EPR
	EncounterID string // the encounter in context, if any
	AccessToken string
	// IDToken is the EPR's id_token, unverified ("" when it sent none).
	IDToken string
}

// Exchange trades the code for a token and the launch context.
func (c *Client) Exchange(ctx context.Context, e EPR, conf Configuration, code, verifier string) (Context, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.cfg.HTTPClient)
	tok, err := c.oauth2(e, conf).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Context{}, fmt.Errorf("smart: token: %w", err)
	}
	lc := Context{AccessToken: tok.AccessToken}
	lc.IDToken, _ = tok.Extra("id_token").(string)
	lc.PatientID, _ = tok.Extra("patient").(string)
	lc.EncounterID, _ = tok.Extra("encounter").(string)
	if lc.PatientID == "" {
		return lc, errors.New("smart: the token response has no patient in context")
	}
	return lc, nil
}

// nhsNumberSystem is UK Core's identifier system for the NHS number.
const nhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"

// ErrNoNHSNumber is returned by NHSNumber for a Patient without a valid
// NHS number.
var ErrNoNHSNumber = errors.New("smart: the Patient has no valid NHS number")

// NHSNumber reads the patient in context from the EPR's FHIR server and
// returns its NHS number: the identifier whose system is
// https://fhir.nhs.uk/Id/nhs-number (UK Core), checked with Modulus 11.
func (c *Client) NHSNumber(ctx context.Context, e EPR, lc Context) (string, error) {
	var p struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Identifier   []struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
	}
	u := strings.TrimSuffix(e.ISS, "/") + "/Patient/" + url.PathEscape(lc.PatientID)
	if err := c.getJSON(ctx, u, lc.AccessToken, &p); err != nil {
		return "", fmt.Errorf("smart: read Patient: %w", err)
	}
	if p.ResourceType != "Patient" || p.ID != lc.PatientID {
		return "", errors.New("smart: the EPR answered with another resource than the patient in context")
	}
	for _, id := range p.Identifier {
		if id.System != nhsNumberSystem {
			continue
		}
		if n, err := connectors.ParseNHSNumber(id.Value); err == nil {
			return n, nil
		}
	}
	return "", ErrNoNHSNumber
}

func (c *Client) getJSON(ctx context.Context, u, bearer string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json, application/fhir+json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
