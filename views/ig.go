package views

import (
	"strings"
	"time"

	"github.com/carerecord/carerecord/store"
)

// IGHomePage is the privacy officer's home.
type IGHomePage struct {
	Verified       bool
	VerifiedAt     time.Time
	VerifiedOK     bool
	VerifiedEvents int64
	VerifyProblem  string
	FirstBadSeq    int64
	// Refused: the audit log failed its check against its witness (or a
	// verification), and why; the witness's checkpoint when it was read.
	Refused             bool
	RefusedAt           time.Time
	RefusedProblem      string
	RefusedAnchored     bool
	ClinicalPagesServed bool
	// The witness's checkpoint the log last matched (or was compared with).
	Anchored       bool
	AnchorSeq      int64
	AnchorHash     string // a prefix
	AnchorAt       time.Time
	OpenAlerts     int
	AlertsByKind   []KindCount
	AccessesToday  int
	BreakGlassWeek int
}

// KindCount is the number of open alerts of one kind.
type KindCount struct {
	Kind  string
	Count int
}

// StaffPage is the privacy officers' list of staff NHS numbers.
type StaffPage struct {
	List   []store.StaffNHS
	UserID string // the add form's values, kept after an error
	NHS    string
	Errors []FieldError
}

// ErrorFor returns the message for a field, or "".
func (s StaffPage) ErrorFor(field string) string {
	return fieldError(s.Errors, field)
}

// AuditForm is the audit search form as submitted.
type AuditForm struct {
	User, NHS, ODS, Action, Reason, Outcome, From, To string
	Errors                                            []FieldError
}

// ErrorFor returns the message for a field, or "".
func (f AuditForm) ErrorFor(field string) string {
	return fieldError(f.Errors, field)
}

// AuditPage is the audit search page.
type AuditPage struct {
	Form     AuditForm
	Query    interface{ Encode() string }
	Events   []store.AuditEvent
	OlderURL string
}

// ActionOption names an audit action for people.
type ActionOption struct{ Code, Label string }

// AuditActions lists the actions the search can filter on.
var AuditActions = []ActionOption{
	{string(store.ActRecordOpen), "Record opened"},
	{string(store.ActDocumentOpen), "Document opened"},
	{string(store.ActRecordPrint), "Record summary printed"},
	{string(store.ActBreakGlass), "Break glass"},
	{string(store.ActReasonGiven), "Reason for access given"},
	{string(store.ActSearch), "Patient search"},
	{string(store.ActRefresh), "Record refreshed"},
	{string(store.ActAccessRefused), "Access refused"},
	{string(store.ActObjectionOverride), "Objection override"},
	{string(store.ActSignIn), "Sign-in"},
	{string(store.ActSignInRefused), "Sign-in refused"},
	{string(store.ActSignOut), "Sign-out"},
	{string(store.ActSessionLocked), "Session locked"},
	{string(store.ActRoleChosen), "Role chosen"},
	{string(store.ActAuditView), "Audit viewed"},
	{string(store.ActAuditExport), "Audit exported"},
	{string(store.ActAlertReview), "Alert reviewed"},
	{string(store.ActObjectionStep), "Objection case step"},
	{string(store.ActStaffNHSChange), "Staff NHS number changed"},
	{string(store.ActPatientViewedAccess), "Patient viewed own access log"},
	{string(store.ActPatientConcern), "Patient raised a concern"},
	{string(store.ActAccessHidden), "Access hidden from the patient"},
	{string(store.ActAccessUnhidden), "Access shown to the patient again"},
}

// ActionLabel names an action.
func ActionLabel(a store.Action) string {
	for _, o := range AuditActions {
		if o.Code == string(a) {
			return o.Label
		}
	}
	return string(a)
}

func exportURL(format string, q interface{ Encode() string }) string {
	if q == nil {
		return "/ig/audit/export/" + format
	}
	return "/ig/audit/export/" + format + "?" + q.Encode()
}

func joinStrings(ss []string) string { return strings.Join(ss, ", ") }

// alertPatient follows an alert's user name on the alerts list:
// ", NHS No. 999 000 0018", or nothing when the alert names no patient.
func alertPatient(nhs string) string {
	if nhs == "" {
		return ""
	}
	return ", NHS No. " + NHSNumber(nhs)
}

// SinceVerified is how many events the log has gained since it was last
// verified, as of its latest checkpoint: the IG home never presents an
// old count as the log's.
func (h IGHomePage) SinceVerified() int64 {
	if !h.Anchored || h.AnchorSeq <= h.VerifiedEvents {
		return 0
	}
	return h.AnchorSeq - h.VerifiedEvents
}

// AlertReviewData is one alert and, while open, its review form.
type AlertReviewData struct {
	Alert   store.Alert
	Note    string // the internal finding, kept on an error
	Outcome string
	// Message is the message to the patient (a patient's concern only),
	// kept on an error; PatientMessage the one sent, once closed.
	Message        string
	PatientMessage string
	Errs           []FieldError
}
