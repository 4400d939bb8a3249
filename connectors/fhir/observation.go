package fhir

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// observation maps an Observation: a result with its value, components,
// interpretation, reference ranges and status. A panel (hasMember) names
// the group of its members and is accounted as part of them.
func (m *mapper) observation(key string, raw json.RawMessage) error {
	o, err := fhir.UnmarshalObservation(raw)
	if err != nil {
		return errNotR4
	}
	if rule := observationHidden(o.Status); rule != "" {
		m.hide(connectors.KindResult, key, rule)
		return nil
	}
	e, when, err := m.observationEntry(key, o)
	if err != nil {
		return err
	}
	if len(o.HasMember) > 0 {
		// "This observation is a group observation (e.g. a battery, a
		// panel of tests, a set of vital sign measurements) that includes
		// the target as a member of the group."
		var members []string
		for _, ref := range o.HasMember {
			id := refKey(ref.Reference)
			members = append(members, id)
			m.member(id, group{key, e.Title, e.Codes})
		}
		if r := e.Result; valueless(r) {
			r.Absent = "results not sent by the source"
			r.Group, r.GroupTitle, r.GroupCodes = key, e.Title, e.Codes
			m.pending = append(m.pending, pendingGroup{key: key, members: members, when: when, fallback: e})
			return nil
		}
	}
	sayValueless(e.Result)
	m.show(key, when, e)
	return nil
}

// valueless reports whether a result has neither a value, nor components,
// nor a reason for having none.
func valueless(r *connectors.Result) bool {
	return r.Value == "" && len(r.Components) == 0 && r.Absent == ""
}

// sayValueless makes a result the source sent without a value say so,
// rather than stand blank beside its title.
func sayValueless(r *connectors.Result) {
	if valueless(r) {
		r.Absent = "no value sent by the source"
	}
}

// observationHidden gives the hide rule for an Observation's status:
// "entered-in-error" and "cancelled" ("The observation is unavailable
// because the measurement was not started or not completed").
func observationHidden(s fhir.ObservationStatus) string {
	switch s {
	case fhir.ObservationStatusEnteredInError:
		return connectors.HideEnteredInError
	case fhir.ObservationStatusCancelled:
		return connectors.HideCancelled
	}
	return ""
}

// observationEntry reads an Observation (sent on its own or contained in a
// report) into a result entry with the given ID.
func (m *mapper) observationEntry(id string, o fhir.Observation) (connectors.Entry, connectors.When, error) {
	var tp timeParser
	var timing connectors.When
	if o.EffectiveTiming != nil && len(o.EffectiveTiming.Event) > 0 {
		timing = tp.at(&o.EffectiveTiming.Event[0])
	}
	when := firstTime(tp.at(o.EffectiveDateTime), tp.period(o.EffectivePeriod), tp.at(o.EffectiveInstant), timing, tp.at(o.Issued))
	v := observedValue(&tp, o.ValueQuantity, o.ValueCodeableConcept, o.ValueString, o.ValueBoolean, o.ValueInteger,
		o.ValueRange, o.ValueRatio, o.ValueSampledData, o.ValueTime, o.ValueDateTime, o.ValuePeriod)
	if tp.err != nil {
		return connectors.Entry{}, connectors.When{}, tp.err
	}
	res := &connectors.Result{Value: v.value, Numeric: v.numeric, Comparator: v.comparator, Units: v.units,
		Status: o.Status.Code()}
	if res.Value == "" {
		res.Absent = conceptText(o.DataAbsentReason)
	}
	res.Flag, res.Interpretation = interpretation(o.Interpretation)
	res.Range, res.OtherRanges = m.referenceRanges(o.ReferenceRange, when)
	for _, c := range o.Component {
		res.Components = append(res.Components, m.component(c, when))
	}
	for _, n := range o.Note {
		res.Comment = joinNonEmpty("\n", res.Comment, n.Text)
	}
	return connectors.Entry{Kind: connectors.KindResult, ID: id, Codes: conceptCodes(&o.Code),
		Title: firstNonEmpty(conceptText(&o.Code), "Result not named by the source"), Result: res}, when, nil
}

// component reads one component: "component observations are expressed as
// separate code value pairs that share the same attributes", each with its
// own value, absent reason, interpretation and reference range.
func (m *mapper) component(c fhir.ObservationComponent, when connectors.When) connectors.Component {
	var tp timeParser
	v := observedValue(&tp, c.ValueQuantity, c.ValueCodeableConcept, c.ValueString, c.ValueBoolean, c.ValueInteger,
		c.ValueRange, c.ValueRatio, c.ValueSampledData, c.ValueTime, c.ValueDateTime, c.ValuePeriod)
	out := connectors.Component{Title: conceptText(&c.Code), Codes: conceptCodes(&c.Code),
		Value: v.value, Numeric: v.numeric, Comparator: v.comparator, Units: v.units}
	if tp.err != nil {
		out.Value = ""
		out.Absent = "value has a bad date"
	}
	if out.Value == "" && out.Absent == "" {
		out.Absent = conceptText(c.DataAbsentReason)
	}
	out.Flag, out.Interpretation = interpretation(c.Interpretation)
	out.Range, _ = m.referenceRanges(c.ReferenceRange, when)
	return out
}

// observed is an Observation's value[x] as the model holds it.
type observed struct {
	value      string
	numeric    *float64
	comparator string
	units      string
}

// observedValue reads value[x], whichever of its eleven types the source
// used. The comparator of a Quantity (or a Ratio's numerator) is kept apart
// from the value, so that a page shows it once.
func observedValue(tp *timeParser, q *fhir.Quantity, cc *fhir.CodeableConcept, s *string, b *bool, i *int,
	rg *fhir.Range, ra *fhir.Ratio, sd *fhir.SampledData, tm, dt *string, pe *fhir.Period) observed {
	var v observed
	switch {
	case q != nil && q.Value != nil:
		v.value = q.Value.String()
		v.numeric = quantityValue(q)
		v.units = unitOf(q)
		if q.Comparator != nil {
			v.comparator = q.Comparator.Code()
		}
	case cc != nil:
		v.value = conceptText(cc)
	case s != nil:
		v.value = *s
	case b != nil:
		v.value = "No"
		if *b {
			v.value = "Yes"
		}
	case i != nil:
		v.value = strconv.Itoa(*i)
		f := float64(*i)
		v.numeric = &f
	case rg != nil:
		v.value = rangeText(rg)
	case ra != nil && ra.Numerator != nil:
		num := *ra.Numerator
		if num.Comparator != nil {
			v.comparator = num.Comparator.Code()
			num.Comparator = nil
		}
		v.value = ratioText(&fhir.Ratio{Numerator: &num, Denominator: ra.Denominator})
	case sd != nil:
		v.value = sampledText(sd)
		v.units = unitOf(&sd.Origin)
	case tm != nil:
		v.value = *tm
	case dt != nil:
		v.value = whenText(tp.at(dt))
	case pe != nil:
		v.value = tp.periodText(pe)
	}
	return v
}

// sampledText says what a SampledData value is, rather than showing its
// raw samples: "a series of measurements taken by a device", with
// "the length of time between sampling times, measured in milliseconds".
func sampledText(sd *fhir.SampledData) string {
	dims := max(sd.Dimensions, 1)
	n := 0
	if sd.Data != nil {
		n = len(strings.Fields(*sd.Data)) / dims
	}
	s := "Waveform (sampled series)"
	if n > 0 {
		s += fmt.Sprintf(": %d samples", n)
	} else {
		s += ": no samples sent"
	}
	s += ", one every " + sd.Period.String() + " ms"
	if dims > 1 {
		s += fmt.Sprintf(", %d channels", dims)
	}
	return s
}

func quantityValue(q *fhir.Quantity) *float64 {
	if q == nil || q.Value == nil {
		return nil
	}
	f, err := q.Value.Float64()
	if err != nil {
		return nil
	}
	return &f
}

// Interpretation code systems: v3 ObservationInterpretation, and HL7 v2
// table 0078, whose codes are the same.
const (
	systemV3Interpretation = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	systemV2Interpretation = "http://terminology.hl7.org/CodeSystem/v2-0078"
)

// normality maps the codes of the ObservationInterpretationNormality
// branch to a flag. HU and LU ("significantly high/low ... but has not
// reached the critical level") and their older forms H> and L< are high
// and low, not critical; their words are kept as well.
var normality = map[string]connectors.Flag{
	"N": connectors.FlagNormal, "A": connectors.FlagAbnormal, "AA": connectors.FlagCriticalAbnormal,
	"H": connectors.FlagHigh, "HH": connectors.FlagCriticalHigh, "HU": connectors.FlagHigh, "H>": connectors.FlagHigh,
	"L": connectors.FlagLow, "LL": connectors.FlagCriticalLow, "LU": connectors.FlagLow, "L<": connectors.FlagLow,
}

// interpretationWords words the codes that are not a degree of normality
// (and those whose flag says less than the code): detection, susceptibility,
// change, expectation, reactivity and technical exceptions. Off scale
// ("<", ">") is a technical exception that "does not imply normality or
// severity", so it is words, not a flag.
var interpretationWords = map[string]string{
	"HU": "Significantly high", "H>": "Significantly high", "LU": "Significantly low", "L<": "Significantly low",
	"<": "Off scale low", ">": "Off scale high", "AC": "Anti-complementary substances present",
	"IE": "Insufficient evidence", "QCF": "Quality control failure", "TOX": "Cytotoxic substance present",
	"B": "Better", "W": "Worse", "U": "Significant change up", "D": "Significant change down",
	"CAR": "Carrier", "Carrier": "Carrier",
	"I": "Intermediate", "R": "Resistant", "S": "Susceptible", "SDD": "Susceptible-dose dependent",
	"SYN-R": "Synergy - resistant", "SYN-S": "Synergy - susceptible", "NS": "Non-susceptible",
	"NCL": "No CLSI defined breakpoint", "MS": "Moderately susceptible", "VS": "Very susceptible",
	"EX": "Outside threshold", "HX": "Above high threshold", "LX": "Below low threshold",
	"HM": "Hold for medical review", "IND": "Indeterminate", "E": "Equivocal",
	"NEG": "Negative", "ND": "Not detected", "POS": "Positive", "DET": "Detected",
	"EXP": "Expected", "UNE": "Unexpected", "NR": "Non-reactive", "RR": "Reactive", "WR": "Weakly reactive",
}

// interpretation reads Observation.interpretation: the flag of the first
// normality code, and the words of everything else the source said,
// including codes of other systems, which keep their own text rather than
// vanish.
func interpretation(ccs []fhir.CodeableConcept) (connectors.Flag, string) {
	flag := connectors.FlagNone
	var words []string
	for _, cc := range ccs {
		said := ""
		for _, c := range cc.Coding {
			sys, code := str(c.System), str(c.Code)
			if sys != "" && sys != systemV3Interpretation && sys != systemV2Interpretation {
				continue
			}
			if f, ok := normality[code]; ok {
				if flag == connectors.FlagNone {
					flag = f
				}
				said = interpretationWords[code]
				if said == "" {
					said = "-" // fully said by the flag
				}
				break
			}
			if w, ok := interpretationWords[code]; ok {
				said = w
				break
			}
		}
		if said == "" {
			said = conceptText(&cc)
		}
		if said != "-" && said != "" && !containsFold(words, said) {
			words = append(words, said)
		}
	}
	return flag, strings.Join(words, ", ")
}

func containsFold(ss []string, s string) bool {
	for _, x := range ss {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// referenceRanges chooses the normal range a page shows beside the value
// and keeps the others. "Multiple reference ranges are interpreted as an
// 'OR'"; of referenceRange.type, "If this element is not present then the
// normal range is assumed", and of appliesTo, "If this element is not
// present then the normal population is assumed". The range chosen is the
// normal one that applies to this patient where the source says whom it
// applies to and the patient's sex or age is known, else the normal one
// for the normal population; no range is guessed when neither is sent.
func (m *mapper) referenceRanges(rrs []fhir.ObservationReferenceRange, on connectors.When) (connectors.RefRange, []connectors.RefRange) {
	chosen := -1
	generic := -1
	for i, rr := range rrs {
		if !normalRange(rr) {
			continue
		}
		specific, fits := m.appliesToPatient(rr, on)
		switch {
		case specific && fits && chosen < 0:
			chosen = i
		case !specific && generic < 0:
			generic = i
		}
	}
	if chosen < 0 {
		chosen = generic
	}
	var out connectors.RefRange
	var others []connectors.RefRange
	for i, rr := range rrs {
		r := connectors.RefRange{Low: quantityValue(rr.Low), High: quantityValue(rr.High), Text: str(rr.Text),
			AppliesTo: appliesToText(rr)}
		if !normalRange(rr) {
			r.Type = firstNonEmpty(conceptText(rr.Type), "Other range")
		}
		if i == chosen {
			out = r
		} else {
			others = append(others, r)
		}
	}
	return out, others
}

const systemRangeMeaning = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"

// normalRange reports whether a range is the normal range: no type, or
// the type "normal" ("Values expected for a normal member of the relevant
// control population being measured").
func normalRange(rr fhir.ObservationReferenceRange) bool {
	if rr.Type == nil {
		return true
	}
	for _, c := range rr.Type.Coding {
		if str(c.Code) == "normal" && (c.System == nil || str(c.System) == systemRangeMeaning) {
			return true
		}
	}
	t := strings.ToLower(strings.TrimSpace(str(rr.Type.Text)))
	return len(rr.Type.Coding) == 0 && (t == "normal" || t == "normal range")
}

// Sexes a range may apply to: SNOMED CT and v3 AdministrativeGender codes.
var rangeSex = map[string]string{
	"248153007": connectors.GenderMale, "248152002": connectors.GenderFemale,
	"M": connectors.GenderMale, "F": connectors.GenderFemale,
	"male": connectors.GenderMale, "female": connectors.GenderFemale,
}

// appliesToPatient reports whether a range names whom it applies to
// (specific), and if so whether everything it names is known to fit the
// patient: their sex, their age on the day of the result.
func (m *mapper) appliesToPatient(rr fhir.ObservationReferenceRange, on connectors.When) (specific, fits bool) {
	specific = len(rr.AppliesTo) > 0 || rr.Age != nil
	if !specific {
		return false, false
	}
	p := m.patient
	if p == nil {
		return true, false
	}
	for _, cc := range rr.AppliesTo {
		sex := ""
		for _, c := range cc.Coding {
			if s, ok := rangeSex[str(c.Code)]; ok {
				sex = s
			}
		}
		if sex == "" {
			sex = rangeSex[strings.ToLower(strings.TrimSpace(str(cc.Text)))]
		}
		if sex == "" || sex != p.Gender {
			return true, false // a population we cannot check, or another sex
		}
	}
	if rr.Age != nil {
		if p.BirthDate.IsZero() || p.BirthDate.Partial() || on.Time.IsZero() {
			return true, false
		}
		age := float64(p.BirthDate.AgeOn(connectors.DateOf(on.Time.In(connectors.London))))
		for _, q := range []*fhir.Quantity{rr.Age.Low, rr.Age.High} {
			if q != nil && q.Value != nil && str(q.Code) != "a" {
				return true, false // an age in months or days: not checked
			}
		}
		if lo := quantityValue(rr.Age.Low); lo != nil && age < *lo {
			return true, false
		}
		if hi := quantityValue(rr.Age.High); hi != nil && age > *hi {
			return true, false
		}
	}
	return true, true
}

// appliesToText words whom a range is for: "Female; age 18–65".
func appliesToText(rr fhir.ObservationReferenceRange) string {
	var parts []string
	for _, cc := range rr.AppliesTo {
		if t := conceptText(&cc); t != "" {
			parts = append(parts, t)
		}
	}
	if t := ageRangeText(rr.Age); t != "" {
		parts = append(parts, t)
	}
	return strings.Join(parts, "; ")
}
