package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/pgtest"
	"github.com/carerecord/carerecord/store/witness"
)

func TestMain(m *testing.M) {
	runNodeIfAsked()
	pgtest.Main(m)
}

// serveOnPostgres starts `carerecord serve` with its database on the
// PostgreSQL database dsn and returns its base URL and stop function.
func serveOnPostgres(t *testing.T, dsn, name string) (string, func() error) {
	t.Helper()
	dir := t.TempDir()
	addr := freePort(t)
	cfg := writeFile(t, dir, name+".toml", `
base_url = "http://`+addr+`"
listen = "`+addr+`"
database = "`+dsn+`"
[saml]
dev_idp = true
[audit]
witness_file = "`+filepath.Join(dir, name+".witness")+`"
`)
	_, stop := start(t, []string{"serve", "--config", cfg}, env(map[string]string{"CARERECORD_SESSION_KEY": testKey, "CARERECORD_AUDIT_KEY": testCacheKey}), "carerecord serving")
	return "http://" + addr, stop
}

// TestServeOnPostgres: a node on PostgreSQL answers /readyz while the
// database does; when the database goes away it keeps answering /healthz
// and fails /readyz; when the database returns the node is ready again
// by itself, without a restart.
func TestServeOnPostgres(t *testing.T) {
	pg := pgtest.Shared(t)
	dsn := pgtest.DSN(t)
	base, stopNode := serveOnPostgres(t, dsn, "node1")
	stop := sync.OnceValue(stopNode)
	defer stop()
	status := func(path string) int {
		t.Helper()
		code, _ := get(t, base+path)
		return code
	}
	if c := status("/readyz"); c != http.StatusOK {
		t.Fatalf("/readyz = %d with the database up, want 200", c)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			pg.Restart()
		}
	}()
	t.Run("DatabaseDown", func(t *testing.T) {
		if c := status("/healthz"); c != http.StatusOK {
			t.Errorf("/healthz = %d with the database down, want 200 (the process is alive)", c)
		}
		if c := status("/readyz"); c != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d with the database down, want 503", c)
		}
	})
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	t.Run("RecoversWithoutRestart", func(t *testing.T) {
		if c := status("/readyz"); c != http.StatusOK {
			t.Fatalf("/readyz = %d once the database is back, want 200", c)
		}
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Run("AuditVerifyOnPostgres", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"audit", "verify", "--db", dsn}, env(map[string]string{"CARERECORD_AUDIT_KEY": testCacheKey}), &out, &errOut)
		if err != nil {
			t.Fatalf("audit verify: %v\n%s%s", err, out.String(), errOut.String())
		}
		if !strings.Contains(out.String(), "intact") {
			t.Fatalf("audit verify said:\n%s", out.String())
		}
	})
}

// TestMigrateCommand moves a SQLite file with a keyed audit log into
// PostgreSQL and reports the chain intact on both sides, ending at the
// same event.
func TestMigrateCommand(t *testing.T) {
	ctx := context.Background()
	key, err := store.ParseAuditKey(testCacheKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "carerecord.db")
	db, err := store.Open(file, store.WithAuditKey(key))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := db.Audit(ctx, store.AuditEvent{Action: store.ActSignIn, Outcome: store.OutcomeAllowed, UserID: "clinician"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.DSN(t)
	getenv := env(map[string]string{"CARERECORD_AUDIT_KEY": testCacheKey})
	t.Run("OK", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if err := run(ctx, []string{"migrate", "--from", "sqlite:" + file, "--to", dsn}, getenv, &out, &errOut); err != nil {
			t.Fatalf("migrate: %v\n%s%s", err, out.String(), errOut.String())
		}
		if !strings.Contains(out.String(), "intact after the copy, 5 events, ends at event 5") {
			t.Fatalf("migrate said:\n%s", out.String())
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		var ue usageError
		for _, args := range [][]string{{"migrate", "--from", file, "--to", dsn}, {"migrate", "--from", "sqlite:" + file, "--to", file}} {
			if err := run(ctx, args, getenv, io.Discard, io.Discard); !errors.As(err, &ue) {
				t.Errorf("run(%v) = %v, want a usage error", args, err)
			}
		}
	})
}

// pgAuditLog makes a new PostgreSQL database holding a keyed audit log of
// n events, written by a store with a witness file as a node's, and
// returns the database's URL and the witness file's path.
func pgAuditLog(t *testing.T, n int) (string, string) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	wpath := filepath.Join(t.TempDir(), "node.witness")
	w, err := witness.OpenFile(wpath)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	db, err := store.Open(dsn, store.WithAuditKey(mustAuditKey(t)), store.WithWitnesses(w))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := db.Audit(ctx, store.AuditEvent{Action: store.ActRecordOpen, Outcome: store.OutcomeAllowed,
			UserID: fmt.Sprintf("clinician%d", i%3), NHSNumber: "9990000018", Reason: "direct-care"}); err != nil {
			t.Fatal(err)
		}
	}
	// Closing writes the last checkpoint to the witness.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dsn, wpath
}

// tamperAsSuperuser runs stmts on the database dsn names as the server's
// superuser with every trigger off for that transaction alone: the
// append-only guards stop the application's role, not someone with the
// keys to the server, and the catalogue shows them in place afterwards.
func tamperAsSuperuser(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", pgtest.Shared(t).AdminDSN(strings.TrimPrefix(u.Path, "/")))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
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

// TestAuditVerifyOnPostgres: `carerecord audit verify --db postgres://...`
// walks the whole keyed chain, compares it with a node's witness and
// checks the append-only guards, as it does on a SQLite file; it fails on
// an event changed, deleted or reordered behind the guards' back, and on
// a log cut short since the witness's checkpoint. --reanchor accepts what
// an investigation accepted (a log intact under the key but behind its
// witness) and refuses a broken chain.
func TestAuditVerifyOnPostgres(t *testing.T) {
	ctx := context.Background()
	getenv := env(map[string]string{"CARERECORD_AUDIT_KEY": testCacheKey})
	verify := func(dsn string, extra ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"audit", "verify", "--db", dsn}, extra...), getenv, &out, io.Discard)
		return out.String(), err
	}
	t.Run("Intact", func(t *testing.T) {
		dsn, wpath := pgAuditLog(t, 6)
		out, err := verify(dsn, "--witness", wpath)
		if err != nil {
			t.Fatalf("audit verify: %v\n%s", err, out)
		}
		for _, want := range []string{"intact, 6 events, keyed from event 1", "append-only guards on the audit tables are in place and enabled",
			"append-only guard: in force, but role " + pgtest.AppRole + " owns the audit tables", "matches its last checkpoint, event 6, hash "} {
			if !strings.Contains(out, want) {
				t.Errorf("audit verify said:\n%s\nwant %q", out, want)
			}
		}
	})
	cases := []struct {
		name   string
		tamper []string
		// what verify must name: the problem and the event.
		want         string
		reanchorable bool
	}{
		{"Changed", []string{`UPDATE audit_events SET client_addr = '10.9.9.9' WHERE seq = 3`}, "event 3: altered", false},
		{"Deleted", []string{`DELETE FROM audit_events WHERE seq = 4`}, "event 4: deleted", false},
		{"Reordered", []string{`UPDATE audit_events SET seq = 1000 WHERE seq = 3`, `UPDATE audit_events SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_events SET seq = 4 WHERE seq = 1000`}, "event 3: reordered", false},
		// A cut tail leaves a whole chain: only the witness shows it.
		{"TailCutSinceCheckpoint", []string{`DELETE FROM audit_events WHERE seq >= 5`}, "event 5: behind", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dsn, wpath := pgAuditLog(t, 6)
			tamperAsSuperuser(t, dsn, tc.tamper...)
			out, err := verify(dsn, "--witness", wpath)
			if !errors.Is(err, errAuditBroken) || !strings.Contains(out, "NOT intact: "+tc.want) {
				t.Fatalf("audit verify: %v\n%s\nwant NOT intact: %s", err, out, tc.want)
			}
			out, err = verify(dsn, "--witness", wpath, "--reanchor")
			if (err == nil) != tc.reanchorable {
				t.Fatalf("audit verify --reanchor: %v\n%s\nwant it to succeed: %v", err, out, tc.reanchorable)
			}
			if !tc.reanchorable {
				return
			}
			if !strings.Contains(out, "re-anchored in "+wpath+" at event 4") {
				t.Fatalf("audit verify --reanchor said:\n%s", out)
			}
			if out, err := verify(dsn, "--witness", wpath); err != nil || !strings.Contains(out, "matches its last checkpoint, event 4") {
				t.Fatalf("verify after re-anchoring: %v\n%s", err, out)
			}
		})
	}
	t.Run("ReanchorNeedsWitness", func(t *testing.T) {
		dsn, _ := pgAuditLog(t, 1)
		var ue usageError
		if _, err := verify(dsn, "--reanchor"); !errors.As(err, &ue) {
			t.Fatalf("audit verify --reanchor without --witness on PostgreSQL = %v, want a usage error", err)
		}
	})
}
