package records

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// PDSState says what the national demographics service (PDS) said of a
// patient on a record page.
type PDSState string

const (
	// PDSChecked: PDS answered with the patient; the banner is PDS's.
	PDSChecked PDSState = "checked"
	// PDSNoRecord: PDS holds no patient with this NHS number.
	PDSNoRecord PDSState = "no-record"
	// PDSInvalidated: PDS says the NHS number was invalidated.
	PDSInvalidated PDSState = "invalidated"
	// PDSFailed: PDS did not answer (in time); the banner falls back to the
	// sources and says PDS could not be checked.
	PDSFailed PDSState = "failed"
)

// PDSAnswer is PDS's part of a record page.
type PDSAnswer struct {
	Source connectors.Source
	State  PDSState
	// Patient is PDS's record (redacted when restricted) when State is
	// PDSChecked. Its NHSNumber differs from the page's when the number
	// asked for was superseded.
	Patient *connectors.Patient
	// Error says why PDS could not be checked, for the page (no patient
	// content: a SourceError's text).
	Error string
	At    time.Time
}

// pdsRetry is how long a PDS failure is remembered before PDS is asked
// again, so a PDS that is down does not hold every page to its deadline.
const pdsRetry = 30 * time.Second

// maxPDSMemo bounds the PDS answers held in memory.
const maxPDSMemo = 10000

// pdsMemo keeps PDS's answers for the fresh period: the record page, its
// fill-ins and its sub-pages ask once.
type pdsMemo struct {
	mu sync.Mutex
	m  map[string]PDSAnswer
}

func (m *pdsMemo) get(nhs string, now time.Time, fresh time.Duration) (PDSAnswer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.m[nhs]
	if !ok {
		return a, false
	}
	keep := fresh
	if a.State == PDSFailed {
		keep = min(fresh, pdsRetry)
	}
	if now.Sub(a.At) >= keep {
		delete(m.m, nhs)
		return a, false
	}
	return a, true
}

func (m *pdsMemo) put(nhs string, a PDSAnswer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil || len(m.m) >= maxPDSMemo {
		m.m = map[string]PDSAnswer{}
	}
	m.m[nhs] = a
}

func (m *pdsMemo) purge(nhs string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, nhs)
}

// PDSConfigured reports whether a national demographics service is asked.
func (r *Records) PDSConfigured() bool { return r.o.PDS != nil }

// askPDS returns PDS's answer for the NHS number, from memory within the
// fresh period, else asking PDS within the records' deadline. It returns
// nil when PDS is not configured.
func (r *Records) askPDS(ctx context.Context, nhs string) *PDSAnswer {
	if r.o.PDS == nil {
		return nil
	}
	now := r.o.Now()
	if a, ok := r.pds.get(nhs, now, r.o.Fresh); ok {
		return &a
	}
	src := r.o.PDS.Source()
	a := PDSAnswer{Source: src, At: now}
	dctx, cancel := context.WithTimeout(ctx, r.o.Deadline)
	defer cancel()
	res, answered := askWithin(dctx, func(ctx context.Context) (*connectors.Patient, error) { return r.o.PDS.Demographics(ctx, nhs) })
	switch {
	case !answered:
		a.State, a.Error = PDSFailed, timeoutMessage(src)
	case errors.Is(res.err, connectors.ErrNHSNumberInvalidated):
		a.State = PDSInvalidated
	case errors.Is(res.err, connectors.ErrNoRecord):
		a.State = PDSNoRecord
	case res.err != nil:
		_, a.Error = errorMessage(src, res.err)
		a.State = PDSFailed
		r.log.Warn("PDS read failed", "reason", a.Error, "detail", errorDetail(res.err))
	default:
		p := *res.v
		p.Source = src
		p.Redact()
		a.State, a.Patient = PDSChecked, &p
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return &a // the caller left: nothing learnt worth keeping
	}
	r.pds.put(nhs, a)
	return &a
}

// Current returns the NHS number PDS gives for nhs: another when nhs was
// superseded (records merged), else nhs itself, also when PDS is not
// configured or did not answer.
func (r *Records) Current(ctx context.Context, nhs string) string {
	a := r.askPDS(ctx, nhs)
	if a == nil || a.Patient == nil || a.Patient.NHSNumber == "" {
		return nhs
	}
	if _, err := connectors.ParseNHSNumber(a.Patient.NHSNumber); err != nil {
		return nhs
	}
	return a.Patient.NHSNumber
}

// SupersededBy returns the NHS number that PDS recently said replaced old,
// or "" when it said no such thing (or not recently). It never asks PDS.
func (r *Records) SupersededBy(old string) string {
	if r.o.PDS == nil {
		return ""
	}
	a, ok := r.pds.get(old, r.o.Now(), r.o.Fresh)
	if !ok || a.Patient == nil || a.Patient.NHSNumber == old {
		return ""
	}
	return a.Patient.NHSNumber
}

// applyPDS puts PDS's answer on the view. A record PDS marks restricted is
// restricted everywhere: every source's copy of the patient is redacted
// too, whatever the source says.
func applyPDS(view *RecordView, a *PDSAnswer) {
	view.PDS = a
	if a == nil || a.Patient == nil || !a.Patient.Restricted {
		return
	}
	for i := range view.Patients {
		view.Patients[i].Restricted = true
		view.Patients[i].Redact()
	}
}
