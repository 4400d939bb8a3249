package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

func TestAccessGrants(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, store.WithClock(func() time.Time { return now }))
	_, s, err := db.CreateSession(ctx, store.NewSession{UserID: "u", Lifetime: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AccessFor(ctx, s.IDHash, "9990000018"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before any grant: %v", err)
	}
	if _, err := db.GrantAccess(ctx, store.AccessGrant{SessionHash: s.IDHash, NHSNumber: "9990000018", Reason: "direct-care", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	g, err := db.AccessFor(ctx, s.IDHash, "9990000018")
	if err != nil || g.Reason != "direct-care" || g.BreakGlass || g.ObjectionOverride || !g.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("grant %+v %v", g, err)
	}
	if _, err := db.AccessFor(ctx, s.IDHash, "9990000026"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a grant for one patient opened another")
	}
	// Break glass replaces the grant and carries its written reason.
	if _, err := db.GrantAccess(ctx, store.AccessGrant{SessionHash: s.IDHash, NHSNumber: "9990000018", Reason: "break-glass", Detail: "unconscious in ED", BreakGlass: true, ObjectionOverride: true, ExpiresAt: now.Add(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	g, err = db.AccessFor(ctx, s.IDHash, "9990000018")
	if err != nil || !g.BreakGlass || !g.ObjectionOverride || g.Reason != "break-glass" || g.Detail != "unconscious in ED" {
		t.Fatalf("break glass grant %+v %v", g, err)
	}
	now = now.Add(31 * time.Minute)
	if _, err := db.AccessFor(ctx, s.IDHash, "9990000018"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("an expired grant still holds")
	}
	if _, err := db.GrantAccess(ctx, store.AccessGrant{SessionHash: s.IDHash, NHSNumber: "9990000018", Reason: "direct-care", ExpiresAt: now.Add(-time.Minute)}); err == nil {
		t.Fatal("a grant that has already expired was accepted")
	}
}
