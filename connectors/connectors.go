// Package connectors holds the clinical model that every source of patient
// information returns (patients, timeline entries and where they came from)
// and the Connector interface that each kind of source system implements in
// its own subpackage (connectors/fhir, ...).
//
// It is the bottom of the dependency graph: a connector must never import
// the web server or the store, and must never log clinical content (names,
// addresses, results, letters). Errors carry the source and what went wrong,
// never patient data, because they end up in logs and on pages.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Code systems used in the model. Codes keep the system they came with; these
// are the ones the product understands and shows.
const (
	SystemSNOMED = "http://snomed.info/sct"
	SystemLOINC  = "http://loinc.org"
	SystemDMD    = "https://dmd.nhs.uk"
)

// Source is the organisation a patient record or entry came from.
type Source struct {
	Name string `json:"name"`
	ODS  string `json:"ods"` // Organisation Data Service code, e.g. "RJZ"
}

func (s Source) String() string {
	if s.ODS == "" || s.Withheld() {
		return s.Name
	}
	return s.Name + " (" + s.ODS + ")"
}

// withheldPrefix begins the stand-in code of a source whose name and ODS
// code are withheld; no real ODS code has a hyphen.
const withheldPrefix = "withheld-"

// RegisteredPractice stands in for a restricted patient's registered GP
// practice wherever the record would name it: the practice's name and code
// would say where the patient lives. Its ODS is a stand-in that keeps
// entries' keys and the source filter working, never shown.
func RegisteredPractice() Source {
	return Source{Name: "The patient's registered GP practice", ODS: withheldPrefix + "gp"}
}

// OtherPractice stands in for the nth other GP practice (n from 1) on a
// restricted patient's record: naming the others would name the
// registered practice by elimination.
func OtherPractice(n int) Source {
	return Source{Name: "Another GP practice (name withheld)", ODS: withheldPrefix + "gp-" + strconv.Itoa(n)}
}

// Withheld reports whether s stands in for a source whose name is
// withheld (RegisteredPractice, OtherPractice).
func (s Source) Withheld() bool { return strings.HasPrefix(s.ODS, withheldPrefix) }

// gpPracticeCode is the form of a GP practice's ODS code: a letter and
// five digits ("G85001"); Trusts have three characters, their sites five.
var gpPracticeCode = regexp.MustCompile(`^[A-Z][0-9]{5}$`)

// IsGPPracticeCode reports whether ods has the form of a GP practice's
// ODS code.
func IsGPPracticeCode(ods string) bool { return gpPracticeCode.MatchString(ods) }

// Organisation is an organisation a patient is linked to, such as the
// registered GP practice.
type Organisation struct {
	Name string `json:"name"`
	ODS  string `json:"ods"`
}

// Patient is one patient as a source knows them. Demographics from different
// sources may disagree; each Patient carries the Source it came from.
type Patient struct {
	// NHSNumber is 10 digits without spaces; empty if the source holds none.
	NHSNumber string `json:"nhs_number"`
	// SourceID is the patient's identifier at the source (FHIR logical id).
	SourceID string   `json:"source_id,omitempty"`
	Title    string   `json:"title,omitempty"`
	Given    []string `json:"given,omitempty"`
	Family   string   `json:"family"`
	// BirthDate is a calendar date, not an instant: see Date.
	BirthDate Date `json:"birth_date"`
	// Deceased is true when the source says the patient has died, whether
	// or not it gives a date of death.
	Deceased  bool  `json:"deceased,omitempty"`
	DeathDate *Date `json:"death_date,omitempty"`
	// Gender is one of the Gender constants.
	Gender       string       `json:"gender"`
	AddressLines []string     `json:"address_lines,omitempty"`
	Postcode     string       `json:"postcode,omitempty"`
	Phone        string       `json:"phone,omitempty"`
	RegisteredGP Organisation `json:"registered_gp"`
	// Contacts are the people to contact about the patient (next of kin,
	// emergency contacts), as the source holds them.
	Contacts []Contact `json:"contacts,omitempty"`
	// Restricted marks a sensitive record: the patient's address, phone
	// and GP practice must never be shown or stored. Connectors blank those
	// fields themselves so that nothing downstream can leak them.
	Restricted bool   `json:"restricted,omitempty"`
	Source     Source `json:"source"`
}

// Gender values, as FHIR AdministrativeGender.
const (
	GenderMale    = "male"
	GenderFemale  = "female"
	GenderOther   = "other"
	GenderUnknown = "unknown"
)

// DisplayName gives the name as NHS clinical screens show it:
// "SMITH, Jane (Mrs)".
func (p *Patient) DisplayName() string {
	var b strings.Builder
	b.WriteString(strings.ToUpper(p.Family))
	if len(p.Given) > 0 {
		b.WriteString(", ")
		b.WriteString(strings.Join(p.Given, " "))
	}
	if p.Title != "" {
		b.WriteString(" (" + p.Title + ")")
	}
	return b.String()
}

// Redact blanks what a restricted record must never show. Connectors call it
// for every restricted patient they return.
func (p *Patient) Redact() {
	if !p.Restricted {
		return
	}
	p.AddressLines = nil
	p.Postcode = ""
	p.Phone = ""
	p.RegisteredGP = Organisation{}
	// A relative's name and phone can lead to the patient as surely as
	// their own address.
	p.Contacts = nil
}

// Contact is someone to contact about the patient (FHIR Patient.contact).
type Contact struct {
	// Relationship is in words ("Next-of-Kin", "Wife"), each of the
	// source's relationships joined with ", ".
	Relationship string `json:"relationship,omitempty"`
	Name         string `json:"name,omitempty"`
	Phone        string `json:"phone,omitempty"`
}

// Kind is the kind of a timeline entry.
type Kind string

// Kinds of timeline entry. Each has its own typed detail on Entry.
const (
	KindResult     Kind = "result"
	KindImaging    Kind = "imaging"
	KindMedication Kind = "medication"
	KindEncounter  Kind = "encounter"
	KindProcedure  Kind = "procedure"
	KindProblem    Kind = "problem"
	KindAllergy    Kind = "allergy"
	KindDocument   Kind = "document"
	// KindImmunization is a vaccination given (or recorded as not given).
	KindImmunization Kind = "immunization"
	// KindAlert is a flag on the record (FHIR Flag): safeguarding,
	// reasonable adjustments and other warnings shown beside the banner.
	KindAlert Kind = "alert"
)

// Kinds lists every Kind in the order the product presents filters.
var Kinds = []Kind{KindResult, KindImaging, KindMedication, KindEncounter,
	KindProcedure, KindProblem, KindAllergy, KindDocument, KindImmunization, KindAlert}

// Code is a coded concept, keeping the system it came from.
type Code struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// Entry is one item on the patient's timeline: a result, a scan, a medicine,
// and so on. Exactly one of the detail pointers is set, matching Kind.
type Entry struct {
	Kind Kind `json:"kind"`
	// ID identifies the item at its source, as "ResourceType/id" for FHIR
	// sources; together with Source.ODS it is unique (see Key).
	ID     string `json:"id"`
	Source Source `json:"source"`
	// Date is the clinical date (when the test was taken, the medicine
	// started, the encounter began), in UTC. Zero when the source gave none.
	// For a date without a time, or a partial date, it is the start of that
	// day, month or year (midnight UTC) and Precision says so.
	Date time.Time `json:"date"`
	// Precision is how much of Date the source gave: a page shows no time
	// for PrecisionDay, and only "May-1957" or "1957" for a partial date.
	Precision Precision `json:"precision,omitempty"`
	// Fetched is when the connector read the entry from the source; the
	// timeline shows how fresh each entry is from it.
	Fetched time.Time `json:"fetched"`
	Codes   []Code    `json:"codes,omitempty"`
	// Title is the human text of the item ("Haemoglobin", "Plain chest X-ray").
	Title string `json:"title"`

	Result     *Result     `json:"result,omitempty"`
	Imaging    *Imaging    `json:"imaging,omitempty"`
	Medication *Medication `json:"medication,omitempty"`
	Encounter  *Encounter  `json:"encounter,omitempty"`
	Procedure  *Procedure  `json:"procedure,omitempty"`
	Problem    *Problem    `json:"problem,omitempty"`
	Allergy    *Allergy    `json:"allergy,omitempty"`
	Document   *Document   `json:"document,omitempty"`
	// Immunization and Alert are set for KindImmunization and KindAlert.
	Immunization *Immunization `json:"immunization,omitempty"`
	Alert        *Alert        `json:"alert,omitempty"`
}

// When returns the entry's clinical date with its precision.
func (e *Entry) When() When { return When{Time: e.Date, Precision: e.Precision} }

// Key identifies the entry across sources: the source's ODS code and the
// entry's identifier there.
func (e *Entry) Key() string { return e.Source.ODS + "/" + e.ID }

// Code returns the entry's first code in the given system.
func (e *Entry) Code(system string) (Code, bool) {
	for _, c := range e.Codes {
		if c.System == system {
			return c, true
		}
	}
	return Code{}, false
}

// SortNewestFirst orders entries by clinical date, newest first; entries
// without a date go last. Ties keep a stable, deterministic order by key so
// that a merged timeline does not shuffle between page loads.
func SortNewestFirst(entries []Entry) {
	slices.SortStableFunc(entries, func(a, b Entry) int {
		switch {
		case a.Date.IsZero() != b.Date.IsZero():
			if a.Date.IsZero() {
				return 1
			}
			return -1
		case !a.Date.Equal(b.Date):
			return b.Date.Compare(a.Date)
		}
		return strings.Compare(a.Key(), b.Key())
	})
}

// Flag is an abnormal flag on a result, from the FHIR Observation
// interpretation codes (v3 ObservationInterpretation).
type Flag string

// Flags. FlagNone means the source gave no interpretation.
const (
	FlagNone             Flag = ""
	FlagNormal           Flag = "N"
	FlagHigh             Flag = "H"
	FlagLow              Flag = "L"
	FlagCriticalHigh     Flag = "HH"
	FlagCriticalLow      Flag = "LL"
	FlagAbnormal         Flag = "A"
	FlagCriticalAbnormal Flag = "AA"
)

// Abnormal reports whether the flag marks the result as outside normal.
func (f Flag) Abnormal() bool { return f != FlagNone && f != FlagNormal }

// Critical reports whether the flag marks the result as critically abnormal.
func (f Flag) Critical() bool {
	return f == FlagCriticalHigh || f == FlagCriticalLow || f == FlagCriticalAbnormal
}

// Label is the word a clinical screen shows for the flag.
func (f Flag) Label() string {
	switch f {
	case FlagNormal:
		return "Normal"
	case FlagHigh:
		return "High"
	case FlagLow:
		return "Low"
	case FlagCriticalHigh:
		return "Critically high"
	case FlagCriticalLow:
		return "Critically low"
	case FlagAbnormal:
		return "Abnormal"
	case FlagCriticalAbnormal:
		return "Critically abnormal"
	}
	return ""
}

// Result is a test result (pathology, observation).
type Result struct {
	// Value is the result as the source wrote it ("4.2", "Positive",
	// "1:64", "14:30"), so that nothing is lost by number formatting. It
	// never includes the comparator: a page shows Comparator then Value.
	Value string `json:"value"`
	// Numeric is the value as a number when the source gave a quantity.
	Numeric *float64 `json:"numeric,omitempty"`
	// Comparator is "<", "<=", ">=" or ">" when the value is a bound.
	Comparator string `json:"comparator,omitempty"`
	Units      string `json:"units,omitempty"`
	// Absent says why there is no value (FHIR dataAbsentReason: "Not
	// performed", "Error"...); Value is then empty.
	Absent string `json:"absent,omitempty"`
	// Range is the reference range a page shows beside the value: the
	// normal range that applies to this patient where the source says
	// which; sources differ.
	Range RefRange `json:"range,omitzero"`
	// OtherRanges are the source's other reference ranges (treatment
	// targets, severity bands, ranges for other groups), available on
	// request, never shown as if they were the normal range.
	OtherRanges []RefRange `json:"other_ranges,omitempty"`
	Flag        Flag       `json:"flag,omitempty"`
	// Interpretation is the source's interpretation in words where Flag
	// does not say it all: "Positive", "Resistant", "Off scale high",
	// "Significantly high", or a local code's own text.
	Interpretation string `json:"interpretation,omitempty"`
	// Components are the parts of a result measured together (systolic
	// and diastolic blood pressure), each with its own value, units,
	// range, flag and absent reason.
	Components []Component `json:"components,omitempty"`
	// Status is the source's result status ("final", "preliminary",
	// "amended", "corrected", ...); see StatusLabel.
	Status string `json:"status,omitempty"`
	// Group identifies the report or panel the result belongs to (e.g.
	// "DiagnosticReport/abc"), so results from one specimen can be shown
	// together; GroupTitle names it ("Full blood count").
	Group      string `json:"group,omitempty"`
	GroupTitle string `json:"group_title,omitempty"`
	// GroupCodes are the report's or panel's own codes (LOINC 58410-2
	// "CBC panel"), which say which panel a result belongs to whatever
	// the laboratory calls it.
	GroupCodes []Code `json:"group_codes,omitempty"`
	// Comment is free text from the source: notes or a report conclusion.
	Comment string `json:"comment,omitempty"`
}

// Component is one part of a result measured with others.
type Component struct {
	Title      string   `json:"title"`
	Codes      []Code   `json:"codes,omitempty"`
	Value      string   `json:"value,omitempty"`
	Numeric    *float64 `json:"numeric,omitempty"`
	Comparator string   `json:"comparator,omitempty"`
	Units      string   `json:"units,omitempty"`
	Absent     string   `json:"absent,omitempty"`
	Range      RefRange `json:"range,omitzero"`
	Flag       Flag     `json:"flag,omitempty"`
	// Interpretation is as Result.Interpretation, for this component.
	Interpretation string `json:"interpretation,omitempty"`
}

// Critical reports whether the result or any of its components is
// critically abnormal.
func (r *Result) Critical() bool {
	if r.Flag.Critical() {
		return true
	}
	for _, c := range r.Components {
		if c.Flag.Critical() {
			return true
		}
	}
	return false
}

// Abnormal reports whether the result or any of its components is outside
// normal.
func (r *Result) Abnormal() bool {
	if r.Flag.Abnormal() {
		return true
	}
	for _, c := range r.Components {
		if c.Flag.Abnormal() {
			return true
		}
	}
	return false
}

// StatusLabel words a result status that a clinician must notice before
// acting on the value ("Preliminary", "Amended", "Corrected"), or "" for a
// final result. FHIR ObservationStatus and DiagnosticReportStatus codes.
func StatusLabel(status string) string {
	switch status {
	case "registered":
		return "Registered, no result yet"
	case "preliminary":
		return "Preliminary"
	case "partial":
		return "Partial"
	case "amended":
		return "Amended"
	case "corrected":
		return "Corrected"
	case "appended":
		return "Appended"
	case "unknown":
		return "Status unknown"
	}
	return ""
}

// RefRange is a result's reference range.
type RefRange struct {
	Low  *float64 `json:"low,omitempty"`
	High *float64 `json:"high,omitempty"`
	Text string   `json:"text,omitempty"`
	// Type names the kind of range where it is not the normal range
	// ("Treatment range", "Severe"), from referenceRange.type; AppliesTo
	// says who it is for ("Female", "Age 18–65"), from appliesTo and age.
	Type      string `json:"type,omitempty"`
	AppliesTo string `json:"applies_to,omitempty"`
}

// String gives the range as a screen shows it: "133–146", "< 5", or the
// source's text.
func (r RefRange) String() string {
	switch {
	case r.Text != "":
		return r.Text
	case r.Low != nil && r.High != nil:
		return formatNum(*r.Low) + "–" + formatNum(*r.High)
	case r.Low != nil:
		return "≥ " + formatNum(*r.Low)
	case r.High != nil:
		return "≤ " + formatNum(*r.High)
	}
	return ""
}

func formatNum(f float64) string { return fmt.Sprintf("%g", f) }

// Imaging is a radiology examination and its report.
type Imaging struct {
	Modality   string `json:"modality,omitempty"` // "CT", "MR", "DX", "US", ...
	BodySite   string `json:"body_site,omitempty"`
	Status     string `json:"status,omitempty"`
	Report     string `json:"report,omitempty"`
	Conclusion string `json:"conclusion,omitempty"`
}

// MedicationStatus says whether a medicine is current.
type MedicationStatus string

const (
	MedicationCurrent MedicationStatus = "current"
	MedicationPast    MedicationStatus = "past"
)

// Medication is a prescribed or recorded medicine.
type Medication struct {
	Drug      string `json:"drug"`
	Dose      string `json:"dose,omitempty"`
	Route     string `json:"route,omitempty"`
	Frequency string `json:"frequency,omitempty"`
	// Start and End are zero when unknown.
	Start  When             `json:"start,omitzero"`
	End    When             `json:"end,omitzero"`
	Status MedicationStatus `json:"status"`
	// SourceStatus is the source's own status code ("active", "on-hold",
	// "stopped", "completed", ...), shown where it says more than Status.
	SourceStatus string `json:"source_status,omitempty"`
	// Ingredients names the medicine's ingredients with their strengths
	// where it has no code of its own (a compounded ointment, TPN).
	Ingredients []string `json:"ingredients,omitempty"`
	// Prescribed is true for a prescription (MedicationRequest), false for
	// a medicine recorded as taken (MedicationStatement).
	Prescribed bool `json:"prescribed,omitempty"`
}

// Encounter is a contact with a service: an appointment, admission or
// attendance.
type Encounter struct {
	Type     string `json:"type,omitempty"`
	Class    string `json:"class,omitempty"` // "inpatient", "outpatient", "emergency", ...
	Location string `json:"location,omitempty"`
	Status   string `json:"status,omitempty"`
	// Start and End are zero when unknown; End is zero while ongoing.
	Start When `json:"start,omitzero"`
	End   When `json:"end,omitzero"`
	// Recorded names what was recorded in this encounter (a GP
	// consultation's topics and headings: problems, results, medicines),
	// by the entries' titles, in the source's order.
	Recorded []string `json:"recorded,omitempty"`
}

// Procedure is an operation or other procedure.
type Procedure struct {
	Performed When   `json:"performed,omitzero"`
	Status    string `json:"status,omitempty"`
	BodySite  string `json:"body_site,omitempty"`
}

// ProblemStatus says whether a problem is current.
type ProblemStatus string

const (
	ProblemActive   ProblemStatus = "active"
	ProblemResolved ProblemStatus = "resolved"
)

// Problem is a diagnosis or condition on the problem list.
type Problem struct {
	Status ProblemStatus `json:"status"`
	// Onset and Abatement are zero when unknown; a source may give an
	// age, a range or words instead of a date (When.Text).
	Onset     When `json:"onset,omitzero"`
	Abatement When `json:"abatement,omitzero"`
	// Linked names what the source links to this problem (GP Connect's
	// related clinical content: medicines, results, referrals), by the
	// linked entries' titles, in the source's order.
	Linked []string `json:"linked,omitempty"`
}

// Allergy is an allergy or intolerance, or a source's assertion that the
// patient has none.
type Allergy struct {
	// NoKnownAllergies is set when the source asserts the patient has no
	// known allergies (of the kind named in Entry.Title); Substance is then
	// empty. This is a positive statement, unlike an absence of entries.
	NoKnownAllergies bool `json:"no_known_allergies,omitempty"`
	// NoKnownScope says what a no-known-allergies assertion covers:
	// NoKnownAny for every kind, or one kind (NoKnownDrug, ...), which
	// says nothing about the others.
	NoKnownScope string `json:"no_known_scope,omitempty"`
	Substance    string `json:"substance,omitempty"`
	Reaction     string `json:"reaction,omitempty"`
	Severity     string `json:"severity,omitempty"`    // "mild", "moderate", "severe"
	Criticality  string `json:"criticality,omitempty"` // "low", "high", "unable-to-assess"
	Status       string `json:"status,omitempty"`      // "active", "inactive", "resolved"
	// Verification is the source's verification status ("confirmed",
	// "unconfirmed"); refuted and entered-in-error allergies are hidden.
	Verification string `json:"verification,omitempty"`
	// Category is "food", "medication", "environment" or "biologic".
	Category string `json:"category,omitempty"`
}

// What a no-known-allergies assertion covers (Allergy.NoKnownScope).
const (
	NoKnownAny           = "any"
	NoKnownDrug          = "drug"
	NoKnownFood          = "food"
	NoKnownEnvironmental = "environmental"
	NoKnownLatex         = "latex"
	NoKnownInsect        = "insect"
)

// NoneKnownOfAnyKind reports whether the source asserts that the patient
// has no known allergy of any kind: the only assertion a summary may word
// as "No known allergies". An assertion cached before its scope was kept
// counts as covering one kind only, so it never claims more than it said.
func (a *Allergy) NoneKnownOfAnyKind() bool {
	return a.NoKnownAllergies && a.NoKnownScope == NoKnownAny
}

// HighRisk reports whether the allergy must be made prominent: high
// criticality, or a severe or life-threatening reaction.
func (a *Allergy) HighRisk() bool { return a.Criticality == "high" || a.Severity == "severe" }

// Immunization is a vaccination given, or recorded as not given.
type Immunization struct {
	Vaccine string `json:"vaccine"`
	// Occurred is when it was given (or was to be), as the source gave it:
	// a date, or words such as "in childhood" (Entry.Date is then zero).
	Occurred When `json:"occurred,omitzero"`
	// Status is the source's status: "completed", or "not-done" with
	// NotDoneReason saying why.
	Status        string `json:"status,omitempty"`
	NotDoneReason string `json:"not_done_reason,omitempty"`
	Dose          string `json:"dose,omitempty"`        // "0.5 mL"
	DoseNumber    string `json:"dose_number,omitempty"` // "2 of 3"
	Site          string `json:"site,omitempty"`
	Route         string `json:"route,omitempty"`
	Lot           string `json:"lot,omitempty"`
	Performer     string `json:"performer,omitempty"`
}

// Alert is a flag on the record: a warning a clinician must see before
// anything else (FHIR Flag).
type Alert struct {
	// Category is "Safeguarding", "Reasonable adjustment", "Clinical",
	// ... as the source words it; Entry.Title holds the flag itself.
	Category string `json:"category,omitempty"`
	Status   string `json:"status,omitempty"` // "active", "inactive"
	Start    When   `json:"start,omitzero"`
	End      When   `json:"end,omitzero"`
	// Author is who raised it, as the source names them.
	Author string `json:"author,omitempty"`
}

// Active reports whether the flag is in force.
func (a *Alert) Active() bool { return a.Status == "" || a.Status == "active" }

// Document is a clinical document such as a clinic letter or discharge
// summary.
type Document struct {
	Type string `json:"type"` // "Clinic letter", "Discharge summary", ...
	// ContentType is the attachment's MIME type, e.g. "text/plain",
	// "text/html" or "application/pdf".
	ContentType string `json:"content_type,omitempty"`
	// Text holds the document when it is text (for text/html, the HTML as
	// the source sent it: a page shows it only through the sanitiser);
	// Data holds other content (a PDF); URL is where the source holds it,
	// kept when its content could not be read (Unavailable says why).
	Text   string `json:"text,omitempty"`
	Data   []byte `json:"data,omitempty"`
	URL    string `json:"url,omitempty"`
	Author string `json:"author,omitempty"`
	// Unavailable says why the content is not here: held at a URL that
	// could not be read, too large, or of a type that cannot be shown.
	Unavailable string `json:"unavailable,omitempty"`
	// Report is the entry ID of the report this document presents (a
	// DiagnosticReport's presentedForm), so pages can link the two.
	Report string `json:"report,omitempty"`
}

// Record is everything one source holds for one patient, with an account
// of every resource the source sent: each is shown as (part of) an entry,
// hidden by a named rule (Hidden), or unreadable (Unreadable); and every
// kind the source could not give in full is a Gap.
type Record struct {
	Patient *Patient `json:"patient"`
	Entries []Entry  `json:"entries"`
	// PatientRecords is how many Patient resources the source holds with
	// this NHS number (more than one: their data is merged and the page
	// says the source holds duplicate records).
	PatientRecords int `json:"patient_records,omitempty"`
	// Hidden lists the resources left out by a rule (see HideRules).
	Hidden []Omission `json:"hidden,omitempty"`
	// Unreadable lists the resources that could not be read, with why.
	Unreadable []Omission `json:"unreadable,omitempty"`
	// Gaps lists the kinds the source could not give in full: a search
	// that failed, or a list cut off by the page cap.
	Gaps    []Gap     `json:"gaps,omitempty"`
	Fetched time.Time `json:"fetched"`
}

// Skipped counts the resources that could not be read.
func (r *Record) Skipped() int { return len(r.Unreadable) }

// Truncated reports whether any list was cut off.
func (r *Record) Truncated() bool {
	for _, g := range r.Gaps {
		if g.Truncated {
			return true
		}
	}
	return false
}

// Complete reports whether the record says everything the source holds of
// kind k: no gap and nothing unreadable of that kind. A summary may claim
// absence ("No known allergies", "None recorded") for k only when every
// source's record is complete for k.
func (r *Record) Complete(k Kind) bool {
	for _, g := range r.Gaps {
		if g.Kind == k {
			return false
		}
	}
	for _, u := range r.Unreadable {
		if u.Kind == k || u.Kind == "" {
			return false
		}
	}
	return true
}

// Omission is one resource a source sent that is not shown.
type Omission struct {
	// Kind is the kind the resource would have been; empty when not even
	// its type could be read.
	Kind Kind `json:"kind,omitempty"`
	// Resource is "Type/id" as the source gave it, or "" when unreadable.
	Resource string `json:"resource,omitempty"`
	// Reason is the HideRule for a hidden resource, or a short reason for
	// an unreadable one ("no medicine named", "bad date"): never content
	// from the resource itself.
	Reason string `json:"reason"`
}

// Rules that hide a resource a source sent. They are the only reasons a
// readable resource is not shown, and every page that counts hidden items
// names them with HideRuleLabel.
const (
	HideEnteredInError = "entered-in-error" // the source says it was recorded by mistake
	HideRefuted        = "refuted"          // a condition or allergy the source says was ruled out
	HideCancelled      = "cancelled"        // a test, report or prescription withdrawn before it was done
	HideSuperseded     = "superseded"       // replaced by a newer version the source also sent
)

// HideRuleLabel words a hide rule for a page.
func HideRuleLabel(rule string) string {
	switch rule {
	case HideEnteredInError:
		return "entered in error"
	case HideRefuted:
		return "refuted"
	case HideCancelled:
		return "cancelled"
	case HideSuperseded:
		return "superseded by a newer version"
	}
	return rule
}

// Gap is one kind a source could not give in full.
type Gap struct {
	Kind Kind `json:"kind"`
	// Failed: the search for this kind failed and nothing of it is shown;
	// Reason is a short category ("timed out", "HTTP 500", "refused"),
	// never the source's own error text.
	Failed bool   `json:"failed,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Truncated: the list was cut off by the page cap; Read is how many
	// resources were read (the newest, where the source sorts), Total the
	// source's own count when it gave one (0 when unknown: "at least").
	Truncated bool `json:"truncated,omitempty"`
	Read      int  `json:"read,omitempty"`
	Total     int  `json:"total,omitempty"`
}

// Query is a patient search: by NHS number, or by demographics.
type Query struct {
	NHSNumber string
	Family    string
	Given     string
	BirthDate Date
	Gender    string
	Postcode  string
}

// ErrInvalidQuery is returned for a Query that cannot be searched.
var ErrInvalidQuery = errors.New("invalid patient search")

// Validate reports whether q can be searched: a valid NHS number, or at
// least a family name and date of birth (the product's minimum to avoid
// trawling through patients).
func (q Query) Validate() error {
	if q.NHSNumber != "" {
		if _, err := ParseNHSNumber(q.NHSNumber); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidQuery, err)
		}
		return nil
	}
	if strings.TrimSpace(q.Family) == "" || q.BirthDate.IsZero() {
		return fmt.Errorf("%w: give an NHS number, or a family name and date of birth", ErrInvalidQuery)
	}
	switch q.Gender {
	case "", GenderMale, GenderFemale, GenderOther, GenderUnknown:
	default:
		return fmt.Errorf("%w: unknown gender %q", ErrInvalidQuery, q.Gender)
	}
	return nil
}

// Connector is one source of patient records. Implementations must be safe
// for concurrent use and must stop work promptly when ctx is done.
type Connector interface {
	// Source names the organisation behind the connector.
	Source() Source
	// FindPatients returns the patients the source holds that match q; no
	// match is an empty slice and a nil error.
	FindPatients(ctx context.Context, q Query) ([]Patient, error)
	// FetchRecord returns the source's record for the patient with the
	// given NHS number (10 digits), or an error wrapping ErrNoRecord when
	// the source has no such patient. Other failures are *SourceError.
	FetchRecord(ctx context.Context, nhsNumber string) (*Record, error)
}

// ErrNoRecord means the source holds no record for the patient. It is an
// ordinary answer, not a failure of the source.
var ErrNoRecord = errors.New("no record held for this patient")
