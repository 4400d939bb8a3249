package web

import (
	"sync"
	"time"
)

// ObjectionLimits bound how many objection forms are stored: per client
// address, and in all, within a sliding window. The global limit stops a
// flood from many addresses (eight addresses could store forty cases an
// hour under the per-address limit alone); each time it turns forms away
// the IG objection queue says so.
type ObjectionLimits struct {
	PerAddress int
	Global     int
	Window     time.Duration
}

// DefaultObjectionLimits: five forms an hour from one address, fifty an
// hour in all (far above the honest rate of a few a day).
func DefaultObjectionLimits() ObjectionLimits {
	return ObjectionLimits{PerAddress: 5, Global: 50, Window: time.Hour}
}

// objectionLimiter applies both limits and remembers when the global one
// turned forms away.
type objectionLimiter struct {
	limits  ObjectionLimits
	address *rateLimiter

	mu     sync.Mutex
	stored []time.Time  // stored forms within the window, oldest first
	trips  []GlobalTrip // newest last, at most maxTrips
}

// GlobalTrip is one spell in which the global limit turned forms away:
// from the first refusal to the last, with no gap longer than the window.
type GlobalTrip struct {
	From, To time.Time
	Refused  int
}

// maxTrips keeps the queue's notice short; older spells are in the log.
const maxTrips = 10

func newObjectionLimiter(l ObjectionLimits) *objectionLimiter {
	return &objectionLimiter{limits: l, address: newRateLimiter(l.PerAddress, l.Window)}
}

// Limit results.
const (
	limitOK = iota
	limitAddress
	limitGlobal
)

// take records a form from addr at now, or says which limit refused it.
func (o *objectionLimiter) take(addr string, now time.Time) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	cut := now.Add(-o.limits.Window)
	i := 0
	for i < len(o.stored) && !o.stored[i].After(cut) {
		i++
	}
	o.stored = o.stored[i:]
	if len(o.stored) >= o.limits.Global {
		if n := len(o.trips); n > 0 && now.Sub(o.trips[n-1].To) <= o.limits.Window {
			o.trips[n-1].To = now
			o.trips[n-1].Refused++
		} else {
			o.trips = append(o.trips, GlobalTrip{From: now, To: now, Refused: 1})
			if len(o.trips) > maxTrips {
				o.trips = o.trips[len(o.trips)-maxTrips:]
			}
		}
		return limitGlobal
	}
	if !o.address.take(addr, now) {
		return limitAddress
	}
	o.stored = append(o.stored, now)
	return limitOK
}

// globalTrips returns the spells in which the global limit turned forms
// away, newest first.
func (o *objectionLimiter) globalTrips() []GlobalTrip {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]GlobalTrip, len(o.trips))
	for i, t := range o.trips {
		out[len(out)-1-i] = t
	}
	return out
}
