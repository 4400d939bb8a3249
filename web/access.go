package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// errNoReason is returned by grantFor when the user has not yet said why
// they are looking at this patient in this session.
var errNoReason = errors.New("no reason for access given")

// grantFor returns the user's live reason for access to the patient. For
// a page request without one it redirects to the reason page (and returns
// errNoReason, already handled); for anything else it is a 403.
func (s *Server) grantFor(c echo.Context, nhs string) (store.AccessGrant, error) {
	u := UserFrom(c.Request().Context())
	g, err := s.db.AccessFor(c.Request().Context(), u.SessionHash, nhs)
	if err == nil {
		return g, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return g, err
	}
	r := c.Request()
	if r.Method == http.MethodGet && r.Header.Get("HX-Request") == "" {
		to := "/patients/" + nhs + "/access?" + url.Values{"return": {r.URL.RequestURI()}}.Encode()
		if rerr := c.Redirect(http.StatusSeeOther, to); rerr != nil {
			return g, rerr
		}
		return g, errNoReason
	}
	return g, Errorf(EFORBIDDEN, "Say why you are opening this record",
		"Open the record from patient search and give your reason for access first.")
}

// showAccessReason asks why the user is opening the record.
func (s *Server) showAccessReason(c echo.Context) error {
	nhs, err := nhsParam(c)
	if err != nil {
		return err
	}
	f := s.reasonForm(c, nhs, c.QueryParam("return"))
	// Launched from an EPR with an encounter in context: direct care is
	// preselected (never break glass), and the user still confirms it.
	if r := c.QueryParam("reason"); s.offeredReason(c, r) {
		f.Chosen = r
	}
	return render(c, http.StatusOK, views.AccessReason(s.page(c, "Why are you opening this record?"), f))
}

// reasonForm offers the reasons configured for the user's role group,
// and break glass only to the groups allowed it.
func (s *Server) reasonForm(c echo.Context, nhs, ret string) views.ReasonForm {
	f := views.ReasonForm{NHS: nhs, Return: localPath(ret), BreakGlassMinutes: int(s.cfg.BreakGlassLifetime.Minutes()),
		Hours: int(s.cfg.GrantLifetime.Hours()), BreakGlass: s.breakGlassOffered(c)}
	u := UserFrom(c.Request().Context())
	if who, ok := s.found.get(u.SessionHash, nhs, s.now()); ok {
		f.Patient = &who
	}
	g := u.RoleDef.Group
	for _, r := range s.cfg.AccessReasons {
		if r.For(g) {
			f.Reasons = append(f.Reasons, views.ReasonOption{Code: r.Code, Label: r.Label})
		}
	}
	return f
}

func (s *Server) breakGlassOffered(c echo.Context) bool {
	return slices.Contains(s.cfg.BreakGlassGroups, UserFrom(c.Request().Context()).RoleDef.Group)
}

// giveAccessReason records the reason and opens the record. Break glass
// needs a written reason and is always raised to IG.
func (s *Server) giveAccessReason(c echo.Context) error {
	nhs, err := nhsParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := UserFrom(ctx)
	f := s.reasonForm(c, nhs, c.FormValue("return"))
	f.Chosen = c.FormValue("reason")
	f.Detail = strings.TrimSpace(c.FormValue("detail"))
	g := store.AccessGrant{SessionHash: u.SessionHash, NHSNumber: nhs, Reason: f.Chosen, ExpiresAt: s.now().Add(s.cfg.GrantLifetime)}
	switch {
	case f.Chosen == BreakGlass && f.BreakGlass:
		switch n := utf8.RuneCountInString(f.Detail); {
		case n < 10:
			f.Errors = []views.FieldError{{Field: "detail", Message: "Explain why you need emergency access, in at least 10 characters"}}
		case n > 1000:
			f.Errors = []views.FieldError{{Field: "detail", Message: "Explanation must be 1,000 characters or fewer"}}
		}
		g.BreakGlass, g.Detail, g.ExpiresAt = true, f.Detail, s.now().Add(s.cfg.BreakGlassLifetime)
	case s.offeredReason(c, f.Chosen):
	default:
		// Nothing chosen, or a reason not offered to this user's role.
		f.Errors = []views.FieldError{{Field: "reason-" + firstReason(f.Reasons), Message: "Select why you are opening this record"}}
	}
	if len(f.Errors) > 0 {
		return render(c, http.StatusBadRequest, views.AccessReason(s.page(c, "Error: Why are you opening this record?"), f))
	}
	ev := store.AuditEvent{Action: store.ActReasonGiven, NHSNumber: nhs, Reason: g.Reason}
	if g.BreakGlass {
		ev.Action, ev.Detail = store.ActBreakGlass, g.Detail
	}
	if err := s.audit(c, ev); err != nil {
		return err
	}
	if _, err := s.db.GrantAccess(ctx, g); err != nil {
		return err
	}
	s.log.Info("access reason given", "user", u.ID, "reason", g.Reason, "break_glass", g.BreakGlass)
	to := f.Return
	if !strings.HasPrefix(to, "/patients/"+nhs) {
		to = "/patients/" + nhs
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// offeredReason reports whether code is a reason offered to the user's
// role group (break glass is not one: see breakGlassOffered).
func (s *Server) offeredReason(c echo.Context, code string) bool {
	g := UserFrom(c.Request().Context()).RoleDef.Group
	for _, r := range s.cfg.AccessReasons {
		if r.Code == code && r.For(g) {
			return true
		}
	}
	return false
}

func firstReason(rs []views.ReasonOption) string {
	if len(rs) == 0 {
		return BreakGlass
	}
	return rs[0].Code
}
