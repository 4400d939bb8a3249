package connectors

import (
	"errors"
	"fmt"
)

// ErrorKind classifies why a source could not answer.
type ErrorKind string

const (
	// ErrTimeout: the source did not answer before the deadline.
	ErrTimeout ErrorKind = "timeout"
	// ErrCanceled: the caller gave up (the request was cancelled).
	ErrCanceled ErrorKind = "canceled"
	// ErrUnavailable: the source could not be reached (connection refused
	// or reset, DNS, TLS handshake).
	ErrUnavailable ErrorKind = "unavailable"
	// ErrStatus: the source answered with an HTTP error status.
	ErrStatus ErrorKind = "status"
	// ErrMalformed: the answer could not be read (not JSON, not the
	// expected shape, or too large).
	ErrMalformed ErrorKind = "malformed"
	// ErrRefused: the source answered with an OperationOutcome instead of
	// results.
	ErrRefused ErrorKind = "refused"
)

// SourceError is a failure to get an answer from one source. Error() is a
// short phrase that can be shown on a page ("Guy's and St Thomas': did not
// answer in time"); it never contains patient information or anything the
// source wrote, only the source and what went wrong. Category() is the same
// in a few words for a connectors.Gap. Detail is for the logs only. Err
// holds the underlying cause for errors.Is/As (for example
// context.DeadlineExceeded for a timeout); its text may quote the request
// (and so the patient's identifiers) and is never shown or logged.
type SourceError struct {
	Source Source
	Kind   ErrorKind
	// Status is the HTTP status for ErrStatus (and for ErrRefused when the
	// source sent one); otherwise 0.
	Status int
	// Detail says more for the logs, built only from structured parts of
	// the answer (an OperationOutcome's severity and issue codes, the size
	// cap that was hit), never from the source's free text: diagnostics and
	// error pages may quote the request or the patient, and a Java stack
	// trace is no business of a page or a log. It is never part of Error()
	// or Category(); may be empty.
	Detail string
	// Outcome, when set, is what the source answered in the connector's
	// own fixed words ("the patient has dissented from sharing their GP
	// record"), shown instead of the generic "declined the request": a
	// phrase from the connector's table, never the source's text.
	Outcome string
	Err     error
}

func (e *SourceError) Error() string {
	var what string
	switch e.Kind {
	case ErrTimeout:
		what = "did not answer in time"
	case ErrCanceled:
		what = "request was cancelled"
	case ErrUnavailable:
		what = "could not be reached"
	case ErrStatus:
		switch e.Status {
		case 401, 403:
			what = fmt.Sprintf("refused access (HTTP %d)", e.Status)
		case 404:
			what = "answered “not found” (HTTP 404)"
		case 503:
			what = "is temporarily unavailable (HTTP 503)"
		default:
			what = fmt.Sprintf("answered with an error (HTTP %d)", e.Status)
		}
	case ErrMalformed:
		what = "sent an answer that could not be read"
	case ErrRefused:
		what = "declined the request"
		if e.Outcome != "" {
			what = e.Outcome
		}
	default:
		what = "failed"
	}
	return e.Source.Name + ": " + what
}

// Category is the failure in a few words, without the source's name, for
// a connectors.Gap's Reason: "timed out", "HTTP 500", "refused",
// "unreadable answer", "not reached", "cancelled".
func (e *SourceError) Category() string {
	switch e.Kind {
	case ErrTimeout:
		return "timed out"
	case ErrCanceled:
		return "cancelled"
	case ErrUnavailable:
		return "not reached"
	case ErrStatus:
		return fmt.Sprintf("HTTP %d", e.Status)
	case ErrMalformed:
		return "unreadable answer"
	case ErrRefused:
		return "refused"
	}
	return "failed"
}

func (e *SourceError) Unwrap() error { return e.Err }

// KindOf returns the ErrorKind of the first SourceError in err's chain, or
// "" when there is none.
func KindOf(err error) ErrorKind {
	if se, ok := errors.AsType[*SourceError](err); ok {
		return se.Kind
	}
	return ""
}
