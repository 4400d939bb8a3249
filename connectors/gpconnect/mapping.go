package gpconnect

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// The List codes of Access Record: Structured (SNOMED CT): one List per
// clinical area the Bundle answers for, and the Lists that structure a
// consultation.
const (
	listAllergies      = "886921000000105"  // Allergies and adverse reactions
	listEndedAllergies = "1103671000000101" // Ended allergies
	listConsultations  = "1149501000000101" // List of consultations
	listDiary          = "714311000000108"  // Patient recall administration
	listImmunisations  = "1102181000000102" // Immunisations
	listInvestigations = "887191000000108"  // Investigations and results
	listMedications    = "933361000000108"  // Medications and medical devices
	listReferrals      = "792931000000107"  // Outbound referral
	listProblems       = "717711000000103"  // Problems
	listUncategorised  = "826501000000100"  // Miscellaneous record
	listConsultation   = "325851000000107"  // Consultation
	listTopic          = "25851000000105"   // Topic (EHR)
	listHeading        = "24781000000107"   // Heading (EHR)
)

// sectionKind is the kind of entry each clinical area's items become.
var sectionKind = map[string]connectors.Kind{
	listAllergies: connectors.KindAllergy, listEndedAllergies: connectors.KindAllergy,
	listConsultations: connectors.KindEncounter, listImmunisations: connectors.KindImmunization,
	listInvestigations: connectors.KindResult, listMedications: connectors.KindMedication,
	listReferrals: connectors.KindDocument, listProblems: connectors.KindProblem,
	listUncategorised: connectors.KindResult,
}

// parameterKind is the kind each Parameters part asks for, to read an
// OperationOutcome in the Bundle that says a part is not offered.
var parameterKind = map[string]connectors.Kind{
	"includeAllergies": connectors.KindAllergy, "includeMedication": connectors.KindMedication,
	"includeConsultations": connectors.KindEncounter, "includeProblems": connectors.KindProblem,
	"includeImmunisations": connectors.KindImmunization, "includeUncategorisedData": connectors.KindResult,
	"includeInvestigations": connectors.KindResult, "includeReferrals": connectors.KindDocument,
}

// List warning codes (Extension-CareConnect-GPC-ListWarningCode-1): what
// the practice left out of a section, worded for a gap.
var listWarnings = map[string]string{
	"confidential-items":   "confidential items withheld by the practice",
	"data-in-transit":      "some records still in transit from a previous practice",
	"data-awaiting-filing": "some records awaiting filing at the practice",
}

// SNOMED CT codes for a no-known-allergies assertion.
const (
	snomed          = "http://snomed.info/sct"
	noKnownAllergy  = "716186003" // No known allergy
	noKnownDrugAlgy = "409137002" // No known drug allergy
)

type entryRaw struct {
	key string
	typ string
	raw json.RawMessage
}

// mapper maps one structured record Bundle. Every resource in it ends in
// account: "shown as <kind>", "part of <entry ID>", "used by <entry ID>",
// "hidden: <rule>", "unreadable: <reason>", "section: <title>" (a List
// that structures the record) or "context: <type>" (the patient, the
// practice, its staff: who and where, not clinical items).
type mapper struct {
	src     connectors.Source
	nhs     string
	fetched time.Time

	res     map[string]json.RawMessage
	types   map[string]string
	order   []entryRaw
	account map[string]string

	patient    *connectors.Patient
	patients   int
	entries    []connectors.Entry
	hidden     []connectors.Omission
	unreadable []connectors.Omission
	gaps       []connectors.Gap
	// entryOf maps a resource key to the entry ID it is shown in or part
	// of, for resources that point at it.
	entryOf map[string]string
	// groupOf is the test group or report each result belongs to.
	groupOf map[string]group
	// related lists, per problem, the resources it is linked to;
	// recorded, per consultation entry, what its topics hold.
	related, recorded map[string][]string
}

type group struct{ group, title string }

var errNotBundle = errors.New("not a Bundle")

func newMapper(src connectors.Source, body []byte, nhs string, fetched time.Time) (*mapper, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" {
		return nil, errNotBundle
	}
	m := &mapper{src: src, nhs: nhs, fetched: fetched, res: map[string]json.RawMessage{}, types: map[string]string{},
		account: map[string]string{}, entryOf: map[string]string{}, related: map[string][]string{}, recorded: map[string][]string{}}
	for i, e := range b.Entry {
		var h struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if json.Unmarshal(e.Resource, &h) != nil || h.ResourceType == "" {
			m.unreadable = append(m.unreadable, connectors.Omission{Reason: "not a resource"})
			m.account[fmt.Sprintf("entry[%d]", i)] = "unreadable: not a resource"
			continue
		}
		key := h.ResourceType + "/" + h.ID
		if h.ID == "" {
			key = fmt.Sprintf("%s/#%d", h.ResourceType, i)
		}
		m.res[key] = e.Resource
		m.types[key] = h.ResourceType
		m.order = append(m.order, entryRaw{key: key, typ: h.ResourceType, raw: e.Resource})
	}
	m.mapAll()
	return m, nil
}

// record is the mapped record, entries newest first.
func (m *mapper) record() *connectors.Record {
	connectors.SortNewestFirst(m.entries)
	return &connectors.Record{Patient: m.patient, Entries: m.entries, PatientRecords: m.patients,
		Hidden: m.hidden, Unreadable: m.unreadable, Gaps: m.gaps, Fetched: m.fetched}
}

// mapAll maps the clinical items first (so that what points at them can
// say which entry it belongs to), then what structures or supports them.
func (m *mapper) mapAll() {
	pass := func(types ...string) {
		for _, r := range m.order {
			if slices.Contains(types, r.typ) {
				m.mapResource(r)
			}
		}
	}
	pass("Patient")
	pass("AllergyIntolerance", "MedicationStatement", "Condition", "Encounter", "Immunization", "Observation", "ReferralRequest")
	pass("DiagnosticReport")
	m.linkPrescriptions()
	pass("MedicationRequest", "Medication", "Specimen", "ProcedureRequest", "List", "OperationOutcome")
	for _, r := range m.order {
		if _, done := m.account[r.key]; !done {
			m.mapResource(r)
		}
	}
	m.linkProblems()
}

func (m *mapper) mapResource(r entryRaw) {
	if _, done := m.account[r.key]; done {
		return
	}
	var err error
	switch r.typ {
	case "Patient":
		err = m.mapPatient(r)
	case "AllergyIntolerance":
		err = m.allergyIntolerance(r)
	case "MedicationStatement":
		err = m.medicationStatement(r)
	case "MedicationRequest":
		m.medicationRequest(r)
	case "Medication":
		m.usedBy(r.key, "no prescription names it")
	case "Condition":
		err = m.condition(r)
	case "Encounter":
		err = m.encounter(r)
	case "Immunization":
		err = m.immunization(r)
	case "Observation":
		err = m.observation(r)
	case "DiagnosticReport":
		err = m.diagnosticReport(r)
	case "Specimen", "ProcedureRequest":
		m.usedBy(r.key, "not linked to a result shown")
	case "ReferralRequest":
		err = m.referralRequest(r)
	case "List":
		err = m.list(r)
	case "OperationOutcome":
		m.operationOutcome(r)
	case "Organization", "Practitioner", "PractitionerRole", "Location", "Device":
		m.account[r.key] = "context: " + r.typ
	default:
		m.unread(r.key, "", "type not read")
	}
	if err != nil {
		m.unread(r.key, "", err.Error())
	}
}

// usedBy accounts for a resource another one points at: "used by" the
// entry of the first resource that named it, or unreadable with reason.
func (m *mapper) usedBy(key, reason string) {
	if id, ok := m.entryOf[key]; ok {
		m.account[key] = "used by " + id
		return
	}
	m.unread(key, "", reason)
}

func (m *mapper) unread(key string, k connectors.Kind, reason string) {
	m.unreadable = append(m.unreadable, connectors.Omission{Kind: k, Resource: key, Reason: reason})
	m.account[key] = "unreadable: " + reason
}

func (m *mapper) hide(key string, k connectors.Kind, rule string) {
	m.hidden = append(m.hidden, connectors.Omission{Kind: k, Resource: key, Reason: rule})
	m.account[key] = "hidden: " + rule
}

// hideBy hides a resource whose status (or verificationStatus) names one of
// the hide rules that apply to its type, and says whether it did. The rule
// names are the FHIR status codes themselves ("entered-in-error", "refuted",
// "cancelled"), so the status is compared with each rule directly.
func (m *mapper) hideBy(key string, k connectors.Kind, status string, rules ...string) bool {
	for _, rule := range rules {
		if status == rule {
			m.hide(key, k, rule)
			return true
		}
	}
	return false
}

func (m *mapper) show(key string, e connectors.Entry) {
	e.ID, e.Source, e.Fetched = key, m.src, m.fetched
	m.entries = append(m.entries, e)
	m.account[key] = "shown as " + string(e.Kind)
	m.entryOf[key] = key
}

func (m *mapper) partOf(key, entryID string) {
	m.account[key] = "part of " + entryID
	m.entryOf[key] = entryID
}

// dated sets an entry's date from a When.
func dated(e *connectors.Entry, w connectors.When) {
	e.Date, e.Precision = w.Time, w.Precision
}

// ref reads a literal reference as a key ("Medication/1").
func ref(r reference) string { return strings.TrimPrefix(r.Reference, "#") }

// --- Patient ---------------------------------------------------------

// mapPatient reads the Patient. The Bundle holds the patient asked for;
// any other Patient is context (GP Connect sends none).
func (m *mapper) mapPatient(r entryRaw) error {
	var p struct {
		Identifier []struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
		Name []struct {
			Use    string   `json:"use"`
			Family string   `json:"family"`
			Given  []string `json:"given"`
			Prefix []string `json:"prefix"`
		} `json:"name"`
		Gender           string    `json:"gender"`
		BirthDate        string    `json:"birthDate"`
		DeceasedDateTime string    `json:"deceasedDateTime"`
		ManagingOrg      reference `json:"managingOrganization"`
		Address          []struct {
			Use        string   `json:"use"`
			Line       []string `json:"line"`
			City       string   `json:"city"`
			PostalCode string   `json:"postalCode"`
		} `json:"address"`
		Telecom []struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"telecom"`
	}
	if err := json.Unmarshal(r.raw, &p); err != nil {
		return errors.New("bad Patient")
	}
	nhs := ""
	for _, id := range p.Identifier {
		if id.System == SystemNHSNumber {
			nhs = strings.ReplaceAll(id.Value, " ", "")
		}
	}
	if nhs != m.nhs {
		m.account[r.key] = "context: Patient"
		return nil
	}
	m.patients++
	m.account[r.key] = "patient"
	if m.patient != nil {
		return nil
	}
	pt := connectors.Patient{NHSNumber: nhs, SourceID: strings.TrimPrefix(r.key, "Patient/"), Source: m.src, Gender: connectors.GenderUnknown}
	for _, n := range p.Name {
		if n.Use == "official" || n.Use == "usual" || pt.Family == "" {
			pt.Family, pt.Given = n.Family, n.Given
			if len(n.Prefix) > 0 {
				pt.Title = n.Prefix[0]
			}
		}
	}
	switch p.Gender {
	case connectors.GenderMale, connectors.GenderFemale, connectors.GenderOther:
		pt.Gender = p.Gender
	}
	if p.BirthDate != "" {
		d, err := connectors.ParseDate(p.BirthDate)
		if err != nil {
			return errors.New("bad birthDate")
		}
		pt.BirthDate = d
	}
	if p.DeceasedDateTime != "" {
		w, err := connectors.ParseWhen(p.DeceasedDateTime)
		if err != nil {
			return errors.New("bad deceasedDateTime")
		}
		d := w.Date()
		pt.Deceased, pt.DeathDate = true, &d
	}
	for _, a := range p.Address {
		if a.Use == "home" || len(pt.AddressLines) == 0 {
			pt.AddressLines = append(slices.Clone(a.Line), a.City)
			pt.AddressLines = slices.DeleteFunc(pt.AddressLines, func(s string) bool { return s == "" })
			pt.Postcode = a.PostalCode
		}
	}
	for _, t := range p.Telecom {
		if t.System == "phone" && pt.Phone == "" {
			pt.Phone = t.Value
		}
	}
	// The registered practice is the managing organisation: this practice.
	pt.RegisteredGP = connectors.Organisation{Name: m.src.Name, ODS: m.src.ODS}
	m.patient = &pt
	return nil
}

// --- AllergyIntolerance ------------------------------------------------

func (m *mapper) allergyIntolerance(r entryRaw) error {
	var a struct {
		ClinicalStatus     string      `json:"clinicalStatus"`
		VerificationStatus string      `json:"verificationStatus"`
		Category           []string    `json:"category"`
		Criticality        string      `json:"criticality"`
		Code               concept     `json:"code"`
		AssertedDate       string      `json:"assertedDate"`
		OnsetDateTime      string      `json:"onsetDateTime"`
		Extension          []extension `json:"extension"`
		Reaction           []struct {
			Manifestation []concept `json:"manifestation"`
			Severity      string    `json:"severity"`
			Description   string    `json:"description"`
		} `json:"reaction"`
	}
	if err := json.Unmarshal(r.raw, &a); err != nil {
		return errors.New("bad AllergyIntolerance")
	}
	if m.hideBy(r.key, connectors.KindAllergy, a.VerificationStatus, connectors.HideEnteredInError, connectors.HideRefuted) {
		return nil
	}
	al := &connectors.Allergy{Status: a.ClinicalStatus, Verification: a.VerificationStatus, Criticality: a.Criticality}
	if len(a.Category) > 0 {
		al.Category = a.Category[0]
	}
	e := connectors.Entry{Kind: connectors.KindAllergy, Codes: a.Code.codes(), Allergy: al}
	// "No known allergies" is sent as an AllergyIntolerance coded so: a
	// positive statement, not an allergy.
	switch {
	case a.Code.has(snomed, noKnownAllergy):
		al.NoKnownAllergies, al.NoKnownScope, e.Title = true, connectors.NoKnownAny, "No known allergies"
	case a.Code.has(snomed, noKnownDrugAlgy):
		al.NoKnownAllergies, al.NoKnownScope, e.Title = true, connectors.NoKnownDrug, "No known drug allergies"
	default:
		al.Substance = a.Code.text()
		if al.Substance == "" {
			return errors.New("no substance named")
		}
		e.Title = al.Substance
	}
	for _, rx := range a.Reaction {
		for _, mf := range rx.Manifestation {
			if t := mf.text(); t != "" && al.Reaction == "" {
				al.Reaction = t
			}
		}
		if rx.Severity != "" && al.Severity == "" {
			al.Severity = rx.Severity
		}
	}
	d := a.OnsetDateTime
	if d == "" {
		d = a.AssertedDate
	}
	w, err := connectors.ParseWhen(d)
	if err != nil {
		return err
	}
	dated(&e, w)
	m.show(r.key, e)
	return nil
}

// --- Medication ----------------------------------------------------------

type medStatement struct {
	Status              string      `json:"status"`
	MedicationReference reference   `json:"medicationReference"`
	EffectivePeriod     *period     `json:"effectivePeriod"`
	EffectiveDateTime   string      `json:"effectiveDateTime"`
	BasedOn             []reference `json:"basedOn"`
	Dosage              []struct {
		Text string `json:"text"`
	} `json:"dosage"`
}

// medicationStatement is the medicine as the practice lists it; its
// authorisation (MedicationRequest, intent plan) and issues (intent order)
// are part of it, and the Medication it names is used by it.
func (m *mapper) medicationStatement(r entryRaw) error {
	var s medStatement
	if err := json.Unmarshal(r.raw, &s); err != nil {
		return errors.New("bad MedicationStatement")
	}
	if m.hideBy(r.key, connectors.KindMedication, s.Status, connectors.HideEnteredInError) {
		return nil
	}
	medKey := ref(s.MedicationReference)
	var med struct {
		Code concept `json:"code"`
	}
	raw, ok := m.res[medKey]
	if !ok || json.Unmarshal(raw, &med) != nil || med.Code.text() == "" {
		m.unread(r.key, connectors.KindMedication, "no medicine named")
		return nil
	}
	md := &connectors.Medication{Drug: med.Code.text(), SourceStatus: s.Status, Prescribed: true, Status: connectors.MedicationPast}
	if s.Status == "active" || s.Status == "intended" {
		md.Status = connectors.MedicationCurrent
	}
	if len(s.Dosage) > 0 {
		md.Dose = s.Dosage[0].Text
	}
	start := s.EffectiveDateTime
	if s.EffectivePeriod != nil {
		start = s.EffectivePeriod.Start
		end, err := connectors.ParseWhen(s.EffectivePeriod.End)
		if err != nil {
			return err
		}
		md.End = end
	}
	w, err := connectors.ParseWhen(start)
	if err != nil {
		return err
	}
	md.Start = w
	e := connectors.Entry{Kind: connectors.KindMedication, Title: md.Drug, Codes: med.Code.codes(), Medication: md}
	dated(&e, w)
	m.show(r.key, e)
	m.entryOf[medKey] = m.entryOf[r.key]
	for _, b := range s.BasedOn {
		if k := ref(b); m.types[k] == "MedicationRequest" {
			m.entryOf[k] = r.key
		}
	}
	return nil
}

// linkPrescriptions finds the statement each prescription belongs to.
// A statement names its current authorisation (basedOn); an issue names
// the authorisation it was issued under (basedOn); an authorisation whose
// dosage changed names the one it replaced (priorPrescription: "the new
// plan should reference the original plan"). The links run both ways, so
// they are followed until nothing more is found.
func (m *mapper) linkPrescriptions() {
	type rx struct {
		key   string
		links []string
	}
	var rxs []rx
	for _, r := range m.order {
		if r.typ != "MedicationRequest" {
			continue
		}
		var q struct {
			BasedOn           []reference `json:"basedOn"`
			PriorPrescription *reference  `json:"priorPrescription"`
		}
		if json.Unmarshal(r.raw, &q) != nil {
			continue
		}
		x := rx{key: r.key}
		for _, b := range q.BasedOn {
			x.links = append(x.links, ref(b))
		}
		if q.PriorPrescription != nil {
			x.links = append(x.links, ref(*q.PriorPrescription))
		}
		rxs = append(rxs, x)
	}
	for changed := true; changed; {
		changed = false
		for _, x := range rxs {
			for _, l := range x.links {
				id, have := m.entryOf[x.key]
				lid, linked := m.entryOf[l]
				switch {
				case !have && linked:
					m.entryOf[x.key] = lid
					changed = true
				case have && !linked && m.types[l] == "MedicationRequest":
					m.entryOf[l] = id
					changed = true
				}
			}
		}
	}
}

// medicationRequest is an authorisation (intent plan) or an issue (intent
// order, basedOn its authorisation): part of the statement that names it,
// found by linkPrescriptions. Nothing of its own is shown.
func (m *mapper) medicationRequest(r entryRaw) {
	if id, ok := m.entryOf[r.key]; ok {
		m.partOf(r.key, id)
		return
	}
	m.unread(r.key, connectors.KindMedication, "prescription with no medicine statement")
}

// --- Condition (problem) -----------------------------------------------

func (m *mapper) condition(r entryRaw) error {
	var c struct {
		ClinicalStatus     string      `json:"clinicalStatus"`
		VerificationStatus string      `json:"verificationStatus"`
		Code               concept     `json:"code"`
		OnsetDateTime      string      `json:"onsetDateTime"`
		AbatementDateTime  string      `json:"abatementDateTime"`
		AssertedDate       string      `json:"assertedDate"`
		Extension          []extension `json:"extension"`
	}
	if err := json.Unmarshal(r.raw, &c); err != nil {
		return errors.New("bad Condition")
	}
	if m.hideBy(r.key, connectors.KindProblem, c.VerificationStatus, connectors.HideEnteredInError, connectors.HideRefuted) {
		return nil
	}
	title := c.Code.text()
	if title == "" {
		m.unread(r.key, connectors.KindProblem, "no problem named")
		return nil
	}
	p := &connectors.Problem{Status: connectors.ProblemResolved}
	if c.ClinicalStatus == "active" {
		p.Status = connectors.ProblemActive
	}
	var err error
	if p.Onset, err = connectors.ParseWhen(c.OnsetDateTime); err != nil {
		return err
	}
	if p.Abatement, err = connectors.ParseWhen(c.AbatementDateTime); err != nil {
		return err
	}
	e := connectors.Entry{Kind: connectors.KindProblem, Title: title, Codes: c.Code.codes(), Problem: p}
	d := p.Onset
	if d.Time.IsZero() {
		if d, err = connectors.ParseWhen(c.AssertedDate); err != nil {
			return err
		}
	}
	dated(&e, d)
	m.show(r.key, e)
	// "Related clinical content": what the problem is linked to, named on
	// the problem once everything is mapped (see linkProblems).
	for _, x := range c.Extension {
		if strings.Contains(x.URL, "RelatedClinicalContent") && x.ValueReference != nil {
			m.related[r.key] = append(m.related[r.key], ref(*x.ValueReference))
		}
	}
	return nil
}

// linkProblems names on each problem the entries it is linked to, and on
// each consultation what was recorded in it, by their titles; a link to
// something not shown is left out.
func (m *mapper) linkProblems() {
	titles := map[string]string{}
	for _, e := range m.entries {
		titles[e.ID] = e.Title
	}
	// named appends to names the title of each shown entry keys map to,
	// once, leaving out the entry itself and what is not shown.
	named := func(names []string, self string, keys []string) []string {
		for _, k := range keys {
			id := m.entryOf[k]
			if t := titles[id]; t != "" && id != self && !slices.Contains(names, t) {
				names = append(names, t)
			}
		}
		return names
	}
	for i := range m.entries {
		e := &m.entries[i]
		if e.Encounter != nil {
			e.Encounter.Recorded = named(e.Encounter.Recorded, e.ID, m.recorded[e.ID])
		}
		if e.Problem != nil {
			e.Problem.Linked = named(e.Problem.Linked, e.ID, m.related[e.ID])
		}
	}
}

// --- Encounter (consultation) ----------------------------------------

func (m *mapper) encounter(r entryRaw) error {
	var c struct {
		Status string    `json:"status"`
		Type   []concept `json:"type"`
		Period *period   `json:"period"`
	}
	if err := json.Unmarshal(r.raw, &c); err != nil {
		return errors.New("bad Encounter")
	}
	if m.hideBy(r.key, connectors.KindEncounter, c.Status, connectors.HideEnteredInError) {
		return nil
	}
	en := &connectors.Encounter{Class: "consultation", Status: c.Status, Location: m.src.Name}
	e := connectors.Entry{Kind: connectors.KindEncounter, Title: "Consultation", Encounter: en}
	if len(c.Type) > 0 {
		en.Type = c.Type[0].text()
		e.Codes = c.Type[0].codes()
		if en.Type != "" {
			e.Title = en.Type
		}
	}
	if c.Period != nil {
		var err error
		if en.Start, err = connectors.ParseWhen(c.Period.Start); err != nil {
			return err
		}
		if en.End, err = connectors.ParseWhen(c.Period.End); err != nil {
			return err
		}
	}
	dated(&e, en.Start)
	m.show(r.key, e)
	return nil
}

// --- Immunization ----------------------------------------------------

func (m *mapper) immunization(r entryRaw) error {
	var im struct {
		Status       string    `json:"status"`
		NotGiven     bool      `json:"notGiven"`
		VaccineCode  concept   `json:"vaccineCode"`
		Date         string    `json:"date"`
		LotNumber    string    `json:"lotNumber"`
		Site         *concept  `json:"site"`
		Route        *concept  `json:"route"`
		DoseQuantity *quantity `json:"doseQuantity"`
		Explanation  struct {
			ReasonNotGiven []concept `json:"reasonNotGiven"`
		} `json:"explanation"`
	}
	if err := json.Unmarshal(r.raw, &im); err != nil {
		return errors.New("bad Immunization")
	}
	if m.hideBy(r.key, connectors.KindImmunization, im.Status, connectors.HideEnteredInError) {
		return nil
	}
	v := &connectors.Immunization{Vaccine: im.VaccineCode.text(), Status: im.Status, Lot: im.LotNumber,
		Site: im.Site.text(), Route: im.Route.text()}
	if v.Vaccine == "" {
		m.unread(r.key, connectors.KindImmunization, "no vaccine named")
		return nil
	}
	if im.NotGiven {
		v.Status = "not-done"
		if len(im.Explanation.ReasonNotGiven) > 0 {
			v.NotDoneReason = im.Explanation.ReasonNotGiven[0].text()
		}
	}
	if q := im.DoseQuantity; q != nil && q.Value != nil {
		v.Dose = strings.TrimSpace(formatNumber(*q.Value) + " " + q.Unit)
	}
	w, err := connectors.ParseWhen(im.Date)
	if err != nil {
		return err
	}
	v.Occurred = w
	e := connectors.Entry{Kind: connectors.KindImmunization, Title: v.Vaccine, Codes: im.VaccineCode.codes(), Immunization: v}
	dated(&e, w)
	m.show(r.key, e)
	return nil
}

// --- Observation and DiagnosticReport ------------------------------------

type observation struct {
	Status               string    `json:"status"`
	Code                 concept   `json:"code"`
	EffectiveDateTime    string    `json:"effectiveDateTime"`
	EffectivePeriod      *period   `json:"effectivePeriod"`
	Issued               string    `json:"issued"`
	ValueQuantity        *quantity `json:"valueQuantity"`
	ValueString          string    `json:"valueString"`
	ValueCodeableConcept *concept  `json:"valueCodeableConcept"`
	DataAbsentReason     *concept  `json:"dataAbsentReason"`
	Interpretation       *concept  `json:"interpretation"`
	Comment              string    `json:"comment"`
	ReferenceRange       []struct {
		Low  *quantity `json:"low"`
		High *quantity `json:"high"`
		Text string    `json:"text"`
	} `json:"referenceRange"`
	Related []struct {
		Type   string    `json:"type"`
		Target reference `json:"target"`
	} `json:"related"`
}

// observation is a test result (or an uncategorised coded entry such as a
// blood pressure). A test group header (no value, related has-member) is
// not an entry: its members carry its name.
func (m *mapper) observation(r entryRaw) error {
	var o observation
	if err := json.Unmarshal(r.raw, &o); err != nil {
		return errors.New("bad Observation")
	}
	if m.hideBy(r.key, connectors.KindResult, o.Status, connectors.HideEnteredInError, connectors.HideCancelled) {
		return nil
	}
	title := o.Code.text()
	if title == "" {
		m.unread(r.key, connectors.KindResult, "no test named")
		return nil
	}
	res := &connectors.Result{Status: o.Status, Comment: o.Comment}
	switch {
	case o.ValueQuantity != nil && o.ValueQuantity.Value != nil:
		v := *o.ValueQuantity.Value
		res.Value, res.Numeric, res.Units, res.Comparator = formatNumber(v), &v, o.ValueQuantity.Unit, o.ValueQuantity.Comparator
	case o.ValueString != "":
		res.Value = o.ValueString
	case o.ValueCodeableConcept != nil:
		res.Value = o.ValueCodeableConcept.text()
	case o.DataAbsentReason != nil:
		res.Absent = o.DataAbsentReason.text()
	default:
		if members := hasMembers(o); len(members) > 0 {
			// A test group header: its members are the results.
			for _, k := range members {
				if _, ok := m.res[k]; ok {
					m.groupTitles(k, title)
				}
			}
			m.account[r.key] = "used by " + members[0]
			return nil
		}
		if o.Comment == "" {
			m.unread(r.key, connectors.KindResult, "no value")
			return nil
		}
		res.Value = o.Comment
		res.Comment = ""
	}
	if o.Interpretation != nil {
		for _, cd := range o.Interpretation.Coding {
			switch f := connectors.Flag(cd.Code); f {
			case connectors.FlagNormal, connectors.FlagHigh, connectors.FlagLow, connectors.FlagCriticalHigh,
				connectors.FlagCriticalLow, connectors.FlagAbnormal, connectors.FlagCriticalAbnormal:
				res.Flag = f
			}
		}
		res.Interpretation = o.Interpretation.text()
	}
	for _, rr := range o.ReferenceRange {
		rg := connectors.RefRange{Text: rr.Text}
		if rr.Low != nil && rr.Low.Value != nil {
			v := *rr.Low.Value
			rg.Low = &v
		}
		if rr.High != nil && rr.High.Value != nil {
			v := *rr.High.Value
			rg.High = &v
		}
		res.Range = rg
		break
	}
	d := o.EffectiveDateTime
	if d == "" && o.EffectivePeriod != nil {
		d = o.EffectivePeriod.Start
	}
	if d == "" {
		d = o.Issued
	}
	w, err := connectors.ParseWhen(d)
	if err != nil {
		return err
	}
	e := connectors.Entry{Kind: connectors.KindResult, Title: title, Codes: o.Code.codes(), Result: res}
	if t, ok := m.groupOf[r.key]; ok {
		res.Group, res.GroupTitle = t.group, t.title
	}
	dated(&e, w)
	m.show(r.key, e)
	return nil
}

func hasMembers(o observation) []string {
	var out []string
	for _, rel := range o.Related {
		if rel.Type == "has-member" {
			out = append(out, ref(rel.Target))
		}
	}
	return out
}

// groupTitles notes the group a result belongs to; shown entries are
// updated in place, later ones take it when they are mapped.
func (m *mapper) groupTitles(key, title string) {
	if m.groupOf == nil {
		m.groupOf = map[string]group{}
	}
	if _, ok := m.groupOf[key]; !ok {
		m.groupOf[key] = group{group: key, title: title}
	}
	for i := range m.entries {
		if m.entries[i].ID == key && m.entries[i].Result != nil && m.entries[i].Result.GroupTitle == "" {
			m.entries[i].Result.GroupTitle = title
		}
	}
}

// diagnosticReport is the report of an investigation: its results are
// the entries, and carry its name; a report with no result readable is
// an entry itself, with its conclusion.
func (m *mapper) diagnosticReport(r entryRaw) error {
	var d struct {
		Status     string      `json:"status"`
		Code       concept     `json:"code"`
		Issued     string      `json:"issued"`
		Result     []reference `json:"result"`
		Specimen   []reference `json:"specimen"`
		BasedOn    []reference `json:"basedOn"`
		Conclusion string      `json:"conclusion"`
	}
	if err := json.Unmarshal(r.raw, &d); err != nil {
		return errors.New("bad DiagnosticReport")
	}
	if m.hideBy(r.key, connectors.KindResult, d.Status, connectors.HideEnteredInError, connectors.HideCancelled) {
		return nil
	}
	title := d.Code.text()
	if title == "" {
		title = "Investigation report"
	}
	first := ""
	for _, rs := range d.Result {
		k := ref(rs)
		if id, ok := m.entryOf[k]; ok && first == "" {
			first = id
		}
		m.groupTitles(k, title)
		for i := range m.entries {
			if m.entries[i].ID == k && m.entries[i].Result != nil {
				m.entries[i].Result.Group = r.key
			}
		}
	}
	if first == "" {
		e := connectors.Entry{Kind: connectors.KindResult, Title: title, Codes: d.Code.codes(),
			Result: &connectors.Result{Value: d.Conclusion, Status: d.Status}}
		if e.Result.Value == "" {
			m.unread(r.key, connectors.KindResult, "report with no result or conclusion")
			return nil
		}
		w, err := connectors.ParseWhen(d.Issued)
		if err != nil {
			return err
		}
		dated(&e, w)
		m.show(r.key, e)
		first = r.key
	} else {
		m.account[r.key] = "used by " + first
	}
	for _, s := range append(d.Specimen, d.BasedOn...) {
		if _, ok := m.entryOf[ref(s)]; !ok {
			m.entryOf[ref(s)] = first
		}
	}
	return nil
}

// --- ReferralRequest ---------------------------------------------------

// referralRequest is a referral out of the practice, shown as a document
// (a referral is a letter to another service).
func (m *mapper) referralRequest(r entryRaw) error {
	var q struct {
		Status      string    `json:"status"`
		AuthoredOn  string    `json:"authoredOn"`
		Specialty   *concept  `json:"specialty"`
		ReasonCode  []concept `json:"reasonCode"`
		Description string    `json:"description"`
		Priority    string    `json:"priority"`
	}
	if err := json.Unmarshal(r.raw, &q); err != nil {
		return errors.New("bad ReferralRequest")
	}
	if m.hideBy(r.key, connectors.KindDocument, q.Status, connectors.HideEnteredInError, connectors.HideCancelled) {
		return nil
	}
	title := "Referral"
	if s := q.Specialty.text(); s != "" {
		title = "Referral: " + s
	}
	var reasons []string
	for _, rc := range q.ReasonCode {
		if t := rc.text(); t != "" {
			reasons = append(reasons, t)
		}
	}
	text := strings.TrimSpace(strings.Join(append(reasons, q.Description), ". "))
	e := connectors.Entry{Kind: connectors.KindDocument, Title: title,
		Document: &connectors.Document{Type: "Referral", ContentType: "text/plain", Text: text}}
	if text == "" {
		e.Document.Unavailable = "the practice gave no text for this referral"
	}
	w, err := connectors.ParseWhen(q.AuthoredOn)
	if err != nil {
		return err
	}
	dated(&e, w)
	m.show(r.key, e)
	return nil
}

// --- List (sections) ----------------------------------------------------

// list is a section of the record, or part of a consultation's structure.
// A section's warning says the practice left something out: a gap for its
// kind, so that no summary claims absence.
func (m *mapper) list(r entryRaw) error {
	var l struct {
		Title     string      `json:"title"`
		Code      concept     `json:"code"`
		Encounter *reference  `json:"encounter"`
		Extension []extension `json:"extension"`
		Entry     []struct {
			Item reference `json:"item"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.raw, &l); err != nil {
		return errors.New("bad List")
	}
	code := ""
	for _, cd := range l.Code.Coding {
		if cd.System == snomed {
			code = cd.Code
		}
	}
	switch code {
	case listConsultation, listTopic, listHeading:
		if l.Encounter != nil {
			if id, ok := m.entryOf[ref(*l.Encounter)]; ok {
				m.partOf(r.key, id)
				// A topic's or heading's items were recorded in the
				// consultation: named on it once everything is mapped.
				for _, e := range l.Entry {
					if k := ref(e.Item); m.types[k] != "List" {
						m.recorded[id] = append(m.recorded[id], k)
					}
				}
				return nil
			}
		}
	}
	title := l.Title
	if title == "" {
		title = l.Code.text()
	}
	m.account[r.key] = "section: " + title
	k, ok := sectionKind[code]
	if !ok {
		return nil
	}
	for _, x := range l.Extension {
		if !strings.Contains(x.URL, "ListWarningCode") {
			continue
		}
		if reason, ok := listWarnings[x.ValueCode]; ok {
			m.addGap(connectors.Gap{Kind: k, Reason: reason})
		}
	}
	return nil
}

func (m *mapper) addGap(g connectors.Gap) {
	for _, h := range m.gaps {
		if h == g {
			return
		}
	}
	m.gaps = append(m.gaps, g)
}

// operationOutcome in a Bundle says a part of the request was not
// answered (a provider on an earlier release that does not offer a
// clinical area answers the rest): a failed gap for that area. Only the
// parameter's name is read from the diagnostics, matched whole.
func (m *mapper) operationOutcome(r entryRaw) {
	var oo struct {
		Issue []struct {
			Severity    string `json:"severity"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	m.account[r.key] = "context: OperationOutcome"
	if json.Unmarshal(r.raw, &oo) != nil {
		return
	}
	for _, is := range oo.Issue {
		for _, word := range strings.FieldsFunc(is.Diagnostics, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
		}) {
			if k, ok := parameterKind[word]; ok {
				m.addGap(connectors.Gap{Kind: k, Failed: true, Reason: "not offered by the practice's system"})
			}
		}
	}
}
