package web

import (
	"container/list"
	"strconv"
	"strings"
	"sync"

	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/views"
)

// timelineCache keeps the deduplicated timeline of recently viewed
// records. Folding a long history (thousands of entries) is most of the
// cost of a view, and the result only changes when a source's answer
// does: the key names every source's state and fetch time. Items are
// shared and must be treated as read-only by callers (recordPage copies
// what it changes). Bounded by the number of entries held, so decrypted
// clinical content held here stays small.
type timelineCache struct {
	mu      sync.Mutex
	max     int // entries
	held    int
	order   *list.List // front = most recently used
	entries map[string]*list.Element
}

type timelineItem struct {
	key   string
	items []views.Item
}

func newTimelineCache(maxEntries int) *timelineCache {
	return &timelineCache{max: maxEntries, order: list.New(), entries: map[string]*list.Element{}}
}

// viewKey identifies the answers a view is made of.
func viewKey(v *records.RecordView) string {
	var b strings.Builder
	b.WriteString(v.NHSNumber)
	for _, s := range v.Sources {
		b.WriteByte('|')
		b.WriteString(s.Source.ODS)
		b.WriteByte(':')
		b.WriteString(string(s.State))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(s.FetchedAt.UnixNano(), 36))
	}
	b.WriteByte('#')
	b.WriteString(strconv.Itoa(len(v.Entries)))
	return b.String()
}

// items returns the deduplicated timeline for v, from the cache when the
// same answers were folded before.
func (c *timelineCache) items(v *records.RecordView) []views.Item {
	key := viewKey(v)
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		items := el.Value.(*timelineItem).items
		c.mu.Unlock()
		return items
	}
	c.mu.Unlock()
	items := dedupe(v.Entries)
	if len(items) > c.max {
		return items
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok {
		c.entries[key] = c.order.PushFront(&timelineItem{key: key, items: items})
		c.held += len(items)
		for c.held > c.max {
			last := c.order.Back()
			t := last.Value.(*timelineItem)
			c.order.Remove(last)
			delete(c.entries, t.key)
			c.held -= len(t.items)
		}
	}
	return items
}

// forget drops every cached timeline of a patient (an objection upheld:
// nothing of other organisations may stay in memory either); with "",
// every patient's (purge notices from other nodes may have been missed).
func (c *timelineCache) forget(nhs string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, el := range c.entries {
		if nhs == "" || strings.HasPrefix(key, nhs+"|") {
			c.held -= len(el.Value.(*timelineItem).items)
			c.order.Remove(el)
			delete(c.entries, key)
		}
	}
}
