package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

// The writer leaves checkpoints to the checkpointer: committed audit events
// reach the database file itself (read here with immutable=1, which ignores
// the WAL) well before the writer's own backstop would have copied them,
// and the database stays whole while it happens.
func TestCheckpointerFoldsWALIntoDatabaseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "carerecord.db")
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Pragmas(context.Background())["wal_autocheckpoint"]; got != strconv.Itoa(store.WALBackstopPages) {
		t.Fatalf("writer wal_autocheckpoint = %s, want the backstop %d", got, store.WALBackstopPages)
	}
	ctx := context.Background()
	const events = 300 // a few hundred pages of WAL: far below the backstop
	for i := range events {
		if _, err := db.Audit(ctx, store.AuditEvent{UserID: "u" + strconv.Itoa(i%7), Action: store.ActSearch,
			Outcome: store.OutcomeAllowed, Detail: "name=TEST"}); err != nil {
			t.Fatal(err)
		}
	}
	file, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	file.SetMaxOpenConns(1)
	inFile := func() int {
		// immutable=1 caches nothing between connections: reopen each time.
		file.SetMaxIdleConns(0)
		// Until the first checkpoint even the schema is only in the WAL.
		var tables, n int
		if err := file.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'audit_events'`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables == 0 {
			return 0
		}
		if err := file.QueryRow(`SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for inFile() < events {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the database file holds %d of %d committed events: nothing checkpointed them", inFile(), events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res, err := db.VerifyAudit(ctx); err != nil || !res.OK {
		t.Fatalf("chain after checkpoints: %+v %v", res, err)
	}
}
