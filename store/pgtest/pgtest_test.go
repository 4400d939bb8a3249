package pgtest_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/carerecord/carerecord/store/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDSN(t *testing.T) {
	ctx := context.Background()
	t.Run("EachTestHasItsOwnDatabase", func(t *testing.T) {
		a, b := open(t, pgtest.DSN(t)), open(t, pgtest.DSN(t))
		if _, err := a.ExecContext(ctx, `CREATE TABLE only_in_a (x int)`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := b.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatal("a table made in one test's database is visible in another's")
		}
	})
	t.Run("ConnectsAsTheApplicationRoleNotASuperuser", func(t *testing.T) {
		db := open(t, pgtest.DSN(t))
		var role string
		var super bool
		if err := db.QueryRowContext(ctx, `SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&role, &super); err != nil {
			t.Fatal(err)
		}
		if role != pgtest.AppRole || super {
			t.Fatalf("connected as %q (superuser %v), want %q without superuser", role, super, pgtest.AppRole)
		}
	})
	t.Run("ServerIsVersion15OrLater", func(t *testing.T) {
		db := open(t, pgtest.DSN(t))
		var v int
		if err := db.QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v < 150000 {
			t.Fatalf("server_version_num = %d, want >= 150000", v)
		}
	})
}

func TestRestart(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	db := open(t, dsn)
	if _, err := db.ExecContext(ctx, `CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	s := pgtest.Shared(t)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Run("RefusedWhileStopped", func(t *testing.T) {
		if err := db.PingContext(ctx); err == nil {
			t.Fatal("ping answered while the server was stopped")
		}
	})
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Run("DataKeptAndPoolRecovers", func(t *testing.T) {
		var x int
		if err := db.QueryRowContext(ctx, `SELECT x FROM kept`).Scan(&x); err != nil {
			t.Fatal(err)
		}
		if x != 7 {
			t.Fatalf("x = %d, want 7", x)
		}
	})
}

// TestStartWith checks the durability settings each kind of server runs
// with: the tests' shared server trades them for speed, a server started
// with Options.Durable (make bench's) keeps PostgreSQL's defaults, and
// Options.Settings reach the server.
func TestStartWith(t *testing.T) {
	ctx := context.Background()
	bin, err := pgtest.BinDir()
	if err != nil {
		t.Skipf("PostgreSQL is not installed: %v", err)
	}
	durable, err := pgtest.StartWith(bin, pgtest.Options{Durable: true, Settings: []string{"work_mem=8MB"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := durable.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, tc := range []struct {
		name string
		dsn  string
		want map[string]string
	}{
		{"TestServerRunsWithoutFsync", pgtest.Shared(t).AdminDSN("postgres"),
			map[string]string{"fsync": "off", "full_page_writes": "off"}},
		{"DurableServerKeepsFsyncAndSynchronousCommit", durable.AdminDSN("postgres"),
			map[string]string{"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on", "work_mem": "8MB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, tc.dsn)
			for name, want := range tc.want {
				var got string
				if err := db.QueryRowContext(ctx, `SELECT current_setting($1)`, name).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s = %s, want %s", name, got, want)
				}
			}
		})
	}
}
