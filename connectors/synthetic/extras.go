package synthetic

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The demo's breadth beyond the ordinary record: immunizations, alerts
// (FHIR Flag), and the shapes of FHIR a real source sends that the
// ordinary generator does not (results contained in a report, a report
// that is only a PDF, a document held as a Binary, blood pressure
// components missing or critical, preliminary and amended results,
// partial dates). Most of it is the rich demo patient's, so one record
// shows all of it.

const sysCVX = "http://hl7.org/fhir/sid/cvx"

type vaccine struct {
	cvx, display, text string
	dose               string // mL
	site, route        concept
}

var (
	deltoid = concept{Text: "Left upper arm"}
	intram  = concept{Coding: []coding{{System: sysSNOMED, Code: "78421000", Display: "Intramuscular route"}}, Text: "Intramuscular"}
)

var vaccines = map[string]vaccine{
	"flu":    {"88", "influenza virus vaccine, unspecified formulation", "Influenza vaccine", "0.5", deltoid, intram},
	"covid":  {"213", "SARS-COV-2 (COVID-19) vaccine, UNSPECIFIED FORMULATION", "COVID-19 vaccine", "0.3", deltoid, intram},
	"pneumo": {"33", "pneumococcal polysaccharide vaccine, 23 valent", "Pneumococcal polysaccharide vaccine (PPV23)", "0.5", deltoid, intram},
	"hepb":   {"45", "hepatitis B vaccine, unspecified formulation", "Hepatitis B vaccine", "1", deltoid, intram},
}

// immunization adds a vaccination given here; dose of series is written
// when series is not zero.
func (b *builder) immunization(key string, when time.Time, dose, series int) {
	v := vaccines[key]
	id := b.nextID("imm")
	im := immunizationRes{ResourceType: "Immunization", ID: id, Status: "completed",
		VaccineCode: concept{Coding: []coding{{System: sysCVX, Code: v.cvx, Display: v.display}}, Text: v.text},
		Patient:     b.subject(), OccurrenceDateTime: ts(when), PrimarySource: true,
		Location: &reference{Display: b.org.Sites[0]}, LotNumber: lot(b, key),
		Site: &v.site, Route: &v.route, DoseQuantity: &quantity{Value: json.Number(v.dose), Unit: "mL", System: sysUCUM, Code: "mL"},
		Performer: []performer{{Actor: reference{Display: b.clinician()}}}}
	if series > 0 {
		im.ProtocolApplied = []protocol{{DoseNumberPositiveInt: dose, SeriesDosesPositiveInt: series}}
	}
	b.add("Immunization", id, im)
}

// lot is a made-up batch number.
func lot(b *builder, key string) string {
	return fmt.Sprintf("%s%05d", strings.ToUpper(key[:2]), b.n*7919%100000)
}

// flag adds an alert that is shown beside the patient's banner.
func (b *builder) flag(category concept, text string, start time.Time) {
	id := b.nextID("flag")
	b.add("Flag", id, flagRes{ResourceType: "Flag", ID: id, Status: "active", Category: []concept{category},
		Code: concept{Text: text}, Subject: b.subject(), Period: &period{Start: ds(start)}, Author: b.orgRef()})
}

// pastCondition adds a resolved problem known only to a partial date
// ("1957", "1979-05"), as old paper records give them.
func (b *builder) pastCondition(text, onset, abatement string) {
	id := b.nextID("cond")
	b.add("Condition", id, conditionRes{ResourceType: "Condition", ID: id,
		ClinicalStatus:     &concept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/condition-clinical", Code: "resolved"}}},
		VerificationStatus: &concept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/condition-ver-status", Code: "confirmed"}}},
		Category:           []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/condition-category", Code: "problem-list-item"}}}},
		Code:               concept{Text: text}, Subject: b.subject(), OnsetDateTime: onset, AbatementDateTime: abatement})
}

// practiceExtras: vaccinations beyond the seasonal influenza one, and the
// rich and long-history patients' alerts and partial dates.
func (b *builder) practiceExtras() {
	p := b.p
	older := p.birth.Time().AddDate(65, 0, 0).Before(DataDate)
	if p.level > 0 && p.alive(DataDate) {
		for i, y := range []int{DataDate.Year() - 1, DataDate.Year()} {
			t := b.at(time.Date(y, time.October, 3+7*i, 0, 0, 0, 0, time.UTC))
			if t.Before(b.until) {
				b.immunization("covid", t, 0, 0)
			}
		}
	}
	if older || p.level == 2 {
		// At 65, or earlier for a patient in a clinical risk group (the
		// rich record's diabetes): never a date still to come.
		when := max64(p.birth.Time().AddDate(65, 1, 0), DataDate.AddDate(-9, 0, 0))
		if !when.Before(b.until) {
			when = b.until.AddDate(-2, -5, 0)
		}
		b.immunization("pneumo", b.at(when), 0, 0)
	}
	switch p.nhs {
	case RichNHSNumber:
		b.flag(concept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/flag-category", Code: "safety", Display: "Safety"}}, Text: "Safeguarding"},
			"Safeguarding concern: adult at risk. Speak to the practice safeguarding lead before sharing information with family members.",
			DataDate.AddDate(-2, -3, 0))
		b.pastCondition("Fractured left wrist", "1979-05", "1979")
		b.procedure("ecg", b.at(DataDate.AddDate(0, -5, -9)))
	case LongHistoryNHSNumber:
		b.pastCondition("Pulmonary tuberculosis, treated", "1957", "1958")
	}
}

// trustExtras: the rich patient's hospital records carry the shapes of
// FHIR the ordinary generator does not write.
func (b *builder) trustExtras() {
	if b.p.nhs != RichNHSNumber {
		return
	}
	switch b.org.ODS {
	case KingsODS:
		b.flag(concept{Text: "Reasonable adjustment"},
			"Reasonable adjustment: severe hearing loss. Book a British Sign Language interpreter for appointments; face her when speaking.",
			DataDate.AddDate(-3, 0, 0))
		when := b.at(DataDate.AddDate(0, 0, -12))
		b.bloodCulture(when)
		b.amendedPotassium(when.Add(-20 * time.Minute))
		b.echoPDF(b.at(DataDate.AddDate(0, -7, 0)))
		b.binaryLetter(b.at(DataDate.AddDate(0, -2, -3)))
		// Seen in clinic twice: her observations each time.
		b.bloodPressure(b.at(DataDate.AddDate(0, -6, 0)), "146", "H", "88", "N")
		b.vitalSigns(b.at(DataDate.AddDate(0, -6, 0)), vitals{pulse: "78", resp: "16", spo2: "97", temp: "36.8",
			weight: "84.2", bmi: "30.9", bmiFlag: "H", news2: "1"})
		b.bloodPressure(b.at(DataDate.AddDate(0, 0, -12)), "138", "N", "84", "N")
		b.vitalSigns(b.at(DataDate.AddDate(0, 0, -12)), vitals{pulse: "84", resp: "18", spo2: "96", temp: "37.1",
			weight: "82.5", bmi: "30.3", bmiFlag: "H", news2: "1"})
	case GSTTODS:
		b.bloodPressure(b.at(DataDate.AddDate(0, 0, -40)), "212", "HH", "124", "H")
		for i, t := range []time.Time{day(2020, time.March, 2), day(2020, time.April, 6), day(2020, time.September, 7)} {
			b.immunization("hepb", b.at(t), i+1, 3)
		}
	case LewishamODS:
		// Her pneumonia admission: a blood pressure whose diastolic could
		// not be measured, and an arterial blood gas sent as one report.
		t := time.Date(2023, time.January, 8, 14, 10, 0, 0, time.UTC)
		b.bloodPressure(t, "88", "L", "", "")
		b.vitalSigns(t, vitals{pulse: "118", pulseFlag: "H", resp: "26", respFlag: "H", spo2: "90", spo2Flag: "L",
			temp: "38.9", tempFlag: "H", news2: "9"})
		b.bloodGas(t.Add(25 * time.Minute))
	}
}

func loinc(code, display, text string) concept {
	return concept{Coding: []coding{{System: sysLOINC, Code: code, Display: display}}, Text: text}
}

func interp(code, display string) []concept {
	if code == "" {
		return nil
	}
	return []concept{{Coding: []coding{{System: sysInterp, Code: code, Display: display}}}}
}

var interpDisplay = map[string]string{"N": "Normal", "H": "High", "L": "Low", "HH": "Critical high", "LL": "Critical low"}

func mmHg(v string) *quantity {
	return &quantity{Value: json.Number(v), Unit: "mmHg", System: sysUCUM, Code: "mm[Hg]"}
}

// bloodPressure adds a blood pressure panel; an empty diastolic is sent
// with a dataAbsentReason, as FHIR's vital signs profile requires.
func (b *builder) bloodPressure(when time.Time, sys, sysFlag, dia, diaFlag string) {
	id := b.nextID("bp")
	comps := []component{{Code: loinc("8480-6", "Systolic blood pressure", "Systolic"), ValueQuantity: mmHg(sys),
		Interpretation: interp(sysFlag, interpDisplay[sysFlag]), ReferenceRange: []refRange{{Low: mmHg("90"), High: mmHg("140")}}}}
	d := component{Code: loinc("8462-4", "Diastolic blood pressure", "Diastolic")}
	if dia == "" {
		d.DataAbsentReason = &concept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/data-absent-reason", Code: "unknown", Display: "Unknown"}},
			Text: "Not heard: diastolic could not be measured"}
	} else {
		d.ValueQuantity, d.Interpretation = mmHg(dia), interp(diaFlag, interpDisplay[diaFlag])
		d.ReferenceRange = []refRange{{Low: mmHg("60"), High: mmHg("90")}}
	}
	b.add("Observation", id, observationRes{ResourceType: "Observation", ID: id, Status: "final",
		Category: []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: "vital-signs", Display: "Vital Signs"}}}},
		Code:     loinc("85354-9", "Blood pressure panel with all children optional", "Blood pressure"),
		Subject:  b.subject(), EffectiveDateTime: ts(when), Performer: []reference{*b.orgRef()},
		Component: append(comps, d)})
}

// vitals are one set of observations; an empty value is not sent.
type vitals struct {
	pulse, pulseFlag, resp, respFlag, spo2, spo2Flag, temp, tempFlag string
	weight, bmi, bmiFlag, news2                                      string
}

// vitalSigns adds one set of observations as FHIR's vital signs profile
// codes them (LOINC), and a NEWS2 total score (SNOMED CT).
func (b *builder) vitalSigns(when time.Time, v vitals) {
	obs := func(code concept, value, unit, ucum, flag string, low, high string) {
		if value == "" {
			return
		}
		id := b.nextID("vs")
		q := &quantity{Value: json.Number(value), Unit: unit, System: sysUCUM, Code: ucum}
		o := observationRes{ResourceType: "Observation", ID: id, Status: "final",
			Category: []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: "vital-signs", Display: "Vital Signs"}}}},
			Code:     code, Subject: b.subject(), EffectiveDateTime: ts(when), Performer: []reference{*b.orgRef()},
			ValueQuantity: q, Interpretation: interp(flag, interpDisplay[flag])}
		if low != "" || high != "" {
			rr := refRange{}
			if low != "" {
				rr.Low = &quantity{Value: json.Number(low), Unit: unit, System: sysUCUM, Code: ucum}
			}
			if high != "" {
				rr.High = &quantity{Value: json.Number(high), Unit: unit, System: sysUCUM, Code: ucum}
			}
			o.ReferenceRange = []refRange{rr}
		}
		b.add("Observation", id, o)
	}
	obs(loinc("8867-4", "Heart rate", "Pulse"), v.pulse, "/min", "/min", v.pulseFlag, "51", "90")
	obs(loinc("9279-1", "Respiratory rate", "Respiratory rate"), v.resp, "/min", "/min", v.respFlag, "12", "20")
	obs(loinc("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "Oxygen saturation"), v.spo2, "%", "%", v.spo2Flag, "96", "")
	obs(loinc("8310-5", "Body temperature", "Temperature"), v.temp, "°C", "Cel", v.tempFlag, "36.1", "38.0")
	obs(loinc("29463-7", "Body weight", "Weight"), v.weight, "kg", "kg", "", "", "")
	obs(loinc("39156-5", "Body mass index (BMI) [Ratio]", "BMI"), v.bmi, "kg/m2", "kg/m2", v.bmiFlag, "18.5", "24.9")
	obs(concept{Coding: []coding{{System: sysSNOMED, Code: "1104051000000101",
		Display: "Royal College of Physicians National Early Warning Score 2 (NEWS2) total score"}}, Text: "NEWS2 score"},
		v.news2, "{score}", "{score}", "", "", "")
}

// bloodGas adds an arterial blood gas whose results exist only inside the
// report, as contained Observations.
func (b *builder) bloodGas(when time.Time) {
	id := b.nextID("abg")
	kPa := func(v string) *quantity {
		return &quantity{Value: json.Number(v), Unit: "kPa", System: sysUCUM, Code: "kPa"}
	}
	obs := func(cid string, code concept, q *quantity, flag, low, high string) observationRes {
		o := observationRes{ResourceType: "Observation", ID: cid, Status: "final", Code: code, ValueQuantity: q,
			Interpretation: interp(flag, interpDisplay[flag])}
		u := *q
		lo, hi := u, u
		lo.Value, hi.Value = json.Number(low), json.Number(high)
		o.ReferenceRange = []refRange{{Low: &lo, High: &hi}}
		return o
	}
	contained := []observationRes{
		obs("ph", loinc("2744-1", "pH of Arterial blood", "pH"), &quantity{Value: "7.31", Unit: "pH", System: sysUCUM, Code: "[pH]"}, "L", "7.35", "7.45"),
		obs("po2", loinc("2703-7", "Oxygen [Partial pressure] in Arterial blood", "pO2"), kPa("7.9"), "L", "10.5", "13.5"),
		obs("pco2", loinc("2019-8", "Carbon dioxide [Partial pressure] in Arterial blood", "pCO2"), kPa("6.8"), "H", "4.7", "6.0"),
	}
	var refs []reference
	for _, o := range contained {
		refs = append(refs, reference{Reference: "#" + o.ID})
	}
	b.add("DiagnosticReport", id, diagnosticReportRes{ResourceType: "DiagnosticReport", ID: id, Status: "final",
		Contained: contained,
		Category:  []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/v2-0074", Code: "CH"}}}},
		Code:      loinc("24336-0", "Gas panel - Arterial blood", "Arterial blood gas"),
		Subject:   b.subject(), EffectiveDateTime: ts(when), Issued: ts(when.Add(5 * time.Minute)),
		Performer: []reference{*b.orgRef()}, Result: refs,
		Conclusion: "Hypoxaemia with acute respiratory acidosis (on room air)."})
}

// bloodCulture adds a result still preliminary: the culture runs for days.
func (b *builder) bloodCulture(when time.Time) {
	id := b.nextID("obs")
	b.add("Observation", id, observationRes{ResourceType: "Observation", ID: id, Status: "preliminary",
		Category: []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: "laboratory", Display: "Laboratory"}}}},
		Code:     loinc("600-7", "Bacteria identified in Blood by Culture", "Blood culture"),
		Subject:  b.subject(), EffectiveDateTime: ts(when), Issued: ts(when.Add(26 * time.Hour)),
		Performer:   []reference{*b.orgRef()},
		ValueString: "No growth after 24 hours. Incubation continues; final report at 5 days."})
}

// amendedPotassium adds a result the laboratory amended after issue.
func (b *builder) amendedPotassium(when time.Time) {
	id := b.nextID("obs")
	q := func(v string) *quantity {
		return &quantity{Value: json.Number(v), Unit: "mmol/L", System: sysUCUM, Code: "mmol/L"}
	}
	b.add("Observation", id, observationRes{ResourceType: "Observation", ID: id, Status: "amended",
		Category: []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: "laboratory", Display: "Laboratory"}}}},
		Code:     loinc("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "Potassium"),
		Subject:  b.subject(), EffectiveDateTime: ts(when), Issued: ts(when.Add(30 * time.Hour)),
		Performer: []reference{*b.orgRef()}, ValueQuantity: q("5.2"), Interpretation: interp("N", "Normal"),
		ReferenceRange: []refRange{{Low: q("3.5"), High: q("5.3")}},
		Note:           []annotation{{Text: "Amended: the first report (6.9 mmol/L) was from a haemolysed sample; repeat sample result shown."}}})
}

// echoPDF adds a report that is only a PDF: no results, no conclusion.
func (b *builder) echoPDF(when time.Time) {
	id := b.nextID("echo")
	pdf := minimalPDF([]string{"TRANSTHORACIC ECHOCARDIOGRAM", b.org.Sites[0], when.Format("02 January 2006"),
		"Left ventricle: mildly impaired systolic function, ejection fraction 45%.",
		"Valves: mild mitral regurgitation.", "Synthetic document for demonstration."})
	b.add("DiagnosticReport", id, diagnosticReportRes{ResourceType: "DiagnosticReport", ID: id, Status: "final",
		Category: []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/v2-0074", Code: "CUS", Display: "Cardiac Ultrasound"}}}},
		Code:     concept{Coding: []coding{{System: sysSNOMED, Code: "40701008", Display: "Echocardiography"}}, Text: "Echocardiogram"},
		Subject:  b.subject(), EffectiveDateTime: ts(when), Issued: ts(when.Add(3 * time.Hour)),
		Performer:     []reference{*b.orgRef()},
		PresentedForm: []attachment{{ContentType: "application/pdf", Data: base64.StdEncoding.EncodeToString(pdf), Title: "Echocardiogram report"}}})
}

// binaryLetter adds a discharge summary held as a Binary: the
// DocumentReference gives only its URL, for the reader to fetch.
func (b *builder) binaryLetter(when time.Time) {
	id := b.nextID("doc")
	binID := id + "-pdf"
	author := b.clinician()
	pdf := minimalPDF([]string{"DISCHARGE SUMMARY", b.org.Sites[0], when.Format("02 January 2006"),
		"Day-case admission for investigation of anaemia. Upper GI endoscopy normal.",
		"Plan: iron studies with GP in four weeks.", "Yours sincerely, " + author, "Synthetic document for demonstration."})
	b.addShared("Binary", binID, binaryRes{ResourceType: "Binary", ID: binID, ContentType: "application/pdf", Data: pdf})
	b.add("DocumentReference", id, documentReferenceRes{ResourceType: "DocumentReference", ID: id, Status: "current",
		Type:    concept{Coding: []coding{{System: sysSNOMED, Code: "373942005", Display: "Discharge summary"}}, Text: "Discharge summary"},
		Subject: b.subject(), Date: ts(when), Author: []reference{{Display: author}}, Custodian: b.orgRef(),
		Description: "Discharge summary (PDF) — " + b.org.Sites[0],
		Content:     []docContent{{Attachment: attachment{ContentType: "application/pdf", URL: "Binary/" + binID, Title: "Discharge summary"}}}})
}
