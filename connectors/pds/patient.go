package pds

import (
	"errors"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// The parts of PDS's Patient resource (UK Core Patient as PDS profiles
// it) that the banner uses. Small typed structs for exactly these elements
// rather than a whole FHIR model: PDS adds extensions the generic models
// do not know, and nothing else of the resource is read.
type patient struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		Security []coding `json:"security"`
	} `json:"meta"`
	Identifier []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
	Name                []humanName    `json:"name"`
	Gender              string         `json:"gender"`
	BirthDate           string         `json:"birthDate"`
	DeceasedDateTime    string         `json:"deceasedDateTime"`
	Address             []address      `json:"address"`
	Telecom             []contactPoint `json:"telecom"`
	GeneralPractitioner []struct {
		Identifier struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
	} `json:"generalPractitioner"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type humanName struct {
	Use    string   `json:"use"`
	Period *period  `json:"period"`
	Given  []string `json:"given"`
	Family string   `json:"family"`
	Prefix []string `json:"prefix"`
}

type address struct {
	Use        string   `json:"use"`
	Period     *period  `json:"period"`
	Line       []string `json:"line"`
	PostalCode string   `json:"postalCode"`
}

type contactPoint struct {
	System string  `json:"system"`
	Value  string  `json:"value"`
	Use    string  `json:"use"`
	Period *period `json:"period"`
}

const (
	systemNHSNumber = "https://fhir.nhs.uk/Id/nhs-number"
	// PDS has given a practice's ODS code under both of these systems.
	systemODS     = "https://fhir.nhs.uk/Id/ods-organization-code"
	systemODSData = "https://digital.nhs.uk/services/organisation-data-service"
)

var errNoNHSNumber = errors.New("no NHS number")

// mapPatient reads PDS's Patient. "You can spot a superseded patient when
// the id is not the same as the one requested": the id is the current NHS
// number, and the caller compares it with the one it asked for.
func mapPatient(pr patient) (connectors.Patient, error) {
	p := connectors.Patient{Source: Source, SourceID: pr.ID, Gender: connectors.GenderUnknown}
	p.NHSNumber = pr.ID
	for _, id := range pr.Identifier {
		if id.System == systemNHSNumber && id.Value != "" {
			p.NHSNumber = strings.ReplaceAll(id.Value, " ", "")
		}
	}
	if p.NHSNumber == "" {
		return p, errNoNHSNumber
	}
	if n := usualName(pr.Name); n != nil {
		p.Family, p.Given = n.Family, n.Given
		if len(n.Prefix) > 0 {
			p.Title = n.Prefix[0]
		}
	}
	switch pr.Gender {
	case connectors.GenderMale, connectors.GenderFemale, connectors.GenderOther, connectors.GenderUnknown:
		p.Gender = pr.Gender
	}
	if pr.BirthDate != "" {
		d, err := connectors.ParseDate(pr.BirthDate)
		if err != nil {
			return p, errors.New("bad birthDate")
		}
		p.BirthDate = d
	}
	if pr.DeceasedDateTime != "" {
		w, err := connectors.ParseWhen(pr.DeceasedDateTime)
		if err != nil {
			return p, errors.New("bad deceasedDateTime")
		}
		d := w.Date() // in UK time
		p.Deceased, p.DeathDate = true, &d
	}
	if a := homeAddress(pr.Address); a != nil {
		p.AddressLines, p.Postcode = a.Line, a.PostalCode
	}
	p.Phone = phone(pr.Telecom)
	for _, gp := range pr.GeneralPractitioner {
		if gp.Identifier.System == systemODS || gp.Identifier.System == systemODSData {
			p.RegisteredGP.ODS = gp.Identifier.Value
			break
		}
	}
	p.Restricted = restricted(pr.Meta.Security)
	p.Redact()
	return p, nil
}

// restricted reads meta.security: "U" unrestricted, "R" restricted, "V"
// very restricted; "REDACTED" marks an invalidated record. PDS removes
// address, telecom and generalPractitioner from R and V records itself;
// Redact makes sure of it.
func restricted(sec []coding) bool {
	for _, s := range sec {
		switch s.Code {
		case "R", "V", "REDACTED":
			return true
		}
	}
	return false
}

// current reports whether a period has not ended: it ends today or later.
func current(p *period) bool {
	if p == nil || p.End == "" {
		return true
	}
	end, err := connectors.ParseWhen(p.End)
	return err == nil && !end.Date().Time().Before(time.Now().UTC().Truncate(24*time.Hour))
}

// usualName is the current "usual" name (PDS holds one; nickname,
// temporary and old names beside it), or the first current name.
func usualName(ns []humanName) *humanName {
	for i, n := range ns {
		if n.Use == "usual" && current(n.Period) {
			return &ns[i]
		}
	}
	for i, n := range ns {
		if n.Use != "old" && current(n.Period) {
			return &ns[i]
		}
	}
	return nil
}

// homeAddress is the current home address, or failing that any current
// address other than a temporary one.
func homeAddress(as []address) *address {
	for i, a := range as {
		if a.Use == "home" && current(a.Period) {
			return &as[i]
		}
	}
	for i, a := range as {
		if a.Use != "old" && a.Use != "temp" && current(a.Period) {
			return &as[i]
		}
	}
	return nil
}

func phone(cps []contactPoint) string {
	best, rank := "", 0
	for _, cp := range cps {
		if cp.System != "phone" || cp.Value == "" || !current(cp.Period) {
			continue
		}
		r := 1
		if cp.Use == "home" || cp.Use == "mobile" {
			r = 2
		}
		if r > rank {
			best, rank = cp.Value, r
		}
	}
	return best
}
