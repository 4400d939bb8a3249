package fhir_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
)

const testNHS = "9990000018"

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// bundleJSON wraps resources in a searchset Bundle, with a next link when
// next is not empty.
func bundleJSON(resources []string, next string) string {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","type":"searchset","total":` + fmt.Sprint(len(resources)))
	if next != "" {
		b.WriteString(`,"link":[{"relation":"self","url":"x"},{"relation":"next","url":"` + next + `"}]`)
	}
	b.WriteString(`,"entry":[`)
	for i, r := range resources {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"fullUrl":"urn:x:` + fmt.Sprint(i) + `","resource":` + r + `,"search":{"mode":"match"}}`)
	}
	b.WriteString("]}")
	return b.String()
}

const patientJSON = `{
  "resourceType": "Patient", "id": "p1",
  "meta": {"versionId": "3", "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]},
  "extension": [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory", "valueCodeableConcept": {"text": "x"}}],
  "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}, {"system": "https://trust.example/mrn", "value": "MRN1"}],
  "name": [{"use": "old", "family": "Jones", "given": ["Jane"]}, {"use": "official", "prefix": ["Mrs"], "family": "Smith", "given": ["Jane", "Ann"]}],
  "gender": "female", "birthDate": "1965-03-12",
  "telecom": [{"system": "email", "value": "x@example.invalid"}, {"system": "phone", "use": "work", "value": "020 7946 0999"}, {"system": "phone", "use": "home", "value": "020 7946 0001"}],
  "address": [{"use": "home", "line": ["Old House"], "postalCode": "SE1 1ZZ", "period": {"start": "1990-01-01", "end": "2000-01-01"}},
              {"use": "home", "line": ["12 Imaginary Road", "Camberwell"], "city": "London", "postalCode": "SE5 9ZZ"}],
  "generalPractitioner": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "G85991"}, "display": "Fictional Green Surgery"}]
}`

// recordResources holds at least one resource of every type the client
// reads, written as a source would send them, including the awkward parts.
var recordResources = map[string][]string{
	"Observation": {
		// Haemoglobin, low, in a full blood count report.
		`{"resourceType":"Observation","id":"hb1","status":"final",
		  "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
		  "code":{"coding":[{"system":"http://loinc.org","code":"718-7","display":"Hemoglobin [Mass/volume] in Blood"}],"text":"Haemoglobin"},
		  "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-02-03T09:15:00+00:00",
		  "valueQuantity":{"value":98,"unit":"g/L","system":"http://unitsofmeasure.org","code":"g/L"},
		  "interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"L","display":"Low"}]}],
		  "referenceRange":[{"low":{"value":115,"unit":"g/L"},"high":{"value":165,"unit":"g/L"}}],
		  "unknownFutureField":{"nested":true}}`,
		// Platelets, in the same report, with a period and an extension.
		`{"resourceType":"Observation","id":"plt1","status":"final",
		  "extension":[{"url":"https://example.invalid/ext","valueString":"ignored"}],
		  "code":{"coding":[{"system":"http://loinc.org","code":"777-3","display":"Platelets [#/volume] in Blood"}]},
		  "effectivePeriod":{"start":"2024-02-03T09:15:00Z","end":"2024-02-03T09:20:00Z"},
		  "valueQuantity":{"value":250.0,"unit":"10*9/L"},
		  "interpretation":[{"coding":[{"code":"N"}]}],
		  "referenceRange":[{"text":"150 - 400"}]}`,
		// Potassium, critically high, comparator, in a panel observation.
		`{"resourceType":"Observation","id":"k1","status":"final",
		  "code":{"coding":[{"system":"http://loinc.org","code":"2823-3","display":"Potassium"}]},
		  "effectiveDateTime":"2023-11-20","valueQuantity":{"value":6.9,"comparator":">","unit":"mmol/L"},
		  "interpretation":[{"coding":[{"code":"HH"}]}],"note":[{"text":"Haemolysed sample"}]}`,
		`{"resourceType":"Observation","id":"ue-panel","status":"final",
		  "code":{"text":"Urea and electrolytes"},"effectiveDateTime":"2023-11-20","hasMember":[{"reference":"Observation/k1"}]}`,
		// Comparator escaped as encoders such as Go's write it.
		`{"resourceType":"Observation","id":"egfr1","status":"final","code":{"text":"eGFR"},"effectiveDateTime":"2023-11-20",
		  "valueQuantity":{"value":90,"comparator":"\u003e","unit":"mL/min/1.73m2"}}`,
		// Text and coded values.
		`{"resourceType":"Observation","id":"covid","status":"final","code":{"text":"SARS-CoV-2 RNA"},
		  "effectiveDateTime":"2022-01-05T10:00:00Z","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260385009","display":"Negative"}]}}`,
		`{"resourceType":"Observation","id":"note1","status":"preliminary","code":{"text":"Urine appearance"},
		  "effectiveDateTime":"2022-01-06T10:00:00Z","valueString":"Cloudy"}`,
		// Blood pressure as components.
		`{"resourceType":"Observation","id":"bp1","status":"final","code":{"text":"Blood pressure"},"effectiveDateTime":"2022-01-07T10:00:00Z",
		  "component":[{"code":{"text":"Systolic"},"valueQuantity":{"value":150,"unit":"mmHg"}},{"code":{"text":"Diastolic"},"valueQuantity":{"value":95,"unit":"mmHg"}}]}`,
		// Entered in error: dropped, not counted as skipped.
		`{"resourceType":"Observation","id":"eie","status":"entered-in-error","code":{"text":"Sodium"},"valueQuantity":{"value":1}}`,
		// Not R4: an unknown status code. Skipped and counted.
		`{"resourceType":"Observation","id":"bad1","status":"bogus","code":{"text":"Sodium"}}`,
		// Not an object at all. Skipped and counted.
		`"garbage"`,
		// An unreadable date. Skipped and counted.
		`{"resourceType":"Observation","id":"bad2","status":"final","code":{"text":"Sodium"},"effectiveDateTime":"yesterday"}`,
	},
	"DiagnosticReport": {
		`{"resourceType":"DiagnosticReport","id":"fbc1","status":"final",
		  "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0074","code":"HM"}]}],
		  "code":{"coding":[{"system":"http://loinc.org","code":"58410-2"}],"text":"Full blood count"},
		  "effectiveDateTime":"2024-02-03T09:15:00Z",
		  "result":[{"reference":"Observation/hb1"},{"reference":"https://fhir.example/R4/Observation/plt1/_history/2"}]}`,
		// Radiology report on the CT study below: merged into the study.
		`{"resourceType":"DiagnosticReport","id":"ctrep","status":"final",
		  "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0074","code":"RAD","display":"Radiology"}]}],
		  "code":{"text":"CT head report"},"effectiveDateTime":"2023-06-01T14:00:00Z",
		  "imagingStudy":[{"reference":"ImagingStudy/ct1"}],
		  "conclusion":"No acute intracranial abnormality.",
		  "presentedForm":[{"contentType":"text/plain","data":"` + b64("CT HEAD WITHOUT CONTRAST\nNo haemorrhage.") + `"}]}`,
		// Radiology report with no study: stands alone.
		`{"resourceType":"DiagnosticReport","id":"cxr","status":"final",
		  "category":[{"coding":[{"system":"http://loinc.org","code":"LP29684-5","display":"Radiology"}]}],
		  "code":{"coding":[{"system":"http://snomed.info/sct","code":"399208008","display":"Plain chest X-ray"}]},
		  "effectiveDateTime":"2021-09-09T08:00:00Z","conclusion":"Clear lung fields."}`,
		// Narrative-only lab report.
		`{"resourceType":"DiagnosticReport","id":"histo","status":"final","code":{"text":"Skin biopsy histology"},
		  "effectiveDateTime":"2020-03-03T08:00:00Z","conclusion":"Benign naevus.",
		  "presentedForm":[{"contentType":"text/plain","data":"` + b64("Macroscopy: ellipse of skin.") + `"}]}`,
	},
	"ImagingStudy": {
		`{"resourceType":"ImagingStudy","id":"ct1","status":"available","subject":{"reference":"Patient/p1"},
		  "started":"2023-06-01T13:30:00Z","modality":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"CT"}],
		  "procedureCode":[{"coding":[{"system":"http://snomed.info/sct","code":"303653007","display":"CT of head"}]}],
		  "series":[{"uid":"1.2.3","modality":{"code":"CT"},"bodySite":{"system":"http://snomed.info/sct","code":"69536005","display":"Head structure"}}]}`,
	},
	"MedicationRequest": {
		`{"resourceType":"MedicationRequest","id":"mr1","status":"active","intent":"order",
		  "contained":[{"resourceType":"Medication","id":"med1","code":{"coding":[{"system":"https://dmd.nhs.uk","code":"42109611000001108","display":"Metformin 500mg tablets"}]}}],
		  "medicationReference":{"reference":"#med1"},"subject":{"reference":"Patient/p1"},"authoredOn":"2019-05-01",
		  "dosageInstruction":[{"text":"One tablet twice a day with meals","route":{"coding":[{"system":"http://snomed.info/sct","code":"26643006","display":"Oral"}]},
		    "timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}},
		    "doseAndRate":[{"doseQuantity":{"value":500,"unit":"mg"}}]}]}`,
		`{"resourceType":"MedicationRequest","id":"mr-bad","status":"active","intent":"order","subject":{"reference":"Patient/p1"},
		  "medicationReference":{"reference":"#missing"},"contained":[]}`,
	},
	"MedicationStatement": {
		`{"resourceType":"MedicationStatement","id":"ms1","status":"completed",
		  "medicationCodeableConcept":{"coding":[{"system":"https://dmd.nhs.uk","code":"39732311000001104","display":"Amoxicillin 500mg capsules"}]},
		  "subject":{"reference":"Patient/p1"},"effectivePeriod":{"start":"2021-01-10","end":"2021-01-17"},
		  "dosage":[{"text":"500mg three times a day","asNeededBoolean":false,"timing":{"code":{"text":"Three times a day"}}}]}`,
	},
	"Encounter": {
		`{"resourceType":"Encounter","id":"enc1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},
		  "type":[{"coding":[{"system":"http://snomed.info/sct","code":"183452005","display":"Emergency hospital admission"}]}],
		  "subject":{"reference":"Patient/p1"},"period":{"start":"2023-06-01T12:00:00Z","end":"2023-06-04T10:00:00Z"},
		  "location":[{"location":{"display":"Princess Royal University Hospital"}}]}`,
		`{"resourceType":"Encounter","id":"enc2","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},
		  "period":{"start":"2024-05-01T10:00:00+01:00"},"serviceProvider":{"display":"Diabetes clinic"}}`,
	},
	"Procedure": {
		`{"resourceType":"Procedure","id":"proc1","status":"completed",
		  "code":{"coding":[{"system":"http://snomed.info/sct","code":"73761001","display":"Colonoscopy"}]},
		  "subject":{"reference":"Patient/p1"},"performedPeriod":{"start":"2018-07-07T09:00:00Z","end":"2018-07-07T09:40:00Z"},
		  "bodySite":[{"text":"Colon"}]}`,
	},
	"Condition": {
		`{"resourceType":"Condition","id":"c1",
		  "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
		  "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}]},
		  "code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Type 2 diabetes mellitus"}]},
		  "subject":{"reference":"Patient/p1"},"onsetDateTime":"2019-04-01"}`,
		`{"resourceType":"Condition","id":"c2",
		  "clinicalStatus":{"coding":[{"code":"resolved"}]},
		  "code":{"coding":[{"system":"http://snomed.info/sct","code":"233604007","display":"Pneumonia"}]},
		  "subject":{"reference":"Patient/p1"},"onsetDateTime":"2020-12-01","abatementDateTime":"2021-01-02"}`,
		`{"resourceType":"Condition","id":"c3","verificationStatus":{"coding":[{"code":"refuted"}]},
		  "code":{"text":"Asthma"},"subject":{"reference":"Patient/p1"}}`,
	},
	"AllergyIntolerance": {
		`{"resourceType":"AllergyIntolerance","id":"a1","clinicalStatus":{"coding":[{"code":"active"}]},"criticality":"high",
		  "code":{"coding":[{"system":"http://snomed.info/sct","code":"764146007","display":"Penicillin"}]},
		  "patient":{"reference":"Patient/p1"},"recordedDate":"2010-02-02",
		  "reaction":[{"manifestation":[{"coding":[{"system":"http://snomed.info/sct","code":"39579001","display":"Anaphylaxis"}]}],"severity":"severe"}]}`,
		`{"resourceType":"AllergyIntolerance","id":"nka","clinicalStatus":{"coding":[{"code":"active"}]},
		  "code":{"coding":[{"system":"http://snomed.info/sct","code":"716186003","display":"No known allergy"}]},
		  "patient":{"reference":"Patient/p1"},"recordedDate":"2024-01-01"}`,
	},
	"DocumentReference": {
		`{"resourceType":"DocumentReference","id":"d1","status":"current",
		  "type":{"coding":[{"system":"http://snomed.info/sct","code":"373942005","display":"Discharge summary"}]},
		  "subject":{"reference":"Patient/p1"},"date":"2023-06-04T11:00:00Z","author":[{"display":"Dr A Fictional"}],
		  "content":[{"attachment":{"contentType":"text/plain","data":"` + b64("Discharged home. Follow up in clinic.") + `"}}]}`,
		`{"resourceType":"DocumentReference","id":"d2","status":"current","type":{"text":"Clinic letter"},"date":"2024-05-01",
		  "description":"Diabetes clinic letter",
		  "content":[{"attachment":{"contentType":"application/pdf","data":"` + b64("%PDF-1.4 fake") + `"}}]}`,
		`{"resourceType":"DocumentReference","id":"d3","status":"current","type":{"text":"Clinic letter"},"date":"2024-06-01",
		  "content":[{"attachment":{"contentType":"application/pdf","url":"https://fhir.example/R4/Binary/d3"}}]}`,
		`{"resourceType":"DocumentReference","id":"d-bad","status":"current","type":{"text":"Clinic letter"},
		  "content":[{"attachment":{"contentType":"text/plain","data":"***not base64***"}}]}`,
	},
}

// fakeSource is a FHIR server holding one patient, p1, with the resources
// above. It checks what every request must carry.
type fakeSource struct {
	t         *testing.T
	patient   string
	resources map[string][]string
	// override answers requests for one resource type differently.
	override map[string]http.HandlerFunc
}

func (f *fakeSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Searches and reads ask for FHIR JSON only; a document's content
	// may come as a Binary or as itself.
	if got := r.Header.Get("Accept"); !strings.HasPrefix(got, "application/fhir+json") {
		f.t.Errorf("Accept = %q", got)
	}
	typ := path.Base(r.URL.Path)
	if h, ok := f.override[typ]; ok {
		h(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	q := r.URL.Query()
	if typ == "Patient" {
		if q.Get("identifier") == "https://fhir.nhs.uk/Id/nhs-number|"+testNHS {
			fmt.Fprint(w, bundleJSON([]string{f.patient}, ""))
			return
		}
		fmt.Fprint(w, bundleJSON(nil, ""))
		return
	}
	if got := q.Get("patient"); got != "Patient/p1" {
		f.t.Errorf("%s search patient = %q, want Patient/p1", typ, got)
	}
	fmt.Fprint(w, bundleJSON(f.resources[typ], ""))
}

func newFake(t *testing.T) (*fakeSource, *httptest.Server) {
	f := &fakeSource{t: t, patient: patientJSON, resources: recordResources, override: map[string]http.HandlerFunc{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func testConfig(baseURL string) connectors.Config {
	return connectors.Config{Name: "Test Trust", ODS: "RXX", Kind: "fhir", BaseURL: baseURL + "/R4"}
}

func newClient(t *testing.T, cfg connectors.Config) *fhir.Client {
	t.Helper()
	c, err := fhir.New(cfg, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
