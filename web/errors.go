package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// ErrorCode classifies an error for the person who meets it.
type ErrorCode string

// The error codes and the statuses they map to (statusOf).
const (
	EINVALID      ErrorCode = "invalid"
	EUNAUTHORIZED ErrorCode = "unauthorized"
	EFORBIDDEN    ErrorCode = "forbidden"
	ENOTFOUND     ErrorCode = "not_found"
	ECONFLICT     ErrorCode = "conflict"
	ETOOMANY      ErrorCode = "too_many_requests"
	ETIMEOUT      ErrorCode = "timeout"
	EINTERNAL     ErrorCode = "internal"
	EUNAVAILABLE  ErrorCode = "unavailable"
)

var statusOf = map[ErrorCode]int{
	EINVALID:      http.StatusBadRequest,
	EUNAUTHORIZED: http.StatusUnauthorized,
	EFORBIDDEN:    http.StatusForbidden,
	ENOTFOUND:     http.StatusNotFound,
	ECONFLICT:     http.StatusConflict,
	ETOOMANY:      http.StatusTooManyRequests,
	ETIMEOUT:      http.StatusRequestTimeout,
	EINTERNAL:     http.StatusInternalServerError,
	EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// Error is an error with a code and a message a person can act on. Err,
// if set, is logged; Message is shown. Neither may hold clinical content.
type Error struct {
	Code    ErrorCode
	Title   string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Title, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Title)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted message.
func Errorf(code ErrorCode, title, format string, args ...any) *Error {
	return &Error{Code: code, Title: title, Message: fmt.Sprintf(format, args...)}
}

// handleError renders every error as a page a person can act on.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	title := "Sorry, there is a problem with the service"
	msg := "Try again later. If the problem continues, contact your IT service desk."
	var we *Error
	var he *echo.HTTPError
	if store.IsUnreachable(err) {
		// Whichever read or write met it first (the session, the audit
		// log, a page's own query), and however it was wrapped.
		s.databaseUnreachable(c, err)
		return
	}
	if !errors.As(err, &we) && store.IsWriteFailure(err) {
		err = notRecorded(err)
	}
	switch {
	case errors.As(err, &we):
		status = statusOf[we.Code]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		title, msg = we.Title, we.Message
	case errors.As(err, &he):
		status = he.Code
		switch status {
		case http.StatusNotFound:
			title, msg = "Page not found", "If you typed the web address, check it is correct."
		case http.StatusMethodNotAllowed:
			title, msg = "This action is not available here", "Go back and try again from the page you were on."
		case http.StatusRequestEntityTooLarge:
			title, msg = "The request was too large", "Go back and try again with less data."
		default:
			if status < 500 {
				title, msg = http.StatusText(status), fmt.Sprint(he.Message)
			}
		}
	}
	if status >= 500 {
		s.log.Error("request failed", "method", c.Request().Method, "route", c.Path(), "status", status, "error", err.Error())
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if rerr := render(c, status, views.ErrorPage(s.page(c, title), status, title, msg)); rerr != nil {
		s.log.Error("render error page", "error", rerr.Error())
		if !c.Response().Committed {
			// Nothing was written: send the status alone, so neither the
			// client nor the request log sees an empty 200.
			c.Response().WriteHeader(status)
		}
	}
}

// The answer while the database cannot be reached. Nothing that needs the
// database can be shown, and above all no patient's record: a view that
// cannot be recorded in the audit log is not shown.
const (
	dbDownTitle   = "carerecord cannot reach its database just now"
	dbDownMessage = "No patient record is shown while accesses cannot be recorded. " +
		"Try again in a minute; if it goes on, contact your IT service desk."
	// dbDownRetryAfter is how long a client is asked to wait, in seconds.
	dbDownRetryAfter = "60"
)

// databaseUnreachable answers 503 with Retry-After and no-store: a page in
// the service's layout for a browser, JSON for a client that asks for
// JSON, plain text for any other that does not take HTML. The error is
// logged (it never holds clinical content); the person is told what
// happened and what to do, in plain words.
func (s *Server) databaseUnreachable(c echo.Context, err error) {
	s.log.Error("database unreachable", "method", c.Request().Method, "route", c.Path(), "error", err.Error())
	h := c.Response().Header()
	h.Set("Retry-After", dbDownRetryAfter)
	h.Set("Cache-Control", "no-store")
	const status = http.StatusServiceUnavailable
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	switch preferredType(c.Request().Header.Get("Accept")) {
	case "application/json":
		_ = c.JSON(status, map[string]string{"error": "database_unreachable", "title": dbDownTitle, "message": dbDownMessage})
		return
	case "text/plain":
		_ = c.String(status, dbDownTitle+". "+dbDownMessage+"\n")
		return
	}
	if rerr := render(c, status, views.ErrorPage(s.page(c, dbDownTitle), status, dbDownTitle, dbDownMessage)); rerr != nil {
		s.log.Error("render error page", "error", rerr.Error())
		if !c.Response().Committed {
			c.Response().WriteHeader(status)
		}
	}
}

// preferredType is what a client's Accept header asks for among the
// three answers an error has: "text/html" (also for a missing header or
// one that takes anything), "application/json" or "text/plain".
func preferredType(accept string) string {
	if accept == "" {
		return "text/html"
	}
	best, bestQ := "text/html", -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				continue
			}
		}
		var t string
		switch mt {
		case "text/html", "application/xhtml+xml", "*/*", "text/*":
			t = "text/html"
		case "application/json":
			t = "application/json"
		case "text/plain":
			t = "text/plain"
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = t, q
		}
	}
	return best
}
