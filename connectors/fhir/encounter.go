package fhir

import (
	"encoding/json"
	"strings"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// encounterClasses words v3 ActCode encounter classes for a screen.
var encounterClasses = map[string]string{
	"AMB": "outpatient", "IMP": "inpatient", "ACUTE": "inpatient", "NONAC": "inpatient",
	"EMER": "emergency", "VR": "virtual", "HH": "home visit", "SS": "day case",
	"OBSENC": "observation", "PRENC": "pre-admission",
}

// encounter maps an Encounter; one entered in error is hidden. A cancelled
// encounter ("ended before it has begun") is shown with its status, as a
// missed or cancelled contact can matter to the next clinician.
func (m *mapper) encounter(key string, raw json.RawMessage) error {
	e, err := fhir.UnmarshalEncounter(raw)
	if err != nil {
		return errNotR4
	}
	if e.Status == fhir.EncounterStatusEnteredInError {
		m.hide(connectors.KindEncounter, key, connectors.HideEnteredInError)
		return nil
	}
	var tp timeParser
	enc := &connectors.Encounter{Status: e.Status.Code()}
	if e.Period != nil {
		enc.Start, enc.End = tp.at(e.Period.Start), tp.at(e.Period.End)
	}
	if tp.err != nil {
		return tp.err
	}
	enc.Class = firstNonEmpty(encounterClasses[str(e.Class.Code)], str(e.Class.Display), str(e.Class.Code))
	var codes []connectors.Code
	if len(e.Type) > 0 {
		enc.Type = conceptText(&e.Type[0])
		codes = conceptCodes(&e.Type[0])
	}
	enc.Type = firstNonEmpty(enc.Type, conceptText(e.ServiceType))
	for _, l := range e.Location {
		if enc.Location = str(l.Location.Display); enc.Location != "" {
			break
		}
	}
	if enc.Location == "" && e.ServiceProvider != nil {
		enc.Location = str(e.ServiceProvider.Display)
	}
	title := enc.Type
	if title == "" && enc.Class != "" {
		title = strings.ToUpper(enc.Class[:1]) + enc.Class[1:] + " encounter"
	}
	m.show(key, firstTime(enc.Start, enc.End), connectors.Entry{Kind: connectors.KindEncounter, ID: key,
		Codes: codes, Title: firstNonEmpty(title, "Encounter"), Encounter: enc})
	return nil
}

// procedure maps a Procedure; performed[x] may be a dateTime, a Period, a
// string, an Age or a Range, each kept as the source gave it. One entered
// in error is hidden; "not-done" is shown with its status. One without a
// code (optional in R4) is named by its narrative, or said to be unnamed.
func (m *mapper) procedure(key string, raw json.RawMessage) error {
	p, err := fhir.UnmarshalProcedure(raw)
	if err != nil {
		return errNotR4
	}
	if p.Status == fhir.EventStatusEnteredInError {
		m.hide(connectors.KindProcedure, key, connectors.HideEnteredInError)
		return nil
	}
	var tp timeParser
	performed := firstTime(tp.at(p.PerformedDateTime), tp.period(p.PerformedPeriod),
		connectors.When{Text: str(p.PerformedString)}, connectors.When{Text: ageText(p.PerformedAge)},
		connectors.When{Text: ageRangeText(p.PerformedRange)})
	if tp.err != nil {
		return tp.err
	}
	proc := &connectors.Procedure{Performed: performed, Status: p.Status.Code()}
	if len(p.BodySite) > 0 {
		proc.BodySite = conceptText(&p.BodySite[0])
	}
	title := firstNonEmpty(conceptText(p.Code), narrativeText(raw), "Procedure not named by the source")
	m.show(key, firstDated(performed), connectors.Entry{Kind: connectors.KindProcedure, ID: key,
		Codes: conceptCodes(p.Code), Title: title, Procedure: proc})
	return nil
}
