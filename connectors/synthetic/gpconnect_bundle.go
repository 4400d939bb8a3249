package synthetic

import (
	"fmt"
	"math"
	"time"
)

// GP Connect STU3 profiles and systems used in the synthetic bundles.
const (
	gpcProfile  = "https://fhir.nhs.uk/STU3/StructureDefinition/"
	ccProfile   = "https://fhir.hl7.org.uk/STU3/StructureDefinition/"
	listWarnURL = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-ListWarningCode-1"
)

// gpcBuilder builds one patient's structured record at their practice.
type gpcBuilder struct {
	p       *person
	org     Org
	entries []any
	n       int
	// linked are the resources each problem (by key) is linked to.
	linked map[string][]string
	// problemKey is the first problem's resource, which a consultation
	// reviews.
	problemKey string
}

func (b *gpcBuilder) id(prefix string) string {
	b.n++
	return fmt.Sprintf("%s-%d", prefix, b.n)
}

func (b *gpcBuilder) add(res map[string]any) string {
	b.entries = append(b.entries, map[string]any{"resource": res})
	return res["resourceType"].(string) + "/" + res["id"].(string)
}

func snomedConcept(code, display string) map[string]any {
	return map[string]any{"coding": []any{map[string]any{"system": sysSNOMED, "code": code, "display": display}}, "text": display}
}

func ref(key string) map[string]any { return map[string]any{"reference": key} }

func dateOnly(t time.Time) string { return t.Format(time.DateOnly) }

// list is one section of the record: its code, title and items.
func (b *gpcBuilder) list(code, title string, items []string, extra map[string]any) {
	l := map[string]any{"resourceType": "List", "id": b.id("list"),
		"meta":   map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-List-1"}},
		"status": "current", "mode": "snapshot", "title": title, "code": snomedConcept(code, title),
		"subject": ref("Patient/" + b.p.nhs), "date": DataDate.Format(time.RFC3339)}
	var es []any
	for _, k := range items {
		es = append(es, map[string]any{"item": ref(k)})
	}
	if len(es) > 0 {
		l["entry"] = es
	} else {
		l["emptyReason"] = map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/list-empty-reason",
			"code": "no-content-recorded", "display": "No Content Recorded"}}, "text": "Information not available"}
	}
	for k, v := range extra {
		l[k] = v
	}
	b.add(l)
}

// gpcBundle is the structured record GP Connect returns for p at org: the
// patient, the practice and a GP, and with clinical every section.
func gpcBundle(p *person, org Org, clinical bool) map[string]any {
	b := &gpcBuilder{p: p, org: org, linked: map[string][]string{}}
	orgKey := b.add(map[string]any{"resourceType": "Organization", "id": "practice",
		"meta":       map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-Organization-1"}},
		"identifier": []any{map[string]any{"system": sysODS, "value": org.ODS}}, "name": org.Name})
	gpKey := b.add(map[string]any{"resourceType": "Practitioner", "id": "gp",
		"meta":       map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-Practitioner-1"}},
		"identifier": []any{map[string]any{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "G" + org.ODS[1:]}},
		"name":       []any{map[string]any{"use": "usual", "family": "Fictional", "given": []string{"Ada"}, "prefix": []string{"Dr"}}}})
	pt := map[string]any{"resourceType": "Patient", "id": p.nhs,
		"meta":       map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-Patient-1"}},
		"identifier": []any{map[string]any{"system": sysNHS, "value": p.nhs}},
		"name":       []any{map[string]any{"use": "official", "family": p.family, "given": p.given, "prefix": []string{p.title}}},
		"gender":     p.gender, "birthDate": p.birth.String(),
		"address":             []any{map[string]any{"use": "home", "line": p.lines, "city": p.town, "postalCode": p.postcode}},
		"telecom":             []any{map[string]any{"system": "phone", "value": p.phone, "use": "home"}},
		"generalPractitioner": []any{ref(gpKey)}, "managingOrganization": ref(orgKey)}
	if !p.death.IsZero() {
		pt["deceasedDateTime"] = p.death.Format(time.RFC3339)
	}
	b.add(pt)
	if clinical {
		b.allergies()
		b.medications(gpKey)
		b.referrals()
		b.problems()
		b.consultations(gpKey)
		b.immunisations()
		b.investigations()
		b.uncategorised()
	}
	return map[string]any{"resourceType": "Bundle", "id": "structured-" + p.nhs,
		"meta": map[string]any{"profile": []string{gpcProfile + "GPConnect-StructuredRecord-Bundle-1"}},
		"type": "collection", "entry": b.entries}
}

func (b *gpcBuilder) allergies() {
	var active, ended []string
	mk := func(code, name, status string, asserted time.Time, a *allergen) string {
		res := map[string]any{"resourceType": "AllergyIntolerance", "id": b.id("allergy"),
			"meta":           map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-AllergyIntolerance-1"}},
			"clinicalStatus": status, "verificationStatus": "unconfirmed", "code": snomedConcept(code, name),
			"patient": ref("Patient/" + b.p.nhs), "assertedDate": asserted.Format(time.RFC3339)}
		if a != nil {
			res["category"] = []string{a.category}
			res["criticality"] = a.crit
			res["verificationStatus"] = "confirmed"
			res["onsetDateTime"] = dateOnly(asserted)
			res["reaction"] = []any{map[string]any{"manifestation": []any{snomedConcept(a.reactCode, a.reaction)}, "severity": a.severity}}
		}
		if status == "resolved" {
			res["extension"] = []any{map[string]any{"url": gpcProfile + "Extension-CareConnect-GPC-AllergyIntoleranceEnd-1",
				"extension": []any{map[string]any{"url": "endDate", "valueDateTime": asserted.AddDate(2, 0, 0).Format(time.RFC3339)}}}}
		}
		return b.add(res)
	}
	switch {
	case b.p.allergy != nil:
		active = append(active, mk(b.p.allergy.code, b.p.allergy.name, "active", day(2004, time.May, 10), b.p.allergy))
	case b.p.nka:
		active = append(active, mk("716186003", "No known allergy", "active", day(2015, time.January, 20), nil))
	}
	if b.p.nhs == RichNHSNumber {
		ended = append(ended, mk(allergens[3].code, allergens[3].name, "resolved", day(2011, time.March, 3), &allergens[3]))
	}
	b.list("886921000000105", "Allergies and adverse reactions", active, nil)
	b.list("1103671000000101", "Ended allergies", ended, nil)
}

func (b *gpcBuilder) medications(gpKey string) {
	var items []string
	for _, pr := range b.p.problems {
		prob := problems[pr.key]
		for _, mk := range prob.meds {
			m, ok := meds[mk]
			if !ok {
				continue
			}
			current := pr.end.IsZero() && prob.chronic
			medKey := b.add(map[string]any{"resourceType": "Medication", "id": b.id("med"),
				"meta": map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-Medication-1"}},
				"code": map[string]any{"coding": []any{map[string]any{"system": sysSNOMED, "code": m.dmd, "display": m.name}}, "text": m.name}})
			start := pr.start.AddDate(0, 0, 7)
			end := DataDate.AddDate(0, 2, 0)
			status, reqStatus := "active", "active"
			if !current {
				end, status, reqStatus = pr.start.AddDate(0, 0, 7+max(m.course, 14)), "completed", "completed"
			}
			dosage := m.dose + " " + frequencyText(m.freq)
			planKey := b.add(map[string]any{"resourceType": "MedicationRequest", "id": b.id("auth"),
				"meta":   map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-MedicationRequest-1"}},
				"status": reqStatus, "intent": "plan", "medicationReference": ref(medKey), "subject": ref("Patient/" + b.p.nhs),
				"authoredOn": dateOnly(start), "recorder": ref(gpKey), "dosageInstruction": []any{map[string]any{"text": dosage}},
				"dispenseRequest": map[string]any{"validityPeriod": map[string]any{"start": dateOnly(start), "end": dateOnly(end)}}})
			for i := range 2 {
				at := start.AddDate(0, i, 0)
				b.add(map[string]any{"resourceType": "MedicationRequest", "id": b.id("issue"),
					"meta":   map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-MedicationRequest-1"}},
					"status": "completed", "intent": "order", "basedOn": []any{ref(planKey)}, "medicationReference": ref(medKey),
					"subject": ref("Patient/" + b.p.nhs), "authoredOn": dateOnly(at), "recorder": ref(gpKey),
					"dosageInstruction": []any{map[string]any{"text": dosage}},
					"dispenseRequest":   map[string]any{"validityPeriod": map[string]any{"start": dateOnly(at), "end": dateOnly(at.AddDate(0, 1, 0))}}})
			}
			stmt := b.id("stmt")
			b.linked[pr.key] = append(b.linked[pr.key], "MedicationStatement/"+stmt)
			items = append(items, b.add(map[string]any{"resourceType": "MedicationStatement", "id": stmt,
				"meta":   map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-MedicationStatement-1"}},
				"status": status, "basedOn": []any{ref(planKey)}, "medicationReference": ref(medKey),
				"effectivePeriod": map[string]any{"start": dateOnly(start), "end": dateOnly(end)},
				"subject":         ref("Patient/" + b.p.nhs), "taken": "unk", "dosage": []any{map[string]any{"text": dosage}}}))
		}
	}
	b.list("933361000000108", "Medications and medical devices", items, nil)
}

func frequencyText(n int) string {
	switch n {
	case 0:
		return "when required"
	case 1:
		return "once a day"
	case 2:
		return "twice a day"
	}
	return fmt.Sprintf("%d times a day", n)
}

func (b *gpcBuilder) problems() {
	var items []string
	for _, pr := range b.p.problems {
		prob := problems[pr.key]
		res := map[string]any{"resourceType": "Condition", "id": b.id("problem"),
			"meta":           map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-ProblemHeader-Condition-1"}},
			"clinicalStatus": "active", "code": snomedConcept(prob.code, prob.display),
			"subject": ref("Patient/" + b.p.nhs), "onsetDateTime": dateOnly(pr.start), "assertedDate": pr.start.Format(time.RFC3339)}
		if !pr.end.IsZero() {
			res["clinicalStatus"], res["abatementDateTime"] = "inactive", dateOnly(pr.end)
		}
		var ext []any
		for _, k := range b.linked[pr.key] {
			ext = append(ext, map[string]any{"url": gpcProfile + "Extension-CareConnect-GPC-RelatedClinicalContent-1", "valueReference": ref(k)})
		}
		if len(ext) > 0 {
			res["extension"] = ext
		}
		k := b.add(res)
		if b.problemKey == "" {
			b.problemKey = k
		}
		items = append(items, k)
	}
	// The past problems the practice holds only as partial dates, as the
	// FHIR practice does (extras.go).
	past := map[string][3]string{RichNHSNumber: {"Fractured left wrist", "1979-05", "1979"},
		LongHistoryNHSNumber: {"Pulmonary tuberculosis, treated", "1957", "1958"}}
	if pc, ok := past[b.p.nhs]; ok {
		items = append(items, b.add(map[string]any{"resourceType": "Condition", "id": b.id("problem"),
			"meta":           map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-ProblemHeader-Condition-1"}},
			"clinicalStatus": "inactive", "code": map[string]any{"text": pc[0]},
			"subject": ref("Patient/" + b.p.nhs), "onsetDateTime": pc[1], "abatementDateTime": pc[2]}))
	}
	b.list("717711000000103", "Problems", items, nil)
}

func (b *gpcBuilder) consultations(gpKey string) {
	var items []string
	for i := range 2 {
		at := DataDate.AddDate(0, -3*(i+1), -i*5).Add(9*time.Hour + 20*time.Minute)
		enc := b.add(map[string]any{"resourceType": "Encounter", "id": b.id("consultation"),
			"meta":   map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-Encounter-1"}},
			"status": "finished", "type": []any{snomedConcept("185317003", "Telephone encounter")},
			"subject": ref("Patient/" + b.p.nhs), "participant": []any{map[string]any{"individual": ref(gpKey)}},
			"period": map[string]any{"start": at.Format(time.RFC3339), "end": at.Add(12 * time.Minute).Format(time.RFC3339)}})
		topic := b.id("topic")
		tl := map[string]any{"resourceType": "List", "id": topic, "status": "current", "mode": "snapshot",
			"title": "Review", "code": snomedConcept("25851000000105", "Topic (EHR)"), "encounter": ref(enc), "subject": ref("Patient/" + b.p.nhs)}
		if i == 0 && b.problemKey != "" {
			// The latest consultation reviewed the first problem.
			tl["entry"] = []any{map[string]any{"item": ref(b.problemKey)}}
		}
		b.add(tl)
		b.add(map[string]any{"resourceType": "List", "id": b.id("consultation-list"), "status": "current", "mode": "snapshot",
			"title": "Telephone encounter", "code": snomedConcept("325851000000107", "Consultation"), "encounter": ref(enc),
			"subject": ref("Patient/" + b.p.nhs), "entry": []any{map[string]any{"item": ref("List/" + topic)}}})
		items = append(items, enc)
	}
	var extra map[string]any
	if b.p.nhs == RichNHSNumber {
		// The practice withholds a confidential consultation.
		extra = map[string]any{"extension": []any{map[string]any{"url": listWarnURL, "valueCode": "confidential-items"}},
			"note": []any{map[string]any{"text": "Items excluded due to confidentiality and/or patient preferences."}}}
	}
	b.list("1149501000000101", "List of consultations", items, extra)
}

func (b *gpcBuilder) immunisations() {
	var items []string
	for i := range 2 {
		at := time.Date(DataDate.Year()-i, time.October, 8, 10, 0, 0, 0, time.UTC)
		items = append(items, b.add(map[string]any{"resourceType": "Immunization", "id": b.id("imm"),
			"meta":   map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-Immunization-1"}},
			"status": "completed", "notGiven": false, "primarySource": true,
			"vaccineCode": snomedConcept("1156179007", "Influenza vaccine"), "patient": ref("Patient/" + b.p.nhs),
			"date": at.Format(time.RFC3339), "lotNumber": fmt.Sprintf("FLU%04d", seed("lot", b.p.nhs, fmt.Sprint(i))%10000),
			"doseQuantity": map[string]any{"value": 0.5, "unit": "mL"}}))
	}
	b.list("1102181000000102", "Immunisations", items, nil)
}

func (b *gpcBuilder) investigations() {
	r := newRand("gpc-labs", b.p.nhs)
	at := DataDate.AddDate(0, -2, -3).Add(9 * time.Hour)
	spec := b.add(map[string]any{"resourceType": "Specimen", "id": b.id("specimen"), "type": snomedConcept("119297000", "Blood specimen"),
		"subject": ref("Patient/" + b.p.nhs), "collection": map[string]any{"collectedDateTime": at.Format(time.RFC3339)}})
	req := b.add(map[string]any{"resourceType": "ProcedureRequest", "id": b.id("request"), "status": "completed", "intent": "order",
		"code": map[string]any{"text": "Urea and electrolytes"}, "subject": ref("Patient/" + b.p.nhs)})
	var results []any
	for _, key := range panels["ue"].tests {
		t := labTests[key]
		mean := t.mean
		if f := b.p.overrides[key]; f != nil {
			mean = f(at)
		}
		v := math.Round((mean+r.NormFloat64()*t.sd*0.5)*math.Pow10(t.decimals)) / math.Pow10(t.decimals)
		o := map[string]any{"resourceType": "Observation", "id": b.id("result"),
			"meta":   map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-Observation-1"}},
			"status": "final", "code": map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": t.loinc, "display": t.display}}, "text": t.name},
			"subject": ref("Patient/" + b.p.nhs), "effectiveDateTime": at.Format(time.RFC3339), "issued": at.Add(6 * time.Hour).Format(time.RFC3339),
			"valueQuantity": map[string]any{"value": v, "unit": t.unit}, "specimen": ref(spec)}
		rng := map[string]any{}
		if t.low > 0 {
			rng["low"] = map[string]any{"value": t.low, "unit": t.unit}
		}
		if t.high > 0 {
			rng["high"] = map[string]any{"value": t.high, "unit": t.unit}
		}
		if len(rng) > 0 {
			o["referenceRange"] = []any{rng}
		}
		switch {
		case t.high > 0 && v > t.high:
			o["interpretation"] = map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/v2/0078", "code": "H", "display": "High"}}}
		case t.low > 0 && v < t.low:
			o["interpretation"] = map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/v2/0078", "code": "L", "display": "Low"}}}
		}
		results = append(results, ref(b.add(o)))
	}
	rep := b.add(map[string]any{"resourceType": "DiagnosticReport", "id": b.id("report"),
		"meta":   map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-DiagnosticReport-1"}},
		"status": "final", "code": map[string]any{"text": "Urea and electrolytes"}, "subject": ref("Patient/" + b.p.nhs),
		"issued": at.Add(6 * time.Hour).Format(time.RFC3339), "specimen": []any{ref(spec)}, "basedOn": []any{ref(req)}, "result": results})
	b.list("887191000000108", "Investigations and results", []string{rep}, nil)
}

func (b *gpcBuilder) uncategorised() {
	at := DataDate.AddDate(0, -1, 0).Add(10 * time.Hour)
	bp := b.add(map[string]any{"resourceType": "Observation", "id": b.id("bp"),
		"meta":   map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-Observation-1"}},
		"status": "final", "code": snomedConcept("163020007", "On examination - blood pressure reading"),
		"subject": ref("Patient/" + b.p.nhs), "effectiveDateTime": at.Format(time.RFC3339),
		"valueString": fmt.Sprintf("%d/%d mmHg", 120+seed("sys", b.p.nhs)%30, 70+seed("dia", b.p.nhs)%15)})
	b.list("826501000000100", "Miscellaneous record", []string{bp}, nil)
}

func (b *gpcBuilder) referrals() {
	var items []string
	for _, pr := range b.p.problems {
		prob := problems[pr.key]
		if pr.end.IsZero() && prob.clinic != "" && pr.at == "" {
			rid := b.id("referral")
			b.linked[pr.key] = append(b.linked[pr.key], "ReferralRequest/"+rid)
			items = append(items, b.add(map[string]any{"resourceType": "ReferralRequest", "id": rid,
				"meta":   map[string]any{"profile": []string{ccProfile + "CareConnect-GPC-ReferralRequest-1"}},
				"status": "completed", "intent": "order", "priority": "routine", "subject": ref("Patient/" + b.p.nhs),
				"authoredOn": pr.start.AddDate(0, 1, 0).Format(time.RFC3339), "specialty": map[string]any{"text": prob.clinic},
				"reasonCode":  []any{snomedConcept(prob.code, prob.display)},
				"description": "Please review: " + prob.display + "."}))
			break
		}
	}
	b.list("792931000000107", "Outbound referral", items, nil)
}
