package store_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

// TestMigrateToPostgres moves a SQLite installation (sessions, a keyed
// audit log with alerts, an upheld objection, the staff list) into an
// empty PostgreSQL database: the chain arrives whole and verifies, and a
// node on PostgreSQL carries on from where the file ended.
func TestMigrateToPostgres(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	cacheKey := bytes.Repeat([]byte("k"), 32)
	keys := func() []store.Option {
		return []store.Option{store.WithCacheKey(cacheKey), store.WithAuditKey(testAuditKey)}
	}
	file := filepath.Join(t.TempDir(), "carerecord.db")
	old, err := store.Open(file, keys()...)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := old.CreateSession(ctx, store.NewSession{UserID: "u1", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		mustAudit(t, old, store.AuditEvent{Action: store.ActRecordOpen, Outcome: store.OutcomeAllowed, UserID: "u1", NHSNumber: "9990000018"})
	}
	mustAudit(t, old, store.AuditEvent{Action: store.ActBreakGlass, Outcome: store.OutcomeAllowed, UserID: "u1", NHSNumber: "9990000018", Reason: "break-glass", Detail: "unconscious in ED"})
	ref, err := old.SubmitObjection(ctx, sampleForm())
	if err != nil {
		t.Fatal(err)
	}
	oc, _ := old.CaseByRef(ctx, ref)
	must(t, old.CheckIdentity(ctx, oc.ID, "9990000026", "ig", "IG", "checked"))
	must(t, old.DecideCase(ctx, oc.ID, true, "ig", "IG", "upheld"))
	must(t, old.SetStaffNHS(ctx, "u1", "9990000034", "ig"))
	must(t, old.TouchRecentPatient(ctx, "u1", "9990000018", &store.RecentLabel{Name: "SMITH, Jane (Mrs)", Born: "12-Mar-1965", From: "PDS"}))
	must(t, old.Close())

	dsn := testDB(t)
	res, err := store.MigrateToPostgres(ctx, file, dsn, store.WithAuditKey(testAuditKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ChainArrivesWholeAndVerifies", func(t *testing.T) {
		if !res.Target.OK || res.Target.HeadSeq != res.Source.HeadSeq || res.Target.HeadHash != res.Source.HeadHash || res.Target.KeyedFrom != res.Source.KeyedFrom {
			t.Fatalf("source %+v, target %+v", res.Source, res.Target)
		}
		if res.Rows["audit_events"] != res.Source.Events || res.Source.Events < 21 {
			t.Fatalf("copied %d audit events of %d", res.Rows["audit_events"], res.Source.Events)
		}
	})
	pg := MustOpenDBAt(t, dsn, keys()...)
	t.Run("StateCarriedOver", func(t *testing.T) {
		if _, err := pg.SessionByToken(ctx, tok); err != nil {
			t.Errorf("session: %v", err)
		}
		if up, err := pg.HasUpheldObjection(ctx, "9990000026"); err != nil || !up {
			t.Errorf("upheld objection: %v, %v", up, err)
		}
		if !pg.OnStaffList("u1") {
			t.Error("staff list lost")
		}
		if rp, err := pg.RecentPatients(ctx, "u1", 10); err != nil || len(rp) != 1 || rp[0].Label == nil || rp[0].Label.Name != "SMITH, Jane (Mrs)" {
			t.Errorf("recent patient and its sealed name: %v, %+v", err, rp)
		}
		evs, _, err := pg.SearchAudit(ctx, store.AuditFilter{Actions: []store.Action{store.ActBreakGlass}})
		if err != nil || len(evs) != 1 || evs[0].Detail != "unconscious in ED" {
			t.Errorf("break-glass event: %v, %+v", err, evs)
		}
	})
	t.Run("ChainGoesOnOnPostgres", func(t *testing.T) {
		ev := mustAudit(t, pg, store.AuditEvent{Action: store.ActSignIn, Outcome: store.OutcomeAllowed, UserID: "u2"})
		if ev.Seq != res.Source.HeadSeq+1 {
			t.Fatalf("next event numbered %d, want %d", ev.Seq, res.Source.HeadSeq+1)
		}
		v, err := pg.VerifyAudit(ctx)
		if err != nil || !v.OK {
			t.Fatalf("verify after the move: %+v, %v", v, err)
		}
		// A second objection gets a new case id, after the copied ones.
		if _, err := pg.SubmitObjection(ctx, sampleForm()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrTargetNotEmpty", func(t *testing.T) {
		if _, err := store.MigrateToPostgres(ctx, file, dsn, store.WithAuditKey(testAuditKey)); err == nil {
			t.Fatal("migrated into a database that already holds a log")
		}
	})
}
