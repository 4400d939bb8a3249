package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

func TestRecentPatients(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, store.WithClock(func() time.Time { return now }))
	for i := range 25 {
		now = now.Add(time.Minute)
		if err := db.TouchRecentPatient(ctx, "u1", fmt.Sprintf("99900%05d", i)); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute)
	must(t, db.TouchRecentPatient(ctx, "u1", "9990000010")) // reopened: moves to the top
	must(t, db.TouchRecentPatient(ctx, "u2", "9990000042")) // another user's list is separate
	got, err := db.RecentPatients(ctx, "u1", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 {
		t.Fatalf("%d kept, want the 20 most recent", len(got))
	}
	if got[0].NHSNumber != "9990000010" || !got[0].OpenedAt.Equal(now) {
		t.Fatalf("most recent = %+v", got[0])
	}
	for _, r := range got {
		if r.NHSNumber == "9990000042" {
			t.Fatal("another user's patient in the list")
		}
	}
	if lim, _ := db.RecentPatients(ctx, "u1", 5); len(lim) != 5 {
		t.Fatalf("limit: %d", len(lim))
	}
	// Reopened within minutes: the list keeps the earlier time.
	opened := now
	now = now.Add(time.Minute)
	must(t, db.TouchRecentPatient(ctx, "u1", "9990000010"))
	if got, _ := db.RecentPatients(ctx, "u1", 1); len(got) != 1 || !got[0].OpenedAt.Equal(opened) {
		t.Fatalf("reopened at once: %+v, want the time kept at %s", got, opened)
	}
}
