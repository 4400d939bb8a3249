package fhir

import (
	"encoding/json"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// condition maps a Condition onto the problem list. onset[x] and
// abatement[x] may be a dateTime, an Age, a Period, a Range (of ages) or a
// string; each is kept as the source gave it. Refuted and entered-in-error
// conditions are hidden. code is optional in R4 ("0..1"): a condition
// without one is named by its narrative, or said to be unnamed.
func (m *mapper) condition(key string, raw json.RawMessage) error {
	c, err := fhir.UnmarshalCondition(raw)
	if err != nil {
		return errNotR4
	}
	switch conceptCode(c.VerificationStatus) {
	case "entered-in-error":
		m.hide(connectors.KindProblem, key, connectors.HideEnteredInError)
		return nil
	case "refuted":
		m.hide(connectors.KindProblem, key, connectors.HideRefuted)
		return nil
	}
	var tp timeParser
	prob := &connectors.Problem{Status: connectors.ProblemActive}
	prob.Onset = firstTime(tp.at(c.OnsetDateTime), connectors.When{Text: ageText(c.OnsetAge)}, tp.period(c.OnsetPeriod),
		connectors.When{Text: ageRangeText(c.OnsetRange)}, connectors.When{Text: str(c.OnsetString)})
	var abatedPeriod connectors.When
	if c.AbatementPeriod != nil {
		abatedPeriod = firstTime(tp.at(c.AbatementPeriod.End), tp.at(c.AbatementPeriod.Start))
	}
	prob.Abatement = firstTime(tp.at(c.AbatementDateTime), connectors.When{Text: ageText(c.AbatementAge)}, abatedPeriod,
		connectors.When{Text: ageRangeText(c.AbatementRange)}, connectors.When{Text: str(c.AbatementString)})
	recorded := tp.at(c.RecordedDate)
	if tp.err != nil {
		return tp.err
	}
	switch conceptCode(c.ClinicalStatus) {
	case "inactive", "remission", "resolved":
		prob.Status = connectors.ProblemResolved
	case "":
		// "If abatement is present, clinicalStatus ... inactive,
		// resolved or remission" is implied when no status is sent.
		if !prob.Abatement.IsZero() {
			prob.Status = connectors.ProblemResolved
		}
	}
	// A condition the source named only in its narrative is titled by
	// that, and one it did not name at all is still shown as a problem.
	title := firstNonEmpty(conceptText(c.Code), narrativeText(raw), "Problem not named by the source")
	m.show(key, firstDated(prob.Onset, recorded), connectors.Entry{Kind: connectors.KindProblem, ID: key,
		Codes: conceptCodes(c.Code), Title: title, Problem: prob})
	return nil
}
