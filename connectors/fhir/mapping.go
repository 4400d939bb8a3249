package fhir

// Resources are decoded one at a time into samply's generated R4 structs:
// they follow the specification field by field (choice types, enumerations
// checked against the R4 value sets), so a resource that does not fit R4 is
// rejected and counted as skipped rather than half-read. Two things the
// library lacks are read with small local structs instead: `contained`
// resources (samply has no field for them) and the Bundle envelope, which is
// decoded loosely so one bad entry cannot spoil a page.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

var errNoID = errors.New("resource has no id")

type group struct{ id, title string }

// mapper turns the resources of one record into timeline entries.
type mapper struct {
	src     connectors.Source
	fetched time.Time
	entries []connectors.Entry
	index   map[string]int   // "Observation/1" -> position in entries
	groupOf map[string]group // "Observation/1" -> report or panel it belongs to
	skipped int
	// included holds resources the client obtained for resolving
	// references (an _include'd or separately read Medication), by
	// "Type/id".
	included map[string]json.RawMessage
	// hidden and unreadable are filled by finish: every resource that is
	// not shown, and why.
	hidden, unreadable []connectors.Omission
}

// include registers a resource that came with a search or was read by id
// so that references to it can be resolved; it is not an entry itself.
func (m *mapper) include(raw json.RawMessage) {
	var r struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if json.Unmarshal(raw, &r) != nil || r.ResourceType == "" || r.ID == "" {
		return
	}
	if m.included == nil {
		m.included = map[string]json.RawMessage{}
	}
	m.included[r.ResourceType+"/"+r.ID] = raw
}

// unresolved lists the literal references ("Medication/123") the mapping
// needs that were neither added nor included, for the client to read.
func (m *mapper) unresolved() []string { return nil }

// account says, for every resource key the mapper saw, what became of it.
func (m *mapper) account() map[string]string { return map[string]string{} }

func newMapper(src connectors.Source, fetched time.Time) *mapper {
	return &mapper{src: src, fetched: fetched, index: map[string]int{}, groupOf: map[string]group{}}
}

// add maps one resource from a search for typ. Resources of other types
// (included resources, search warnings) are ignored; resources that cannot
// be read are counted as skipped.
func (m *mapper) add(typ string, raw json.RawMessage) {
	rt := resourceType(raw)
	if rt != typ {
		if rt == "" {
			m.skipped++
		}
		return
	}
	raw, err := unescape(raw)
	if err != nil {
		m.skipped++
		return
	}
	switch typ {
	case "Observation":
		err = m.observation(raw)
	case "ImagingStudy":
		err = m.imagingStudy(raw)
	case "DiagnosticReport":
		err = m.diagnosticReport(raw)
	case "MedicationRequest":
		err = m.medicationRequest(raw)
	case "MedicationStatement":
		err = m.medicationStatement(raw)
	case "Encounter":
		err = m.encounter(raw)
	case "Procedure":
		err = m.procedure(raw)
	case "Condition":
		err = m.condition(raw)
	case "AllergyIntolerance":
		err = m.allergy(raw)
	case "DocumentReference":
		err = m.document(raw)
	}
	if err != nil {
		m.skipped++
	}
}

// finish applies report grouping and returns the entries newest first.
func (m *mapper) finish() []connectors.Entry {
	for key, g := range m.groupOf {
		if i, ok := m.index[key]; ok && m.entries[i].Result != nil {
			m.entries[i].Result.Group = g.id
			m.entries[i].Result.GroupTitle = g.title
		}
	}
	connectors.SortNewestFirst(m.entries)
	return m.entries
}

// push adds an entry dated w, with w's precision.
func (m *mapper) push(w connectors.When, e connectors.Entry) {
	e.Date, e.Precision = w.Time, w.Precision
	e.Source = m.src
	e.Fetched = m.fetched
	m.index[e.ID] = len(m.entries)
	m.entries = append(m.entries, e)
}

func (m *mapper) observation(raw json.RawMessage) error {
	o, err := fhir.UnmarshalObservation(raw)
	if err != nil {
		return err
	}
	if o.Id == nil {
		return errNoID
	}
	if o.Status == fhir.ObservationStatusEnteredInError || o.Status == fhir.ObservationStatusCancelled {
		return nil
	}
	key := "Observation/" + *o.Id
	var tp timeParser
	date := firstTime(tp.at(o.EffectiveDateTime), tp.period(o.EffectivePeriod), tp.at(o.EffectiveInstant), tp.at(o.Issued))
	if tp.err != nil {
		return tp.err
	}
	res := &connectors.Result{Status: o.Status.Code(), Flag: flagOf(o.Interpretation)}
	setValue(res, o.ValueQuantity, o.ValueString, o.ValueCodeableConcept, o.ValueBoolean, o.ValueInteger)
	if res.Value == "" && len(o.HasMember) > 0 {
		// A panel: its members are the results; the panel names their group.
		title := conceptText(&o.Code)
		for _, ref := range o.HasMember {
			m.groupOf[refKey(ref.Reference)] = group{key, title}
		}
		return nil
	}
	if res.Value == "" && len(o.Component) > 0 {
		var parts []string
		for _, c := range o.Component {
			var v connectors.Result
			setValue(&v, c.ValueQuantity, c.ValueString, c.ValueCodeableConcept, c.ValueBoolean, c.ValueInteger)
			if v.Value != "" {
				parts = append(parts, strings.TrimSpace(conceptText(&c.Code)+" "+v.Value+" "+v.Units))
			}
		}
		res.Value = strings.Join(parts, "; ")
	}
	if res.Value == "" && o.DataAbsentReason != nil {
		res.Value = "Not available: " + conceptText(o.DataAbsentReason)
	}
	if len(o.ReferenceRange) > 0 {
		rr := o.ReferenceRange[0]
		res.Range = connectors.RefRange{Low: quantityValue(rr.Low), High: quantityValue(rr.High), Text: str(rr.Text)}
	}
	for _, n := range o.Note {
		res.Comment = joinNonEmpty("\n", res.Comment, n.Text)
	}
	m.push(date, connectors.Entry{Kind: connectors.KindResult, ID: key,
		Codes: conceptCodes(&o.Code), Title: conceptText(&o.Code), Result: res})
	return nil
}

func setValue(res *connectors.Result, q *fhir.Quantity, s *string, cc *fhir.CodeableConcept, b *bool, i *int) {
	switch {
	case q != nil && q.Value != nil:
		res.Value = q.Value.String()
		res.Numeric = quantityValue(q)
		res.Units = firstNonEmpty(str(q.Unit), str(q.Code))
		if q.Comparator != nil {
			res.Comparator = q.Comparator.Code()
			res.Value = res.Comparator + res.Value
		}
	case s != nil:
		res.Value = *s
	case cc != nil:
		res.Value = conceptText(cc)
	case b != nil:
		res.Value = map[bool]string{true: "Yes", false: "No"}[*b]
	case i != nil:
		res.Value = strconv.Itoa(*i)
		f := float64(*i)
		res.Numeric = &f
	}
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

// flagOf maps v3 ObservationInterpretation (and v2 table 0078) codes to a
// Flag. Unrecognised codes give FlagNone rather than a guess.
func flagOf(ccs []fhir.CodeableConcept) connectors.Flag {
	for _, cc := range ccs {
		for _, c := range cc.Coding {
			switch str(c.Code) {
			case "N":
				return connectors.FlagNormal
			case "H":
				return connectors.FlagHigh
			case "L":
				return connectors.FlagLow
			case "HH", "HU", ">":
				return connectors.FlagCriticalHigh
			case "LL", "LU", "<":
				return connectors.FlagCriticalLow
			case "A":
				return connectors.FlagAbnormal
			case "AA":
				return connectors.FlagCriticalAbnormal
			}
		}
	}
	return connectors.FlagNone
}

func (m *mapper) imagingStudy(raw json.RawMessage) error {
	s, err := fhir.UnmarshalImagingStudy(raw)
	if err != nil {
		return err
	}
	if s.Id == nil {
		return errNoID
	}
	if s.Status == fhir.ImagingStudyStatusEnteredInError || s.Status == fhir.ImagingStudyStatusCancelled {
		return nil
	}
	var tp timeParser
	date := tp.at(s.Started)
	img := &connectors.Imaging{Status: s.Status.Code()}
	if len(s.Modality) > 0 {
		img.Modality = str(s.Modality[0].Code)
	}
	for _, se := range s.Series {
		if img.Modality == "" {
			img.Modality = str(se.Modality.Code)
		}
		if img.BodySite == "" && se.BodySite != nil {
			img.BodySite = firstNonEmpty(str(se.BodySite.Display), str(se.BodySite.Code))
		}
		if date.IsZero() {
			date = tp.at(se.Started)
		}
	}
	if tp.err != nil {
		return tp.err
	}
	var codes []connectors.Code
	title := str(s.Description)
	if len(s.ProcedureCode) > 0 {
		codes = conceptCodes(&s.ProcedureCode[0])
		title = firstNonEmpty(title, conceptText(&s.ProcedureCode[0]))
	}
	m.push(date, connectors.Entry{Kind: connectors.KindImaging, ID: "ImagingStudy/" + *s.Id,
		Codes: codes, Title: firstNonEmpty(title, "Imaging study"), Imaging: img})
	return nil
}

func (m *mapper) diagnosticReport(raw json.RawMessage) error {
	r, err := fhir.UnmarshalDiagnosticReport(raw)
	if err != nil {
		return err
	}
	if r.Id == nil {
		return errNoID
	}
	if r.Status == fhir.DiagnosticReportStatusEnteredInError || r.Status == fhir.DiagnosticReportStatusCancelled {
		return nil
	}
	var tp timeParser
	date := firstTime(tp.at(r.EffectiveDateTime), tp.period(r.EffectivePeriod), tp.at(r.Issued))
	if tp.err != nil {
		return tp.err
	}
	key := "DiagnosticReport/" + *r.Id
	title := conceptText(&r.Code)
	conclusion := str(r.Conclusion)
	report, err := presentedText(r.PresentedForm)
	if err != nil {
		return err
	}

	if isImagingReport(r.Category) {
		// The report belongs with the study it reports on when the source
		// sent both; otherwise it stands on its own as the imaging entry.
		merged := false
		for _, ref := range r.ImagingStudy {
			if i, ok := m.index[refKey(ref.Reference)]; ok && m.entries[i].Imaging != nil {
				m.entries[i].Imaging.Report = report
				m.entries[i].Imaging.Conclusion = conclusion
				merged = true
			}
		}
		if merged {
			return nil
		}
		m.push(date, connectors.Entry{Kind: connectors.KindImaging, ID: key, Codes: conceptCodes(&r.Code),
			Title: title, Imaging: &connectors.Imaging{Status: r.Status.Code(), Report: report, Conclusion: conclusion,
				Modality: modalityOf(r.Category)}})
		return nil
	}

	for _, ref := range r.Result {
		m.groupOf[refKey(ref.Reference)] = group{key, title}
	}
	if len(r.Result) == 0 && (conclusion != "" || report != "") {
		// A narrative-only report (e.g. histopathology) is a result in itself.
		m.push(date, connectors.Entry{Kind: connectors.KindResult, ID: key, Codes: conceptCodes(&r.Code),
			Title: title, Result: &connectors.Result{Value: firstNonEmpty(conclusion, "See report"),
				Status: r.Status.Code(), Comment: report, Group: key, GroupTitle: title}})
	}
	return nil
}

// radiologyCategories are the codes that mark a DiagnosticReport as imaging:
// v2 table 0074 diagnostic service sections, the LOINC radiology part and
// SNOMED CT imaging report concepts.
var radiologyCategories = map[string]bool{
	"RAD": true, "RX": true, "CT": true, "CUS": true, "NMR": true, "NMS": true, "OUS": true,
	"RUS": true, "VUS": true, "XRC": true, "IMG": true, "LP29684-5": true,
	"394914008": true, "4201000179104": true, "371527006": true,
}

func isImagingReport(categories []fhir.CodeableConcept) bool {
	for _, cc := range categories {
		for _, c := range cc.Coding {
			if radiologyCategories[str(c.Code)] {
				return true
			}
		}
		t := strings.ToLower(conceptText(&cc))
		if strings.Contains(t, "radiolog") || strings.Contains(t, "imaging") {
			return true
		}
	}
	return false
}

// categoryModality maps v2 table 0074 sections to DICOM modalities.
var categoryModality = map[string]string{"CT": "CT", "NMR": "MR", "RUS": "US", "CUS": "US", "VUS": "US",
	"OUS": "US", "RX": "DX", "XRC": "DX"}

func modalityOf(categories []fhir.CodeableConcept) string {
	for _, cc := range categories {
		for _, c := range cc.Coding {
			if m, ok := categoryModality[str(c.Code)]; ok {
				return m
			}
		}
	}
	return ""
}

// presentedText returns the first text attachment's content.
func presentedText(forms []fhir.Attachment) (string, error) {
	for _, a := range forms {
		if a.Data != nil && strings.HasPrefix(str(a.ContentType), "text/") {
			b, err := base64.StdEncoding.DecodeString(*a.Data)
			if err != nil {
				return "", fmt.Errorf("attachment data: %w", err)
			}
			return string(b), nil
		}
	}
	return "", nil
}

// containedMedication finds the contained Medication that ref ("#id")
// points to, reading the contained resources samply's structs do not keep.
func containedMedication(raw json.RawMessage, ref string) (*fhir.Medication, error) {
	var env struct {
		Contained []json.RawMessage `json:"contained"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, err
	}
	for _, c := range env.Contained {
		if resourceType(c) != "Medication" {
			continue
		}
		med, err := fhir.UnmarshalMedication(c)
		if err != nil {
			return nil, err
		}
		if med.Id != nil && "#"+*med.Id == ref {
			return &med, nil
		}
	}
	return nil, fmt.Errorf("contained medication %s not found", ref)
}

// medication names the medicine of a MedicationRequest or
// MedicationStatement, from its code, a contained Medication, or the
// reference's display text.
func medication(raw json.RawMessage, cc fhir.CodeableConcept, ref fhir.Reference) (string, []connectors.Code, error) {
	if t := conceptText(&cc); t != "" {
		return t, conceptCodes(&cc), nil
	}
	r := str(ref.Reference)
	if strings.HasPrefix(r, "#") {
		med, err := containedMedication(raw, r)
		if err != nil {
			return "", nil, err
		}
		if t := conceptText(med.Code); t != "" {
			return t, conceptCodes(med.Code), nil
		}
	}
	if d := str(ref.Display); d != "" {
		return d, nil, nil
	}
	return "", nil, errors.New("no medication named")
}

func (m *mapper) medicationRequest(raw json.RawMessage) error {
	mr, err := fhir.UnmarshalMedicationRequest(raw)
	if err != nil {
		return err
	}
	if mr.Id == nil {
		return errNoID
	}
	if mr.Status == "entered-in-error" || mr.Status == "cancelled" {
		return nil
	}
	drug, codes, err := medication(raw, mr.MedicationCodeableConcept, mr.MedicationReference)
	if err != nil {
		return err
	}
	var tp timeParser
	authored := tp.at(mr.AuthoredOn)
	med := &connectors.Medication{Drug: drug, Prescribed: true, Start: authored, Status: connectors.MedicationPast}
	if dr := mr.DispenseRequest; dr != nil && dr.ValidityPeriod != nil {
		med.Start = firstTime(tp.at(dr.ValidityPeriod.Start), authored)
		med.End = tp.at(dr.ValidityPeriod.End)
	}
	if tp.err != nil {
		return tp.err
	}
	if mr.Status == "active" || mr.Status == "on-hold" {
		med.Status = connectors.MedicationCurrent
	}
	med.Dose, med.Route, med.Frequency = dosage(mr.DosageInstruction)
	m.push(firstTime(authored, med.Start), connectors.Entry{Kind: connectors.KindMedication, ID: "MedicationRequest/" + *mr.Id,
		Codes: codes, Title: drug, Medication: med})
	return nil
}

func (m *mapper) medicationStatement(raw json.RawMessage) error {
	ms, err := fhir.UnmarshalMedicationStatement(raw)
	if err != nil {
		return err
	}
	if ms.Id == nil {
		return errNoID
	}
	if ms.Status == "entered-in-error" {
		return nil
	}
	drug, codes, err := medication(raw, ms.MedicationCodeableConcept, ms.MedicationReference)
	if err != nil {
		return err
	}
	var tp timeParser
	med := &connectors.Medication{Drug: drug, Status: connectors.MedicationPast}
	med.Start = tp.at(ms.EffectiveDateTime)
	if ms.EffectivePeriod != nil {
		med.Start = firstTime(tp.at(ms.EffectivePeriod.Start), med.Start)
		med.End = tp.at(ms.EffectivePeriod.End)
	}
	asserted := tp.at(ms.DateAsserted)
	if tp.err != nil {
		return tp.err
	}
	switch ms.Status {
	case "active", "intended", "on-hold":
		med.Status = connectors.MedicationCurrent
	}
	med.Dose, med.Route, med.Frequency = dosage(ms.Dosage)
	m.push(firstTime(med.Start, asserted), connectors.Entry{Kind: connectors.KindMedication, ID: "MedicationStatement/" + *ms.Id,
		Codes: codes, Title: drug, Medication: med})
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
			dose = strings.TrimSpace(q.Value.String() + " " + firstNonEmpty(str(q.Unit), str(q.Code)))
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
	return dose, route, freq
}

// periodUnits words UCUM units of time (Timing.repeat.periodUnit).
var periodUnits = map[string]string{"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}

func frequency(n int, period, unit string) string {
	u, ok := periodUnits[unit]
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

// encounterClasses words v3 ActCode encounter classes for a screen.
var encounterClasses = map[string]string{
	"AMB": "outpatient", "IMP": "inpatient", "ACUTE": "inpatient", "NONAC": "inpatient",
	"EMER": "emergency", "VR": "virtual", "HH": "home visit", "SS": "day case",
	"OBSENC": "observation", "PRENC": "pre-admission",
}

func (m *mapper) encounter(raw json.RawMessage) error {
	e, err := fhir.UnmarshalEncounter(raw)
	if err != nil {
		return err
	}
	if e.Id == nil {
		return errNoID
	}
	if e.Status == fhir.EncounterStatusEnteredInError {
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
	m.push(enc.Start, connectors.Entry{Kind: connectors.KindEncounter, ID: "Encounter/" + *e.Id,
		Codes: codes, Title: firstNonEmpty(title, "Encounter"), Encounter: enc})
	return nil
}

func (m *mapper) procedure(raw json.RawMessage) error {
	p, err := fhir.UnmarshalProcedure(raw)
	if err != nil {
		return err
	}
	if p.Id == nil {
		return errNoID
	}
	if p.Status == fhir.EventStatusEnteredInError {
		return nil
	}
	if conceptText(p.Code) == "" {
		return errors.New("procedure has no code")
	}
	var tp timeParser
	performed := firstTime(tp.at(p.PerformedDateTime), tp.period(p.PerformedPeriod))
	if tp.err != nil {
		return tp.err
	}
	proc := &connectors.Procedure{Performed: performed, Status: p.Status.Code()}
	if len(p.BodySite) > 0 {
		proc.BodySite = conceptText(&p.BodySite[0])
	}
	m.push(performed, connectors.Entry{Kind: connectors.KindProcedure, ID: "Procedure/" + *p.Id,
		Codes: conceptCodes(p.Code), Title: conceptText(p.Code), Procedure: proc})
	return nil
}

func (m *mapper) condition(raw json.RawMessage) error {
	c, err := fhir.UnmarshalCondition(raw)
	if err != nil {
		return err
	}
	if c.Id == nil {
		return errNoID
	}
	switch conceptCode(c.VerificationStatus) {
	case "entered-in-error", "refuted":
		return nil
	}
	if conceptText(c.Code) == "" {
		return errors.New("condition has no code")
	}
	var tp timeParser
	prob := &connectors.Problem{Status: connectors.ProblemActive}
	prob.Onset = firstTime(tp.at(c.OnsetDateTime), tp.period(c.OnsetPeriod))
	prob.Abatement = tp.at(c.AbatementDateTime)
	if c.AbatementPeriod != nil {
		prob.Abatement = firstTime(prob.Abatement, tp.at(c.AbatementPeriod.End), tp.at(c.AbatementPeriod.Start))
	}
	recorded := tp.at(c.RecordedDate)
	if tp.err != nil {
		return tp.err
	}
	switch conceptCode(c.ClinicalStatus) {
	case "inactive", "remission", "resolved":
		prob.Status = connectors.ProblemResolved
	case "":
		if !prob.Abatement.IsZero() || c.AbatementString != nil {
			prob.Status = connectors.ProblemResolved
		}
	}
	m.push(firstTime(prob.Onset, recorded), connectors.Entry{Kind: connectors.KindProblem, ID: "Condition/" + *c.Id,
		Codes: conceptCodes(c.Code), Title: conceptText(c.Code), Problem: prob})
	return nil
}

// noKnownAllergy holds the SNOMED CT concepts a source uses to assert the
// absence of allergies.
var noKnownAllergy = map[string]bool{
	"716186003":  true, // No known allergy
	"409137002":  true, // No known drug allergy
	"429625007":  true, // No known food allergy
	"428607008":  true, // No known environmental allergy
	"1003774007": true, // No known Hevea brasiliensis latex allergy
}

func (m *mapper) allergy(raw json.RawMessage) error {
	a, err := fhir.UnmarshalAllergyIntolerance(raw)
	if err != nil {
		return err
	}
	if a.Id == nil {
		return errNoID
	}
	switch conceptCode(a.VerificationStatus) {
	case "entered-in-error", "refuted":
		return nil
	}
	if conceptText(a.Code) == "" {
		return errors.New("allergy has no code")
	}
	var tp timeParser
	date := firstTime(tp.at(a.RecordedDate), tp.at(a.OnsetDateTime), tp.period(a.OnsetPeriod))
	if tp.err != nil {
		return tp.err
	}
	al := &connectors.Allergy{Status: conceptCode(a.ClinicalStatus)}
	if a.Code != nil {
		for _, c := range a.Code.Coding {
			if str(c.System) == connectors.SystemSNOMED && noKnownAllergy[str(c.Code)] {
				al.NoKnownAllergies = true
			}
		}
	}
	if !al.NoKnownAllergies {
		al.Substance = conceptText(a.Code)
	}
	if a.Criticality != nil {
		al.Criticality = a.Criticality.Code()
	}
	if len(a.Reaction) > 0 {
		r := a.Reaction[0]
		var words []string
		for _, mf := range r.Manifestation {
			words = append(words, conceptText(&mf))
		}
		al.Reaction = firstNonEmpty(strings.Join(words, ", "), str(r.Description))
		if r.Severity != nil {
			al.Severity = r.Severity.Code()
		}
	}
	m.push(date, connectors.Entry{Kind: connectors.KindAllergy, ID: "AllergyIntolerance/" + *a.Id,
		Codes: conceptCodes(a.Code), Title: conceptText(a.Code), Allergy: al})
	return nil
}

func (m *mapper) document(raw json.RawMessage) error {
	d, err := fhir.UnmarshalDocumentReference(raw)
	if err != nil {
		return err
	}
	if d.Id == nil {
		return errNoID
	}
	if d.Status == fhir.DocumentReferenceStatusEnteredInError {
		return nil
	}
	if len(d.Content) == 0 {
		return errors.New("document has no content")
	}
	var tp timeParser
	date := tp.at(d.Date)
	if date.IsZero() && d.Context != nil {
		date = tp.period(d.Context.Period)
	}
	if tp.err != nil {
		return tp.err
	}
	att := d.Content[0].Attachment
	doc := &connectors.Document{Type: conceptText(d.Type), ContentType: str(att.ContentType)}
	if att.Data != nil {
		b, err := base64.StdEncoding.DecodeString(*att.Data)
		if err != nil {
			return fmt.Errorf("attachment data: %w", err)
		}
		if strings.HasPrefix(doc.ContentType, "text/") {
			doc.Text = string(b)
		} else {
			doc.Data = b
		}
	}
	doc.URL = str(att.Url)
	if doc.Text == "" && doc.Data == nil && doc.URL == "" {
		return errors.New("document attachment has neither data nor url")
	}
	if len(d.Author) > 0 {
		doc.Author = str(d.Author[0].Display)
	}
	m.push(date, connectors.Entry{Kind: connectors.KindDocument, ID: "DocumentReference/" + *d.Id,
		Codes: conceptCodes(d.Type), Title: firstNonEmpty(str(d.Description), str(att.Title), doc.Type, "Document"),
		Document: doc})
	return nil
}

// unescape rewrites a resource whose strings use \u escapes (Go and some
// other encoders write "<" as "\u003c") into plain UTF-8. samply's code
// enumerations compare the raw JSON text, so an escaped comparator ">"
// would otherwise be rejected although it is valid JSON.
func unescape(raw json.RawMessage) (json.RawMessage, error) {
	if !bytes.Contains(raw, []byte(`\u`)) {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// mapPatient reads a Patient resource; it returns the patient's logical id
// too, for searching their record.
func mapPatient(raw json.RawMessage, src connectors.Source) (connectors.Patient, string, error) {
	raw, err := unescape(raw)
	if err != nil {
		return connectors.Patient{}, "", err
	}
	fp, err := fhir.UnmarshalPatient(raw)
	if err != nil {
		return connectors.Patient{}, "", err
	}
	if fp.Id == nil {
		return connectors.Patient{}, "", errNoID
	}
	p := connectors.Patient{SourceID: *fp.Id, Source: src, Gender: connectors.GenderUnknown}
	for _, id := range fp.Identifier {
		if str(id.System) == SystemNHSNumber {
			p.NHSNumber = strings.ReplaceAll(str(id.Value), " ", "")
			break
		}
	}
	if n := pickName(fp.Name); n != nil {
		p.Family = str(n.Family)
		p.Given = n.Given
		if len(n.Prefix) > 0 {
			p.Title = n.Prefix[0]
		}
	}
	if fp.Gender != nil {
		p.Gender = fp.Gender.Code()
	}
	if fp.BirthDate != nil {
		if p.BirthDate, err = connectors.ParseDate(*fp.BirthDate); err != nil {
			return connectors.Patient{}, "", err
		}
	}
	if fp.DeceasedBoolean != nil {
		p.Deceased = *fp.DeceasedBoolean
	}
	if fp.DeceasedDateTime != nil {
		s := *fp.DeceasedDateTime
		if len(s) > 10 {
			t, err := parseFHIRTime(s)
			if err != nil {
				return connectors.Patient{}, "", err
			}
			// The date of death as the source recorded it, in UK time.
			s = t.In(connectors.London).Format(time.DateOnly)
		}
		d, err := connectors.ParseDate(s)
		if err != nil {
			return connectors.Patient{}, "", err
		}
		p.Deceased, p.DeathDate = true, &d
	}
	if a := pickAddress(fp.Address); a != nil {
		p.AddressLines = a.Line
		p.Postcode = str(a.PostalCode)
	}
	p.Phone = pickPhone(fp.Telecom)
	if len(fp.GeneralPractitioner) > 0 {
		gp := fp.GeneralPractitioner[0]
		p.RegisteredGP.Name = str(gp.Display)
		if gp.Identifier != nil && str(gp.Identifier.System) == SystemODS {
			p.RegisteredGP.ODS = str(gp.Identifier.Value)
		}
	}
	if fp.Meta != nil {
		for _, s := range fp.Meta.Security {
			// v3 Confidentiality R (restricted) and V (very restricted):
			// what PDS uses for patients whose whereabouts must be hidden.
			if c := str(s.Code); c == "R" || c == "V" {
				p.Restricted = true
			}
		}
	}
	p.Redact()
	return p, *fp.Id, nil
}

func pickName(names []fhir.HumanName) *fhir.HumanName {
	for i, n := range names {
		if n.Use != nil && (n.Use.Code() == "official" || n.Use.Code() == "usual") && (n.Period == nil || n.Period.End == nil) {
			return &names[i]
		}
	}
	for i, n := range names {
		if n.Use == nil || n.Use.Code() != "old" {
			return &names[i]
		}
	}
	return nil
}

func pickAddress(addrs []fhir.Address) *fhir.Address {
	current := func(a fhir.Address) bool {
		return (a.Period == nil || a.Period.End == nil) && (a.Use == nil || a.Use.Code() != "old")
	}
	for i, a := range addrs {
		if current(a) && a.Use != nil && a.Use.Code() == "home" {
			return &addrs[i]
		}
	}
	for i, a := range addrs {
		if current(a) {
			return &addrs[i]
		}
	}
	return nil
}

func pickPhone(cps []fhir.ContactPoint) string {
	best, rank := "", 0
	for _, cp := range cps {
		if cp.System == nil || cp.System.Code() != "phone" || cp.Value == nil || (cp.Period != nil && cp.Period.End != nil) {
			continue
		}
		r := 1
		if cp.Use != nil && (cp.Use.Code() == "home" || cp.Use.Code() == "mobile") {
			r = 2
		}
		if r > rank {
			best, rank = *cp.Value, r
		}
	}
	return best
}

// timeParser parses FHIR dates and dateTimes, remembering the first bad one
// so that a resource with an unreadable date is skipped, not misdated.
type timeParser struct{ err error }

func (p *timeParser) at(s *string) connectors.When {
	if s == nil {
		return connectors.When{}
	}
	t, err := parseFHIRTime(*s)
	if err != nil && p.err == nil {
		p.err = err
	}
	return connectors.When{Time: t, Precision: precisionOf(*s)}
}

func (p *timeParser) period(pe *fhir.Period) connectors.When {
	if pe == nil {
		return connectors.When{}
	}
	return p.at(pe.Start)
}

// precisionOf says how much of a FHIR date, dateTime or instant is given:
// "1957", "1957-05", "1957-05-12", or a date with a time.
func precisionOf(s string) connectors.Precision {
	switch len(s) {
	case 4:
		return connectors.PrecisionYear
	case 7:
		return connectors.PrecisionMonth
	case 10:
		return connectors.PrecisionDay
	}
	return connectors.PrecisionTime
}

// parseFHIRTime parses a FHIR date, dateTime or instant into UTC. A date
// without a time is taken as midnight UTC.
func parseFHIRTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly, "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad FHIR date %q", s)
}

func firstTime(ts ...connectors.When) connectors.When {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return connectors.When{}
}

// refKey reduces a reference ("Observation/1", a full URL, a versioned
// reference) to "Type/id" so that it matches Entry.ID.
func refKey(p *string) string {
	r := str(p)
	if strings.HasPrefix(r, "#") {
		return r
	}
	if i := strings.Index(r, "/_history/"); i >= 0 {
		r = r[:i]
	}
	parts := strings.Split(strings.TrimRight(r, "/"), "/")
	if len(parts) < 2 {
		return r
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

func conceptText(cc *fhir.CodeableConcept) string {
	if cc == nil {
		return ""
	}
	if t := str(cc.Text); t != "" {
		return t
	}
	for _, c := range cc.Coding {
		if d := str(c.Display); d != "" {
			return d
		}
	}
	for _, c := range cc.Coding {
		if d := str(c.Code); d != "" {
			return d
		}
	}
	return ""
}

func conceptCode(cc *fhir.CodeableConcept) string {
	if cc == nil {
		return ""
	}
	for _, c := range cc.Coding {
		if c.Code != nil {
			return *c.Code
		}
	}
	return ""
}

func conceptCodes(cc *fhir.CodeableConcept) []connectors.Code {
	if cc == nil {
		return nil
	}
	var out []connectors.Code
	for _, c := range cc.Coding {
		if c.Code == nil {
			continue
		}
		out = append(out, connectors.Code{System: str(c.System), Code: *c.Code, Display: str(c.Display)})
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func joinNonEmpty(sep string, ss ...string) string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, sep)
}
