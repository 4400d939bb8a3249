package web

import (
	"testing"
	"time"

	"github.com/carerecord/carerecord/records"
)

func view(nhs string, fetched time.Time, state records.SourceState, n int) *records.RecordView {
	v := &records.RecordView{NHSNumber: nhs, Sources: []records.SourceStatus{{Source: kings, State: state, FetchedAt: fetched}}}
	for i := range n {
		v.Entries = append(v.Entries, result(kings, string(rune('a'+i)), fetched.Add(-time.Duration(i)*time.Hour), "80", "umol/L"))
	}
	return v
}

func TestTimelineCache(t *testing.T) {
	c := newTimelineCache(10)
	at := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	a := c.items(view("9990000018", at, records.StateLive, 4))
	if b := c.items(view("9990000018", at, records.StateLive, 4)); &a[0] != &b[0] {
		t.Fatal("the same answers were folded twice")
	}
	// A new answer (fetch time) or another state is another timeline.
	if b := c.items(view("9990000018", at.Add(time.Minute), records.StateLive, 4)); &a[0] == &b[0] {
		t.Fatal("a newer answer reused the old timeline")
	}
	if b := c.items(view("9990000018", at, records.StateCached, 4)); &a[0] == &b[0] {
		t.Fatal("the same answers in another state reused the old timeline")
	}
	if b := c.items(view("9990000018", at, records.StateWithheld, 0)); len(b) != 0 {
		t.Fatal("a withheld view got the shared timeline")
	}
	// Bounded by entries held: 4 + 4 are held; 4 more evicts the oldest.
	c.items(view("9990000026", at, records.StateLive, 4))
	if c.held > 10 {
		t.Fatalf("%d entries held, bound is 10", c.held)
	}
	c.forget("9990000026")
	for key := range c.entries {
		if key[:10] == "9990000026" {
			t.Fatal("forget left a timeline of the patient")
		}
	}
}
