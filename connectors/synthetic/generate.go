package synthetic

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// res is one generated resource, already encoded, with its clinical date
// (for _sort) and the keys of the resources a search may _include with it.
type res struct {
	id       string
	raw      json.RawMessage
	date     string
	includes []string
}

// patientData is everything one organisation holds for one patient.
type patientData struct {
	p      *person
	id     string
	raw    json.RawMessage // the Patient resource
	byType map[string][]res
}

// dataset is one organisation's generated data.
type dataset struct {
	org      Org
	patients []*patientData
	byID     map[string]*patientData
	// shared are the resources read by id rather than searched by
	// patient (Medication, Binary), by "Type/id".
	shared map[string]json.RawMessage
}

// generate builds the organisation's data. The same Org gives the same
// bytes on every call: each patient's data comes from a generator seeded by
// the organisation and the NHS number alone.
func generate(org Org) *dataset {
	ds := &dataset{org: org, byID: map[string]*patientData{}, shared: map[string]json.RawMessage{}}
	for i, p := range population() {
		if !p.holds(org.ODS) {
			continue
		}
		b := &builder{org: org, p: p, r: newRand(org.ODS, p.nhs), out: map[string][]res{}, shared: ds.shared,
			pid: fmt.Sprintf("%s-%04d", strings.ToLower(org.ODS), i+1), style: labStyles[org.ODS]}
		b.until = DataDate
		if !p.death.IsZero() {
			b.until = p.death
		}
		if org.Type == Practice {
			b.practice()
		} else {
			b.trust()
		}
		pd := &patientData{p: p, id: b.pid, raw: b.patient(), byType: b.out}
		ds.patients = append(ds.patients, pd)
		ds.byID[pd.id] = pd
	}
	return ds
}

type builder struct {
	org Org
	p   *person
	pid string
	r   *rand.Rand
	n   int
	out map[string][]res
	// shared is the organisation's store of resources read by id.
	shared map[string]json.RawMessage
	style  map[string]func(labTest) labTest
	until  time.Time
	// current medicines recorded so far, for letters.
	current []string
}

func (b *builder) nextID(kind string) string {
	b.n++
	return fmt.Sprintf("%s-%s%d", b.pid, kind, b.n)
}

func (b *builder) add(typ, id string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("synthetic: encode %s: %v", typ, err)) // the structs always encode
	}
	r := res{id: id, raw: raw, date: dateOf(v)}
	if mr, ok := v.(medicationRequestRes); ok && mr.MedicationReference != nil && strings.HasPrefix(mr.MedicationReference.Reference, "Medication/") {
		r.includes = []string{mr.MedicationReference.Reference}
	}
	b.out[typ] = append(b.out[typ], r)
}

// addShared stores a resource that is read by id (a Medication, a Binary).
func (b *builder) addShared(typ, id string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("synthetic: encode %s: %v", typ, err)) // the structs always encode
	}
	b.shared[typ+"/"+id] = raw
}

// dateOf is the clinical date a search sorts a resource by: the one the
// FHIR search parameter date (authoredon, onset-date, ...) reads.
func dateOf(v any) string {
	switch r := v.(type) {
	case observationRes:
		return r.EffectiveDateTime
	case diagnosticReportRes:
		return r.EffectiveDateTime
	case imagingStudyRes:
		return r.Started
	case medicationRequestRes:
		return r.AuthoredOn
	case medicationStatementRes:
		if r.EffectivePeriod != nil {
			return r.EffectivePeriod.Start
		}
	case encounterRes:
		if r.Period != nil {
			return r.Period.Start
		}
	case procedureRes:
		return r.PerformedDateTime
	case conditionRes:
		return firstNonEmpty(r.OnsetDateTime, r.RecordedDate)
	case allergyRes:
		return r.RecordedDate
	case documentReferenceRes:
		return r.Date
	case immunizationRes:
		return r.OccurrenceDateTime
	case flagRes:
		if r.Period != nil {
			return r.Period.Start
		}
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func (b *builder) subject() reference { return reference{Reference: "Patient/" + b.pid} }

func (b *builder) orgRef() *reference {
	return &reference{Identifier: &identifier{System: sysODS, Value: b.org.ODS}, Display: b.org.Name}
}

// site is where the organisation saw the patient: one of its sites, but
// never a children's hospital for a patient who is an adult by the data's
// date.
func (b *builder) site() string {
	sites := b.org.Sites
	if !b.p.birth.Time().AddDate(18, 0, 0).After(DataDate) {
		var adult []string
		for _, s := range sites {
			if !strings.Contains(s, "Children") {
				adult = append(adult, s)
			}
		}
		if len(adult) > 0 {
			sites = adult
		}
	}
	return sites[b.r.IntN(len(sites))]
}

// at gives a time during working hours on the day of t.
func (b *builder) at(t time.Time) time.Time {
	d := time.Date(t.Year(), t.Month(), t.Day(), 8, 30, 0, 0, time.UTC)
	return d.Add(time.Duration(b.r.IntN(8*60)) * time.Minute)
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }
func ds(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func snomed(code, display string) concept {
	return concept{Coding: []coding{{System: sysSNOMED, Code: code, Display: display}}}
}

var clinicians = []string{"Dr Ada Fictional", "Dr Bertram Example", "Dr Chioma Sample", "Mr Desmond Placeholder",
	"Dr Eleanor Notional", "Dr Farid Invented", "Dr Gwen Madeup", "Ms Hana Pretend"}

func (b *builder) clinician() string { return clinicians[b.r.IntN(len(clinicians))] }

func (b *builder) patient() json.RawMessage {
	p := b.p
	pr := patientRes{
		ResourceType: "Patient", ID: b.pid,
		Identifier: []identifier{{System: sysNHS, Value: p.nhs}},
		Name:       []humanName{{Use: "official", Family: p.family, Given: p.given, Prefix: []string{p.title}}},
		Gender:     p.gender, BirthDate: p.birth.String(),
	}
	if !p.death.IsZero() {
		pr.DeceasedDateTime = ts(p.death)
	}
	if p.restricted {
		// As PDS does for a restricted record: flagged, and no address,
		// telecom or registered practice sent at all.
		pr.Meta = &meta{Security: []coding{{System: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", Code: "R", Display: "restricted"}}}
	} else {
		pr.Address = []address{{Use: "home", Line: p.lines, City: p.town, PostalCode: p.postcode}}
		pr.Telecom = []contactPoint{{System: "phone", Value: p.phone, Use: "home"}}
		if gp, ok := OrgByODS(p.gp); ok {
			pr.GeneralPractitioner = []reference{{Identifier: &identifier{System: sysODS, Value: gp.ODS}, Display: gp.Name}}
		}
	}
	if k := p.kin; k != nil && (!p.restricted || b.org.Type == Trust) {
		// HL7 v2-0131 N (Next-of-Kin), with the relationship in words.
		pr.Contact = []patientContact{{
			Relationship: []concept{
				{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/v2-0131", Code: "N", Display: "Next-of-Kin"}}},
				{Text: k.relationship},
			},
			Name:    &humanName{Family: k.family, Given: []string{k.given}, Prefix: []string{k.title}},
			Telecom: []contactPoint{{System: "phone", Value: k.phone, Use: "mobile"}},
		}}
	}
	raw, _ := json.Marshal(pr)
	return raw
}

// --- results ---------------------------------------------------------------

func (b *builder) test(key string) labTest {
	t := labTests[key]
	if b.p.gender == connectors.GenderMale {
		switch key {
		case "hb":
			t = labTests["hb-male"]
		case "creat":
			t = labTests["creat-m"]
		}
	}
	if f, ok := b.style[key]; ok {
		t = f(t)
	}
	return t
}

func (b *builder) labs(when time.Time, panelKey string) {
	pn := panels[panelKey]
	drID := b.nextID("dr")
	issued := when.Add(time.Duration(2+b.r.IntN(20)) * time.Hour)
	var refs []reference
	for _, key := range pn.tests {
		t := b.test(key)
		mean := t.mean
		if f := b.p.overrides[key]; f != nil {
			mean = f(when)
		}
		v := mean + b.r.NormFloat64()*t.sd*0.7
		if v < 0 {
			v = math.Abs(v) / 4
		}
		scale := math.Pow(10, float64(t.decimals))
		v = math.Round(v*scale) / scale
		q := &quantity{Value: json.Number(strconv.FormatFloat(v, 'f', t.decimals, 64)), Unit: t.unit, System: sysUCUM, Code: t.ucum}
		if key == "egfr" && v > 90 {
			// Laboratories report eGFR above 90 as ">90".
			q.Value, q.Comparator = "90", ">"
		}
		rr := refRange{}
		if t.low > 0 || t.high == 0 {
			rr.Low = &quantity{Value: json.Number(strconv.FormatFloat(t.low, 'f', -1, 64)), Unit: t.unit, System: sysUCUM, Code: t.ucum}
		}
		if t.high > 0 {
			rr.High = &quantity{Value: json.Number(strconv.FormatFloat(t.high, 'f', -1, 64)), Unit: t.unit, System: sysUCUM, Code: t.ucum}
		}
		obsID := b.nextID("obs")
		b.add("Observation", obsID, observationRes{
			ResourceType: "Observation", ID: obsID, Status: "final",
			Category: []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: "laboratory", Display: "Laboratory"}}}},
			Code:     concept{Coding: []coding{{System: sysLOINC, Code: t.loinc, Display: t.display}}, Text: t.name},
			Subject:  b.subject(), EffectiveDateTime: ts(when), Issued: ts(issued),
			Performer:      []reference{*b.orgRef()},
			ValueQuantity:  q,
			Interpretation: interpretation(t, v),
			ReferenceRange: []refRange{rr},
		})
		refs = append(refs, reference{Reference: "Observation/" + obsID})
	}
	section := "CH"
	if panelKey == "fbc" || panelKey == "hba1c" {
		section = "HM"
	}
	b.add("DiagnosticReport", drID, diagnosticReportRes{
		ResourceType: "DiagnosticReport", ID: drID, Status: "final",
		Category: []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/v2-0074", Code: section}}}},
		Code:     concept{Coding: []coding{{System: sysLOINC, Code: pn.loinc}}, Text: pn.name},
		Subject:  b.subject(), EffectiveDateTime: ts(when), Issued: ts(issued),
		Performer: []reference{*b.orgRef()}, Result: refs,
	})
}

func interpretation(t labTest, v float64) []concept {
	code, display := "N", "Normal"
	switch {
	case t.critHigh > 0 && v >= t.critHigh:
		code, display = "HH", "Critical high"
	case t.critLow > 0 && v <= t.critLow:
		code, display = "LL", "Critical low"
	case t.high > 0 && v > t.high:
		code, display = "H", "High"
	case v < t.low:
		code, display = "L", "Low"
	}
	return []concept{{Coding: []coding{{System: sysInterp, Code: code, Display: display}}}}
}

// --- imaging ---------------------------------------------------------------

func (b *builder) imaging(when time.Time, key string, abnormal bool, site string) {
	ex := exams[key]
	isID := b.nextID("img")
	drID := b.nextID("rad")
	bodySite := &coding{System: sysSNOMED, Code: ex.bodyCode, Display: ex.body}
	b.add("ImagingStudy", isID, imagingStudyRes{
		ResourceType: "ImagingStudy", ID: isID, Status: "available",
		Modality: []coding{{System: "http://dicom.nema.org/resources/ontology/DCM", Code: ex.modality}},
		Subject:  b.subject(), Started: ts(when),
		ProcedureCode: []concept{{Coding: []coding{{System: sysSNOMED, Code: ex.code, Display: ex.name}}, Text: ex.name}},
		Location:      &reference{Display: site}, Description: ex.name,
		Series: []imagingSeries{{UID: fmt.Sprintf("2.25.%d%d", b.r.Uint64()>>8, b.n), Modality: coding{
			System: "http://dicom.nema.org/resources/ontology/DCM", Code: ex.modality}, BodySite: bodySite}},
	})
	findings := ex.normal
	if abnormal {
		findings = ex.abnormal
	}
	conclusion := firstSentence(findings)
	report := fmt.Sprintf("%s\n%s, %s\n\nFindings:\n%s\n\nConclusion: %s\n\nReported by %s, Consultant Radiologist",
		strings.ToUpper(ex.name), site, when.Format("02-Jan-2006"), findings, conclusion, b.clinician())
	reported := when.Add(time.Duration(1+b.r.IntN(48)) * time.Hour)
	b.add("DiagnosticReport", drID, diagnosticReportRes{
		ResourceType: "DiagnosticReport", ID: drID, Status: "final",
		Category: []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/v2-0074", Code: "RAD", Display: "Radiology"}}}},
		Code:     concept{Coding: []coding{{System: sysSNOMED, Code: ex.code, Display: ex.name}}, Text: ex.name + " report"},
		Subject:  b.subject(), EffectiveDateTime: ts(when), Issued: ts(reported),
		Performer:     []reference{*b.orgRef()},
		ImagingStudy:  []reference{{Reference: "ImagingStudy/" + isID}},
		Conclusion:    conclusion,
		PresentedForm: []attachment{{ContentType: "text/plain", Data: base64.StdEncoding.EncodeToString([]byte(report))}},
	})
}

// medicinesAt lists the medicines the patient takes at t, wherever they
// are prescribed: the long-term medicines of their chronic problems (as
// their practice prescribes them) and what this organisation has them on.
// A letter says what the patient takes, not only what its writer
// prescribed.
func (b *builder) medicinesAt(t time.Time) []string {
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for _, o := range b.p.problems {
		pb := problems[o.key]
		if !pb.chronic || o.start.After(t) || (!o.end.IsZero() && o.end.Before(t)) {
			continue
		}
		for i, mk := range pb.meds {
			m := meds[mk]
			if m.acute || (i > 0 && b.p.level == 0) || o.start.AddDate(0, 0, 7*i).After(t) {
				continue
			}
			add(m.name)
		}
	}
	for _, name := range b.current {
		add(name)
	}
	return out
}

// firstSentence is text up to its first full stop that ends a sentence:
// one followed by a space or the end, not the point in "8.5 cm".
func firstSentence(text string) string {
	for i := 0; i < len(text); i++ {
		if text[i] == '.' && (i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\n') {
			return text[:i+1]
		}
	}
	return text
}

// --- medicines ---------------------------------------------------------------

var routes = map[string]string{"Oral": "26643006", "Inhalation": "18679011", "Subcutaneous": "34206005"}

func medDosage(m med) []dosage {
	d := dosage{Route: &concept{Coding: []coding{{System: sysSNOMED, Code: routes[m.route], Display: m.route}}},
		DoseAndRate: []doseAndRate{{DoseQuantity: &quantity{Value: json.Number(m.doseV), Unit: m.doseU}}}}
	switch m.freq {
	case 0:
		d.Text = m.dose + " when required"
		d.AsNeeded = true
		if m.key == "epoetin" {
			d.Text = m.dose + " once a week"
			d.AsNeeded = false
			d.Timing = &timing{Repeat: &timingRepeat{Frequency: 1, Period: 1, PeriodUnit: "wk"}}
		}
	case 1:
		d.Text = m.dose + " once a day"
		d.Timing = &timing{Repeat: &timingRepeat{Frequency: 1, Period: 1, PeriodUnit: "d"}}
	default:
		d.Text = fmt.Sprintf("%s %s a day", m.dose, map[int]string{2: "twice", 3: "three times", 4: "four times"}[m.freq])
		d.Timing = &timing{Repeat: &timingRepeat{Frequency: m.freq, Period: 1, PeriodUnit: "d"}}
	}
	return []dosage{d}
}

// prescribe adds a MedicationRequest; end is zero for a current medicine.
// Some sources send the medicine as a contained Medication resource, so
// every other prescription does too.
func (b *builder) prescribe(key string, start, end time.Time) {
	m := meds[key]
	id := b.nextID("rx")
	code := concept{Coding: []coding{{System: sysDMD, Code: m.dmd, Display: m.name}}}
	mr := medicationRequestRes{ResourceType: "MedicationRequest", ID: id, Status: "completed", Intent: "order",
		Subject: b.subject(), AuthoredOn: ts(b.at(start)), Requester: &reference{Display: b.clinician()},
		DosageInstruction: medDosage(m)}
	vp := &period{Start: ds(start)}
	if end.IsZero() || end.After(b.until) {
		if b.p.alive(b.until) && b.until.Equal(DataDate) {
			mr.Status = "active"
			b.current = append(b.current, m.name)
		} else {
			mr.Status = "stopped"
			vp.End = ds(b.until)
		}
	} else {
		vp.End = ds(end)
	}
	mr.DispenseRequest = &dispenseRequest{ValidityPeriod: vp}
	// Sources name the medicine in each of the three ways FHIR allows:
	// a code, a contained Medication, or a reference to a Medication
	// resource of their own (read by id, or sent by _include).
	switch b.n % 3 {
	case 0:
		mr.Contained = []medicationRes{{ResourceType: "Medication", ID: "med1", Code: code}}
		mr.MedicationReference = &reference{Reference: "#med1"}
	case 1:
		mr.MedicationCodeableConcept = &code
	default:
		medID := "med-" + m.dmd
		b.addShared("Medication", medID, medicationRes{ResourceType: "Medication", ID: medID, Code: code})
		mr.MedicationReference = &reference{Reference: "Medication/" + medID}
	}
	b.add("MedicationRequest", id, mr)
}

// statement adds a MedicationStatement: a medicine recorded as taken (on
// admission, or at a clinic that does not prescribe it).
func (b *builder) statement(key string, start time.Time, current bool, asserted time.Time) {
	m := meds[key]
	id := b.nextID("ms")
	code := concept{Coding: []coding{{System: sysDMD, Code: m.dmd, Display: m.name}}}
	st := medicationStatementRes{ResourceType: "MedicationStatement", ID: id, Status: "completed",
		MedicationCodeableConcept: &code, Subject: b.subject(), EffectivePeriod: &period{Start: ds(start)},
		DateAsserted: ds(asserted), Dosage: medDosage(m)}
	if current && b.p.alive(DataDate) {
		st.Status = "active"
	} else {
		st.EffectivePeriod.End = ds(asserted)
	}
	b.add("MedicationStatement", id, st)
}

// --- encounters, procedures, problems, allergies, documents -----------------

func (b *builder) encounter(class, typeCode, typeText string, start, end time.Time, site string) {
	id := b.nextID("enc")
	classDisplay := map[string]string{"AMB": "ambulatory", "IMP": "inpatient encounter", "EMER": "emergency"}[class]
	e := encounterRes{ResourceType: "Encounter", ID: id, Status: "finished",
		Class:   coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: class, Display: classDisplay},
		Type:    []concept{{Coding: []coding{{System: sysSNOMED, Code: typeCode}}, Text: typeText}},
		Subject: b.subject(), Period: &period{Start: ts(start), End: ts(end)},
		Location: []encounterLocation{{Location: reference{Display: site}}}, ServiceProvider: b.orgRef()}
	b.add("Encounter", id, e)
}

func (b *builder) procedure(key string, when time.Time) {
	pr := procs[key]
	id := b.nextID("proc")
	p := procedureRes{ResourceType: "Procedure", ID: id, Status: "completed",
		Code: snomed(pr.code, pr.name), Subject: b.subject(), PerformedDateTime: ts(when)}
	if pr.body != "" {
		p.BodySite = []concept{{Text: pr.body}}
	}
	b.add("Procedure", id, p)
}

func (b *builder) condition(o onset) {
	pb := problems[o.key]
	id := b.nextID("cond")
	status := "active"
	c := conditionRes{ResourceType: "Condition", ID: id,
		VerificationStatus: &concept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/condition-ver-status", Code: "confirmed"}}},
		Category:           []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/condition-category", Code: "problem-list-item"}}}},
		Code:               snomed(pb.code, pb.display), Subject: b.subject(),
		OnsetDateTime: ds(o.start), RecordedDate: ds(o.start.AddDate(0, 0, b.r.IntN(20)))}
	if !o.end.IsZero() && !o.end.After(b.until) {
		status = "resolved"
		c.AbatementDateTime = ds(o.end)
	} else if !pb.chronic || !b.p.alive(b.until) && b.until.Before(DataDate) {
		status = "inactive"
	}
	c.ClinicalStatus = &concept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/condition-clinical", Code: status}}}
	b.add("Condition", id, c)
}

func (b *builder) allergies(when time.Time) {
	id := b.nextID("alg")
	active := &concept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", Code: "active"}}}
	confirmed := &concept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", Code: "confirmed"}}}
	switch {
	case b.p.allergy != nil:
		a := b.p.allergy
		b.add("AllergyIntolerance", id, allergyRes{ResourceType: "AllergyIntolerance", ID: id,
			ClinicalStatus: active, VerificationStatus: confirmed, Category: []string{a.category}, Criticality: a.crit,
			Code: snomed(a.code, a.name), Patient: b.subject(), RecordedDate: ds(when),
			Reaction: []allergyReaction{{Manifestation: []concept{snomed(a.reactCode, a.reaction)}, Severity: a.severity}}})
	case b.p.nka:
		b.add("AllergyIntolerance", id, allergyRes{ResourceType: "AllergyIntolerance", ID: id,
			ClinicalStatus: active, VerificationStatus: confirmed,
			Code: snomed("716186003", "No known allergy"), Patient: b.subject(), RecordedDate: ds(when)})
	}
}

func (b *builder) letter(kind string, when time.Time, site, body string) {
	id := b.nextID("doc")
	p := b.p
	author := b.clinician()
	var typ concept
	switch kind {
	case "discharge":
		typ = concept{Coding: []coding{{System: sysSNOMED, Code: "373942005", Display: "Discharge summary"}}, Text: "Discharge summary"}
	case "referral":
		typ = concept{Coding: []coding{{System: sysSNOMED, Code: "3457005", Display: "Patient referral"}}, Text: "Referral letter"}
	case "careplan":
		typ = concept{Coding: []coding{{System: sysSNOMED, Code: "734163000", Display: "Care plan"}}, Text: "Care plan"}
	case "respect":
		typ = concept{Text: "ReSPECT form"}
	default:
		typ = concept{Coding: []coding{{System: sysSNOMED, Code: "371531000", Display: "Report of clinical encounter"}}, Text: "Clinic letter"}
	}
	meds := "None recorded"
	if cur := b.medicinesAt(when); len(cur) > 0 {
		meds = strings.Join(cur, "; ")
	}
	text := fmt.Sprintf("%s\n%s\n%s\n\nRe: %s %s %s, born %s, NHS No. %s\n\n%s\n\nCurrent medication: %s\n\nYours sincerely,\n\n%s\n\nThis is a synthetic document for demonstration. It describes no real person.",
		strings.ToUpper(typ.Text), site, when.Format("02 January 2006"), p.title, strings.Join(p.given, " "), strings.ToUpper(p.family),
		p.birth.Format("02-Jan-2006"), connectors.FormatNHSNumber(p.nhs), body, meds, author)
	b.add("DocumentReference", id, documentReferenceRes{ResourceType: "DocumentReference", ID: id, Status: "current",
		Type: typ, Subject: b.subject(), Date: ts(when), Author: []reference{{Display: author}}, Custodian: b.orgRef(),
		Description: typ.Text + " — " + site,
		Content:     []docContent{{Attachment: attachment{ContentType: "text/plain", Data: base64.StdEncoding.EncodeToString([]byte(text)), Title: typ.Text}}}})
}

// pdfLetter adds a clinic letter as a PDF, as some Trusts' document stores
// hold them.
func (b *builder) pdfLetter(when time.Time, site, line string) {
	id := b.nextID("doc")
	author := b.clinician()
	pdf := minimalPDF([]string{"CLINIC LETTER", site, when.Format("02 January 2006"),
		fmt.Sprintf("Re: %s %s, NHS No. %s", strings.Join(b.p.given, " "), strings.ToUpper(b.p.family), connectors.FormatNHSNumber(b.p.nhs)),
		line, "Yours sincerely, " + author, "Synthetic document for demonstration."})
	b.add("DocumentReference", id, documentReferenceRes{ResourceType: "DocumentReference", ID: id, Status: "current",
		Type:    concept{Coding: []coding{{System: sysSNOMED, Code: "371531000", Display: "Report of clinical encounter"}}, Text: "Clinic letter"},
		Subject: b.subject(), Date: ts(when), Author: []reference{{Display: author}}, Custodian: b.orgRef(),
		Description: "Clinic letter (PDF) — " + site,
		Content:     []docContent{{Attachment: attachment{ContentType: "application/pdf", Data: base64.StdEncoding.EncodeToString(pdf), Title: "Clinic letter"}}}})
}

// minimalPDF writes a one-page PDF with lines of Helvetica text, with a
// correct cross-reference table so that viewers open it without repair.
func minimalPDF(lines []string) []byte {
	var content strings.Builder
	content.WriteString("BT /F1 12 Tf 72 760 Td 16 TL\n")
	for _, l := range lines {
		l = strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(l)
		l = strings.Map(func(r rune) rune {
			if r > 126 {
				return '-'
			}
			return r
		}, l)
		content.WriteString("(" + l + ") Tj T*\n")
	}
	content.WriteString("ET")
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", content.Len(), content.String()),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var out strings.Builder
	out.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return []byte(out.String())
}

// --- what each kind of organisation holds ------------------------------------

// practice generates a GP record: the whole problem list, repeat and acute
// prescriptions, allergies, consultations, annual bloods, vaccinations and
// referral letters.
func (b *builder) practice() {
	p := b.p
	site := b.org.Sites[0]
	registered := p.birth.Time().AddDate(16, 0, 0)
	if reg := DataDate.AddDate(-20, 0, 0); registered.Before(reg) {
		registered = reg
	}
	b.allergies(registered.AddDate(0, 1, 0))
	for _, o := range p.problems {
		if o.start.After(b.until) {
			continue
		}
		b.condition(o)
		pb := problems[o.key]
		for i, mk := range pb.meds {
			m := meds[mk]
			start := o.start.AddDate(0, 0, 7*i)
			if m.acute || !pb.chronic {
				b.prescribe(mk, start, start.AddDate(0, 0, max(m.course, 7)))
				continue
			}
			if i > 0 && p.level == 0 {
				continue
			}
			b.prescribe(mk, start, time.Time{})
		}
		if pb.chronic {
			// Annual review bloods for the last eight years.
			from := max64(o.start, DataDate.AddDate(-8, 0, 0))
			for t := from.AddDate(0, 1+b.r.IntN(6), 0); t.Before(b.until); t = t.AddDate(1, 0, b.r.IntN(30)-15) {
				for _, pk := range pb.panels {
					b.labs(b.at(t), pk)
				}
			}
		}
		if o.at != "" && o.at != b.org.ODS {
			to, _ := OrgByODS(o.at)
			b.letter("referral", b.at(o.start.AddDate(0, 0, -3)), site,
				fmt.Sprintf("Dear colleague at %s,\n\nThank you for seeing this patient with %s. I would be grateful for your assessment and advice on management.",
					to.Name, strings.ToLower(problems[o.key].display)))
		}
	}
	// Past acute courses (an antibiotic for a chest infection, say).
	for range 1 + p.level {
		t := DataDate.AddDate(0, -b.r.IntN(120), -b.r.IntN(28))
		if t.After(registered) && t.Before(b.until) {
			b.prescribe("amoxicillin", t, t.AddDate(0, 0, 7))
		}
	}
	// Consultations.
	per := []int{2, 4, 6}[p.level]
	for t := max64(registered, DataDate.AddDate(-6, 0, 0)); t.Before(b.until); t = t.AddDate(1, 0, 0) {
		for range 1 + b.r.IntN(per) {
			start := b.at(t.AddDate(0, b.r.IntN(12), b.r.IntN(28)))
			if start.After(b.until) {
				continue
			}
			b.encounter("AMB", "11429006", "GP surgery consultation", start, start.Add(10*time.Minute), site)
		}
	}
	// Seasonal influenza vaccination for older or chronically ill patients.
	if p.birth.Time().AddDate(65, 0, 0).Before(DataDate) || len(p.problems) > 0 || p.level > 0 {
		for y := DataDate.Year() - 4; y <= DataDate.Year(); y++ {
			t := b.at(time.Date(y, time.October, 1+b.r.IntN(28), 0, 0, 0, 0, time.UTC))
			if t.Before(b.until) && t.After(p.birth.Time()) {
				b.immunization("flu", t, 0, 0)
			}
		}
	}
	b.practiceExtras()
}

// managedHere reports whether this Trust manages the problem: pinned
// problems at their Trust; mental health at the Maudsley; other problems at
// one of the patient's acute Trusts, chosen by a hash so it is stable (the
// rich demo patient moved her care from King's to Guy's and St Thomas' in
// mid-2018, so both hold her diabetes and kidney results).
func (b *builder) managedHere(o onset) (from, to time.Time, ok bool) {
	pb := problems[o.key]
	from, to = o.start, b.until
	if o.at != "" {
		return from, to, o.at == b.org.ODS
	}
	if pb.mental {
		return from, to, b.org.ODS == MaudsleyODS
	}
	if b.org.ODS == MaudsleyODS {
		return from, to, false
	}
	if b.p.level == 2 {
		split := day(2018, time.June, 1)
		switch b.org.ODS {
		case KingsODS:
			return from, min64(to, split), from.Before(split)
		case GSTTODS:
			return max64(from, split), to, true
		}
		return from, to, false
	}
	var acute []string
	for _, ods := range b.p.orgs {
		if o, _ := OrgByODS(ods); o.Type == Trust && ods != MaudsleyODS {
			acute = append(acute, ods)
		}
	}
	if len(acute) == 0 {
		return from, to, false
	}
	return from, to, acute[seed(b.p.nhs, o.key)%uint64(len(acute))] == b.org.ODS
}

// trust generates a hospital record: problems it manages, with clinics or
// admissions, their tests, scans, procedures, medicines and letters.
func (b *builder) trust() {
	p := b.p
	if p.longDialysis && b.org.ODS == GSTTODS {
		b.dialysis()
	}
	managed := false
	for _, o := range p.problems {
		from, to, ok := b.managedHere(o)
		if !ok || from.After(b.until) {
			continue
		}
		managed = true
		b.condition(o)
		pb := problems[o.key]
		if pb.chronic {
			b.clinics(o, pb, from, to)
		} else {
			b.admission(o, pb)
		}
	}
	if !managed {
		// Every hospital that knows the patient saw them at least once.
		t := b.at(DataDate.AddDate(0, -1-b.r.IntN(60), -b.r.IntN(28)))
		if !t.Before(b.until) {
			t = b.at(b.until.AddDate(0, -2, 0))
		}
		site := b.site()
		b.encounter("EMER", "4525004", "Emergency department attendance", t, t.Add(4*time.Hour), site)
		b.labs(t.Add(30*time.Minute), "fbc")
		b.labs(t.Add(30*time.Minute), "crp")
		b.letter("discharge", t.Add(4*time.Hour), site,
			"Attended the emergency department with a minor injury. Examined, no fracture suspected. Discharged with simple analgesia and safety-netting advice.")
	}
	if managed || p.level > 0 || b.r.IntN(2) == 0 {
		b.allergies(b.at(DataDate.AddDate(-5, 0, b.r.IntN(300))))
	}
	b.trustExtras()
}

func (b *builder) clinics(o onset, pb problem, from, to time.Time) {
	p := b.p
	site := b.site()
	interval := []int{12, 9, 6}[p.level]
	if p.level < 2 {
		// Decades of clinic letters add nothing to a demo: keep fifteen years.
		from = max64(from, DataDate.AddDate(-15, 0, 0))
	}
	visits := 0
	for t := from.AddDate(0, 1, 0); t.Before(to); t = t.AddDate(0, interval, b.r.IntN(20)-10) {
		if p.level == 0 && visits >= 3 {
			break
		}
		start := b.at(t)
		if o.key == "eskd" {
			// Dialysis sessions carry this patient's record; add a few
			// clinic reviews only.
			if visits >= 8 {
				break
			}
		}
		b.encounter("AMB", "11429006", pb.clinic+" outpatient appointment", start, start.Add(20*time.Minute), site)
		for _, pk := range pb.panels {
			b.labs(start.Add(-90*time.Minute), pk)
		}
		if visits == 0 {
			for i, mk := range pb.meds {
				if i == 0 || p.level == 2 {
					b.statement(mk, o.start, true, start)
				}
			}
			for _, ek := range pb.imaging {
				b.imaging(b.at(start.AddDate(0, 0, 14)), ek, true, site)
			}
			for _, pk := range pb.procs {
				if pk == "dialysis" {
					continue
				}
				b.procedure(pk, b.at(start.AddDate(0, 2+b.r.IntN(10), 0)))
			}
		}
		if visits == 0 || visits%3 == 2 || (p.level == 2 && visits%2 == 1) {
			b.letter("clinic", start.Add(26*time.Hour), site, clinicText(pb, visits))
		}
		if p.level == 2 && visits == 1 && b.org.ODS == KingsODS {
			b.pdfLetter(start.Add(30*time.Hour), site, "Reviewed in "+pb.clinic+" clinic. Stable. Continue current treatment.")
		}
		if pb.mental && visits == 0 {
			b.letter("careplan", start.Add(48*time.Hour), site,
				"Care plan agreed with the patient: regular review with the care coordinator, medication as below, crisis line details given.")
		}
		visits++
	}
}

func clinicText(pb problem, visit int) string {
	if visit == 0 {
		return fmt.Sprintf("Dear Dr,\n\nI saw this patient in the %s clinic today, newly referred with %s. We discussed the diagnosis and a plan of management. Investigations arranged as below; I will review in clinic.",
			pb.clinic, strings.ToLower(pb.display))
	}
	return fmt.Sprintf("Dear Dr,\n\nI reviewed this patient in the %s clinic today for %s. They are managing well. Recent blood results were discussed. Plan: continue current treatment, review again in clinic.",
		pb.clinic, strings.ToLower(pb.display))
}

func (b *builder) admission(o onset, pb problem) {
	site := b.site()
	start := b.at(o.start)
	stay := 2 + b.r.IntN(6)
	end := start.AddDate(0, 0, stay)
	if !o.end.IsZero() && o.end.Before(end) {
		end = o.end
	}
	// A patient who died within weeks of admission died on the ward.
	dying := !b.p.death.IsZero() && b.p.death.Sub(start) < 30*24*time.Hour
	if end.After(b.until) || dying {
		end = b.until
	}
	b.encounter("EMER", "4525004", "Emergency department attendance", start, start.Add(3*time.Hour), site)
	b.encounter("IMP", "183452005", "Emergency admission — "+pb.clinic, start.Add(3*time.Hour), end, site)
	for _, pk := range pb.panels {
		b.labs(start.Add(time.Hour), pk)
		if stay > 3 {
			b.labs(b.at(start.AddDate(0, 0, 3)), pk)
		}
	}
	for _, ek := range pb.imaging {
		b.imaging(start.Add(2*time.Hour), ek, true, site)
	}
	for _, pk := range pb.procs {
		b.procedure(pk, start.AddDate(0, 0, 1))
	}
	for _, mk := range pb.meds {
		if dying {
			break // no medicines to take home
		}
		b.prescribe(mk, end, end.AddDate(0, 0, max(meds[mk].course, 5)))
	}
	outcome := "Treated and discharged home. GP to review in two weeks."
	if dying || !b.p.alive(end.Add(time.Hour)) {
		// An emergency care plan agreed on the ward, as for a frail
		// patient whose treatment may not succeed.
		b.letter("respect", start.Add(26*time.Hour), site,
			"Recommended Summary Plan for Emergency Care and Treatment, agreed with the patient and their family.\n\n"+
				"Priority: comfort and symptom control, with ward-based treatment of reversible causes.\n\n"+
				"CPR: not recommended (DNACPR). Not for admission to intensive care.")
		outcome = "Despite treatment the patient deteriorated and died in hospital. The family were present."
	}
	b.letter("discharge", end, site, fmt.Sprintf("Admitted with %s.\n\n%s", strings.ToLower(pb.display), outcome))
}

// dialysis generates ten years of thrice-weekly haemodialysis with monthly
// bloods: the long-history record, about 3,000 resources at one source.
func (b *builder) dialysis() {
	site := "Guy's Hospital"
	start := dialysisStart
	month := -1
	for t := start; t.Before(b.until); t = t.AddDate(0, 0, 1) {
		switch t.Weekday() {
		case time.Monday, time.Wednesday, time.Friday:
		default:
			continue
		}
		s := t.Add(time.Duration(7+b.r.IntN(6)) * time.Hour)
		b.encounter("AMB", "108241001", "Haemodialysis session", s, s.Add(4*time.Hour), site)
		if m := int(t.Month()) + 12*t.Year(); m != month && t.Weekday() == time.Monday {
			month = m
			b.labs(s.Add(-10*time.Minute), "ue")
			b.labs(s.Add(-10*time.Minute), "fbc")
		}
	}
	b.procedure("dialysis", b.at(start))
}

func max64(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func min64(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// sortedTypes lists the resource types a dataset serves.
var sortedTypes = func() []string {
	t := []string{"Observation", "DiagnosticReport", "ImagingStudy", "MedicationRequest", "MedicationStatement",
		"Encounter", "Procedure", "Condition", "AllergyIntolerance", "DocumentReference", "Immunization", "Flag"}
	slices.Sort(t)
	return t
}()
