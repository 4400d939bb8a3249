package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

func TestBulkLoadAudit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bulk.db")
	// An event written the ordinary way first: the load must chain on.
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Audit(ctx, store.AuditEvent{Action: store.ActSignIn, UserID: "555000000001", Outcome: store.OutcomeAllowed}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const n = 1000
	err = store.BulkLoadAudit(ctx, path, n, func(i int) store.AuditEvent {
		ev := store.AuditEvent{UserID: fmt.Sprintf("5550000%05d", i%7), UserName: "Dr Bulk TEST", RoleCode: "R8000", ODS: "RJZ",
			Action: store.ActRecordOpen, NHSNumber: "9990000018", Reason: "direct-care", Outcome: store.OutcomeAllowed,
			Sources: []string{"RJZ", "RJ1"}}
		if i%10 != 0 { // every tenth is stamped by the loader
			ev.Time = base.Add(time.Duration(i) * time.Second)
		}
		return ev
	})
	if err != nil {
		t.Fatal(err)
	}

	db, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := db.Pragmas(ctx)["journal_mode"]; v != "wal" {
		t.Errorf("journal_mode after the load = %q, want wal", v)
	}
	evs, _, err := db.SearchAudit(ctx, store.AuditFilter{UserID: "555000000003", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if want := n / 7; len(evs) != want && len(evs) != want+1 {
		t.Errorf("search by user found %d events, want about %d", len(evs), want)
	}
	// The writer carries the chain on from the loaded head.
	last, err := db.Audit(ctx, store.AuditEvent{Action: store.ActSignOut, UserID: "555000000001", Outcome: store.OutcomeAllowed})
	if err != nil {
		t.Fatal(err)
	}
	if last.Seq != n+2 {
		t.Errorf("next seq = %d, want %d", last.Seq, n+2)
	}
	res, err := db.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Events != n+2 {
		t.Fatalf("verify after bulk load: %+v", res)
	}
}

func TestWithAuditBatchLimit(t *testing.T) {
	db := MustOpenDB(t, store.WithAuditBatchLimit(1))
	ctx := context.Background()
	done := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := db.Audit(ctx, store.AuditEvent{Action: store.ActSearch, UserID: "555000000001", Outcome: store.OutcomeAllowed})
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if b := db.AuditBatches(); b != 8 {
		t.Errorf("8 events in %d transactions, want 8", b)
	}
	res, err := db.VerifyAudit(ctx)
	if err != nil || !res.OK || res.Events != 8 {
		t.Fatalf("verify: %+v %v", res, err)
	}
}
