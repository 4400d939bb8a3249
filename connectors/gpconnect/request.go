package gpconnect

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/carerecord/carerecord/connectors"
)

// Identifier systems GP Connect uses.
const (
	SystemNHSNumber     = "https://fhir.nhs.uk/Id/nhs-number"
	SystemODS           = "https://fhir.nhs.uk/Id/ods-organization-code"
	SystemSDSUser       = "https://fhir.nhs.uk/Id/sds-user-id"
	SystemSDSRole       = "https://fhir.nhs.uk/Id/sds-role-profile-id"
	systemLocalUser     = "https://carerecord.nhs.uk/Id/user"
	systemDeviceProduct = "https://carerecord.nhs.uk/Id/device"
	// Audience is the JWT's aud: "https://authorize.fhir.nhs.net/token".
	Audience = "https://authorize.fhir.nhs.net/token"
	// jwtLifetime: "exp ... (now + 5 minutes)".
	jwtLifetime = 5 * time.Minute
)

type param struct {
	Name            string      `json:"name"`
	ValueIdentifier *identifier `json:"valueIdentifier,omitempty"`
	ValueBoolean    *bool       `json:"valueBoolean,omitempty"`
	Part            []param     `json:"part,omitempty"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// parameters is the operation's Parameters: the NHS number, and with
// clinical, every clinical area, resolved allergies and prescription
// issues included. An area named without parts asks for all of it
// (consultations, investigations, uncategorised data without a period).
func parameters(nhs string, clinical bool) map[string]any {
	yes := true
	ps := []param{{Name: "patientNHSNumber", ValueIdentifier: &identifier{System: SystemNHSNumber, Value: nhs}}}
	if clinical {
		ps = append(ps,
			param{Name: "includeAllergies", Part: []param{{Name: "includeResolvedAllergies", ValueBoolean: &yes}}},
			param{Name: "includeMedication", Part: []param{{Name: "includePrescriptionIssues", ValueBoolean: &yes}}},
			param{Name: "includeConsultations"},
			param{Name: "includeProblems"},
			param{Name: "includeImmunisations"},
			param{Name: "includeUncategorisedData"},
			param{Name: "includeInvestigations"},
			param{Name: "includeReferrals"},
		)
	}
	return map[string]any{"resourceType": "Parameters", "meta": map[string]any{
		"profile": []string{"https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-GetStructuredRecord-Operation-1"}},
		"parameter": ps}
}

// claims is the JWT payload GP Connect asks for (Cross Organisation Audit
// and Provenance): who is asking, from where, and why.
type claims struct {
	Issuer                 string         `json:"iss"`
	Subject                string         `json:"sub"`
	Audience               string         `json:"aud"`
	Expiry                 int64          `json:"exp"`
	IssuedAt               int64          `json:"iat"`
	ReasonForRequest       string         `json:"reason_for_request"`
	RequestedScope         string         `json:"requested_scope"`
	RequestingDevice       map[string]any `json:"requesting_device"`
	RequestingOrganization map[string]any `json:"requesting_organization"`
	RequestingPractitioner map[string]any `json:"requesting_practitioner"`
}

// newClaims fills the payload for who at now. "sub ... matches
// requesting_practitioner.id"; the practitioner carries the SDS user id
// and, when sign-in gave it, the SDS role profile id, and the local user
// id; the organisation is where the user works in this session.
func (c *Client) newClaims(who connectors.Requester, now time.Time) claims {
	ids := []identifier{{System: SystemSDSUser, Value: who.UserID}}
	if who.RoleProfileID != "" {
		ids = append(ids, identifier{System: SystemSDSRole, Value: who.RoleProfileID})
	}
	ids = append(ids, identifier{System: systemLocalUser, Value: who.UserID})
	practitioner := map[string]any{"resourceType": "Practitioner", "id": who.UserID, "identifier": ids,
		"name": []any{map[string]any{"text": who.Name}}}
	if who.RoleCode != "" {
		practitioner["practitionerRole"] = []any{map[string]any{"role": map[string]any{"coding": []any{
			map[string]any{"system": "https://fhir.nhs.uk/STU3/CodeSystem/CareConnect-SDSJobRoleName-1", "code": who.RoleCode}}}}}
	}
	version := c.set.Version
	if version == "" {
		version = "dev"
	}
	return claims{
		Issuer: c.set.Issuer, Subject: who.UserID, Audience: Audience,
		IssuedAt: now.Unix(), Expiry: now.Add(jwtLifetime).Unix(),
		ReasonForRequest: "directcare", RequestedScope: "patient/*.read",
		RequestingDevice: map[string]any{"resourceType": "Device",
			"identifier": []any{identifier{System: systemDeviceProduct, Value: "carerecord"}},
			"model":      "carerecord", "version": version},
		RequestingOrganization: map[string]any{"resourceType": "Organization",
			"identifier": []any{identifier{System: SystemODS, Value: who.OrgODS}}, "name": who.OrgName},
		RequestingPractitioner: practitioner,
	}
}

// token makes the request's JWT, new for every request ("Consumer system
// SHALL generate a new JWT for each API request"): unsecured ("alg":
// "none", empty signature) as GP Connect 1.6 specifies, or signed RS256
// with the configured key.
func (c *Client) token(who connectors.Requester) (string, error) {
	cl := c.newClaims(who, c.now())
	if c.set.JWTKey != nil {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: c.set.JWTKey}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			return "", err
		}
		return jwt.Signed(signer).Claims(cl).Serialize()
	}
	head, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(cl)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(head) + "." + enc.EncodeToString(body) + ".", nil
}

func loadKey(path string) (*rsa.PrivateKey, error) {
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
