package fhir

import (
	"encoding/json"
	"strings"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// noKnownAllergy holds the SNOMED CT concepts a source uses to assert the
// absence of allergies.
var noKnownAllergy = map[string]bool{
	"716186003":  true, // No known allergy
	"409137002":  true, // No known drug allergy
	"429625007":  true, // No known food allergy
	"428607008":  true, // No known environmental allergy
	"1003774007": true, // No known Hevea brasiliensis latex allergy
	"716184000":  true, // No known latex allergy
	"428197003":  true, // No known insect allergy
}

// ipsAbsent is the International Patient Summary's code system for known
// absence; its no-known-* codes assert no allergies of a kind (its
// no-allergy-info says only that nothing is known, and stays as written).
const ipsAbsent = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"

var ipsNoKnownAllergy = map[string]bool{
	"no-known-allergies": true, "no-known-medication-allergies": true,
	"no-known-environmental-allergies": true, "no-known-food-allergies": true,
}

// severities orders reaction.severity, so that the worst reaction is the
// one a page shows.
var severities = map[string]int{"mild": 1, "moderate": 2, "severe": 3}

// allergy maps an AllergyIntolerance. The substance is its code or, when
// the source left code empty, the substance of a reaction ("the specific
// substance ... considered to be responsible for the Adverse Reaction
// event"). Refuted ("disputed or disproven") and entered-in-error
// allergies are hidden.
func (m *mapper) allergy(key string, raw json.RawMessage) error {
	a, err := fhir.UnmarshalAllergyIntolerance(raw)
	if err != nil {
		return errNotR4
	}
	verification := conceptCode(a.VerificationStatus)
	switch verification {
	case "entered-in-error":
		m.hide(connectors.KindAllergy, key, connectors.HideEnteredInError)
		return nil
	case "refuted":
		m.hide(connectors.KindAllergy, key, connectors.HideRefuted)
		return nil
	}
	var tp timeParser
	date := firstTime(tp.at(a.RecordedDate), tp.at(a.OnsetDateTime), tp.period(a.OnsetPeriod))
	if tp.err != nil {
		return tp.err
	}
	al := &connectors.Allergy{Status: conceptCode(a.ClinicalStatus), Verification: verification}
	substance, codes := conceptText(a.Code), conceptCodes(a.Code)
	for _, c := range codes {
		if (c.System == connectors.SystemSNOMED && noKnownAllergy[c.Code]) || (c.System == ipsAbsent && ipsNoKnownAllergy[c.Code]) {
			al.NoKnownAllergies = true
		}
	}
	var manifestations []string
	worst := 0
	for _, r := range a.Reaction {
		if substance == "" {
			substance, codes = conceptText(r.Substance), conceptCodes(r.Substance)
		}
		var words []string
		for _, mf := range r.Manifestation {
			words = append(words, conceptText(&mf))
		}
		if w := firstNonEmpty(strings.Join(words, ", "), str(r.Description)); w != "" && !containsFold(manifestations, w) {
			manifestations = append(manifestations, w)
		}
		if r.Severity != nil && severities[r.Severity.Code()] > worst {
			worst = severities[r.Severity.Code()]
			al.Severity = r.Severity.Code()
		}
	}
	al.Reaction = strings.Join(manifestations, "; ")
	if !al.NoKnownAllergies {
		al.Substance = substance
	}
	if a.Criticality != nil {
		al.Criticality = a.Criticality.Code()
	}
	var categories []string
	for _, c := range a.Category {
		categories = append(categories, c.Code())
	}
	al.Category = strings.Join(categories, ", ")
	m.show(key, date, connectors.Entry{Kind: connectors.KindAllergy, ID: key,
		Codes: codes, Title: firstNonEmpty(substance, "Allergen not named by the source"), Allergy: al})
	return nil
}
