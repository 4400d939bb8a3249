package records_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/pgtest"
)

// testEngine is the database engine the tests run on. They run twice, as
// the store's do: on SQLite files, then on a real PostgreSQL server, each
// test with a database of its own.
var testEngine = store.SQLite

func TestMain(m *testing.M) {
	pgtest.Main(runOnBothEngines{m})
}

type runOnBothEngines struct{ m *testing.M }

func (r runOnBothEngines) Run() int {
	testEngine = store.SQLite
	fmt.Println("== records tests on SQLite")
	code := r.m.Run()
	if _, err := pgtest.BinDir(); err != nil {
		fmt.Printf("== records tests on PostgreSQL SKIPPED: PostgreSQL is not installed (%v); install it with: apt-get install postgresql\n", err)
		return code
	}
	testEngine = store.Postgres
	fmt.Println("== records tests on PostgreSQL")
	if c := r.m.Run(); c != 0 {
		fmt.Println("== records tests FAILED on PostgreSQL")
		code = c
	}
	return code
}

// testDB names a new, empty database for tb on the engine under test.
func testDB(tb testing.TB) string {
	tb.Helper()
	if testEngine == store.Postgres {
		return pgtest.DSN(tb)
	}
	return filepath.Join(tb.TempDir(), "carerecord.db")
}

// sqliteOnly skips tb on PostgreSQL: it reads or edits SQLite's file.
func sqliteOnly(tb testing.TB) {
	tb.Helper()
	if testEngine != store.SQLite {
		tb.Skip("about SQLite's database file")
	}
}

func postgresOnly(tb testing.TB) {
	tb.Helper()
	if testEngine != store.Postgres {
		tb.Skip("about several nodes sharing PostgreSQL")
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

// MustOpenDB opens a new store on the engine under test and closes it
// when the test ends.
func MustOpenDB(tb testing.TB, opts ...store.Option) *store.DB {
	tb.Helper()
	db, err := store.Open(testDB(tb), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
