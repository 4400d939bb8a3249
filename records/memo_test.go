package records_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
)

// warm opens the record twice: the first view fetches and caches, the
// second decodes the cache and keeps the decoded record in memory.
func warm(t *testing.T, f *fixture, nhs string) *records.RecordView {
	t.Helper()
	mustOpen(t, f.r, nhs, false)
	f.r.Settle(nhs)
	v := mustOpen(t, f.r, nhs, false)
	if v.Sources[0].State != records.StateCached {
		t.Fatalf("second view not from cache: %+v", v.Sources[0])
	}
	if f.r.MemoryCacheBytes() == 0 {
		t.Fatal("nothing held in memory after a cached view")
	}
	return v
}

// spoil overwrites the patient's cached bodies in the file: a view that
// decodes them again finds them unusable.
func spoil(t *testing.T, f *fixture) {
	t.Helper()
	raw := rawDB(t, f.path)
	zeros := `zeroblob(64)`
	if testEngine == store.Postgres {
		zeros = `decode(repeat('00', 64), 'hex')`
	}
	if _, err := raw.Exec(`UPDATE record_cache SET body = ` + zeros); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryCache(t *testing.T) {
	ctx := context.Background()

	t.Run("RepeatViewsDoNotDecodeAgain", func(t *testing.T) {
		f := newFixture(t, records.RecordOptions{}, newConn("RAA"))
		warm(t, f, nhsA)
		spoil(t, f) // same fetch time and state: memory still matches the row
		v := mustOpen(t, f.r, nhsA, false)
		if v.Sources[0].State != records.StateCached || len(v.Entries) != 3 {
			t.Fatalf("%+v, %d entries", v.Sources[0], len(v.Entries))
		}
	})

	t.Run("Off", func(t *testing.T) {
		f := newFixture(t, records.RecordOptions{MemoryCacheBytes: -1}, newConn("RAA"))
		mustOpen(t, f.r, nhsA, false)
		f.r.Settle(nhsA)
		mustOpen(t, f.r, nhsA, false)
		if n := f.r.MemoryCacheBytes(); n != 0 {
			t.Fatalf("%d bytes held with the memory cache off", n)
		}
		spoil(t, f)
		if v := mustOpen(t, f.r, nhsA, false); len(v.Entries) != 0 && v.Sources[0].State == records.StateCached {
			t.Fatalf("spoilt cache shown: %+v", v.Sources[0])
		}
	})

	t.Run("PurgeForgets", func(t *testing.T) {
		a := newConn("RAA")
		f := newFixture(t, records.RecordOptions{}, a, newConn("RBB"))
		warm(t, f, nhsA)
		if err := f.r.Purge(ctx, nhsA); err != nil {
			t.Fatal(err)
		}
		if n := f.r.MemoryCacheBytes(); n != 0 {
			t.Fatalf("%d bytes still held after purge", n)
		}
		a.set(func(c *fakeConn) { c.err = &connectors.SourceError{Source: c.src, Kind: connectors.ErrUnavailable} })
		v := mustOpen(t, f.r, nhsA, false)
		if entriesFrom(v, "RAA") != 0 || v.Sources[0].State != records.StateFailed {
			t.Fatalf("purged record shown: %+v", v.Sources[0])
		}
	})

	t.Run("RowGoneNotShown", func(t *testing.T) {
		// Memory is only ever a copy of a row the database still holds.
		a := newConn("RAA")
		f := newFixture(t, records.RecordOptions{}, a)
		warm(t, f, nhsA)
		if _, err := f.db.PurgeCachedRecords(ctx, nhsA); err != nil {
			t.Fatal(err)
		}
		a.set(func(c *fakeConn) { c.err = &connectors.SourceError{Source: c.src, Kind: connectors.ErrUnavailable} })
		v := mustOpen(t, f.r, nhsA, false)
		if len(v.Entries) != 0 || v.Sources[0].State != records.StateFailed {
			t.Fatalf("row deleted from the database still shown: %+v", v.Sources[0])
		}
	})

	t.Run("NewerRowWins", func(t *testing.T) {
		a := newConn("RAA")
		f := newFixture(t, records.RecordOptions{}, a)
		warm(t, f, nhsA)
		f.clock.Add(time.Minute)
		rec := testRecord(a.src, nhsA, 7, "")
		if err := f.db.PutCachedRecord(ctx, nhsA, "RAA", f.clock.Now(), rec); err != nil {
			t.Fatal(err)
		}
		v := mustOpen(t, f.r, nhsA, false)
		if len(v.Entries) != 7 || !v.Sources[0].FetchedAt.Equal(f.clock.Now()) {
			t.Fatalf("%d entries fetched %s; want the newer row's 7", len(v.Entries), v.Sources[0].FetchedAt)
		}
	})

	t.Run("NotPastFresh", func(t *testing.T) {
		a := newConn("RAA")
		f := newFixture(t, records.RecordOptions{Fresh: time.Minute}, a)
		warm(t, f, nhsA)
		f.clock.Add(2 * time.Minute)
		if _, err := f.r.PurgeExpired(ctx); err != nil {
			t.Fatal(err)
		}
		if n := f.r.MemoryCacheBytes(); n != 0 {
			t.Fatalf("%d bytes held past the fresh period", n)
		}
	})

	t.Run("Bounded", func(t *testing.T) {
		const limit = 64 << 10
		a := newConn("RAA")
		a.entries = 20
		f := newFixture(t, records.RecordOptions{MemoryCacheBytes: limit}, a)
		for i := range 40 {
			nhs := testNHS(i)
			mustOpen(t, f.r, nhs, false)
			f.r.Settle(nhs)
			mustOpen(t, f.r, nhs, false)
			if n := f.r.MemoryCacheBytes(); n > limit {
				t.Fatalf("%d bytes held, limit %d", n, limit)
			}
		}
		if f.r.MemoryCacheBytes() == 0 {
			t.Fatal("nothing held")
		}
	})

	t.Run("ConcurrentViewsAndPurges", func(t *testing.T) {
		f := newFixture(t, records.RecordOptions{}, newConn("RAA"), newConn("RBB"))
		warm(t, f, nhsA)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 20 {
					if _, err := f.r.Open(ctx, nhsA, false); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Go(func() {
			for range 5 {
				if err := f.r.Purge(ctx, nhsA); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Wait()
		f.r.Settle(nhsA)
		if err := f.r.Purge(ctx, nhsA); err != nil {
			t.Fatal(err)
		}
		if n := f.r.MemoryCacheBytes(); n != 0 {
			t.Fatalf("%d bytes held after the last purge", n)
		}
	})
}

// testNHS returns the i-th valid NHS number in the 999 test range.
func testNHS(i int) string {
	for n := 999_100_000 + i*3; ; n++ {
		d := []byte(strconv.Itoa(n))
		sum := 0
		for k := range 9 {
			sum += int(d[k]-'0') * (10 - k)
		}
		c := 11 - sum%11
		if c == 11 {
			c = 0
		}
		if c != 10 {
			return string(d) + string(rune('0'+c))
		}
	}
}
