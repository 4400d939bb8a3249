package web

import (
	"sync"
	"time"

	"github.com/carerecord/carerecord/views"
)

// foundPatients keeps who a search by NHS number found, for the reason
// page it goes straight to: the user confirms the patient there (name,
// birth date, gender) as they would have on a one-row results list. An
// entry belongs to one session and one NHS number and lasts a few
// minutes; it holds what the search page would have shown, no more.
type foundPatients struct {
	mu sync.Mutex
	m  map[foundKey]foundPatient
}

type foundKey struct{ session, nhs string }

type foundPatient struct {
	who   views.Identified
	until time.Time
}

// foundLife is how long a search's patient is kept for the reason page
// (and a reload of it, or a wrong reason corrected).
const foundLife = 10 * time.Minute

// maxFound bounds the memory held, whatever the traffic.
const maxFound = 10000

func newFoundPatients() *foundPatients {
	return &foundPatients{m: map[foundKey]foundPatient{}}
}

func (f *foundPatients) put(session, nhs string, who views.Identified, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, p := range f.m {
		if !now.Before(p.until) || len(f.m) >= maxFound {
			delete(f.m, k)
		}
	}
	f.m[foundKey{session, nhs}] = foundPatient{who: who, until: now.Add(foundLife)}
}

// get returns who this session's search found with this NHS number, if
// it has not lapsed.
func (f *foundPatients) get(session, nhs string, now time.Time) (views.Identified, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.m[foundKey{session, nhs}]
	if !ok || !now.Before(p.until) {
		return views.Identified{}, false
	}
	return p.who, true
}
