package web

import (
	"errors"
	"fmt"
	"net/http"

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
