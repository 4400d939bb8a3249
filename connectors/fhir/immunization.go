package fhir

import (
	"encoding/json"
	"strconv"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// immunization maps an Immunization: the vaccine, whether it was given
// ("completed") or not ("not-done", with statusReason, which "Indicates the
// reason the immunization event was not performed"), the dose and its place
// in the series, and when: occurrence[x] is a dateTime or, "when an exact
// date is not known", a string. One entered in error is hidden.
func (m *mapper) immunization(key string, raw json.RawMessage) error {
	im, err := fhir.UnmarshalImmunization(raw)
	if err != nil {
		return errNotR4
	}
	if im.Status.Code() == "entered-in-error" {
		m.hide(connectors.KindImmunization, key, connectors.HideEnteredInError)
		return nil
	}
	var tp timeParser
	occurred := tp.at(&im.OccurrenceDateTime)
	if occurred.IsZero() {
		occurred = connectors.When{Text: im.OccurrenceString}
	}
	recorded := tp.at(im.Recorded)
	if tp.err != nil {
		return tp.err
	}
	vaccine := firstNonEmpty(conceptText(&im.VaccineCode), "Vaccine not named by the source")
	imm := &connectors.Immunization{Vaccine: vaccine, Occurred: occurred, Status: im.Status.Code(),
		NotDoneReason: conceptText(im.StatusReason), Dose: quantityText(im.DoseQuantity),
		Site: conceptText(im.Site), Route: conceptText(im.Route), Lot: str(im.LotNumber)}
	if len(im.ProtocolApplied) > 0 {
		imm.DoseNumber = doseNumber(im.ProtocolApplied[0])
	}
	for _, p := range im.Performer {
		if imm.Performer = str(p.Actor.Display); imm.Performer != "" {
			break
		}
	}
	m.show(key, firstDated(occurred, recorded), connectors.Entry{Kind: connectors.KindImmunization, ID: key,
		Codes: conceptCodes(&im.VaccineCode), Title: vaccine, Immunization: imm})
	return nil
}

// doseNumber words protocolApplied's "Nominal position in a series" and the
// series' length: "2 of 3", "2", "Booster".
func doseNumber(p fhir.ImmunizationProtocolApplied) string {
	n := p.DoseNumberString
	if p.DoseNumberPositiveInt > 0 {
		n = strconv.Itoa(p.DoseNumberPositiveInt)
	}
	of := str(p.SeriesDosesString)
	if p.SeriesDosesPositiveInt != nil {
		of = strconv.Itoa(*p.SeriesDosesPositiveInt)
	}
	if n != "" && of != "" {
		return n + " of " + of
	}
	return n
}
