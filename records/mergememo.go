package records

import (
	"container/list"
	"fmt"
	"strings"
	"sync"

	"github.com/carerecord/carerecord/connectors"
)

// A nil *mergeMemo caches nothing.
//
// mergeMemo keeps the merged timelines of recently viewed patients, keyed
// by the identity of the source records they were merged from. Warm views
// reuse the same decoded records (recordMemo), so a patient with thousands
// of entries need not be merged again on every view. An item holds its
// source records, so their addresses (the key) cannot be reused while it
// is cached. Bounded by entries held; cleared for a patient by Purge and
// entirely by PurgeExpired and Close. The merged slice is shared: callers
// must not modify a RecordView's Entries.
type mergeMemo struct {
	mu    sync.Mutex
	max   int
	held  int
	order *list.List
	m     map[string]*list.Element
}

type mergeItem struct {
	key, nhs string
	recs     []*connectors.Record
	entries  []connectors.Entry
}

func newMergeMemo(maxEntries int) *mergeMemo {
	return &mergeMemo{max: maxEntries, order: list.New(), m: map[string]*list.Element{}}
}

func mergeKey(nhs string, recs []*connectors.Record) string {
	var b strings.Builder
	b.WriteString(nhs)
	for _, r := range recs {
		fmt.Fprintf(&b, "|%p", r)
	}
	return b.String()
}

func (m *mergeMemo) get(key string) ([]connectors.Entry, bool) {
	if m == nil {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.m[key]; ok {
		m.order.MoveToFront(el)
		return el.Value.(*mergeItem).entries, true
	}
	return nil, false
}

func (m *mergeMemo) put(key, nhs string, recs []*connectors.Record, entries []connectors.Entry) {
	if m == nil || len(entries) > m.max {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[key]; ok {
		return
	}
	m.m[key] = m.order.PushFront(&mergeItem{key: key, nhs: nhs, recs: recs, entries: entries})
	m.held += len(entries)
	for m.held > m.max {
		m.remove(m.order.Back())
	}
}

func (m *mergeMemo) remove(el *list.Element) {
	it := el.Value.(*mergeItem)
	m.order.Remove(el)
	delete(m.m, it.key)
	m.held -= len(it.entries)
}

func (m *mergeMemo) dropPatient(nhs string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, el := range m.m {
		if el.Value.(*mergeItem).nhs == nhs {
			m.remove(el)
		}
	}
}

func (m *mergeMemo) clear() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.order.Init()
	m.m = map[string]*list.Element{}
	m.held = 0
}
