package smart

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// Trusting an EPR's own sign-in. SMART App Launch 2.0, "Scopes for
// requesting identity data": with openid and fhirUser, "the id_token ...
// includes a fhirUser claim ... a resource reference to the FHIR
// resource that represents the current user", one of Practitioner,
// PractitionerRole, Patient, RelatedPerson or Person. carerecord is for
// staff: only Practitioner and PractitionerRole are accepted.

// The ways an EPR's identity is refused, for the page, the log and the
// audit; VerifyIdentity's errors wrap one of them.
var (
	ErrNoIDToken       = errors.New("smart: the EPR sent no id_token")
	ErrIDToken         = errors.New("smart: the EPR's id_token did not verify")
	ErrNotPractitioner = errors.New("smart: fhirUser is not a Practitioner or PractitionerRole of the EPR")
	ErrUnknownUser     = errors.New("smart: the EPR's user could not be identified")
	ErrOtherOrg        = errors.New("smart: the EPR says the user works for another organisation")
)

// Identity is the EPR user a verified id_token names.
type Identity struct {
	// FHIRUser is the fhirUser claim as an absolute reference at the EPR.
	FHIRUser string
	Subject  string
	// UserID is the user's SDS user id, from the Practitioner's
	// identifier (https://fhir.nhs.uk/Id/sds-user-id).
	UserID string
	Name   string
	// RoleCode and ODS are what the id_token says of the user's role, for
	// the audit ("" when it says nothing).
	RoleCode, ODS string
	Expiry        time.Time
}

// sdsUserIDSystem is UK Core's identifier system for a person's SDS user id.
const sdsUserIDSystem = "https://fhir.nhs.uk/Id/sds-user-id"

// fhirID is FHIR's id datatype: "[A-Za-z0-9\-\.]{1,64}".
var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

func (c *Client) keySet(jwksURI string) *gooidc.RemoteKeySet {
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := c.keys[jwksURI]
	if ks == nil {
		// The key set fetches with the context it is made with, for as
		// long as the client lives.
		ks = gooidc.NewRemoteKeySet(gooidc.ClientContext(context.Background(), c.cfg.HTTPClient), jwksURI)
		c.keys[jwksURI] = ks
	}
	return ks
}

// VerifyIdentity checks the launch's id_token (signature from the EPR's
// JWKS, issuer, audience = carerecord's client id, expiry, nonce, and
// at_hash when present) and reads the user its fhirUser claim names from
// the EPR's FHIR server with the launch's access token.
func (c *Client) VerifyIdentity(ctx context.Context, e EPR, conf Configuration, lc Context, nonce string) (*Identity, error) {
	if lc.IDToken == "" {
		return nil, ErrNoIDToken
	}
	if conf.Issuer == "" || conf.JWKSURI == "" {
		return nil, fmt.Errorf("%w: the EPR's smart-configuration names no issuer or jwks_uri", ErrIDToken)
	}
	skew := c.cfg.ClockSkew
	v := gooidc.NewVerifier(conf.Issuer, c.keySet(conf.JWKSURI), &gooidc.Config{ClientID: e.ClientID,
		Now: func() time.Time { return c.cfg.Now().Add(-skew) }})
	idt, err := v.Verify(gooidc.ClientContext(ctx, c.cfg.HTTPClient), lc.IDToken)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrIDToken, verifyFailure(err))
	}
	if nonce == "" || idt.Nonce != nonce {
		return nil, fmt.Errorf("%w: nonce mismatch", ErrIDToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(lc.AccessToken); err != nil {
			return nil, fmt.Errorf("%w: at_hash does not match the access token", ErrIDToken)
		}
	}
	var claims struct {
		FHIRUser string `json:"fhirUser"`
		Name     string `json:"name"`
		RoleCode string `json:"role_code"`
		OrgCode  string `json:"org_code"`
	}
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrIDToken, err)
	}
	typ, id, abs, err := userReference(e.ISS, claims.FHIRUser)
	if err != nil {
		return nil, err
	}
	who := &Identity{FHIRUser: abs, Subject: idt.Subject, Name: claims.Name, RoleCode: claims.RoleCode, ODS: claims.OrgCode, Expiry: idt.Expiry}
	if e.Trust != nil && who.ODS != "" && !strings.EqualFold(who.ODS, e.Trust.ODS) {
		return nil, fmt.Errorf("%w: org_code %q, not %s", ErrOtherOrg, trim(who.ODS), e.Trust.ODS)
	}
	if typ == "PractitionerRole" {
		// The role names its practitioner; the person is who is audited.
		var role practitionerRole
		if err := c.readResource(ctx, e, lc, "PractitionerRole", id, &role); err != nil {
			return nil, fmt.Errorf("%w: read PractitionerRole: %v", ErrUnknownUser, err)
		}
		pt, pid, _, err := userReference(e.ISS, role.Practitioner.Reference)
		if err != nil || pt != "Practitioner" {
			return nil, fmt.Errorf("%w: the PractitionerRole names no Practitioner of the EPR", ErrUnknownUser)
		}
		id = pid
	}
	var p practitioner
	if err := c.readResource(ctx, e, lc, "Practitioner", id, &p); err != nil {
		return nil, fmt.Errorf("%w: read Practitioner: %v", ErrUnknownUser, err)
	}
	who.UserID = p.sdsUserID()
	if who.UserID == "" {
		return nil, fmt.Errorf("%w: the Practitioner has no SDS user id", ErrUnknownUser)
	}
	if n := p.displayName(); n != "" {
		who.Name = n
	}
	if who.Name == "" {
		who.Name = who.UserID
	}
	return who, nil
}

// userReference reads a fhirUser (or practitioner) reference, relative
// ("Practitioner/123") or absolute at the EPR's FHIR base, and returns its
// type, id and absolute form. A reference to another server is refused:
// carerecord reads only the EPR that launched it.
func userReference(iss, ref string) (typ, id, abs string, err error) {
	base := strings.TrimSuffix(iss, "/") + "/"
	rel := ref
	if u, perr := url.Parse(ref); perr == nil && u.IsAbs() {
		if !strings.HasPrefix(ref, base) {
			return "", "", "", fmt.Errorf("%w: the reference is not on the EPR's FHIR server", ErrNotPractitioner)
		}
		rel = strings.TrimPrefix(ref, base)
	}
	parts := strings.Split(rel, "/")
	if len(parts) != 2 || !fhirID.MatchString(parts[1]) {
		return "", "", "", fmt.Errorf("%w: %q is not a resource reference", ErrNotPractitioner, trim(ref))
	}
	switch parts[0] {
	case "Practitioner", "PractitionerRole":
	default:
		return "", "", "", fmt.Errorf("%w: it names a %s", ErrNotPractitioner, trim(parts[0]))
	}
	return parts[0], parts[1], base + rel, nil
}

type practitionerRole struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Practitioner struct {
		Reference string `json:"reference"`
	} `json:"practitioner"`
}

func (r *practitionerRole) check() (string, string) { return r.ResourceType, r.ID }

type practitioner struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Identifier   []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
	Name []struct {
		Use    string   `json:"use"`
		Text   string   `json:"text"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
		Prefix []string `json:"prefix"`
	} `json:"name"`
}

func (p practitioner) sdsUserID() string {
	for _, id := range p.Identifier {
		if id.System == sdsUserIDSystem && fhirID.MatchString(id.Value) {
			return id.Value
		}
	}
	return ""
}

// displayName is the official name (else the first): its text, or
// prefix, given and family names in order.
func (p practitioner) displayName() string {
	if len(p.Name) == 0 {
		return ""
	}
	n := p.Name[0]
	for _, m := range p.Name {
		if m.Use == "official" {
			n = m
			break
		}
	}
	if n.Text != "" {
		return trim(n.Text)
	}
	parts := append(append(append([]string{}, n.Prefix...), n.Given...), n.Family)
	return trim(strings.Join(strings.Fields(strings.Join(parts, " ")), " "))
}

// readResource reads {ISS}/{typ}/{id} with the launch's access token and
// checks the server answered with that resource.
func (c *Client) readResource(ctx context.Context, e EPR, lc Context, typ, id string, v interface{ check() (string, string) }) error {
	u := strings.TrimSuffix(e.ISS, "/") + "/" + typ + "/" + url.PathEscape(id)
	if err := c.getJSON(ctx, u, lc.AccessToken, v); err != nil {
		return err
	}
	if gt, gid := v.check(); gt != typ || gid != id {
		return fmt.Errorf("the EPR answered with another resource than %s/%s", typ, id)
	}
	return nil
}

func (p *practitioner) check() (string, string) { return p.ResourceType, p.ID }

// verifyFailure names go-oidc's verification errors for the audit.
func verifyFailure(err error) string {
	var exp *gooidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &exp):
		return "expired"
	case strings.Contains(msg, "issued by a different provider"):
		return "wrong issuer"
	case strings.Contains(msg, "audience"):
		return "wrong audience"
	case strings.Contains(msg, "signature"):
		return "bad signature"
	}
	return "invalid token"
}

// trim keeps what an EPR sent short enough for an audit line.
func trim(s string) string {
	if len(s) > 80 {
		return s[:80]
	}
	return s
}
