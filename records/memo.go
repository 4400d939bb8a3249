package records

import (
	"container/list"
	"crypto/sha256"
	"sync"

	"github.com/carerecord/carerecord/store"
)

// recordMemo holds recently decoded cache rows in memory, so that a warm
// record page does not decrypt and decode every source's record again on
// every view (decoding was two thirds of a warm page's cost).
//
// It holds decrypted clinical data in process memory, so it is kept
// small and short-lived:
//   - bounded by an estimate of the bytes it holds, least recently used
//     first out;
//   - an entry is used only while its row is within the fresh period (the
//     TTL) and only if the database row still has the same fetch time and
//     state, so it can never show what the cache no longer holds;
//   - Records.Purge (objections rely on it) drops the patient's entries,
//     PurgeExpired drops expired ones, and Close drops everything.
//
// Entries are shared, read-only, between concurrent page views, as a
// single-flight answer already is.
type recordMemo struct {
	max int64 // bytes; 0 disables the memo

	mu   sync.Mutex
	used int64
	// gen changes on every purge, so that a decode that read its row
	// before a purge cannot put the row back after it.
	gen uint64
	m   map[memoKey]*list.Element
	lru list.List // of *memoEntry, most recently used at the front
}

type memoKey struct {
	patientKey [sha256.Size]byte // the pseudonymised patient key
	source     string
}

func keyOf(patientKey []byte, source string) memoKey {
	k := memoKey{source: source}
	copy(k.patientKey[:], patientKey)
	return k
}

type memoEntry struct {
	key       memoKey
	fetchedAt int64
	state     string
	cr        store.CachedRecord
	size      int64
}

// DefaultMemoryCacheBytes bounds the in-memory cache of decoded records.
const DefaultMemoryCacheBytes = 64 << 20

func newRecordMemo(max int64) *recordMemo {
	return &recordMemo{max: max, m: map[memoKey]*list.Element{}}
}

func (m *recordMemo) enabled() bool { return m != nil && m.max > 0 }

// generation is read before a row's body is read from the database.
func (m *recordMemo) generation() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

// get returns the decoded row if it is held for exactly this row and the
// row was fetched after freshSince.
func (m *recordMemo) get(row *store.CacheRow, freshSince int64) (store.CachedRecord, bool) {
	if !m.enabled() {
		return store.CachedRecord{}, false
	}
	k := keyOf(row.PatientKey, row.Source)
	m.mu.Lock()
	defer m.mu.Unlock()
	el := m.m[k]
	if el == nil {
		return store.CachedRecord{}, false
	}
	e := el.Value.(*memoEntry)
	if e.fetchedAt < freshSince {
		m.remove(el)
		return store.CachedRecord{}, false
	}
	if e.fetchedAt != row.FetchedMS || e.state != row.State {
		return store.CachedRecord{}, false
	}
	m.lru.MoveToFront(el)
	return e.cr, true
}

// put holds a decoded row unless a purge ran since gen was read.
// plaintextLen is the size of the decrypted body, from which the decoded
// size is estimated.
func (m *recordMemo) put(gen uint64, row *store.CacheRow, cr store.CachedRecord, plaintextLen int) {
	if !m.enabled() {
		return
	}
	// Decoded Go values take about twice their JSON size; the constant
	// covers the entry itself.
	size := int64(2*plaintextLen) + 512
	if size > m.max/4 {
		return // one patient must not push everyone else out
	}
	k := keyOf(row.PatientKey, row.Source)
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		return
	}
	if el := m.m[k]; el != nil {
		m.remove(el)
	}
	e := &memoEntry{key: k, fetchedAt: row.FetchedMS, state: row.State, cr: cr, size: size}
	m.m[k] = m.lru.PushFront(e)
	m.used += size
	for m.used > m.max {
		m.remove(m.lru.Back())
	}
}

func (m *recordMemo) remove(el *list.Element) {
	e := m.lru.Remove(el).(*memoEntry)
	delete(m.m, e.key)
	m.used -= e.size
}

// dropPatient forgets the patient's rows from the given sources.
func (m *recordMemo) dropPatient(patientKey []byte, sources []string) {
	if !m.enabled() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	for _, s := range sources {
		if el := m.m[keyOf(patientKey, s)]; el != nil {
			m.remove(el)
		}
	}
}

// dropBefore forgets every row fetched before t (unix ms).
func (m *recordMemo) dropBefore(t int64) {
	if !m.enabled() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	for _, el := range m.m {
		if el.Value.(*memoEntry).fetchedAt < t {
			m.remove(el)
		}
	}
}

// clear forgets everything.
func (m *recordMemo) clear() {
	if !m.enabled() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	clear(m.m)
	m.lru.Init()
	m.used = 0
}

// bytes returns the estimated size held.
func (m *recordMemo) bytes() int64 {
	if !m.enabled() {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}
