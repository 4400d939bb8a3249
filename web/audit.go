package web

import (
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
)

// audit writes an event about this request, filling in who, from where
// and in which session, and returns only once it is committed. Callers
// that are about to show patient data must not show it if this fails.
func (s *Server) audit(c echo.Context, ev store.AuditEvent) error {
	if u := UserFrom(c.Request().Context()); u != nil {
		ev.UserID, ev.UserName, ev.SessionHash, ev.UserNHSNumber = u.ID, u.Name, u.SessionHash, u.NHSNumber
		if u.Role != nil {
			ev.RoleCode, ev.ODS = u.Role.Code, u.Role.ODS
		}
	}
	if ev.ClientAddr == "" {
		ev.ClientAddr = c.RealIP()
	}
	if ev.Outcome == "" {
		ev.Outcome = store.OutcomeAllowed
	}
	if _, err := s.db.Audit(c.Request().Context(), ev); err != nil {
		return notRecorded(fmt.Errorf("audit %s: %w", ev.Action, err))
	}
	return nil
}

// notRecorded is the page for a write that failed: the audit log's, or
// any other the request depends on (the session's last-seen time, which
// comes first on every request). Whatever write fails, the user is told
// that nothing is shown because the access cannot be recorded, with a
// 503, not a generic 500.
func notRecorded(err error) *Error {
	return &Error{Code: EUNAVAILABLE, Title: "Sorry, this cannot be shown now",
		Message: "carerecord could not record this access in its audit log, so it shows nothing. Try again in a few minutes; if it keeps happening, contact your IT service desk.",
		Err:     err}
}

// answered lists the sources whose data a view holds.
func answered(v *records.RecordView) []string {
	var out []string
	for _, st := range v.Sources {
		switch st.State {
		case records.StateLive, records.StateCached:
			out = append(out, st.Source.ODS)
		}
	}
	return out
}

// searchTerms describes a search for the audit log: identifiers and the
// demographic terms typed, nothing the sources returned.
func searchTerms(q connectors.Query) string {
	var parts []string
	add := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("nhs", q.NHSNumber)
	add("family", q.Family)
	add("given", q.Given)
	if !q.BirthDate.IsZero() {
		add("dob", q.BirthDate.String())
	}
	add("gender", q.Gender)
	add("postcode", q.Postcode)
	return strings.Join(parts, " ")
}

func trimTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// validNHS returns n if it is a well-formed NHS number, else "": the
// audit log holds only real identifiers, never whatever was in a URL.
func validNHS(n string) string {
	if v, err := connectors.ParseNHSNumber(n); err == nil && v == n {
		return n
	}
	return ""
}

// withPatient adds what the alert rules need to know about the patient
// (never stored in the log): the family name the sources hold and whether
// the record is restricted.
func withPatient(ev store.AuditEvent, v *records.RecordView) store.AuditEvent {
	for _, p := range v.Patients {
		if ev.PatientFamilyName == "" {
			ev.PatientFamilyName = p.Family
		}
		ev.PatientRestricted = ev.PatientRestricted || p.Restricted
	}
	return ev
}
