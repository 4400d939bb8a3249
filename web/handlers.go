package web

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// showHealth answers while the process is alive.
func (s *Server) showHealth(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// showReady answers 200 only when the database answers.
func (s *Server) showReady(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.Error("not ready", "error", err.Error())
		return c.String(http.StatusServiceUnavailable, "database unavailable\n")
	}
	if al, bad := s.db.AuditAlarm(); bad {
		s.log.Error("not ready: audit log refused", "problem", al.Problem)
		return c.String(http.StatusServiceUnavailable, "audit log refused: it does not match its witness or is not intact\n")
	}
	// Ready means able to audit: a database that answers reads but takes
	// no writes would show every page as "cannot record this access".
	if err := s.db.CheckWrite(ctx); err != nil {
		s.log.Error("not ready", "error", err.Error())
		return c.String(http.StatusServiceUnavailable, "database cannot be written\n")
	}
	return c.String(http.StatusOK, "ready\n")
}

// showServiceStatus is the system administrator's home: the state of the
// service, and nothing about any patient.
func (s *Server) showServiceStatus(c echo.Context) error {
	ctx := c.Request().Context()
	st := views.ServiceStatus{
		Version:   s.cfg.Version,
		GoVersion: runtime.Version(),
		Started:   s.started,
		Uptime:    s.now().Sub(s.started).Round(time.Second),
		Database:  s.db.Path(),
		DevSignIn: s.cfg.DevIdP != nil || s.cfg.DevOP != nil,
	}
	if s.cfg.IDPMetadata != nil {
		st.IdP = s.cfg.IDPMetadata.EntityID
	}
	if s.cfg.OIDC != nil {
		st.IdP = strings.TrimPrefix(st.IdP+", "+s.cfg.OIDC.Issuer(), ", ")
	}
	st.Engine = s.db.EngineName()
	if err := s.db.Ping(ctx); err != nil {
		st.DatabaseError = "not answering"
	}
	st.Schema, _ = s.db.SchemaVersion(ctx)
	st.LiveSessions, _ = s.db.CountLiveSessions(ctx)
	if s.cfg.Records != nil {
		for _, h := range s.cfg.Records.Health() {
			st.Sources = append(st.Sources, views.SourceHealth{Name: h.Source.Name, ODS: h.Source.ODS,
				Hour: views.HealthCounts(h.Hour), Day: views.HealthCounts(h.Day)})
		}
	}
	st.AuditHead, st.AuditHeadTime = s.db.AuditHead()
	if v, ok, err := s.db.LastVerification(ctx); err == nil && ok {
		st.Verified = true
		st.Verification = views.AuditVerification{At: v.At, OK: v.OK, Events: v.Events, HeadSeq: v.HeadSeq, Problem: v.Problem}
	}
	if al, bad := s.db.AuditAlarm(); bad {
		st.AuditRefused = al.Problem
	}
	st.AuditGuard = "Not Known: could not be checked"
	if g, err := s.db.AuditGuard(ctx); err == nil {
		st.AuditGuard = guardState(g)
	}
	return render(c, http.StatusOK, views.StatusPage(s.page(c, "Service status"), st))
}

// guardState says in plain words whether the audit tables' append-only
// guard is in force and, on PostgreSQL, whether the role the nodes
// connect as could lift it (then only the chain, its key and the
// witnesses would show a change).
func guardState(g store.AuditGuard) string {
	switch {
	case !g.InForce:
		return "Not in force: " + g.Problem
	case g.Role == "":
		return "In force: triggers refuse any change to or deletion of events"
	case g.Superuser:
		return "In force, but the database role " + g.Role + " is a superuser and could lift it"
	case g.OwnsTables:
		return "In force, but the database role " + g.Role + " owns the audit tables and could lift it"
	default:
		return "In force: the database role " + g.Role + " cannot lift it"
	}
}
