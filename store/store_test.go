package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

// MustOpenDB opens a real database file in a fresh temp dir and closes it
// when the test ends.
func MustOpenDB(tb testing.TB, opts ...store.Option) *store.DB {
	tb.Helper()
	db, err := store.Open(testDB(tb), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestOpen(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		v, err := db.SchemaVersion(context.Background())
		if err != nil || v < 1 {
			t.Fatalf("schema version = %d, %v; want >= 1", v, err)
		}
	})
	t.Run("ReopenKeepsDataAndVersion", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.db")
		db, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := db.CreateSession(context.Background(), store.NewSession{UserID: "u1", Lifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		v1, _ := db.SchemaVersion(context.Background())
		db.Close()
		db, err = store.Open(path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer db.Close()
		v2, _ := db.SchemaVersion(context.Background())
		if v1 != v2 {
			t.Fatalf("version changed on reopen: %d -> %d", v1, v2)
		}
		if _, err := db.SessionByToken(context.Background(), tok); err != nil {
			t.Fatalf("session lost on reopen: %v", err)
		}
	})
	t.Run("ErrEmptyPath", func(t *testing.T) {
		if _, err := store.Open(""); err == nil {
			t.Fatal("want error for empty path")
		}
	})
	t.Run("ErrUnwritableDir", func(t *testing.T) {
		if _, err := store.Open(filepath.Join(t.TempDir(), "missing", "dir", "c.db")); err == nil {
			t.Fatal("want error for a path in a missing directory")
		}
	})
}

func TestPragmas(t *testing.T) {
	sqliteOnly(t)
	db := MustOpenDB(t)
	got := db.Pragmas(context.Background())
	want := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "2", "busy_timeout": "5000"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("PRAGMA %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, store.WithClock(func() time.Time { return now }))
	profiles := []store.RoleProfile{{Code: "R8001", ODS: "RJ1", OrgName: "Guy's"}, {Code: "R8001", ODS: "RJ2", OrgName: "Lewisham"}}

	t.Run("CreateAndRead", func(t *testing.T) {
		tok, s, err := db.CreateSession(ctx, store.NewSession{UserID: "nurse", DisplayName: "N", Profiles: profiles, Assurance: 3, Lifetime: 12 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if s.RoleIndex != -1 {
			t.Fatalf("two profiles: role chosen too early: %d", s.RoleIndex)
		}
		got, err := db.SessionByToken(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != "nurse" || len(got.Profiles) != 2 || got.Profiles[1].ODS != "RJ2" || got.Assurance != 3 {
			t.Fatalf("read back %+v", got)
		}
		if !got.ExpiresAt.Equal(now.Add(12 * time.Hour)) {
			t.Fatalf("expires %v", got.ExpiresAt)
		}
		if got.IDHash == tok || got.IDHash != store.HashToken(tok) {
			t.Fatal("the token must be stored hashed")
		}
		if err := db.ChooseRole(ctx, got.IDHash, 1); err != nil {
			t.Fatal(err)
		}
		got, _ = db.SessionByToken(ctx, tok)
		if r, ok := got.Role(); !ok || r.ODS != "RJ2" {
			t.Fatalf("role = %+v %v", r, ok)
		}
		if err := db.ChooseRole(ctx, got.IDHash, 2); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("out-of-range role: %v", err)
		}
	})
	t.Run("SingleProfileChosenAtOnce", func(t *testing.T) {
		_, s, err := db.CreateSession(ctx, store.NewSession{UserID: "c", Profiles: profiles[:1], Lifetime: time.Hour})
		if err != nil || s.RoleIndex != 0 {
			t.Fatalf("role index %d, %v", s.RoleIndex, err)
		}
	})
	t.Run("EndIsFinal", func(t *testing.T) {
		tok, s, _ := db.CreateSession(ctx, store.NewSession{UserID: "c", Profiles: profiles, Lifetime: time.Hour})
		if err := db.EndSession(ctx, s.IDHash, "signed out"); err != nil {
			t.Fatal(err)
		}
		got, _ := db.SessionByToken(ctx, tok)
		if !got.Ended() || got.EndReason != "signed out" {
			t.Fatalf("not ended: %+v", got)
		}
		if err := db.ChooseRole(ctx, s.IDHash, 0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("choose role on ended session: %v", err)
		}
		db.EndSession(ctx, s.IDHash, "locked")
		got, _ = db.SessionByToken(ctx, tok)
		if got.EndReason != "signed out" {
			t.Fatalf("second end overwrote the reason: %q", got.EndReason)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := db.SessionByToken(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrEmptyUser", func(t *testing.T) {
		if _, _, err := db.CreateSession(ctx, store.NewSession{Lifetime: time.Hour}); err == nil {
			t.Fatal("want error")
		}
	})
}

func TestUseAssertion(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db := MustOpenDB(t, store.WithClock(func() time.Time { return clock() }))
	t.Run("ErrReplay", func(t *testing.T) {
		if err := db.UseAssertion(ctx, "id-1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.UseAssertion(ctx, "id-1", now.Add(time.Minute)); !errors.Is(err, store.ErrReplay) {
			t.Fatalf("second use: %v, want ErrReplay", err)
		}
	})
	t.Run("ConcurrentUsesOnlyOneWins", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if db.UseAssertion(ctx, "id-race", now.Add(time.Minute)) == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d concurrent uses accepted, want 1", ok)
		}
	})
}
