package fhir

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// unnamedMedicine titles a medicine nothing names: a current medicine is
// shown even then, never dropped.
const unnamedMedicine = "Medicine not named by the source"

// medicine is what names a prescribed or recorded medicine.
type medicine struct {
	name        string
	codes       []connectors.Code
	ingredients []string
}

// medicine names the medicine of a MedicationRequest or MedicationStatement
// (medication[x]): by its code; else by the Medication it references,
// contained ("#id") or read from the source (included), named by its code or,
// when it has none ("if the medication is compounded or extemporaneously
// prepared"), by its ingredients with their strengths; else by the
// reference's display text.
func (m *mapper) medicine(entryID string, raw json.RawMessage, cc fhir.CodeableConcept, ref fhir.Reference) medicine {
	if t := conceptText(&cc); t != "" {
		return medicine{name: t, codes: conceptCodes(&cc)}
	}
	r := str(ref.Reference)
	var medRaw json.RawMessage
	var cont map[string]json.RawMessage
	switch {
	case r == "":
	case strings.HasPrefix(r, "#"):
		cont = contained(raw)
		medRaw = cont[r]
	default:
		key := refKey(&r)
		if medRaw = m.included[key]; medRaw != nil {
			m.use(key, entryID)
		}
	}
	if medRaw != nil {
		if typ, _ := identify(medRaw); typ == "Medication" {
			if med, err := fhir.UnmarshalMedication(medRaw); err == nil {
				if t := conceptText(med.Code); t != "" {
					return medicine{name: t, codes: conceptCodes(med.Code)}
				}
				var names, ingredients []string
				for _, in := range med.Ingredient {
					name := m.ingredientName(in, cont)
					if name == "" {
						continue
					}
					names = append(names, name)
					ingredients = append(ingredients, joinNonEmpty(" ", name, ratioText(in.Strength)))
				}
				if len(names) > 0 {
					name := strings.Join(names, " + ")
					if f := conceptText(med.Form); f != "" {
						name += " (" + f + ")"
					}
					return medicine{name: name, ingredients: ingredients}
				}
			}
		}
	}
	if d := str(ref.Display); d != "" {
		return medicine{name: d}
	}
	return medicine{name: unnamedMedicine}
}

// ingredientName names one ingredient: item[x] is a code, or a reference
// to a Substance or Medication, named by its display or its own code.
func (m *mapper) ingredientName(in fhir.MedicationIngredient, cont map[string]json.RawMessage) string {
	if t := conceptText(&in.ItemCodeableConcept); t != "" {
		return t
	}
	if d := str(in.ItemReference.Display); d != "" {
		return d
	}
	r := str(in.ItemReference.Reference)
	if r == "" {
		return ""
	}
	raw := cont[r]
	if raw == nil {
		raw = m.included[refKey(&r)]
	}
	var item struct {
		Code *fhir.CodeableConcept `json:"code"`
	}
	if raw == nil || json.Unmarshal(raw, &item) != nil {
		return ""
	}
	return conceptText(item.Code)
}

// medicationRequestCurrent says which MedicationRequest statuses are a
// current medicine. active: "actionable"; on-hold: "temporarily halted,
// but are expected to continue later"; unknown: the source does not know,
// so it is listed with the current medicines (with its status) rather than
// risk a current medicine passing as past. completed, stopped and draft
// ("not yet actionable") are past. cancelled ("withdrawn before any
// administrations") and entered-in-error are hidden.
var medicationRequestCurrent = map[string]bool{"active": true, "on-hold": true, "unknown": true}

func (m *mapper) medicationRequest(key string, raw json.RawMessage) error {
	mr, err := fhir.UnmarshalMedicationRequest(raw)
	if err != nil {
		return errNotR4
	}
	status := mr.Status
	switch status {
	case "entered-in-error":
		m.hide(connectors.KindMedication, key, connectors.HideEnteredInError)
		return nil
	case "cancelled":
		m.hide(connectors.KindMedication, key, connectors.HideCancelled)
		return nil
	}
	var tp timeParser
	authored := tp.at(mr.AuthoredOn)
	med := &connectors.Medication{Prescribed: true, Start: authored, Status: connectors.MedicationPast, SourceStatus: status}
	if dr := mr.DispenseRequest; dr != nil && dr.ValidityPeriod != nil {
		med.Start = firstTime(tp.at(dr.ValidityPeriod.Start), authored)
		med.End = tp.at(dr.ValidityPeriod.End)
	}
	if tp.err != nil {
		return tp.err
	}
	if medicationRequestCurrent[status] {
		med.Status = connectors.MedicationCurrent
	}
	named := m.medicine(key, raw, mr.MedicationCodeableConcept, mr.MedicationReference)
	med.Drug, med.Ingredients = named.name, named.ingredients
	med.Dose, med.Route, med.Frequency = dosage(mr.DosageInstruction)
	m.show(key, firstTime(authored, med.Start), connectors.Entry{Kind: connectors.KindMedication, ID: key,
		Codes: named.codes, Title: named.name, Medication: med})
	return nil
}

// medicationStatementCurrent says which MedicationStatement statuses are a
// current medicine: active ("still being taken"), intended ("may be taken
// at some time in the future"), on-hold, and unknown (listed with the
// current ones, with its status, as for prescriptions). completed, stopped
// and not-taken are past; entered-in-error is hidden.
var medicationStatementCurrent = map[string]bool{"active": true, "intended": true, "on-hold": true, "unknown": true}

func (m *mapper) medicationStatement(key string, raw json.RawMessage) error {
	ms, err := fhir.UnmarshalMedicationStatement(raw)
	if err != nil {
		return errNotR4
	}
	status := ms.Status
	if status == "entered-in-error" {
		m.hide(connectors.KindMedication, key, connectors.HideEnteredInError)
		return nil
	}
	var tp timeParser
	med := &connectors.Medication{Status: connectors.MedicationPast, SourceStatus: status}
	med.Start = tp.at(ms.EffectiveDateTime)
	if ms.EffectivePeriod != nil {
		med.Start = firstTime(tp.at(ms.EffectivePeriod.Start), med.Start)
		med.End = tp.at(ms.EffectivePeriod.End)
	}
	asserted := tp.at(ms.DateAsserted)
	if tp.err != nil {
		return tp.err
	}
	if medicationStatementCurrent[status] {
		med.Status = connectors.MedicationCurrent
	}
	named := m.medicine(key, raw, ms.MedicationCodeableConcept, ms.MedicationReference)
	med.Drug, med.Ingredients = named.name, named.ingredients
	med.Dose, med.Route, med.Frequency = dosage(ms.Dosage)
	m.show(key, firstTime(med.Start, asserted), connectors.Entry{Kind: connectors.KindMedication, ID: key,
		Codes: named.codes, Title: named.name, Medication: med})
	return nil
}

// dosage reads the first dosage instruction as dose, route and frequency,
// falling back to the instruction's free text for the dose.
func dosage(ds []fhir.Dosage) (dose, route, freq string) {
	if len(ds) == 0 {
		return "", "", ""
	}
	d := ds[0]
	for _, dr := range d.DoseAndRate {
		if q := dr.DoseQuantity; q != nil && q.Value != nil {
			dose = quantityText(q)
			break
		}
		if dose = rangeText(dr.DoseRange); dose != "" {
			break
		}
	}
	if dose == "" {
		dose = str(d.Text)
	}
	route = conceptText(d.Route)
	if t := d.Timing; t != nil {
		freq = conceptText(t.Code)
		if r := t.Repeat; freq == "" && r != nil && r.Frequency != nil && r.Period != nil {
			freq = frequency(*r.Frequency, r.Period.String(), str(r.PeriodUnit))
		}
	}
	if d.AsNeededBoolean != nil && *d.AsNeededBoolean {
		freq = joinNonEmpty(" ", freq, "when required")
	}
	if t := conceptText(d.AsNeededCodeableConcept); t != "" {
		freq = joinNonEmpty(" ", freq, "when required for "+t)
	}
	return dose, route, freq
}

func frequency(n int, period, unit string) string {
	u, ok := ucumTime[unit]
	if !ok {
		return ""
	}
	if period == "1" {
		switch n {
		case 1:
			return "once a " + u
		case 2:
			return "twice a " + u
		}
		return fmt.Sprintf("%d times a %s", n, u)
	}
	if n == 1 {
		return fmt.Sprintf("every %s %ss", period, u)
	}
	return fmt.Sprintf("%d times every %s %ss", n, period, u)
}
