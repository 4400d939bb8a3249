package web

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/carerecord/carerecord/views"
)

// refreshOutcomes keeps what each source did on a "Refresh from every
// source" for the page the refresh redirects to (post/redirect/get): the
// record is read again from the cache the refresh filled, where a source
// that failed the refresh would look merely cached. An outcome belongs to
// one session and one patient, is found by the token in the address, and
// lasts a few minutes; it holds no clinical content.
type refreshOutcomes struct {
	mu   sync.Mutex
	byID map[string]refreshOutcome
}

type refreshOutcome struct {
	session, nhs string
	sources      []views.SourceLine
	until        time.Time
}

// refreshOutcomeLife is how long a refresh's outcome is kept for its page
// (and a reload of it).
const refreshOutcomeLife = 5 * time.Minute

// maxRefreshOutcomes bounds the memory held, whatever the traffic.
const maxRefreshOutcomes = 10000

func newRefreshOutcomes() *refreshOutcomes {
	return &refreshOutcomes{byID: map[string]refreshOutcome{}}
}

// put keeps the outcome and returns its token.
func (r *refreshOutcomes) put(session, nhs string, sources []views.SourceLine, now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, o := range r.byID {
		if !now.Before(o.until) || len(r.byID) >= maxRefreshOutcomes {
			delete(r.byID, k)
		}
	}
	r.byID[id] = refreshOutcome{session: session, nhs: nhs, sources: sources, until: now.Add(refreshOutcomeLife)}
	return id
}

// get returns the outcome of the refresh with that token, if it is this
// session's, for this patient, and not yet lapsed.
func (r *refreshOutcomes) get(id, session, nhs string, now time.Time) ([]views.SourceLine, bool) {
	if id == "" {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.byID[id]
	if !ok || o.session != session || o.nhs != nhs || !now.Before(o.until) {
		return nil, false
	}
	return o.sources, true
}
