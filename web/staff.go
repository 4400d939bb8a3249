package web

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// The privacy officers' list of staff NHS numbers, for the "own record"
// alert when the identity provider does not assert a user's NHS number
// (store/staffnhs.go). Viewing and each change are audited; the staff
// member's NHS number is not written to the audit log, only the user id.

func (s *Server) showStaffNHS(c echo.Context) error {
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, Detail: "staff NHS numbers"}); err != nil {
		return err
	}
	return s.staffPage(c, http.StatusOK, views.StaffPage{})
}

func (s *Server) staffPage(c echo.Context, status int, p views.StaffPage) error {
	list, err := s.db.StaffNHSList(c.Request().Context())
	if err != nil {
		return err
	}
	p.List = list
	title := "Staff NHS numbers"
	if len(p.Errors) > 0 {
		title = "Error: " + title
	}
	return render(c, status, views.StaffNHS(s.page(c, title), p))
}

func (s *Server) setStaffNHS(c echo.Context) error {
	user := strings.TrimSpace(c.FormValue("user"))
	nhs := strings.TrimSpace(c.FormValue("nhs"))
	var errs []views.FieldError
	switch {
	case user == "":
		errs = append(errs, views.FieldError{Field: "staff-user", Message: "Enter the user id"})
	case utf8.RuneCountInString(user) > store.MaxStaffUserID || strings.ContainsFunc(user, func(r rune) bool { return r < ' ' }):
		errs = append(errs, views.FieldError{Field: "staff-user", Message: "User id must be 100 characters or fewer, on one line"})
	}
	n, err := connectors.ParseNHSNumber(nhs)
	switch {
	case nhs == "":
		errs = append(errs, views.FieldError{Field: "staff-nhs", Message: "Enter their NHS number"})
	case err != nil:
		errs = append(errs, views.FieldError{Field: "staff-nhs", Message: "Enter a valid 10-digit NHS number, like 999 123 4567"})
	}
	if len(errs) > 0 {
		return s.staffPage(c, http.StatusBadRequest, views.StaffPage{UserID: user, NHS: nhs, Errors: errs})
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActStaffNHSChange, Detail: "staff NHS number set for user " + user}); err != nil {
		return err
	}
	if err := s.db.SetStaffNHS(c.Request().Context(), user, n, UserFrom(c.Request().Context()).ID); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/ig/staff")
}

func (s *Server) removeStaffNHS(c echo.Context) error {
	ctx := c.Request().Context()
	user := c.FormValue("user")
	ev := store.AuditEvent{Action: store.ActStaffNHSChange, Detail: "staff NHS number removed for user " + user}
	if !s.db.OnStaffList(user) {
		ev.Outcome, ev.OutcomeWhy = store.OutcomeRefused, "the user is not on the list"
	}
	if err := s.audit(c, ev); err != nil {
		return err
	}
	if ev.Outcome == store.OutcomeRefused {
		return Errorf(ENOTFOUND, "That user is not on the list", "Someone may have removed them already. Go back to the list of staff NHS numbers.")
	}
	if err := s.db.RemoveStaffNHS(ctx, user); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/ig/staff")
}
