package store_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/pgtest"
)

// The store's tests run twice, from one set of tests: first on SQLite
// files, then on a real PostgreSQL server (store/pgtest), each test with
// its own database. A test that is about SQLite's file itself (modes,
// the WAL, a copy opened read-only) calls sqliteOnly.
func TestMain(m *testing.M) {
	pgtest.Main(runOnBothEngines{m})
}

type runOnBothEngines struct{ m *testing.M }

func (r runOnBothEngines) Run() int {
	store.TestEngine = store.SQLite
	fmt.Println("== store tests on SQLite")
	code := r.m.Run()
	if _, err := pgtest.BinDir(); err != nil {
		fmt.Printf("== store tests on PostgreSQL SKIPPED: PostgreSQL is not installed (%v); install it with: apt-get install postgresql\n", err)
		return code
	}
	store.TestEngine = store.Postgres
	fmt.Println("== store tests on PostgreSQL")
	if c := r.m.Run(); c != 0 {
		fmt.Println("== store tests FAILED on PostgreSQL")
		code = c
	}
	return code
}

// testDB names a new, empty database for tb on the engine under test: a
// file in a temp dir, or a database of its own on the PostgreSQL server.
// store.Open opens either.
func testDB(tb testing.TB) string {
	tb.Helper()
	if store.TestEngine == store.Postgres {
		return pgtest.DSN(tb)
	}
	return filepath.Join(tb.TempDir(), "carerecord.db")
}

// sqliteOnly skips tb on PostgreSQL: it tests SQLite's file itself.
func sqliteOnly(tb testing.TB) {
	tb.Helper()
	if store.TestEngine != store.SQLite {
		tb.Skip("about SQLite's database file")
	}
}

// rawDB opens the database at path (testDB's answer) behind the store's
// back, on either engine, as its owner.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	driver := "sqlite3"
	if store.IsPostgresURL(path) {
		driver = "pgx"
	} else {
		path = "file:" + path + "?_busy_timeout=5000"
	}
	raw, err := sql.Open(driver, path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

// MustOpenDBAt opens the store at path (testDB's answer), as another node
// would, and closes it when the test ends.
func MustOpenDBAt(tb testing.TB, path string, opts ...store.Option) *store.DB {
	tb.Helper()
	db, err := store.Open(path, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
