package fhir

import (
	"encoding/json"
	"strings"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// noKnownAllergy holds the SNOMED CT concepts a source uses to assert the
// absence of allergies, each with what the assertion covers: only "No known
// allergy" covers every kind; "No known food allergy" says nothing about
// medicines, so a page must never read it as "No known allergies".
var noKnownAllergy = map[string]string{
	"716186003":  connectors.NoKnownAny,           // No known allergy
	"409137002":  connectors.NoKnownDrug,          // No known drug allergy
	"429625007":  connectors.NoKnownFood,          // No known food allergy
	"428607008":  connectors.NoKnownEnvironmental, // No known environmental allergy
	"1003774007": connectors.NoKnownLatex,         // No known Hevea brasiliensis latex allergy
	"716184000":  connectors.NoKnownLatex,         // No known latex allergy (situation)
	"428197003":  connectors.NoKnownInsect,        // No known insect allergy
}

// ipsAbsent is the International Patient Summary's code system for known
// absence; its no-known-* codes assert no allergies of a kind (its
// no-allergy-info says only that nothing is known, and stays as written).
const ipsAbsent = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"

var ipsNoKnownAllergy = map[string]string{
	"no-known-allergies": connectors.NoKnownAny, "no-known-medication-allergies": connectors.NoKnownDrug,
	"no-known-environmental-allergies": connectors.NoKnownEnvironmental, "no-known-food-allergies": connectors.NoKnownFood,
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
		scope, snomed := noKnownAllergy[c.Code]
		ipsScope, ips := ipsNoKnownAllergy[c.Code]
		switch {
		case snomed && c.System == connectors.SystemSNOMED:
			al.NoKnownAllergies, al.NoKnownScope = true, scope
		case ips && c.System == ipsAbsent:
			al.NoKnownAllergies, al.NoKnownScope = true, ipsScope
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
