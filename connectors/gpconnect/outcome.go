package gpconnect

import (
	"encoding/json"
	"fmt"

	"github.com/carerecord/carerecord/connectors"
)

// ErrPatientNotFound is GP Connect's PATIENT_NOT_FOUND: the practice holds
// no patient it will share under this NHS number (not registered there,
// or not found). It wraps connectors.ErrNoRecord. A practice answers the
// same for a sensitive patient, so a page showing a restricted patient
// says the GP record is not shared, never that there is none.
var ErrPatientNotFound = fmt.Errorf("gpconnect: patient not found at the practice: %w", connectors.ErrNoRecord)

// outcomes words GP Connect's error codes (Spine-ErrorOrWarningCode-1) for
// a page, in the connector's own fixed words.
var outcomes = map[string]string{
	"NO_PATIENT_CONSENT":           "the patient has dissented from sharing their GP record",
	"ACCESS_DENIED":                "denied access to the GP record",
	"INVALID_NHS_NUMBER":           "refused the NHS number as invalid",
	"INVALID_PATIENT_DEMOGRAPHICS": "refused the request: the patient's details do not match",
	"INVALID_IDENTIFIER_SYSTEM":    "refused the request as malformed",
	"INVALID_IDENTIFIER_VALUE":     "refused the request as malformed",
	"INVALID_PARAMETER":            "refused the request as malformed",
	"INVALID_RESOURCE":             "refused the request as malformed",
	"BAD_REQUEST":                  "refused the request as malformed",
	"FHIR_CONSTRAINT_VIOLATION":    "refused the request as malformed",
	"NOT_IMPLEMENTED":              "does not offer GP Connect Access Record: Structured",
}

// outcome reads an error answer: an OperationOutcome from the practice
// or the Spine Secure Proxy, with the Spine error code in
// issue.details.coding.code.
func (c *Client) outcome(status int, body []byte) error {
	code := spineCode(body)
	detail := ""
	if code != "" {
		detail = "OperationOutcome " + code
	}
	if code == "PATIENT_NOT_FOUND" {
		return ErrPatientNotFound
	}
	if words, ok := outcomes[code]; ok {
		return &connectors.SourceError{Source: c.src, Kind: connectors.ErrRefused, Status: status, Outcome: words,
			Detail: detail, Err: fmt.Errorf("HTTP %d %s", status, code)}
	}
	se := &connectors.SourceError{Source: c.src, Kind: connectors.ErrStatus, Status: status, Detail: detail,
		Err: fmt.Errorf("HTTP %d", status)}
	if status >= 500 {
		// INTERNAL_SERVER_ERROR, or the SSP saying the practice's system
		// did not answer: the practice's system is unavailable.
		se.Kind, se.Outcome = connectors.ErrRefused, fmt.Sprintf("GP system unavailable (HTTP %d)", status)
	}
	return se
}

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
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
