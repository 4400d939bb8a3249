package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// showIGHome is the privacy officer's home: the state of the audit chain,
// open alerts, and the ways into the log.
func (s *Server) showIGHome(c echo.Context) error {
	ctx := c.Request().Context()
	h := views.IGHomePage{}
	if v, ok, err := s.db.LastVerification(ctx); err != nil {
		return err
	} else if ok {
		h.Verified, h.VerifiedAt, h.VerifiedOK, h.VerifiedEvents, h.VerifyProblem = true, v.At, v.OK, v.Events, v.Problem
		h.FirstBadSeq = v.FirstBadSeq
	}
	if al, bad := s.db.AuditAlarm(); bad {
		h.Refused, h.RefusedAt, h.RefusedProblem, h.RefusedAnchored = true, al.At, al.Problem, al.Anchored
		h.ClinicalPagesServed = s.cfg.ClinicalPagesWhenAuditRefused
		h.AnchorSeq, h.AnchorHash, h.AnchorAt = al.Anchor.Seq, al.Anchor.HashPrefix(), al.Anchor.Time
	} else if cp, ok := s.db.AuditAnchor(); ok {
		h.Anchored, h.AnchorSeq, h.AnchorHash, h.AnchorAt = true, cp.Seq, cp.HashPrefix(), cp.Time
	}
	now := s.now().In(views.London)
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, views.London)
	nums, err := s.db.IGNumbers(ctx, midnight, now.AddDate(0, 0, -7))
	if err != nil {
		return err
	}
	h.AccessesToday, h.BreakGlassWeek = nums.AccessesToday, nums.BreakGlassWeek
	// The open total is the sum by kind: one query, and the two numbers
	// on the page always agree.
	for kind, c := range nums.OpenAlertsByKind {
		h.AlertsByKind = append(h.AlertsByKind, views.KindCount{Kind: kind, Count: c})
		h.OpenAlerts += c
	}
	sort.Slice(h.AlertsByKind, func(i, j int) bool { return h.AlertsByKind[i].Kind < h.AlertsByKind[j].Kind })
	return render(c, http.StatusOK, views.IGHome(s.page(c, "Information governance"), h))
}

// verifyAudit walks the audit chain now, on demand.
func (s *Server) verifyAudit(c echo.Context) error {
	v, err := s.db.VerifyAudit(c.Request().Context())
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("%d events, whole", v.Events)
	if !v.OK {
		detail = fmt.Sprintf("%d events, broken at %d: %s", v.Events, v.FirstBadSeq, v.Problem)
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, Detail: "verified the audit chain: " + detail}); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/ig")
}

// auditFilter reads the audit search form. Bad values are reported per
// field and nothing is searched.
func auditFilter(q url.Values) (store.AuditFilter, views.AuditForm) {
	form := views.AuditForm{User: strings.TrimSpace(q.Get("user")), NHS: strings.TrimSpace(q.Get("nhs")), ODS: strings.ToUpper(strings.TrimSpace(q.Get("ods"))),
		Action: q.Get("action"), Reason: strings.TrimSpace(q.Get("reason")), Outcome: q.Get("outcome"), From: q.Get("from"), To: q.Get("to")}
	f := store.AuditFilter{UserID: form.User, ODS: form.ODS, Reason: form.Reason, Limit: 50}
	if form.NHS != "" {
		if n := validNHS(strings.ReplaceAll(form.NHS, " ", "")); n != "" {
			f.NHSNumber = n
		} else {
			form.Errors = append(form.Errors, views.FieldError{Field: "nhs", Message: "Enter a valid 10-digit NHS number"})
		}
	}
	if form.Action != "" {
		known := false
		for _, a := range views.AuditActions {
			known = known || a.Code == form.Action
		}
		if known {
			f.Actions = []store.Action{store.Action(form.Action)}
		} else {
			form.Errors = append(form.Errors, views.FieldError{Field: "action", Message: "Select an action from the list"})
		}
	}
	switch form.Outcome {
	case "":
	case string(store.OutcomeAllowed), string(store.OutcomeRefused):
		f.Outcome = store.Outcome(form.Outcome)
	default:
		form.Errors = append(form.Errors, views.FieldError{Field: "outcome", Message: "Select allowed or refused"})
	}
	for _, d := range []struct {
		field, v string
		into     *time.Time
		add      int
	}{{"from", form.From, &f.From, 0}, {"to", form.To, &f.To, 1}} {
		if d.v == "" {
			continue
		}
		t, err := time.ParseInLocation("2006-01-02", d.v, views.London)
		if err != nil {
			form.Errors = append(form.Errors, views.FieldError{Field: d.field, Message: "Enter a date like 2026-03-12"})
			continue
		}
		*d.into = t.AddDate(0, 0, d.add).UTC()
	}
	if b, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil && b > 0 {
		f.BeforeSeq = b
	}
	return f, form
}

// showAudit is the audit log search: newest first, paged.
func (s *Server) showAudit(c echo.Context) error {
	ctx := c.Request().Context()
	f, form := auditFilter(c.QueryParams())
	page := views.AuditPage{Form: form, Query: auditQuery(form)}
	if len(form.Errors) > 0 {
		return render(c, http.StatusBadRequest, views.AuditSearch(s.page(c, "Error: Audit log"), page))
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, NHSNumber: f.NHSNumber, Detail: "searched: " + auditQuery(form).Encode()}); err != nil {
		return err
	}
	evs, next, err := s.db.SearchAudit(ctx, f)
	if err != nil {
		return err
	}
	page.Events = evs
	if next > 0 {
		q := auditQuery(form)
		q.Set("before", strconv.FormatInt(next, 10))
		page.OlderURL = "/ig/audit?" + q.Encode()
	}
	return render(c, http.StatusOK, views.AuditSearch(s.page(c, "Audit log"), page))
}

func auditQuery(form views.AuditForm) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"user": form.User, "nhs": form.NHS, "ods": form.ODS, "action": form.Action,
		"reason": form.Reason, "outcome": form.Outcome, "from": form.From, "to": form.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// exportAudit streams the filtered log as CSV or a FHIR AuditEvent
// Bundle. The export is itself audited, before any of it is sent.
func (s *Server) exportAudit(c echo.Context) error {
	ctx := c.Request().Context()
	f, form := auditFilter(c.QueryParams())
	if len(form.Errors) > 0 {
		return Errorf(EINVALID, "The export filter is not valid", "Go back to the audit log and correct the search.")
	}
	f.BeforeSeq, f.Limit = 0, 0
	format := c.Param("format")
	if format != "csv" && format != "fhir" {
		return Errorf(ENOTFOUND, "Unknown export format", "Exports are CSV or FHIR.")
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditExport, NHSNumber: f.NHSNumber, Detail: format + ": " + auditQuery(form).Encode()}); err != nil {
		return err
	}
	stamp := s.now().UTC().Format("20060102T150405Z")
	h := c.Response().Header()
	var err error
	if format == "csv" {
		h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="carerecord-audit-`+stamp+`.csv"`)
		c.Response().WriteHeader(http.StatusOK)
		_, err = s.db.ExportAuditCSV(ctx, f, c.Response())
	} else {
		h.Set(echo.HeaderContentType, "application/fhir+json; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="carerecord-audit-`+stamp+`.json"`)
		c.Response().WriteHeader(http.StatusOK)
		_, err = s.db.ExportAuditFHIR(ctx, f, c.Response())
	}
	if err != nil {
		// Headers are gone; the truncated file is the signal, and the log says why.
		s.log.Error("audit export failed part way", "format", format, "error", err.Error())
	}
	return nil
}

// showPatientAccess is "who accessed this record".
func (s *Server) showPatientAccess(c echo.Context) error {
	nhs := validNHS(c.Param("nhs"))
	if nhs == "" {
		return Errorf(ENOTFOUND, "This is not a valid NHS number", "Check the NHS number and try again.")
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, NHSNumber: nhs, Detail: "who accessed this record"}); err != nil {
		return err
	}
	rows, err := s.db.PatientAccess(c.Request().Context(), nhs)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.PatientAccess(s.page(c, "Who accessed this record"), nhs, rows))
}

// showUserAccess is "what did this user access".
func (s *Server) showUserAccess(c echo.Context) error {
	user := c.Param("user")
	if user == "" || len(user) > 100 {
		return Errorf(ENOTFOUND, "No such user", "Check the user id and try again.")
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, Detail: "what did user " + user + " access"}); err != nil {
		return err
	}
	rows, err := s.db.UserAccess(c.Request().Context(), user)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.UserAccess(s.page(c, "What did this user access"), user, rows))
}

// showAlerts lists alerts for review, open ones first.
func (s *Server) showAlerts(c echo.Context) error {
	status := c.QueryParam("status")
	if status != store.AlertReviewed && status != store.AlertEscalated {
		status = store.AlertOpen
	}
	ctx := c.Request().Context()
	alerts, err := s.db.Alerts(ctx, status, 200)
	if err != nil {
		return err
	}
	// After a review the list confirms what was recorded, read back from
	// the store so that the words are true whatever the address says.
	var done *store.Alert
	if id, err := strconv.ParseInt(c.QueryParam("reviewed"), 10, 64); err == nil {
		if a, err := s.db.Alert(ctx, id); err == nil && a.Status != store.AlertOpen {
			done = &a
		}
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, Detail: "alerts: " + status}); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.Alerts(s.page(c, "Alerts"), status, alerts, done))
}

// alertParam reads the alert id in the path and loads the alert.
func (s *Server) alertParam(c echo.Context) (store.Alert, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return store.Alert{}, Errorf(ENOTFOUND, "Alert not found", "Go back to the alerts list.")
	}
	a, err := s.db.Alert(c.Request().Context(), id)
	if err != nil {
		return store.Alert{}, Errorf(ENOTFOUND, "Alert not found", "Go back to the alerts list.")
	}
	return a, nil
}

// showAlert shows one alert and the review form.
func (s *Server) showAlert(c echo.Context) error {
	a, err := s.alertParam(c)
	if err != nil {
		return err
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, NHSNumber: a.NHSNumber, Detail: fmt.Sprintf("alert %d", a.ID)}); err != nil {
		return err
	}
	d := views.AlertReviewData{Alert: a}
	if a.Kind == store.AlertPatientConcern {
		// The officer has opened it: the patient now sees it being reviewed.
		if err := s.db.StartConcernReview(c.Request().Context(), a.ID, UserFrom(c.Request().Context()).ID); err != nil {
			return err
		}
		if d.PatientMessage, err = s.concernMessage(c, a); err != nil {
			return err
		}
	}
	return render(c, http.StatusOK, views.AlertReview(s.page(c, "Review alert"), d))
}

// reviewAlert closes an alert with the officer's note.
func (s *Server) reviewAlert(c echo.Context) error {
	ctx := c.Request().Context()
	a, err := s.alertParam(c)
	if err != nil {
		return err
	}
	note := strings.TrimSpace(c.FormValue("note"))
	message := strings.TrimSpace(c.FormValue("message"))
	outcome := c.FormValue("outcome")
	concern := a.Kind == store.AlertPatientConcern
	var errs []views.FieldError
	if outcome != store.AlertReviewed && outcome != store.AlertEscalated {
		errs = append(errs, views.FieldError{Field: "outcome-reviewed", Message: "Select no concern or escalate"})
	}
	if len(note) < 5 || len(note) > 2000 {
		errs = append(errs, views.FieldError{Field: "note", Message: "Write what you found, in 5 to 2,000 characters"})
	}
	if concern && (len(message) < 5 || len([]rune(message)) > store.MaxPatientMessage) {
		errs = append(errs, views.FieldError{Field: "message", Message: "Write your message to the patient, in 5 to 2,000 characters"})
	}
	if len(errs) > 0 {
		return render(c, http.StatusBadRequest, views.AlertReview(s.page(c, "Error: Review alert"),
			views.AlertReviewData{Alert: a, Note: note, Outcome: outcome, Message: message, Errs: errs}))
	}
	u := UserFrom(ctx)
	if err := s.audit(c, store.AuditEvent{Action: store.ActAlertReview, NHSNumber: a.NHSNumber, Detail: fmt.Sprintf("alert %d %s", a.ID, outcome)}); err != nil {
		return err
	}
	if concern {
		err = s.db.CloseConcernAlert(ctx, a.ID, u.ID, note, message, outcome == store.AlertEscalated)
	} else {
		err = s.db.CloseAlert(ctx, a.ID, u.ID, note, outcome == store.AlertEscalated)
	}
	if err != nil {
		if errors.Is(err, store.ErrAlertReviewed) {
			return Errorf(ECONFLICT, "This alert has already been reviewed", "Another officer reviewed it first. Go back to the alerts list.")
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/ig/alerts?reviewed="+strconv.FormatInt(a.ID, 10))
}

// concernMessage is the message the patient was sent when the concern's
// alert was closed ("" while open).
func (s *Server) concernMessage(c echo.Context, a store.Alert) (string, error) {
	if a.Status == store.AlertOpen {
		return "", nil
	}
	cs, err := s.db.PatientConcerns(c.Request().Context(), a.NHSNumber)
	if err != nil {
		return "", err
	}
	for _, con := range cs {
		if con.Alert.ID == a.ID {
			return con.Message, nil
		}
	}
	return "", nil
}

// findPatientAccess turns the IG home's NHS number box into its page.
func (s *Server) findPatientAccess(c echo.Context) error {
	n := validNHS(strings.Join(strings.Fields(c.QueryParam("nhs")), ""))
	if n == "" {
		return Errorf(EINVALID, "Enter a valid NHS number", "An NHS number has 10 digits, like 999 000 0018. Go back and try again.")
	}
	return c.Redirect(http.StatusSeeOther, "/ig/patients/"+n)
}

// findUserAccess turns the IG home's user box into its page: a user id
// (all digits, as CIS2's are) goes straight to that user's accesses; a
// name goes to the one member of staff who signed in under a name holding
// it, or lists them when there are several (or none).
func (s *Server) findUserAccess(c echo.Context) error {
	u := strings.Join(strings.Fields(c.QueryParam("user")), " ")
	if u == "" || len(u) > 100 || strings.ContainsAny(u, "/?#") {
		return Errorf(EINVALID, "Enter a name or user id", "Go back and enter the member of staff's name, for example Okafor, or their user id, for example 555000000001.")
	}
	if strings.Trim(u, "0123456789") == "" {
		return c.Redirect(http.StatusSeeOther, "/ig/users/"+url.PathEscape(u))
	}
	matches, err := s.db.FindStaffByName(c.Request().Context(), u, staffMatchLimit+1)
	if err != nil {
		return err
	}
	if len(matches) == 1 {
		return c.Redirect(http.StatusSeeOther, "/ig/users/"+url.PathEscape(matches[0].UserID))
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, Detail: "find staff named " + u}); err != nil {
		return err
	}
	more := len(matches) > staffMatchLimit
	if more {
		matches = matches[:staffMatchLimit]
	}
	return render(c, http.StatusOK, views.StaffMatches(s.page(c, "Find a member of staff"), u, matches, more))
}

// staffMatchLimit is how many staff a name search lists.
const staffMatchLimit = 50
