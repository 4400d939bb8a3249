package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/pgtest"
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

// asSuperuser runs stmts in one transaction on the database dsn names,
// as the server's superuser with every trigger (the append-only guards,
// the foreign keys) off for that transaction alone, as an intruder with
// the keys to the server would: the catalogue still shows every guard in
// place afterwards.
func asSuperuser(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin := rawDB(t, pgtest.Shared(t).AdminDSN(strings.TrimPrefix(u.Path, "/")))
	tx, err := admin.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range append([]string{`SET LOCAL session_replication_role = replica`}, stmts...) {
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyCatchesTamperingOnPostgres: a superuser, whom no trigger
// stops, changes, deletes or reorders events; verify, from a node and
// from outside, names the first bad event and what happened to it. A
// guard the application's role (the tables' owner here) left disabled or
// emptied is reported as such.
func TestVerifyCatchesTamperingOnPostgres(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	cases := []struct {
		name        string
		verifyFirst bool
		tamper      []string
		kind        string
		firstBad    int64
	}{
		{"Changed", false, []string{`UPDATE audit_events SET nhs_number = '9990000093' WHERE seq = 5`}, store.ProblemAltered, 5},
		{"ChangedLast", false, []string{`UPDATE audit_events SET outcome = 'allowed', outcome_why = '' WHERE seq = 10`}, store.ProblemAltered, 10},
		{"HashReplaced", false, []string{`UPDATE audit_events SET hash = repeat('ab', 32) WHERE seq = 5`}, store.ProblemAltered, 5},
		{"Deleted", false, []string{`DELETE FROM audit_events WHERE seq = 5`}, store.ProblemDeleted, 5},
		{"DeletedFirst", false, []string{`DELETE FROM audit_events WHERE seq = 1`}, store.ProblemDeleted, 1},
		{"TailDeletedAfterVerification", true, []string{`DELETE FROM audit_events WHERE seq >= 9`}, store.ProblemDeleted, 9},
		{"Reordered", false, []string{`UPDATE audit_events SET seq = 1000 WHERE seq = 5`,
			`UPDATE audit_events SET seq = 5 WHERE seq = 6`, `UPDATE audit_events SET seq = 6 WHERE seq = 1000`}, store.ProblemReordered, 5},
		{"RemovedFromPatientSearch", false, []string{`DELETE FROM audit_by_patient WHERE seq = 3`}, store.ProblemUnsearchable, 3},
		{"GuardLeftDisabled", false, []string{`!ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`}, store.ProblemSchema, 0},
		{"GuardFunctionEmptied", false, []string{`!CREATE OR REPLACE FUNCTION carerecord_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN OLD;
END
$$`}, store.ProblemSchema, 0},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			clock := newAuditClock()
			dsn := testDB(t)
			db, err := store.Open(dsn, store.WithClock(clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			sampleAuditLog(t, db, clock, 10)
			if tt.verifyFirst {
				if res, err := db.VerifyAudit(ctx); err != nil || !res.OK {
					t.Fatalf("verify before tampering: %+v, %v", res, err)
				}
			}
			db.Close()
			// A statement marked ! is run by the application's own role.
			var super []string
			for _, q := range tt.tamper {
				if own, ok := strings.CutPrefix(q, "!"); ok {
					if _, err := rawDB(t, dsn).ExecContext(ctx, own); err != nil {
						t.Fatalf("%s: %v", own, err)
					}
					continue
				}
				super = append(super, q)
			}
			if len(super) > 0 {
				asSuperuser(t, dsn, super...)
			}
			check := func(how string, res store.VerifyResult, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if res.OK || res.FirstBadSeq != tt.firstBad || !strings.HasPrefix(res.Problem, tt.kind+": ") {
					t.Fatalf("%s = %+v; want %s at event %d", how, res, tt.kind, tt.firstBad)
				}
				t.Logf("%s: event %d: %s", how, res.FirstBadSeq, res.Problem)
			}
			res, err := store.VerifyAuditFile(ctx, dsn)
			check("VerifyAuditFile", res, err)
			node := MustOpenDBAt(t, dsn)
			res, err = node.VerifyAudit(ctx)
			check("VerifyAudit", res, err)
		})
	}
}

// TestAuditGuardOnPostgres: the guard is reported in force, with the role
// the store connects as, and whether that role could lift it.
func TestAuditGuardOnPostgres(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	dsn := testDB(t)
	db := MustOpenDBAt(t, dsn)
	g, err := db.AuditGuard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// pgtest's role owns the database it connects to, and so the tables
	// its migrations made: it could lift the guard, and is told so.
	if !g.InForce || g.Role != pgtest.AppRole || !g.OwnsTables || g.Superuser || !g.RoleCanLift {
		t.Fatalf("AuditGuard = %+v; want in force, role %s, owner, not a superuser", g, pgtest.AppRole)
	}
	if _, err := rawDB(t, dsn).ExecContext(ctx, `ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_no_truncate`); err != nil {
		t.Fatal(err)
	}
	if g, err = store.CheckAuditGuard(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	if g.InForce || !strings.Contains(g.Problem, "audit_chain_no_truncate") {
		t.Fatalf("CheckAuditGuard with a trigger disabled = %+v", g)
	}
}

// TestNodeRoleThatDoesNotOwnTheAuditTables: the schema's owner migrates;
// the nodes connect as another role with only the privileges they need
// (SELECT and INSERT on the audit tables). Such a node runs as usual,
// and the guard then holds against the application itself: its role can
// neither change nor delete an event, nor disable a trigger, and the
// store reports that it cannot lift the guard.
func TestNodeRoleThatDoesNotOwnTheAuditTables(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	dsn := testDB(t)
	owner := MustOpenDBAt(t, dsn, store.WithAuditKey(testAuditKey))
	mustAudit(t, owner, store.AuditEvent{Action: store.ActSignIn, Outcome: store.OutcomeAllowed, UserID: "555000111"})
	owner.Close()

	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	role := strings.TrimPrefix(u.Path, "/") + "_node"
	asSuperuser(t, dsn, `CREATE ROLE `+role+` LOGIN`)
	t.Cleanup(func() {
		// The role's grants are in the test's database: dropped there
		// first, then the role.
		for _, db := range []string{strings.TrimPrefix(u.Path, "/"), "postgres"} {
			admin, err := sql.Open("pgx", pgtest.Shared(t).AdminDSN(db))
			if err != nil {
				continue
			}
			admin.Exec(`DROP OWNED BY ` + role)
			admin.Exec(`DROP ROLE IF EXISTS ` + role)
			admin.Close()
		}
	})
	// What docs/deploy/README.md tells the operator to grant.
	for _, q := range []string{
		`GRANT USAGE ON SCHEMA public TO ` + role,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ` + role,
		`REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_by_user, audit_by_patient, audit_chain FROM ` + role,
		`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ` + role,
	} {
		if _, err := rawDB(t, dsn).ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	nodeDSN := pgtest.Shared(t).URL(role, strings.TrimPrefix(u.Path, "/"))
	node := MustOpenDBAt(t, nodeDSN, store.WithAuditKey(testAuditKey))
	t.Run("RunsAsUsual", func(t *testing.T) {
		mustAudit(t, node, store.AuditEvent{Action: store.ActRecordOpen, Outcome: store.OutcomeAllowed, UserID: "555000111", NHSNumber: "9990000018"})
		res, err := node.VerifyAudit(ctx)
		if err != nil || !res.OK || res.Events != 2 {
			t.Fatalf("verify = %+v, %v", res, err)
		}
	})
	t.Run("GuardReportedBeyondTheRolesReach", func(t *testing.T) {
		g, err := node.AuditGuard(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !g.InForce || g.Role != role || g.OwnsTables || g.Superuser || g.RoleCanLift {
			t.Fatalf("AuditGuard = %+v; want in force, role %s, which cannot lift it", g, role)
		}
	})
	t.Run("RoleCannotChangeOrLiftTheGuard", func(t *testing.T) {
		raw := rawDB(t, nodeDSN)
		for _, q := range []string{
			`UPDATE audit_events SET user_id = 'someone-else' WHERE seq = 1`,
			`DELETE FROM audit_events WHERE seq = 1`,
			`TRUNCATE audit_events`,
			`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`,
			`DROP TRIGGER audit_events_append_only ON audit_events`,
			`CREATE OR REPLACE FUNCTION carerecord_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$`,
		} {
			if _, err := raw.ExecContext(ctx, q); err == nil {
				t.Errorf("the node's role could run %s", q)
			}
		}
	})
}

// TestOnlySerialisedWritesTakeTheWriteLock: while another node holds the
// write lock (here, a session of its own holding the advisory lock), the
// writes that need no order across nodes (a record visit, a recent
// patient) still commit, and a serialised write (the write check, which
// takes the lock as the audit writer's batches do) waits until it is
// released and then commits.
func TestOnlySerialisedWritesTakeTheWriteLock(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	dsn := testDB(t)
	db := MustOpenDBAt(t, dsn)
	holder, err := rawDB(t, dsn).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	const writeLockKey = 0x6361726572656364 // store/postgres.go
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(writeLockKey)); err != nil {
		t.Fatal(err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(writeLockKey)); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer unlock()

	t.Run("ConcurrentWritesDoNotWait", func(t *testing.T) {
		if _, err := db.VisitRecord(ctx, "u1", "9990000018", []string{"RJZ/Observation/a"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.VisitRecord(ctx, "u1", "9990000018", []string{"RJZ/Observation/b"}); err != nil {
			t.Fatal(err)
		}
		if err := db.TouchRecentPatient(ctx, "u1", "9990000018", nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("SerialisedWritesWaitForTheLock", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- db.CheckWrite(ctx) }()
		// Wait until the write check is seen waiting for the lock.
		watch := rawDB(t, dsn)
		for {
			var waiting int
			if err := watch.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting > 0 {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("the write check ended (%v) while another node held the write lock", err)
			default:
			}
		}
		unlock()
		if err := <-done; err != nil {
			t.Fatalf("write check after the lock was released: %v", err)
		}
	})
}
