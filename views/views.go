// Package views holds carerecord's templ components (the layout and every
// page), the typed values each page takes, and the functions that write
// dates, names and numbers as clinical screens show them.
//
// Components take typed values and only ever print them through templ's
// escaping; nothing here may bypass it (no templ.Raw) for data that came
// from a user, an identity provider or a source system. The one exception
// is a source's HTML document, which is written only through the
// sanitiser (DocumentHTML, sanitise.go).
package views

import (
	"context"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// Page is what the layout needs on every page.
type Page struct {
	Title     string
	User      *UserBar // nil when nobody is signed in
	DevSignIn bool     // the development IdP is active: warn on every page
	// ReasonLabels words the configured reason-for-access codes, so that
	// the IG pages show "I am providing direct care to this patient", not
	// "direct-care".
	ReasonLabels map[string]string
}

// Reason words a reason-for-access code for people: its configured label,
// or the code itself for one no longer configured.
func (p Page) Reason(code string) string {
	if l, ok := p.ReasonLabels[code]; ok {
		return l
	}
	return code
}

// Reasons words several reason codes, joined by commas.
func (p Page) Reasons(codes []string) string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = p.Reason(c)
	}
	return strings.Join(out, ", ")
}

// UserBar is the signed-in user as the header shows them.
type UserBar struct {
	Name      string
	RoleName  string // empty until a role profile is chosen
	OrgName   string
	ODS       string
	Home      string
	CanSwitch bool // more than one role profile
	// SignOut is where the sign-out button posts; /signout when empty
	// (a patient's is their own).
	SignOut string
}

// SignOutPath is where the header's sign-out button posts.
func (u *UserBar) SignOutPath() string {
	if u.SignOut != "" {
		return u.SignOut
	}
	return "/signout"
}

// RoleOption is one role profile on the role choice page.
type RoleOption struct {
	Index    int
	RoleName string
	Code     string
	OrgName  string
	ODS      string
	Current  bool
}

// ServiceStatus is the administrator's view of the service.
type ServiceStatus struct {
	Version       string
	GoVersion     string
	Started       time.Time
	Uptime        time.Duration
	Database      string
	DatabaseError string
	Schema        int
	LiveSessions  int
	DevSignIn     bool
	IdP           string
	// Engine is the database engine: "SQLite" or "PostgreSQL".
	Engine string
	// Sources is each source's recent health, counted on this node only.
	Sources []SourceHealth
	// AuditHead is the last audit event this node knows of (0: none), at
	// AuditHeadTime.
	AuditHead     int64
	AuditHeadTime time.Time
	// Verified: the chain has been verified at least once; Verification
	// is then the latest result.
	Verified     bool
	Verification AuditVerification
	// AuditRefused is why the audit log is refused ("" when it is not).
	AuditRefused string
	// AuditGuard says whether the audit tables' append-only guard is in
	// force, and who could lift it.
	AuditGuard string
}

// SourceHealth is one source's fetches on this node over the last hour
// and the last day.
type SourceHealth struct {
	Name, ODS string
	Hour, Day HealthCounts
}

// HealthCounts is what a source's fetches came to.
type HealthCounts struct{ Answers, Timeouts, Errors int }

// AuditVerification is the latest verification of the audit chain.
type AuditVerification struct {
	At      time.Time
	OK      bool
	Events  int64
	HeadSeq int64
	// Problem is what was found ("" when OK): no clinical content.
	Problem string
}

// DevRoleForm is the development OpenID provider's role choice.
type DevRoleForm struct {
	Action        string
	AuthRequestID string
	Name          string
	Options       []DevRoleOption
	Error         string
}

// DevRoleOption is one role profile on the development provider's role
// choice.
type DevRoleOption struct {
	Index              int
	Code, ODS, OrgName string
}

// DevLoginForm is the development IdP's sign-in form.
type DevLoginForm struct {
	Action      string
	SAMLRequest string // SAML: the AuthnRequest being answered
	RelayState  string
	// AuthRequestID, OpenID Connect: the authorization request being answered.
	AuthRequestID string
	Username      string
	Error         string
	Users         []string
}

// fieldError returns the message for field in errs, or "": every form's
// ErrorFor is this.
func fieldError(errs []FieldError, field string) string {
	for _, e := range errs {
		if e.Field == field {
			return e.Message
		}
	}
	return ""
}

type csrfKey struct{}

// WithCSRFToken returns a context carrying the request's CSRF token,
// which every form on the page includes.
func WithCSRFToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, csrfKey{}, token)
}

// CSRFToken returns the request's CSRF token.
func CSRFToken(ctx context.Context) string {
	t, _ := ctx.Value(csrfKey{}).(string)
	return t
}

// London is the Europe/London time zone, in which every date and time is
// shown and every typed date is read.
var London = connectors.London

// DateTime shows a UTC instant in Europe/London as on clinical screens:
// 12-Mar-2026 09:05.
func DateTime(t time.Time) string {
	if t.IsZero() {
		return NotKnown
	}
	return t.In(London).Format("02-Jan-2006 15:04")
}

// When shows a clinical date or time no more precisely than its source gave
// it: "12-Mar-2026 09:05" (in Europe/London), "12-Mar-2026" for a date with
// no time, "May-1957" or "1957" for a partial date, or the source's own
// words for an onset given as an age or text. A date without a time is a
// calendar date, not an instant, so it is never moved between zones.
func When(w connectors.When) string {
	if w.Time.IsZero() {
		if w.Text != "" {
			return w.Text
		}
		return NotKnown
	}
	switch w.Precision {
	case connectors.PrecisionDay:
		return w.Time.UTC().Format("02-Jan-2006")
	case connectors.PrecisionMonth:
		return w.Time.UTC().Format("Jan-2006")
	case connectors.PrecisionYear:
		return w.Time.UTC().Format("2006")
	}
	return DateTime(w.Time)
}

// WhenDay is When without the time of day: the London calendar day of an
// instant, or the date as precise as the source gave it.
func WhenDay(w connectors.When) string {
	if w.Precision == connectors.PrecisionTime && !w.Time.IsZero() {
		return Day(w.Time)
	}
	return When(w)
}
