package synthetic

// Hostile organisations send what a broken or compromised source system
// might: markup and script in every text field, script URLs, oversized
// strings, invalid UTF-8, control characters, resources that do not fit
// FHIR R4 and JSON nested deeper than any reader should follow. They are
// served by the same Server code as the demo's organisations, so the real
// connector reads them over HTTP, and they exist so that tests can prove
// the portal shows such content as inert text and counts what it cannot
// read. They are never part of the demo.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

const (
	// HostileODS is the fictional ODS code of the organisation whose every
	// text field for HostileNHSNumber is hostile.
	HostileODS = "XH001"
	// NestingODS is the fictional ODS code of the organisation that sends
	// HostileNHSNumber's record with one resource nested HostileNesting
	// levels deep among ordinary ones.
	NestingODS = "XH002"

	// HostileNHSNumber is the patient the hostile organisations hold (999
	// test range, valid check digit, not one of Patients()).
	HostileNHSNumber = "9990009007"

	// HostileTitleBytes is the size of the oversized document title.
	HostileTitleBytes = 200 << 10
	// HostileNesting is how many extensions deep NestingODS nests one.
	HostileNesting = 10000
	// HostileUnreadable is how many of HostileODS's resources do not fit
	// R4 (a bad status code, no id, an unparseable date, a value of the
	// wrong JSON type, an entry that is not a resource): a reader must skip
	// and count each. A document whose attachment data is not base64 is
	// readable but for its content: it is shown, saying its content is
	// unavailable.
	HostileUnreadable = 5
	// HostileNestingOK is how many ordinary entries NestingODS sends beside
	// the deeply nested one.
	HostileNestingOK = 2
)

// HostileScriptURL is the script URL the hostile organisation puts in URL
// fields (document attachments, telecom, references).
const HostileScriptURL = "javascript:alert(document.domain)"

// HostilePayloads are the attacks put into text fields, one per field in
// turn and all of them in the patient's name. Each must come out of the
// portal as the same text, never as markup.
var HostilePayloads = []string{
	`<script>alert(1)</script>`,
	`"><script>alert(document.cookie)</script>`,
	`" onmouseover="alert(1)`,
	`' onfocus='alert(1)' autofocus='`,
	`</style><style>body{display:none}</style>`,
	`<img src=x onerror=alert(1)>`,
	`<svg onload=alert(1)>`,
	`<a href="javascript:alert(1)">click</a>`,
	`<iframe src="javascript:alert(1)"></iframe>`,
	`{{constructor.constructor('alert(1)')()}}`,
	"\u202eRLO override\u202c",
	"nul\u0000bell\u0007escape\u001b[31m",
}

// invalidUTF8Marker stands for bytes that are not UTF-8; it is replaced
// in the encoded JSON, since encoding/json would repair them.
const invalidUTF8Marker = "INVALID-UTF8-HERE"

const invalidUTF8 = "\xff\xfe\xc3\x28\xed\xa0\x80"

// HostileOrg is the organisation whose every text field is hostile.
func HostileOrg() Org {
	return Org{Name: "Hostile Data Test Trust", ODS: HostileODS, Type: Trust, Sites: []string{"Hostile Data Test Hospital"}}
}

// NestingOrg is the organisation that sends one deeply nested resource.
func NestingOrg() Org {
	return Org{Name: "Deep Nesting Test Trust", ODS: NestingODS, Type: Trust, Sites: []string{"Deep Nesting Test Hospital"}}
}

// HostileOrgs lists the hostile organisations.
func HostileOrgs() []Org { return []Org{HostileOrg(), NestingOrg()} }

// NewHostileServer returns the server for one of HostileOrgs.
func NewHostileServer(org Org) (*Server, error) {
	var ds *dataset
	switch org.ODS {
	case HostileODS:
		ds = hostileData(org)
	case NestingODS:
		ds = nestingData(org)
	default:
		return nil, fmt.Errorf("synthetic: %s is not a hostile organisation", org.ODS)
	}
	return &Server{org: org, data: ds, rnd: newRand("faults", org.ODS)}, nil
}

// AddHostile starts one of HostileOrgs in the cluster, on its own loopback
// port, so that Configs and URL include it.
func (c *Cluster) AddHostile(org Org) error {
	s, err := NewHostileServer(org)
	if err != nil {
		return err
	}
	return c.serve(s)
}

// hostileBuilder collects one organisation's resources for the patient.
type hostileBuilder struct {
	pid  string
	org  Org
	n    int
	out  map[string][]res
	next int // which payload comes next
}

func newHostileBuilder(org Org) *hostileBuilder {
	return &hostileBuilder{pid: strings.ToLower(org.ODS) + "-hostile", org: org, out: map[string][]res{}}
}

// text returns a label with the next payload and invalid UTF-8.
func (b *hostileBuilder) text(label string) string {
	p := HostilePayloads[b.next%len(HostilePayloads)]
	b.next++
	return label + " " + p + " " + invalidUTF8Marker
}

func (b *hostileBuilder) id(kind string) string {
	b.n++
	return fmt.Sprintf("%s-%s%d", b.pid, kind, b.n)
}

func (b *hostileBuilder) subject() map[string]any {
	return map[string]any{"reference": "Patient/" + b.pid, "display": b.text("subject")}
}

// add encodes v. htmlEscaped picks Go's default encoding ("<" as \u003c)
// over raw markup, so that both reach the reader.
func (b *hostileBuilder) add(typ, id string, v any, htmlEscaped bool) {
	b.out[typ] = append(b.out[typ], res{id: id, raw: encodeHostile(v, htmlEscaped)})
}

// addRaw adds bytes as they are, for what no encoder would write.
func (b *hostileBuilder) addRaw(typ, id string, raw string) {
	b.out[typ] = append(b.out[typ], res{id: id, raw: json.RawMessage(raw)})
}

func encodeHostile(v any, htmlEscaped bool) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(htmlEscaped)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("synthetic: encode hostile resource: %v", err)) // maps of strings always encode
	}
	return json.RawMessage(bytes.ReplaceAll(bytes.TrimSpace(buf.Bytes()), []byte(invalidUTF8Marker), []byte(invalidUTF8)))
}

func (b *hostileBuilder) concept(label string) map[string]any {
	return map[string]any{
		"coding": []any{map[string]any{"system": sysSNOMED, "code": "1234" + fmt.Sprint(b.n), "display": b.text(label + " display")}},
		"text":   b.text(label),
	}
}

func (b *hostileBuilder) orgRef() map[string]any {
	return map[string]any{"identifier": map[string]any{"system": sysODS, "value": b.org.ODS}, "display": b.text("organisation")}
}

// dataset is the organisation's data: the one patient, with a hostile or
// an ordinary Patient resource, and the resources added so far.
func (b *hostileBuilder) dataset(hostilePatient bool) *dataset {
	p := &person{nhs: HostileNHSNumber, title: "Ms", given: []string{"Hostile"}, family: "Testpatient",
		gender: connectors.GenderFemale, birth: connectors.NewDate(1970, time.January, 1), postcode: "SE1 9ZZ"}
	pd := &patientData{p: p, id: b.pid, raw: b.patient(hostilePatient), byType: b.out}
	return &dataset{org: b.org, patients: []*patientData{pd}, byID: map[string]*patientData{pd.id: pd}}
}

// patient is the Patient resource: every name part, address line and
// contact hostile; its NHS number, gender and birth date are valid, so
// that the record is found and opened.
func (b *hostileBuilder) patient(hostile bool) json.RawMessage {
	name := map[string]any{"use": "official", "family": "Testpatient", "given": []string{"Hostile"}, "prefix": []string{"Ms"}}
	pr := map[string]any{
		"resourceType": "Patient", "id": b.pid,
		"identifier": []any{map[string]any{"system": sysNHS, "value": HostileNHSNumber}},
		"gender":     "female", "birthDate": "1970-01-01",
	}
	if hostile {
		name["family"] = "Testpatient" + strings.Join(HostilePayloads, "")
		name["given"] = []string{"Hostile" + HostilePayloads[2], HostilePayloads[5] + invalidUTF8Marker}
		name["prefix"] = []string{HostilePayloads[4]}
		pr["address"] = []any{map[string]any{"use": "home",
			"line": []string{b.text("line"), HostileScriptURL, strings.Repeat("Longstreetname", 2000)},
			"city": b.text("city"), "postalCode": "SE1 9ZZ" + HostilePayloads[0]}}
		pr["telecom"] = []any{map[string]any{"system": "phone", "value": HostileScriptURL, "use": "home"},
			map[string]any{"system": "email", "value": b.text("email"), "use": "home"}}
		pr["generalPractitioner"] = []any{map[string]any{"identifier": map[string]any{"system": sysODS, "value": "G85991"},
			"display": b.text("practice"), "reference": HostileScriptURL}}
	}
	pr["name"] = []any{name}
	return encodeHostile(pr, false)
}

func hostileData(org Org) *dataset {
	b := newHostileBuilder(org)
	when := func(days int) string {
		return ts(DataDate.AddDate(0, 0, -days).Add(10 * time.Hour))
	}

	// A result with a string value, and one with a quantity whose units,
	// range and comments are hostile.
	b.add("Observation", b.id("obs"), map[string]any{
		"resourceType": "Observation", "id": fmt.Sprintf("%s-obs-s", b.pid), "status": "final",
		"category": []any{b.concept("category")}, "code": b.concept("observation"), "subject": b.subject(),
		"effectiveDateTime": when(1), "performer": []any{b.orgRef()},
		"valueString": b.text("value"), "note": []any{map[string]any{"text": b.text("note")}},
	}, false)
	b.add("Observation", b.id("obs"), map[string]any{
		"resourceType": "Observation", "id": fmt.Sprintf("%s-obs-q", b.pid), "status": "final",
		"code":    map[string]any{"coding": []any{map[string]any{"system": sysLOINC, "code": "2345-7", "display": b.text("glucose")}}, "text": b.text("glucose")},
		"subject": b.subject(), "effectiveDateTime": when(2),
		"valueQuantity":  map[string]any{"value": 7.5, "unit": b.text("unit"), "system": "http://unitsofmeasure.org", "code": "mmol/L"},
		"interpretation": []any{map[string]any{"coding": []any{map[string]any{"code": "H", "display": b.text("high")}}, "text": b.text("interpretation")}},
		"referenceRange": []any{map[string]any{"low": map[string]any{"value": 3.5}, "high": map[string]any{"value": 5.5}, "text": b.text("range")}},
	}, true)
	// A report with a text conclusion and a presented form whose data is
	// HTML and whose url is a script.
	b.add("DiagnosticReport", b.id("rep"), map[string]any{
		"resourceType": "DiagnosticReport", "id": b.pid + "-rep", "status": "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}}}},
		"code":     b.concept("report"), "subject": b.subject(), "effectiveDateTime": when(3), "performer": []any{b.orgRef()},
		"conclusion": b.text("conclusion"),
		"presentedForm": []any{map[string]any{"contentType": "text/plain", "title": b.text("form title"), "url": HostileScriptURL,
			"data": base64.StdEncoding.EncodeToString([]byte(strings.Join(HostilePayloads, "\n")))}},
	}, false)
	b.add("ImagingStudy", b.id("img"), map[string]any{
		"resourceType": "ImagingStudy", "id": b.pid + "-img", "status": "available",
		"modality": []any{map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT", "display": b.text("modality")}},
		"subject":  b.subject(), "started": when(4), "procedureCode": []any{b.concept("procedure code")},
		"location": map[string]any{"display": b.text("location"), "reference": HostileScriptURL}, "description": b.text("study"),
		"series": []any{map[string]any{"uid": "1.2.826.0.1.3680043.10.1", "modality": map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"},
			"bodySite": map[string]any{"display": b.text("body site")}}},
	}, false)
	b.add("MedicationRequest", b.id("rx"), map[string]any{
		"resourceType": "MedicationRequest", "id": b.pid + "-rx", "status": "active", "intent": "order",
		"medicationCodeableConcept": b.concept("medicine"), "subject": b.subject(), "authoredOn": when(5),
		"requester": map[string]any{"display": b.text("prescriber")},
		"dosageInstruction": []any{map[string]any{"text": b.text("dose"), "route": b.concept("route"),
			"timing": map[string]any{"code": map[string]any{"text": b.text("timing")}}}},
	}, false)
	b.add("MedicationStatement", b.id("ms"), map[string]any{
		"resourceType": "MedicationStatement", "id": b.pid + "-ms", "status": "active",
		"medicationCodeableConcept": b.concept("statement medicine"), "subject": b.subject(),
		"effectivePeriod": map[string]any{"start": when(60)}, "dateAsserted": when(6),
		"dosage": []any{map[string]any{"text": b.text("statement dose")}},
	}, true)
	b.add("Encounter", b.id("enc"), map[string]any{
		"resourceType": "Encounter", "id": b.pid + "-enc", "status": "finished",
		"class": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": b.text("class")},
		"type":  []any{b.concept("encounter type")}, "subject": b.subject(),
		"period":          map[string]any{"start": when(7), "end": when(7)},
		"location":        []any{map[string]any{"location": map[string]any{"display": b.text("ward"), "reference": HostileScriptURL}}},
		"serviceProvider": b.orgRef(),
	}, false)
	b.add("Procedure", b.id("proc"), map[string]any{
		"resourceType": "Procedure", "id": b.pid + "-proc", "status": "completed",
		"code": b.concept("procedure"), "subject": b.subject(), "performedDateTime": when(8),
		"bodySite": []any{b.concept("procedure site")},
	}, true)
	b.add("Condition", b.id("cond"), map[string]any{
		"resourceType": "Condition", "id": b.pid + "-cond",
		"clinicalStatus": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}}},
		"category":       []any{b.concept("condition category")}, "code": b.concept("problem"), "subject": b.subject(),
		"onsetDateTime": when(400), "recordedDate": when(9),
	}, false)
	b.add("AllergyIntolerance", b.id("alg"), map[string]any{
		"resourceType": "AllergyIntolerance", "id": b.pid + "-alg",
		"clinicalStatus":     map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}}},
		"verificationStatus": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}}},
		"category":           []string{"medication"}, "criticality": "high", "code": b.concept("allergen"),
		"patient": b.subject(), "recordedDate": when(10),
		"reaction": []any{map[string]any{"manifestation": []any{b.concept("reaction")}, "description": b.text("reaction description"), "severity": "severe"}},
	}, false)
	// Documents: one whose text is markup, with an oversized unbroken
	// title; one held elsewhere, whose only content is a script URL.
	b.add("DocumentReference", b.id("doc"), map[string]any{
		"resourceType": "DocumentReference", "id": b.pid + "-doc-text", "status": "current",
		"type": b.concept("letter type"), "subject": b.subject(), "date": when(11),
		"author":      []any{map[string]any{"display": b.text("author"), "reference": HostileScriptURL}},
		"custodian":   b.orgRef(),
		"description": HostilePayloads[0] + strings.Repeat("W", HostileTitleBytes),
		"content": []any{map[string]any{"attachment": map[string]any{"contentType": "text/html", "title": b.text("attachment"),
			"data": base64.StdEncoding.EncodeToString([]byte("<html><body>" + strings.Join(HostilePayloads, "<br>") + "</body></html>"))}}},
	}, false)
	b.add("DocumentReference", b.id("doc"), map[string]any{
		"resourceType": "DocumentReference", "id": b.pid + "-doc-url", "status": "current",
		"type": b.concept("referral type"), "subject": b.subject(), "date": when(12),
		"description": b.text("document held elsewhere"),
		"content":     []any{map[string]any{"attachment": map[string]any{"contentType": "application/pdf", "url": HostileScriptURL, "title": b.text("pdf")}}},
	}, false)

	b.add("Immunization", b.id("imm"), map[string]any{
		"resourceType": "Immunization", "id": b.pid + "-imm", "status": "completed",
		"vaccineCode": b.concept("vaccine"), "patient": b.subject(), "occurrenceDateTime": when(16),
		"lotNumber": b.text("lot"), "site": b.concept("vaccination site"), "route": b.concept("vaccination route"),
		"performer": []any{map[string]any{"actor": map[string]any{"display": b.text("vaccinator"), "reference": HostileScriptURL}}},
		"note":      []any{map[string]any{"text": b.text("vaccination note")}},
	}, false)
	b.add("Flag", b.id("flag"), map[string]any{
		"resourceType": "Flag", "id": b.pid + "-flag", "status": "active",
		"category": []any{b.concept("alert category")}, "code": b.concept("alert"), "subject": b.subject(),
		"period": map[string]any{"start": when(17)}, "author": map[string]any{"display": b.text("alert author"), "reference": HostileScriptURL},
	}, true)

	// What does not fit R4: each must be skipped and counted
	// (HostileUnreadable of them), but for the document, shown without its
	// content.
	b.add("Observation", b.id("bad"), map[string]any{
		"resourceType": "Observation", "id": b.pid + "-bad-status", "status": HostilePayloads[0],
		"code": b.concept("bad status"), "subject": b.subject(), "effectiveDateTime": when(13), "valueString": "x",
	}, false)
	b.add("Observation", b.id("bad"), map[string]any{
		"resourceType": "Observation", "status": "final",
		"code": b.concept("no id"), "subject": b.subject(), "effectiveDateTime": when(14), "valueString": "x",
	}, false)
	b.add("Condition", b.id("bad"), map[string]any{
		"resourceType": "Condition", "id": b.pid + "-bad-date",
		"code": b.concept("bad date"), "subject": b.subject(), "onsetDateTime": HostilePayloads[1],
	}, false)
	b.add("DocumentReference", b.id("bad"), map[string]any{
		"resourceType": "DocumentReference", "id": b.pid + "-bad-data", "status": "current",
		"type": b.concept("bad data"), "subject": b.subject(), "date": when(15),
		"content": []any{map[string]any{"attachment": map[string]any{"contentType": "text/plain", "data": "not base64 " + HostilePayloads[0]}}},
	}, false)
	b.add("MedicationRequest", b.id("bad"), map[string]any{
		"resourceType": "MedicationRequest", "id": b.pid + "-bad-type", "status": "active", "intent": "order",
		"medicationCodeableConcept": b.concept("wrong type"), "subject": b.subject(),
		"dosageInstruction": HostileScriptURL,
	}, false)
	b.addRaw("Procedure", b.id("bad"), `"<script>alert('not a resource')</script>"`)

	return b.dataset(true)
}

func nestingData(org Org) *dataset {
	b := newHostileBuilder(org)
	when := ts(DataDate.AddDate(0, 0, -20).Add(9 * time.Hour))
	b.add("Condition", b.id("cond"), map[string]any{
		"resourceType": "Condition", "id": b.pid + "-cond",
		"code":    map[string]any{"coding": []any{map[string]any{"system": sysSNOMED, "code": "38341003", "display": "Hypertension"}}, "text": "Hypertension (nesting test)"},
		"subject": map[string]any{"reference": "Patient/" + b.pid}, "onsetDateTime": when, "recordedDate": when,
	}, false)
	b.add("Observation", b.id("obs"), map[string]any{
		"resourceType": "Observation", "id": b.pid + "-obs-ok", "status": "final",
		"code":    map[string]any{"text": "Sodium (nesting test)"},
		"subject": map[string]any{"reference": "Patient/" + b.pid}, "effectiveDateTime": when,
		"valueQuantity": map[string]any{"value": 140, "unit": "mmol/L"},
	}, false)
	// One Observation whose extension nests HostileNesting levels deep,
	// written by hand: no encoder is asked to build it.
	var nest strings.Builder
	for range HostileNesting {
		nest.WriteString(`{"url":"https://example.org/nest","extension":[`)
	}
	nest.WriteString(`{"url":"https://example.org/nest","valueString":"bottom"}`)
	for range HostileNesting {
		nest.WriteString(`]}`)
	}
	b.addRaw("Observation", b.id("deep"), `{"resourceType":"Observation","id":"`+b.pid+`-obs-deep","status":"final",`+
		`"code":{"text":"Deeply nested (nesting test)"},"subject":{"reference":"Patient/`+b.pid+`"},`+
		`"effectiveDateTime":"`+when+`","valueString":"deep","extension":[`+nest.String()+`]}`)

	return b.dataset(false)
}
