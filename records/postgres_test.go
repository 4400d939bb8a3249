package records_test

import (
	"context"
	"testing"
	"time"

	"github.com/carerecord/carerecord/records"
)

// TestPurgeReachesEveryNode: a patient purged on one node (an upheld
// objection) is dropped from the other node's memory too, and the shared
// cache holds nothing for them.
func TestPurgeReachesEveryNode(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	dsn := testDB(t)
	a := newFixtureAt(t, dsn, records.RecordOptions{}, newConn("RAA"))
	b := newFixtureAt(t, dsn, records.RecordOptions{}, newConn("RAA"))
	heard := make(chan string, 4)
	b.db.OnPurge(func(nhs string) { heard <- nhs })
	warm(t, b, nhsA)
	if err := a.r.Purge(ctx, nhsA); err != nil {
		t.Fatal(err)
	}
	select {
	case nhs := <-heard:
		if nhs != nhsA {
			t.Fatalf("heard a purge of %q, want %q", nhs, nhsA)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the other node never heard of the purge")
	}
	// Callbacks run in registration order: Records' own purge ran first.
	if n := b.r.MemoryCacheBytes(); n != 0 {
		t.Errorf("the other node still holds %d bytes of the patient's records in memory", n)
	}
	rows, err := b.db.CachedRecords(ctx, nhsA)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 0 {
		t.Errorf("the shared cache still holds %d rows for the patient", len(rows))
	}
}
