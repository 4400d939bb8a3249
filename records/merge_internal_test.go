package records

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// The one-pass merge must give exactly the order of sorting every
// source's entries together, ties, undated entries and repeated IDs
// included.
func TestMergeOrderIsSortNewestFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for round := range 200 {
		var answers []answer
		var all []connectors.Entry
		for s := range 1 + rng.IntN(8) {
			src := connectors.Source{Name: "S", ODS: []string{"RJZ", "RJ1", "G85991", "R1", "RJ", "A", "RJZZ", "B1"}[s]}
			rec := &connectors.Record{}
			for i := range rng.IntN(60) {
				e := connectors.Entry{Source: src, ID: fmt.Sprintf("Observation/%d", rng.IntN(40)), Title: fmt.Sprint(round, s, i)}
				if rng.IntN(10) > 0 {
					e.Date = base.Add(time.Duration(rng.IntN(20)) * time.Hour) // many ties
				}
				rec.Entries = append(rec.Entries, e)
			}
			if rng.IntN(2) == 0 {
				connectors.SortNewestFirst(rec.Entries) // as decoded rows are
			}
			all = append(all, rec.Entries...)
			answers = append(answers, answer{rec: rec}, answer{}) // a source with nothing too
		}
		want := slices.Clone(all)
		connectors.SortNewestFirst(want)
		before := slices.Clone(all)
		var v RecordView
		(&Records{}).merge(&v, answers)
		if len(v.Entries) != len(want) {
			t.Fatalf("round %d: %d entries, want %d", round, len(v.Entries), len(want))
		}
		for i := range want {
			if v.Entries[i].Title != want[i].Title {
				t.Fatalf("round %d: entry %d is %q (%s %s), want %q (%s %s)", round, i,
					v.Entries[i].Title, v.Entries[i].Key(), v.Entries[i].Date, want[i].Title, want[i].Key(), want[i].Date)
			}
		}
		var after []connectors.Entry
		for _, a := range answers {
			if a.rec != nil {
				after = append(after, a.rec.Entries...)
			}
		}
		for i := range before {
			if before[i].Title != after[i].Title {
				t.Fatalf("round %d: merge reordered a shared record", round)
			}
		}
	}
}
