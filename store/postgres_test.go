package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/carerecord/carerecord/store"
)

func postgresOnly(tb testing.TB) {
	tb.Helper()
	if store.TestEngine != store.Postgres {
		tb.Skip("about several nodes sharing PostgreSQL")
	}
}

// TestNodesShareOneAuditChain: two stores on one PostgreSQL database (two
// nodes) append at once; the log is one chain, every event numbered once,
// and it verifies from either node.
func TestNodesShareOneAuditChain(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	dsn := testDB(t)
	key := store.WithAuditKey(testAuditKey)
	nodes := []*store.DB{MustOpenDBAt(t, dsn, key), MustOpenDBAt(t, dsn, key)}
	const perNode = 40
	var wg sync.WaitGroup
	seqs := make(chan int64, 2*perNode)
	for n, db := range nodes {
		for i := range perNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev, err := db.Audit(ctx, store.AuditEvent{Action: store.ActRecordOpen, Outcome: store.OutcomeAllowed,
					UserID: fmt.Sprintf("node%d-user%d", n, i%5), NHSNumber: "9990000018"})
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- ev.Seq
			}()
		}
	}
	wg.Wait()
	close(seqs)
	seen := map[int64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d given to two events", s)
		}
		seen[s] = true
	}
	for s := int64(1); s <= 2*perNode; s++ {
		if !seen[s] {
			t.Fatalf("seq %d missing: the chain has a gap", s)
		}
	}
	for i, db := range nodes {
		res, err := db.VerifyAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || res.Events != 2*perNode {
			t.Fatalf("node %d: verify = %+v, want OK over %d events", i, res, 2*perNode)
		}
	}
	t.Run("SearchFromEitherNodeFindsBoth", func(t *testing.T) {
		evs, _, err := nodes[1].SearchAudit(ctx, store.AuditFilter{NHSNumber: "9990000018", Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2*perNode {
			t.Fatalf("search found %d events, want %d", len(evs), 2*perNode)
		}
	})
}

// TestVerifyReportsADroppedGuard: the append-only triggers are what stop
// an edit; verify says when one was dropped or disabled.
func TestVerifyReportsADroppedGuard(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	dsn := testDB(t)
	db := MustOpenDBAt(t, dsn)
	mustAudit(t, db, store.AuditEvent{Action: store.ActSignIn, Outcome: store.OutcomeAllowed})
	raw := rawDB(t, dsn)
	if _, err := raw.Exec(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`); err != nil {
		t.Fatal(err)
	}
	res, err := db.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK {
		t.Fatal("verify passed with the append-only guard disabled")
	}
}

// TestSchemasMatch: every table and column SQLite's migrations make has
// its counterpart in PostgreSQL's, and the other way round, so that one
// set of queries serves both and `carerecord migrate` moves everything.
func TestSchemasMatch(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "c.db")
	MustOpenDBAt(t, file)
	dsn := testDB(t)
	MustOpenDBAt(t, dsn)
	columns := func(db *sql.DB, q string) map[string]bool {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var table, col string
			if err := rows.Scan(&table, &col); err != nil {
				t.Fatal(err)
			}
			if table != "schema_migrations" {
				out[table+"."+col] = true
			}
		}
		return out
	}
	lite := columns(rawDB(t, file), `SELECT m.name, p.name FROM sqlite_schema m JOIN pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	pg := columns(rawDB(t, dsn), `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`)
	for c := range lite {
		if !pg[c] {
			t.Errorf("%s is in SQLite's schema but not PostgreSQL's: add a migration in store/migrations/postgres (and the table to copyOrder in migrate.go if it is new)", c)
		}
	}
	for c := range pg {
		if !lite[c] {
			t.Errorf("%s is in PostgreSQL's schema but not SQLite's", c)
		}
	}
	copied := map[string]bool{}
	for _, table := range store.CopyOrder {
		copied[table] = true
	}
	for c := range lite {
		if table, _, _ := strings.Cut(c, "."); !copied[table] {
			t.Errorf("table %s is not in copyOrder (store/migrate.go): carerecord migrate would refuse to move an installation", table)
			copied[table] = true
		}
	}
}
