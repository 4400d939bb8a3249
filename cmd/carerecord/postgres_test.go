package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/pgtest"
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
