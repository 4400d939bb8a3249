package synthetic

import "encoding/json"

// The servers write FHIR JSON from these small structs rather than from the
// fhir-models library the client reads with: the library's structs emit
// empty required fields (an empty medicationReference beside a
// medicationCodeableConcept, for instance), and writing the wire format
// independently means the demo checks the client against FHIR as written,
// not against the same library on both ends.

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type quantity struct {
	Value      json.Number `json:"value,omitempty"`
	Comparator string      `json:"comparator,omitempty"`
	Unit       string      `json:"unit,omitempty"`
	System     string      `json:"system,omitempty"`
	Code       string      `json:"code,omitempty"`
}

type refRange struct {
	Low  *quantity `json:"low,omitempty"`
	High *quantity `json:"high,omitempty"`
	Text string    `json:"text,omitempty"`
}

type meta struct {
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Profile     []string `json:"profile,omitempty"`
	Security    []coding `json:"security,omitempty"`
}

type attachment struct {
	ContentType string `json:"contentType,omitempty"`
	Data        string `json:"data,omitempty"`
	URL         string `json:"url,omitempty"`
	Title       string `json:"title,omitempty"`
	Creation    string `json:"creation,omitempty"`
}

type humanName struct {
	Use    string   `json:"use,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
}

type address struct {
	Use        string   `json:"use,omitempty"`
	Line       []string `json:"line,omitempty"`
	City       string   `json:"city,omitempty"`
	PostalCode string   `json:"postalCode,omitempty"`
}

type contactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Use    string `json:"use,omitempty"`
}

type patientRes struct {
	ResourceType        string           `json:"resourceType"`
	ID                  string           `json:"id"`
	Meta                *meta            `json:"meta,omitempty"`
	Identifier          []identifier     `json:"identifier"`
	Name                []humanName      `json:"name"`
	Telecom             []contactPoint   `json:"telecom,omitempty"`
	Gender              string           `json:"gender"`
	BirthDate           string           `json:"birthDate"`
	DeceasedDateTime    string           `json:"deceasedDateTime,omitempty"`
	Address             []address        `json:"address,omitempty"`
	GeneralPractitioner []reference      `json:"generalPractitioner,omitempty"`
	Contact             []patientContact `json:"contact,omitempty"`
}

type patientContact struct {
	Relationship []concept      `json:"relationship,omitempty"`
	Name         *humanName     `json:"name,omitempty"`
	Telecom      []contactPoint `json:"telecom,omitempty"`
}

type component struct {
	Code             concept    `json:"code"`
	ValueQuantity    *quantity  `json:"valueQuantity,omitempty"`
	DataAbsentReason *concept   `json:"dataAbsentReason,omitempty"`
	Interpretation   []concept  `json:"interpretation,omitempty"`
	ReferenceRange   []refRange `json:"referenceRange,omitempty"`
}

type annotation struct {
	Text string `json:"text"`
}

type observationRes struct {
	ResourceType      string       `json:"resourceType"`
	ID                string       `json:"id"`
	Status            string       `json:"status"`
	Category          []concept    `json:"category,omitempty"`
	Code              concept      `json:"code"`
	Subject           reference    `json:"subject"`
	EffectiveDateTime string       `json:"effectiveDateTime,omitempty"`
	Issued            string       `json:"issued,omitempty"`
	Performer         []reference  `json:"performer,omitempty"`
	ValueQuantity     *quantity    `json:"valueQuantity,omitempty"`
	ValueString       string       `json:"valueString,omitempty"`
	DataAbsentReason  *concept     `json:"dataAbsentReason,omitempty"`
	Interpretation    []concept    `json:"interpretation,omitempty"`
	Note              []annotation `json:"note,omitempty"`
	ReferenceRange    []refRange   `json:"referenceRange,omitempty"`
	Component         []component  `json:"component,omitempty"`
}

type diagnosticReportRes struct {
	ResourceType      string           `json:"resourceType"`
	ID                string           `json:"id"`
	Contained         []observationRes `json:"contained,omitempty"`
	Status            string           `json:"status"`
	Category          []concept        `json:"category,omitempty"`
	Code              concept          `json:"code"`
	Subject           reference        `json:"subject"`
	EffectiveDateTime string           `json:"effectiveDateTime,omitempty"`
	Issued            string           `json:"issued,omitempty"`
	Performer         []reference      `json:"performer,omitempty"`
	Result            []reference      `json:"result,omitempty"`
	ImagingStudy      []reference      `json:"imagingStudy,omitempty"`
	Conclusion        string           `json:"conclusion,omitempty"`
	PresentedForm     []attachment     `json:"presentedForm,omitempty"`
}

type imagingSeries struct {
	UID      string  `json:"uid"`
	Modality coding  `json:"modality"`
	BodySite *coding `json:"bodySite,omitempty"`
}

type imagingStudyRes struct {
	ResourceType  string          `json:"resourceType"`
	ID            string          `json:"id"`
	Status        string          `json:"status"`
	Modality      []coding        `json:"modality,omitempty"`
	Subject       reference       `json:"subject"`
	Started       string          `json:"started,omitempty"`
	ProcedureCode []concept       `json:"procedureCode,omitempty"`
	Location      *reference      `json:"location,omitempty"`
	Description   string          `json:"description,omitempty"`
	Series        []imagingSeries `json:"series,omitempty"`
}

type timingRepeat struct {
	Frequency  int    `json:"frequency,omitempty"`
	Period     int    `json:"period,omitempty"`
	PeriodUnit string `json:"periodUnit,omitempty"`
}

type timing struct {
	Repeat *timingRepeat `json:"repeat,omitempty"`
	Code   *concept      `json:"code,omitempty"`
}

type doseAndRate struct {
	DoseQuantity *quantity `json:"doseQuantity,omitempty"`
}

type dosage struct {
	Text        string        `json:"text,omitempty"`
	Timing      *timing       `json:"timing,omitempty"`
	AsNeeded    bool          `json:"asNeededBoolean,omitempty"`
	Route       *concept      `json:"route,omitempty"`
	DoseAndRate []doseAndRate `json:"doseAndRate,omitempty"`
}

type medicationRes struct {
	ResourceType string  `json:"resourceType"`
	ID           string  `json:"id"`
	Code         concept `json:"code"`
}

type dispenseRequest struct {
	ValidityPeriod *period `json:"validityPeriod,omitempty"`
}

type medicationRequestRes struct {
	ResourceType              string           `json:"resourceType"`
	ID                        string           `json:"id"`
	Contained                 []medicationRes  `json:"contained,omitempty"`
	Status                    string           `json:"status"`
	Intent                    string           `json:"intent"`
	MedicationCodeableConcept *concept         `json:"medicationCodeableConcept,omitempty"`
	MedicationReference       *reference       `json:"medicationReference,omitempty"`
	Subject                   reference        `json:"subject"`
	AuthoredOn                string           `json:"authoredOn,omitempty"`
	Requester                 *reference       `json:"requester,omitempty"`
	DosageInstruction         []dosage         `json:"dosageInstruction,omitempty"`
	DispenseRequest           *dispenseRequest `json:"dispenseRequest,omitempty"`
}

type medicationStatementRes struct {
	ResourceType              string    `json:"resourceType"`
	ID                        string    `json:"id"`
	Status                    string    `json:"status"`
	MedicationCodeableConcept *concept  `json:"medicationCodeableConcept,omitempty"`
	Subject                   reference `json:"subject"`
	EffectivePeriod           *period   `json:"effectivePeriod,omitempty"`
	DateAsserted              string    `json:"dateAsserted,omitempty"`
	Dosage                    []dosage  `json:"dosage,omitempty"`
}

type encounterLocation struct {
	Location reference `json:"location"`
}

type encounterRes struct {
	ResourceType    string              `json:"resourceType"`
	ID              string              `json:"id"`
	Status          string              `json:"status"`
	Class           coding              `json:"class"`
	Type            []concept           `json:"type,omitempty"`
	Subject         reference           `json:"subject"`
	Period          *period             `json:"period,omitempty"`
	Location        []encounterLocation `json:"location,omitempty"`
	ServiceProvider *reference          `json:"serviceProvider,omitempty"`
}

type procedureRes struct {
	ResourceType      string    `json:"resourceType"`
	ID                string    `json:"id"`
	Status            string    `json:"status"`
	Code              concept   `json:"code"`
	Subject           reference `json:"subject"`
	PerformedDateTime string    `json:"performedDateTime,omitempty"`
	BodySite          []concept `json:"bodySite,omitempty"`
}

type conditionRes struct {
	ResourceType       string    `json:"resourceType"`
	ID                 string    `json:"id"`
	ClinicalStatus     *concept  `json:"clinicalStatus,omitempty"`
	VerificationStatus *concept  `json:"verificationStatus,omitempty"`
	Category           []concept `json:"category,omitempty"`
	Code               concept   `json:"code"`
	Subject            reference `json:"subject"`
	OnsetDateTime      string    `json:"onsetDateTime,omitempty"`
	AbatementDateTime  string    `json:"abatementDateTime,omitempty"`
	RecordedDate       string    `json:"recordedDate,omitempty"`
}

type allergyReaction struct {
	Manifestation []concept `json:"manifestation"`
	Severity      string    `json:"severity,omitempty"`
}

type allergyRes struct {
	ResourceType       string            `json:"resourceType"`
	ID                 string            `json:"id"`
	ClinicalStatus     *concept          `json:"clinicalStatus,omitempty"`
	VerificationStatus *concept          `json:"verificationStatus,omitempty"`
	Category           []string          `json:"category,omitempty"`
	Criticality        string            `json:"criticality,omitempty"`
	Code               concept           `json:"code"`
	Patient            reference         `json:"patient"`
	RecordedDate       string            `json:"recordedDate,omitempty"`
	Reaction           []allergyReaction `json:"reaction,omitempty"`
}

type docContent struct {
	Attachment attachment `json:"attachment"`
}

type documentReferenceRes struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Status       string       `json:"status"`
	Type         concept      `json:"type"`
	Category     []concept    `json:"category,omitempty"`
	Subject      reference    `json:"subject"`
	Date         string       `json:"date,omitempty"`
	Author       []reference  `json:"author,omitempty"`
	Custodian    *reference   `json:"custodian,omitempty"`
	Description  string       `json:"description,omitempty"`
	Content      []docContent `json:"content"`
}

type immunizationRes struct {
	ResourceType       string      `json:"resourceType"`
	ID                 string      `json:"id"`
	Status             string      `json:"status"`
	VaccineCode        concept     `json:"vaccineCode"`
	Patient            reference   `json:"patient"`
	OccurrenceDateTime string      `json:"occurrenceDateTime"`
	PrimarySource      bool        `json:"primarySource"`
	Location           *reference  `json:"location,omitempty"`
	LotNumber          string      `json:"lotNumber,omitempty"`
	Site               *concept    `json:"site,omitempty"`
	Route              *concept    `json:"route,omitempty"`
	DoseQuantity       *quantity   `json:"doseQuantity,omitempty"`
	Performer          []performer `json:"performer,omitempty"`
	ProtocolApplied    []protocol  `json:"protocolApplied,omitempty"`
}

type performer struct {
	Actor reference `json:"actor"`
}

type protocol struct {
	DoseNumberPositiveInt  int `json:"doseNumberPositiveInt"`
	SeriesDosesPositiveInt int `json:"seriesDosesPositiveInt,omitempty"`
}

type flagRes struct {
	ResourceType string     `json:"resourceType"`
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	Category     []concept  `json:"category,omitempty"`
	Code         concept    `json:"code"`
	Subject      reference  `json:"subject"`
	Period       *period    `json:"period,omitempty"`
	Author       *reference `json:"author,omitempty"`
}

type binaryRes struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	ContentType  string `json:"contentType"`
	Data         []byte `json:"data"`
}

type issue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics,omitempty"`
}

type operationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []issue `json:"issue"`
}
