package records_test

import (
	"context"
	"testing"

	"github.com/carerecord/carerecord/records"
)

func TestOnlySourcesWithholdsTheRest(t *testing.T) {
	ctx := context.Background()
	own, other := newConn("RJZ"), newConn("RJ1")
	fx := newFixture(t, records.RecordOptions{}, own, other)
	only := records.OnlySources(ctx, func(ods string) bool { return ods == "RJZ" })
	v, err := fx.r.Open(only, "9990000018", false)
	if err != nil {
		t.Fatal(err)
	}
	if st := status(t, v, "RJ1"); st.State != records.StateWithheld || other.calls.Load() != 0 {
		t.Fatalf("other source: state %s, %d calls; want withheld and never asked", st.State, other.calls.Load())
	}
	if entriesFrom(v, "RJ1") != 0 || entriesFrom(v, "RJZ") == 0 {
		t.Fatal("the view holds the withheld source's entries, or lacks the allowed one's")
	}
	if status(t, v, "RJZ").State != records.StateLive || own.calls.Load() != 1 {
		t.Fatalf("own source: %s after %d calls", status(t, v, "RJZ").State, own.calls.Load())
	}
	cached, err := fx.db.CachedRecords(ctx, "9990000018")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cached {
		if c.Source == "RJ1" {
			t.Fatal("the withheld source's data was cached")
		}
	}
	// Cached data of the other source (from before the objection) is not
	// shown either.
	mustOpen(t, fx.r, "9990000018", false) // unrestricted: caches RJ1
	v, err = fx.r.Status(only, "9990000018")
	if err != nil || status(t, v, "RJ1").State != records.StateWithheld || entriesFrom(v, "RJ1") != 0 {
		t.Fatalf("status under the restriction shows the other source: %v", err)
	}
	v, err = fx.r.Open(only, "9990000018", false)
	if err != nil || entriesFrom(v, "RJ1") != 0 {
		t.Fatal("a cached record of the withheld source was shown")
	}
}
