package store

import (
	"fmt"
	"testing"
)

func TestToDollars(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`SELECT 1 FROM t WHERE a = ? AND b = ?`, `SELECT 1 FROM t WHERE a = $1 AND b = $2`},
		{`SELECT '?' FROM t WHERE "a?" = ?`, `SELECT '?' FROM t WHERE "a?" = $1`},
		{`SELECT ?2, ?1`, `SELECT $2, $1`},
		{`SELECT 1`, `SELECT 1`},
	} {
		if got := toDollars(tt.in); got != tt.want {
			t.Errorf("toDollars(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestReboundCacheIsBounded: queries put together from a filter are as
// many as the filters asked for; the cache of their PostgreSQL text stops
// growing at maxRebound and still rewrites every query right.
func TestReboundCacheIsBounded(t *testing.T) {
	var c dollarPlaceholders
	for i := range 3 * maxRebound {
		q := fmt.Sprintf("SELECT %d FROM t WHERE a = ?", i)
		if got, want := c.rebind(q), fmt.Sprintf("SELECT %d FROM t WHERE a = $1", i); got != want {
			t.Fatalf("rebind(%q) = %q, want %q", q, got, want)
		}
	}
	if n := c.size(); n != maxRebound {
		t.Fatalf("the cache holds %d texts after %d distinct queries, want %d", n, 3*maxRebound, maxRebound)
	}
	// A cached query is still answered from the cache.
	if got := c.rebind("SELECT 0 FROM t WHERE a = ?"); got != "SELECT 0 FROM t WHERE a = $1" {
		t.Fatalf("cached rebind = %q", got)
	}
}

// TestWriterRefusesAnUnsaidWriteOrder: a write transaction on the writer
// must say whether it is serialised; BeginTx there takes read-only ones.
func TestWriterRefusesAnUnsaidWriteOrder(t *testing.T) {
	d := &sqlDB{be: postgresBackend{}, writer: true}
	if _, err := d.BeginTx(t.Context(), nil); err != errWriteOrderUnsaid {
		t.Fatalf("BeginTx(nil) on the writer = %v, want %v", err, errWriteOrderUnsaid)
	}
}
