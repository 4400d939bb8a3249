package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

// TestVisitRecord checks what counts as new since a user last looked: the
// first visit marks nothing, a later visit marks what arrived since the
// previous one, pages of one visit do not clear the marks, and each user
// and each record has its own.
func TestVisitRecord(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, store.WithClock(func() time.Time { return now }))
	visit := func(user, nhs string, keys ...string) store.RecordVisit {
		t.Helper()
		v, err := db.VisitRecord(ctx, user, nhs, keys)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := visit("u1", "9990000018", "RJZ/Observation/a", "RJZ/Observation/b")
	t.Run("FirstVisitMarksNothing", func(t *testing.T) {
		if !first.First || first.New("RJZ/Observation/a") || first.New("RJZ/Observation/z") {
			t.Errorf("first visit: %+v, new a=%v z=%v", first, first.New("RJZ/Observation/a"), first.New("RJZ/Observation/z"))
		}
	})
	t.Run("LaterPageOfTheSameVisit", func(t *testing.T) {
		// Sources filling in during the visit: seen, not new next time.
		now = now.Add(10 * time.Minute)
		v := visit("u1", "9990000018", "RJZ/Observation/a", "RJZ/Observation/b", "RJ1/Observation/c")
		if !v.First {
			t.Errorf("a page of the first visit is not a first visit: %+v", v)
		}
	})
	lastPage := now
	t.Run("NextVisitMarksWhatArrived", func(t *testing.T) {
		now = now.Add(3 * 24 * time.Hour)
		v := visit("u1", "9990000018", "RJZ/Observation/a", "RJZ/Observation/b", "RJ1/Observation/c", "RJZ/DocumentReference/d")
		if v.First || !v.Since.Equal(lastPage) {
			t.Fatalf("visit %+v, want one since %v", v, lastPage)
		}
		for key, want := range map[string]bool{"RJZ/Observation/a": false, "RJ1/Observation/c": false, "RJZ/DocumentReference/d": true} {
			if got := v.New(key); got != want {
				t.Errorf("New(%s) = %v, want %v", key, got, want)
			}
		}
		// The next page of this visit still marks the same.
		now = now.Add(time.Minute)
		again := visit("u1", "9990000018", "RJZ/Observation/a", "RJZ/DocumentReference/d")
		if !again.New("RJZ/DocumentReference/d") || !again.Since.Equal(lastPage) {
			t.Errorf("the visit's next page lost the mark: %+v", again)
		}
	})
	t.Run("EachUserAndRecordApart", func(t *testing.T) {
		if v := visit("u2", "9990000018", "RJZ/Observation/a"); !v.First {
			t.Errorf("another user's first visit: %+v", v)
		}
		if v := visit("u1", "9990000026", "RJZ/Observation/a"); !v.First {
			t.Errorf("the user's first visit to another record: %+v", v)
		}
	})
}

// TestVisitRecordWithNothingToMark: a record holding no results, letters
// or reports is visited like any other.
func TestVisitRecordWithNothingToMark(t *testing.T) {
	db := MustOpenDB(t)
	for range 2 {
		if _, err := db.VisitRecord(context.Background(), "u1", "9990000034", nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVisitRecordWritesOnlyWhatChanges checks that views which add
// nothing to a visit write nothing (the visit's last page stays recorded
// where it was, for up to a minute), and that a view with a new item, or
// one after that minute, is still recorded.
func TestVisitRecordWritesOnlyWhatChanges(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	now := start
	path := testDB(t)
	db := MustOpenDBAt(t, path, store.WithClock(func() time.Time { return now }))
	raw := rawDB(t, path)
	const user, nhs = "u1", "9990000018"
	visit := func(keys ...string) store.RecordVisit {
		t.Helper()
		v, err := db.VisitRecord(ctx, user, nhs, keys)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	lastAt := func() time.Time {
		t.Helper()
		var at int64
		if err := raw.QueryRow(`SELECT last_at FROM record_visits WHERE user_id = 'u1' AND nhs_number = '9990000018'`).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return time.UnixMilli(at).UTC()
	}

	visit("RJZ/Observation/a", "RJZ/Observation/b")
	t.Run("RepeatedViewsWithNothingNewDoNotWrite", func(t *testing.T) {
		for _, d := range []time.Duration{10 * time.Second, 30 * time.Second, 59 * time.Second} {
			now = start.Add(d)
			if v := visit("RJZ/Observation/a", "RJZ/Observation/b"); !v.First {
				t.Errorf("a page of the first visit at +%v: %+v", d, v)
			}
			// A page showing fewer items adds nothing either.
			visit("RJZ/Observation/a")
			if got := lastAt(); !got.Equal(start) {
				t.Errorf("at +%v last_at = %v, want it left at %v", d, got, start)
			}
		}
	})
	t.Run("ANewItemWithinTheMinuteIsRecorded", func(t *testing.T) {
		now = start.Add(40 * time.Second)
		visit("RJZ/Observation/a", "RJZ/Observation/b", "RJ1/Observation/c")
		if got := lastAt(); !got.Equal(now) {
			t.Errorf("last_at = %v, want %v", got, now)
		}
		// The next visit: c was seen in this one, so it is not new.
		now = now.Add(store.VisitGap + time.Second)
		v := visit("RJZ/Observation/a", "RJ1/Observation/c", "RJZ/DocumentReference/d")
		if v.First || !v.Since.Equal(start.Add(40*time.Second)) {
			t.Fatalf("visit %+v, want one since %v", v, start.Add(40*time.Second))
		}
		for key, want := range map[string]bool{"RJ1/Observation/c": false, "RJZ/DocumentReference/d": true} {
			if got := v.New(key); got != want {
				t.Errorf("New(%s) = %v, want %v", key, got, want)
			}
		}
	})
	t.Run("AViewAfterTheMinuteIsRecorded", func(t *testing.T) {
		before := lastAt()
		now = before.Add(30 * time.Second)
		v := visit("RJZ/Observation/a")
		if got := lastAt(); !got.Equal(before) {
			t.Errorf("within the minute last_at = %v, want %v", got, before)
		}
		now = before.Add(61 * time.Second)
		again := visit("RJZ/Observation/a")
		if got := lastAt(); !got.Equal(now) {
			t.Errorf("after the minute last_at = %v, want %v", got, now)
		}
		// Skipped or written, the view is told the same.
		if !v.Since.Equal(again.Since) || v.New("RJZ/DocumentReference/d") != again.New("RJZ/DocumentReference/d") || !again.New("RJZ/DocumentReference/d") {
			t.Errorf("answers differ: skipped %+v, written %+v", v, again)
		}
	})
}
