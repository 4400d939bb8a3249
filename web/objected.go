package web

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
)

// recordContext is the context under which a patient's record may be read
// for this user. With an upheld objection, and no emergency override, only
// the user's own organisation's data may be asked for, read from cache or
// shown: every other source is withheld (records.OnlySources). objected says
// whether the patient has an upheld objection.
func (s *Server) recordContext(c echo.Context, nhs string, g store.AccessGrant) (ctx context.Context, objected bool, err error) {
	ctx = c.Request().Context()
	objected, err = s.db.HasUpheldObjection(ctx, nhs)
	if err != nil || !objected || g.ObjectionOverride {
		return ctx, objected, err
	}
	own := ""
	if u := UserFrom(ctx); u != nil && u.Role != nil {
		own = u.Role.ODS
	}
	return records.OnlySources(ctx, func(ods string) bool { return own != "" && ods == own }), true, nil
}

// overrideObjection lets a user see an objecting patient's shared record
// in an emergency, where the configuration allows it: a written reason is
// required, the override is audited as such and raised to IG.
func (s *Server) overrideObjection(c echo.Context) error {
	nhs, err := nhsParam(c)
	if err != nil {
		return err
	}
	if !s.cfg.AllowObjectionOverride {
		return Errorf(EFORBIDDEN, "Objections cannot be overridden here",
			"This organisation's policy does not allow a patient's objection to sharing to be overridden. Contact the patient's GP or the other organisation directly.")
	}
	g, err := s.grantFor(c, nhs)
	if err != nil {
		return ignoreHandled(err)
	}
	ctx := c.Request().Context()
	objected, err := s.db.HasUpheldObjection(ctx, nhs)
	if err != nil {
		return err
	}
	if !objected {
		return c.Redirect(http.StatusSeeOther, "/patients/"+nhs)
	}
	why := strings.TrimSpace(c.FormValue("override_reason"))
	if n := utf8.RuneCountInString(why); n < 10 || n > 1000 {
		return Errorf(EINVALID, "Explain why you must override the objection",
			"Go back and write why the patient's care cannot go ahead without their shared record, in 10 to 1,000 characters.")
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActObjectionOverride, NHSNumber: nhs, Reason: g.Reason, Detail: why}); err != nil {
		return err
	}
	g.ObjectionOverride, g.Detail = true, why
	g.ExpiresAt = s.now().Add(s.cfg.BreakGlassLifetime)
	if _, err := s.db.GrantAccess(ctx, g); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/patients/"+nhs)
}
