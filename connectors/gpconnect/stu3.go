package gpconnect

import (
	"strconv"
	"strings"

	"github.com/carerecord/carerecord/connectors"
)

// Small typed structs for exactly the STU3 elements of the CareConnect
// GPC profiles that are read. No STU3 model library is used: the one Go
// FHIR model in go.mod is R4 only (STU3 differs in the elements read here:
// AllergyIntolerance.assertedDate, Immunization.notGiven, single
// Observation.interpretation, ReferralRequest), and a generated STU3 model
// would bring hundreds of types for the dozen read.

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type concept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text"`
}

type reference struct {
	Reference string `json:"reference"`
	Display   string `json:"display"`
}

type period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type quantity struct {
	Value      *float64 `json:"value"`
	Comparator string   `json:"comparator"`
	Unit       string   `json:"unit"`
	Code       string   `json:"code"`
}

type extension struct {
	URL                  string      `json:"url"`
	ValueCode            string      `json:"valueCode"`
	ValueCodeableConcept *concept    `json:"valueCodeableConcept"`
	ValueReference       *reference  `json:"valueReference"`
	ValueDateTime        string      `json:"valueDateTime"`
	ValuePeriod          *period     `json:"valuePeriod"`
	Extension            []extension `json:"extension"`
}

type meta struct {
	Profile  []string `json:"profile"`
	Security []coding `json:"security"`
}

// text words a concept: its text, else the first coding's display, else
// the first code.
func (c *concept) text() string {
	if c == nil {
		return ""
	}
	if t := strings.TrimSpace(c.Text); t != "" {
		return t
	}
	for _, cd := range c.Coding {
		if cd.Display != "" {
			return cd.Display
		}
	}
	for _, cd := range c.Coding {
		if cd.Code != "" {
			return cd.Code
		}
	}
	return ""
}

func (c *concept) codes() []connectors.Code {
	if c == nil {
		return nil
	}
	var out []connectors.Code
	for _, cd := range c.Coding {
		if cd.Code != "" {
			out = append(out, connectors.Code{System: cd.System, Code: cd.Code, Display: cd.Display})
		}
	}
	return out
}

func (c *concept) has(system, code string) bool {
	if c == nil {
		return false
	}
	for _, cd := range c.Coding {
		if cd.System == system && cd.Code == code {
			return true
		}
	}
	return false
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
