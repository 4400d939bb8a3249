package records

import (
	"sync"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// Source health for the administrator's status page: what each source's
// fetches came to over the last hour and the last day. It is kept in this
// node's memory only (one counter per source per minute, a day of them): it
// starts empty when the node starts, and each node of several counts only
// the fetches it made itself.

// HealthCounts is what a source's fetches came to over some period.
type HealthCounts struct {
	// Answers: fetches the source answered (a record, or "no record")
	// within the page's deadline.
	Answers int
	// Timeouts: fetches not answered within the page's deadline, whether
	// or not the answer came later, in the background, for the cache.
	Timeouts int
	// Errors: fetches the source answered with an error, or that could not
	// reach it.
	Errors int
}

// Total is every fetch counted.
func (h HealthCounts) Total() int { return h.Answers + h.Timeouts + h.Errors }

// SourceHealth is one source's recent health on this node.
type SourceHealth struct {
	Source    connectors.Source
	Hour, Day HealthCounts
}

const healthMinutes = 24 * 60

// healthMinute is one source's counts in one minute (since the epoch).
type healthMinute struct {
	minute int64
	counts HealthCounts
}

// healthLog keeps a day of per-minute counts for each source.
type healthLog struct {
	mu       sync.Mutex
	bySource map[string]*[healthMinutes]healthMinute
}

type healthOutcome int

const (
	healthAnswer healthOutcome = iota
	healthTimeout
	healthError
)

func (l *healthLog) note(ods string, o healthOutcome, at time.Time) {
	m := at.Unix() / 60
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bySource == nil {
		l.bySource = map[string]*[healthMinutes]healthMinute{}
	}
	ring := l.bySource[ods]
	if ring == nil {
		ring = new([healthMinutes]healthMinute)
		l.bySource[ods] = ring
	}
	b := &ring[m%healthMinutes]
	if b.minute != m {
		*b = healthMinute{minute: m}
	}
	switch o {
	case healthAnswer:
		b.counts.Answers++
	case healthTimeout:
		b.counts.Timeouts++
	default:
		b.counts.Errors++
	}
}

// counts sums the source's minutes in the last hour and the last day
// before now.
func (l *healthLog) counts(ods string, now time.Time) (hour, day HealthCounts) {
	m := now.Unix() / 60
	l.mu.Lock()
	defer l.mu.Unlock()
	ring := l.bySource[ods]
	if ring == nil {
		return
	}
	for _, b := range ring {
		age := m - b.minute
		if b.minute == 0 || age < 0 || age >= healthMinutes {
			continue
		}
		day.add(b.counts)
		if age < 60 {
			hour.add(b.counts)
		}
	}
	return
}

func (h *HealthCounts) add(o HealthCounts) {
	h.Answers += o.Answers
	h.Timeouts += o.Timeouts
	h.Errors += o.Errors
}

// Health returns each configured source's recent health on this node, in
// the order the sources are configured.
func (r *Records) Health() []SourceHealth {
	now := r.o.Now()
	out := make([]SourceHealth, len(r.srcs))
	for i, s := range r.srcs {
		out[i].Source = s
		out[i].Hour, out[i].Day = r.health.counts(s.ODS, now)
	}
	return out
}
