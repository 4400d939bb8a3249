package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
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
		if err := db.TouchRecentPatient(ctx, "u1", fmt.Sprintf("99900%05d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute)
	must(t, db.TouchRecentPatient(ctx, "u1", "9990000010", nil)) // reopened: moves to the top
	must(t, db.TouchRecentPatient(ctx, "u2", "9990000042", nil)) // another user's list is separate
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
	must(t, db.TouchRecentPatient(ctx, "u1", "9990000010", nil))
	if got, _ := db.RecentPatients(ctx, "u1", 1); len(got) != 1 || !got[0].OpenedAt.Equal(opened) {
		t.Fatalf("reopened at once: %+v, want the time kept at %s", got, opened)
	}
}

// TestRecentPatientLabels: who each recent patient is comes back as it
// was kept, sealed with the cache key: the name is nowhere in the
// database in the clear, a label moved to another row does not open, and
// a restricted patient's label holds the name only.
func TestRecentPatientLabels(t *testing.T) {
	ctx := context.Background()
	key := bytes.Repeat([]byte("k"), 32)
	path := testDB(t)
	db := MustOpenDBAt(t, path, store.WithCacheKey(key))
	jane := &store.RecentLabel{Name: "SMITH, Jane (Mrs)", Born: "12-Mar-1965", From: "PDS"}
	must(t, db.TouchRecentPatient(ctx, "u1", "9990000018", jane))
	must(t, db.TouchRecentPatient(ctx, "u1", "9990000042", &store.RecentLabel{Name: "ASHDOWN, Rowan", Born: "04-Dec-1991", Restricted: true, From: "RJZ"}))
	must(t, db.TouchRecentPatient(ctx, "u1", "9990000026", nil))

	t.Run("ReadBack", func(t *testing.T) {
		got, err := db.RecentPatients(ctx, "u1", 10)
		if err != nil || len(got) != 3 {
			t.Fatalf("%v, %d patients, want 3", err, len(got))
		}
		labels := map[string]*store.RecentLabel{}
		for _, r := range got {
			labels[r.NHSNumber] = r.Label
		}
		if l := labels["9990000018"]; l == nil || *l != *jane {
			t.Errorf("label %+v, want %+v", l, jane)
		}
		if l := labels["9990000042"]; l == nil || l.Name != "ASHDOWN, Rowan" || l.Born != "" || !l.Restricted {
			t.Errorf("restricted label %+v, want the name only", l)
		}
		if l := labels["9990000026"]; l != nil {
			t.Errorf("a patient opened without a label has %+v", l)
		}
	})
	t.Run("SealedAtRest", func(t *testing.T) {
		raw := rawDB(t, path)
		var sealed []byte
		if err := raw.QueryRowContext(ctx, `SELECT label FROM recent_patients WHERE nhs_number = '9990000018'`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if len(sealed) == 0 || bytes.Contains(sealed, []byte("SMITH")) || bytes.Contains(sealed, []byte("1965")) {
			t.Fatalf("the label column holds %q: not sealed", sealed)
		}
		// A sealed label moved to another user's row does not open there.
		if _, err := raw.ExecContext(ctx, `INSERT INTO recent_patients (user_id, nhs_number, opened_at, label) VALUES ('u2', '9990000018', 1, `+placeholder()+`)`, sealed); err != nil {
			t.Fatal(err)
		}
		if got, err := db.RecentPatients(ctx, "u2", 10); err != nil || len(got) != 1 || got[0].Label != nil {
			t.Fatalf("a label moved to another user's row: %v, %+v", err, got)
		}
		if store.TestEngine != store.SQLite {
			return
		}
		must(t, db.Close())
		var file []byte
		for _, p := range []string{path, path + "-wal"} {
			b, _ := os.ReadFile(p)
			file = append(file, b...)
		}
		if len(file) == 0 || bytes.Contains(file, []byte("SMITH, Jane")) || bytes.Contains(file, []byte("ASHDOWN")) {
			t.Fatalf("a recent patient's name is in the database file in the clear (%d bytes read)", len(file))
		}
	})
	t.Run("NoCacheKeyNoLabel", func(t *testing.T) {
		plain := MustOpenDB(t)
		must(t, plain.TouchRecentPatient(ctx, "u1", "9990000018", jane))
		got, err := plain.RecentPatients(ctx, "u1", 10)
		if err != nil || len(got) != 1 || got[0].Label != nil {
			t.Fatalf("without a cache key: %v, %+v, want the number only", err, got)
		}
	})
}

// placeholder is the engine under test's first bind parameter.
func placeholder() string {
	if store.TestEngine == store.Postgres {
		return "$1"
	}
	return "?"
}
