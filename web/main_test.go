package web_test

import (
	"testing"

	"github.com/carerecord/carerecord/store/pgtest"
)

// The web tests run on SQLite files; the few that run on a real
// PostgreSQL server (postgres_test.go) start it through pgtest, which
// stops it when the tests end.
func TestMain(m *testing.M) { pgtest.Main(m) }
