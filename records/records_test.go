package records_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
)

// Synthetic NHS numbers from the 999 range reserved for testing.
const (
	nhsA = "9990000018"
	nhsB = "9990000026"
)

var testKey = bytes.Repeat([]byte{0x5a}, store.CacheKeySize)

// testClock is the injectable clock: tests move cache ages on with Add.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeConn is an in-process Connector whose behaviour a test controls.
type fakeConn struct {
	src     connectors.Source
	entries int    // entries in each record
	text    string // written into a document entry and the patient's address

	mu       sync.Mutex
	err      error         // FetchRecord fails with it
	hang     bool          // FetchRecord blocks until its context is done
	release  chan struct{} // FetchRecord blocks until it is closed, ignoring its context
	patients []connectors.Patient
	findErr  error
	findHang bool

	calls   atomic.Int32
	started chan struct{} // gets a value, if there is room, as each call starts
}

var _ connectors.Connector = (*fakeConn)(nil)

func newConn(ods string) *fakeConn {
	return &fakeConn{src: connectors.Source{Name: "Trust " + ods, ODS: ods}, entries: 3, started: make(chan struct{}, 64)}
}

func (c *fakeConn) Source() connectors.Source { return c.src }

func (c *fakeConn) set(f func(c *fakeConn)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

func (c *fakeConn) FindPatients(ctx context.Context, q connectors.Query) ([]connectors.Patient, error) {
	c.mu.Lock()
	ps, err, hang := c.patients, c.findErr, c.findHang
	c.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, &connectors.SourceError{Source: c.src, Kind: connectors.ErrTimeout, Err: ctx.Err()}
	}
	return append([]connectors.Patient(nil), ps...), err
}

func (c *fakeConn) FetchRecord(ctx context.Context, nhs string) (*connectors.Record, error) {
	c.calls.Add(1)
	select {
	case c.started <- struct{}{}:
	default:
	}
	c.mu.Lock()
	err, hang, release := c.err, c.hang, c.release
	c.mu.Unlock()
	if release != nil {
		<-release
	}
	if hang {
		<-ctx.Done()
		return nil, &connectors.SourceError{Source: c.src, Kind: connectors.ErrTimeout, Err: ctx.Err()}
	}
	if err != nil {
		return nil, err
	}
	return testRecord(c.src, nhs, c.entries, c.text), nil
}

func testRecord(src connectors.Source, nhs string, n int, text string) *connectors.Record {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := &connectors.Record{
		Patient: &connectors.Patient{
			NHSNumber: nhs, SourceID: "p-" + src.ODS, Given: []string{"Jane"}, Family: "Testpatient",
			BirthDate: connectors.NewDate(1965, time.March, 12), Gender: connectors.GenderFemale,
			AddressLines: []string{"1 " + text + " Road"}, Postcode: "ZZ99 3VZ", Source: src,
		},
		Fetched: base,
	}
	for i := range n {
		v := 120.0 + float64(i%30)
		e := connectors.Entry{
			Kind: connectors.KindResult, ID: fmt.Sprintf("Observation/%s-%d", src.ODS, i), Source: src,
			Date: base.Add(-time.Duration(i) * 36 * time.Hour), Fetched: base, Title: "Haemoglobin",
			Codes:  []connectors.Code{{System: connectors.SystemLOINC, Code: "718-7", Display: "Haemoglobin"}},
			Result: &connectors.Result{Value: fmt.Sprint(v), Numeric: &v, Units: "g/L", Flag: connectors.FlagNormal, Status: "final"},
		}
		if i == 0 && text != "" {
			e = connectors.Entry{Kind: connectors.KindDocument, ID: "DocumentReference/" + src.ODS, Source: src,
				Date: base, Fetched: base, Title: "Clinic letter",
				Document: &connectors.Document{Type: "Clinic letter", ContentType: "text/plain", Text: "Seen in clinic. " + text}}
		}
		rec.Entries = append(rec.Entries, e)
	}
	return rec
}

type fixture struct {
	db    *store.DB
	r     *records.Records
	clock *testClock
	path  string
}

func newFixture(tb testing.TB, o records.RecordOptions, conns ...*fakeConn) *fixture {
	tb.Helper()
	return newFixtureAt(tb, testDB(tb), o, conns...)
}

// newFixtureAt is newFixture on the database at path: on PostgreSQL, two
// fixtures on one path are two nodes.
func newFixtureAt(tb testing.TB, path string, o records.RecordOptions, conns ...*fakeConn) *fixture {
	tb.Helper()
	clock := newClock()
	db, err := store.Open(path, store.WithCacheKey(testKey), store.WithClock(clock.Now))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	var cs []connectors.Connector
	for _, c := range conns {
		cs = append(cs, c)
	}
	if o.Now == nil {
		o.Now = clock.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := records.NewRecords(db, cs, o)
	tb.Cleanup(r.Close) // runs before db.Close
	return &fixture{db: db, r: r, clock: clock, path: path}
}

func mustOpen(tb testing.TB, r *records.Records, nhs string, refresh bool) *records.RecordView {
	tb.Helper()
	v, err := r.Open(context.Background(), nhs, refresh)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func status(t *testing.T, v *records.RecordView, ods string) records.SourceStatus {
	t.Helper()
	for _, s := range v.Sources {
		if s.Source.ODS == ods {
			return s
		}
	}
	t.Fatalf("no status for %s", ods)
	return records.SourceStatus{}
}

func entriesFrom(v *records.RecordView, ods string) int {
	n := 0
	for _, e := range v.Entries {
		if e.Source.ODS == ods {
			n++
		}
	}
	return n
}

func TestOpenLive(t *testing.T) {
	a, b := newConn("RAA"), newConn("RBB")
	b.entries = 5
	f := newFixture(t, records.RecordOptions{}, a, b)
	v := mustOpen(t, f.r, "999 000 0018", false)
	if v.NHSNumber != nhsA {
		t.Fatalf("NHS number %q", v.NHSNumber)
	}
	if len(v.Sources) != 2 || v.Sources[0].Source.ODS != "RAA" || v.Sources[1].Source.ODS != "RBB" {
		t.Fatalf("sources not in configuration order: %+v", v.Sources)
	}
	for _, s := range v.Sources {
		if s.State != records.StateLive || !s.FetchedAt.Equal(f.clock.Now()) || s.Error != "" {
			t.Fatalf("status %+v", s)
		}
	}
	if len(v.Entries) != 8 || len(v.Patients) != 2 || v.Patients[1].Source.ODS != "RBB" {
		t.Fatalf("%d entries, %d patients", len(v.Entries), len(v.Patients))
	}
	for i := 1; i < len(v.Entries); i++ {
		if v.Entries[i].Date.After(v.Entries[i-1].Date) {
			t.Fatal("entries not newest first")
		}
	}
	if v.Pending() {
		t.Fatal("nothing should be pending")
	}
	if _, err := f.r.Open(context.Background(), "9990000019", false); !errors.Is(err, connectors.ErrNHSNumberCheckDigit) {
		t.Fatalf("bad NHS number: %v", err)
	}
}

func TestOpenHangingSource(t *testing.T) {
	// Long enough for the answering sources (and the cache write behind
	// them) on a loaded machine; the late and stuck ones never answer
	// before it, whatever its length.
	const deadline = time.Second
	a, b := newConn("RAA"), newConn("RBB")
	// late ignores its context and answers only when released; stuck
	// honours its context but never answers.
	late, stuck := newConn("RLL"), newConn("RSS")
	late.release = make(chan struct{})
	stuck.hang = true
	f := newFixture(t, records.RecordOptions{Deadline: deadline, LateWindow: time.Second}, a, late, b, stuck)

	began := time.Now()
	v := mustOpen(t, f.r, nhsA, false)
	// Open does not wait for the late source (it answers only when
	// released, below) or the stuck one: a generous bound, not a timing.
	if took := time.Since(began); took > deadline+10*time.Second {
		t.Fatalf("Open took %v with a deadline of %v", took, deadline)
	}
	for _, ods := range []string{"RAA", "RBB"} {
		if s := status(t, v, ods); s.State != records.StateLive || entriesFrom(v, ods) != 3 {
			t.Fatalf("%s: %+v, %d entries", ods, s, entriesFrom(v, ods))
		}
	}
	for _, ods := range []string{"RLL", "RSS"} {
		s := status(t, v, ods)
		if s.State != records.StateTimeout || !s.Pending || !strings.Contains(s.Error, "did not answer in time") || entriesFrom(v, ods) != 0 {
			t.Fatalf("%s: %+v", ods, s)
		}
	}
	if !v.Pending() {
		t.Fatal("view should be pending")
	}

	// The late source answers after the page: it fills in without a new
	// fetch, and the stuck one ends as timed out once its late window
	// closes.
	close(late.release)
	f.r.Settle(nhsA)
	v, err := f.r.Status(context.Background(), nhsA)
	if err != nil {
		t.Fatal(err)
	}
	if s := status(t, v, "RLL"); (s.State != records.StateLive && s.State != records.StateCached) || s.FetchedAt.IsZero() || entriesFrom(v, "RLL") != 3 {
		t.Fatalf("late source not filled in: %+v", s)
	}
	if s := status(t, v, "RSS"); s.State != records.StateTimeout || s.Pending || s.Error == "" {
		t.Fatalf("stuck source: %+v", s)
	}
	if n := late.calls.Load(); n != 1 {
		t.Fatalf("late source called %d times", n)
	}

	// A reload shows the late source from the cache.
	f.r.Settle(nhsA)
	v = mustOpen(t, f.r, nhsA, false)
	if s := status(t, v, "RLL"); s.State != records.StateCached || s.Stale || entriesFrom(v, "RLL") != 3 {
		t.Fatalf("after reload: %+v", s)
	}
}

func TestOpenContextDeadlineBoundsWait(t *testing.T) {
	stuck := newConn("RSS")
	stuck.hang = true
	f := newFixture(t, records.RecordOptions{Deadline: 10 * time.Second, LateWindow: 100 * time.Millisecond}, newConn("RAA"), stuck)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	began := time.Now()
	v, err := f.r.Open(ctx, nhsA, false)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("Open took %v past its context's deadline", took)
	}
	if s := status(t, v, "RSS"); s.State != records.StateTimeout {
		t.Fatalf("%+v", s)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := f.r.Open(cctx, nhsB, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
}

func TestOpenFailingSourceUsesCache(t *testing.T) {
	a, flaky := newConn("RAA"), newConn("RFF")
	f := newFixture(t, records.RecordOptions{}, a, flaky)
	first := f.clock.Now()
	mustOpen(t, f.r, nhsA, false)
	f.r.Settle(nhsA)

	flaky.set(func(c *fakeConn) {
		c.err = &connectors.SourceError{Source: c.src, Kind: connectors.ErrStatus, Status: 503}
	})
	t.Run("WithinMaxAge", func(t *testing.T) {
		f.clock.Add(15 * time.Minute) // past fresh, so both sources are asked
		v := mustOpen(t, f.r, nhsA, false)
		f.r.Settle(nhsA)
		s := status(t, v, "RFF")
		if s.State != records.StateCached || !s.Stale || !s.FetchedAt.Equal(first) || !strings.Contains(s.Error, "HTTP 503") {
			t.Fatalf("%+v", s)
		}
		if entriesFrom(v, "RFF") != 3 || len(v.Patients) != 2 {
			t.Fatal("cached data not shown")
		}
		if s := status(t, v, "RAA"); s.State != records.StateLive {
			t.Fatalf("healthy source: %+v", s)
		}
		// Status, asking no source, says the same.
		sv, err := f.r.Status(context.Background(), nhsA)
		if err != nil {
			t.Fatal(err)
		}
		if s := status(t, sv, "RFF"); s.State != records.StateCached || !s.Stale || s.Error == "" {
			t.Fatalf("Status: %+v", s)
		}
	})
	t.Run("PastMaxAge", func(t *testing.T) {
		f.clock.Add(24 * time.Hour)
		v := mustOpen(t, f.r, nhsA, false)
		f.r.Settle(nhsA)
		s := status(t, v, "RFF")
		if s.State != records.StateFailed || s.Stale || !s.FetchedAt.IsZero() || !strings.Contains(s.Error, "HTTP 503") {
			t.Fatalf("%+v", s)
		}
		if entriesFrom(v, "RFF") != 0 || len(v.Patients) != 1 {
			t.Fatal("expired cache shown")
		}
	})
}

func TestOpenFreshCache(t *testing.T) {
	a := newConn("RAA")
	f := newFixture(t, records.RecordOptions{}, a)
	cachedAt := f.clock.Now()
	mustOpen(t, f.r, nhsA, false)
	f.r.Settle(nhsA)

	f.clock.Add(9 * time.Minute)
	v := mustOpen(t, f.r, nhsA, false)
	if n := a.calls.Load(); n != 1 {
		t.Fatalf("fresh cache hit called the source: %d calls", n)
	}
	if s := v.Sources[0]; s.State != records.StateCached || s.Stale || !s.FetchedAt.Equal(cachedAt) || entriesFrom(v, "RAA") != 3 {
		t.Fatalf("%+v", s)
	}

	v = mustOpen(t, f.r, nhsA, true)
	if n := a.calls.Load(); n != 2 {
		t.Fatalf("refresh: %d calls, want 2", n)
	}
	if s := v.Sources[0]; s.State != records.StateLive || !s.FetchedAt.Equal(f.clock.Now()) {
		t.Fatalf("refresh: %+v", s)
	}

	f.r.Settle(nhsA)
	f.clock.Add(10 * time.Minute)
	mustOpen(t, f.r, nhsA, false)
	if n := a.calls.Load(); n != 3 {
		t.Fatalf("cache past fresh: %d calls, want 3", n)
	}
}

func TestOpenSingleFlight(t *testing.T) {
	conns := []*fakeConn{newConn("RAA"), newConn("RBB"), newConn("RCC")}
	release := make(chan struct{})
	for _, c := range conns {
		c.release = release
	}
	f := newFixture(t, records.RecordOptions{Deadline: 10 * time.Second}, conns...)

	const n = 20
	start := make(chan struct{})
	views := make([]*records.RecordView, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			views[i], errs[i] = f.r.Open(context.Background(), nhsA, false)
		}()
	}
	close(start)
	for _, c := range conns {
		<-c.started
	}
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(views[i].Entries) != 9 {
			t.Fatalf("view %d has %d entries", i, len(views[i].Entries))
		}
	}
	for _, c := range conns {
		if got := c.calls.Load(); got != 1 {
			t.Errorf("%s called %d times, want 1", c.src.ODS, got)
		}
	}
}

func TestOpenNoRecord(t *testing.T) {
	a, none := newConn("RAA"), newConn("RNN")
	none.err = fmt.Errorf("fhir: %w", connectors.ErrNoRecord)
	f := newFixture(t, records.RecordOptions{}, a, none)
	v := mustOpen(t, f.r, nhsA, false)
	if s := status(t, v, "RNN"); s.State != records.StateNoRecord || s.Error != "" || s.FetchedAt.IsZero() {
		t.Fatalf("%+v", s)
	}
	f.r.Settle(nhsA)
	f.clock.Add(time.Minute)
	v = mustOpen(t, f.r, nhsA, false)
	if s := status(t, v, "RNN"); s.State != records.StateNoRecord || s.FetchedAt.IsZero() || none.calls.Load() != 1 {
		t.Fatalf("cached no-record: %+v, %d calls", s, none.calls.Load())
	}
	if len(v.Patients) != 1 {
		t.Fatalf("%d patients", len(v.Patients))
	}
}

func TestCacheEncryption(t *testing.T) {
	const secret = "Zebracrossing-Obscure-Marker-7731"
	a := newConn("RAA")
	a.text = secret
	f := newFixture(t, records.RecordOptions{}, a)
	v := mustOpen(t, f.r, nhsA, false)
	if !strings.Contains(v.Entries[0].Document.Text, secret) {
		t.Fatal("the distinctive text is not in the record, so the test proves nothing")
	}
	f.r.Settle(nhsA)
	got, err := f.db.CachedRecords(context.Background(), nhsA)
	if err != nil || len(got) != 1 || !strings.Contains(got[0].Record.Entries[0].Document.Text, secret) {
		t.Fatalf("cache round trip: %+v, %v", got, err)
	}

	assertClean := func(when string) {
		t.Helper()
		for _, p := range []string{f.path, f.path + "-wal"} {
			raw, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, needle := range []string{secret, nhsA, "Testpatient", "Haemoglobin"} {
				if bytes.Contains(raw, []byte(needle)) {
					t.Errorf("%s: %s holds %q in the clear", when, filepath.Base(p), needle)
				}
			}
		}
	}
	assertClean("open")
	f.r.Close()
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	assertClean("closed")

	t.Run("ErrCacheKeyMismatch", func(t *testing.T) {
		other := bytes.Repeat([]byte{0x11}, store.CacheKeySize)
		_, err := store.Open(f.path, store.WithCacheKey(other))
		if !errors.Is(err, store.ErrCacheKeyMismatch) || !strings.Contains(err.Error(), "cache key does not match the one this database was written with") {
			t.Fatalf("wrong key: %v", err)
		}
		db, err := store.Open(f.path, store.WithCacheKey(testKey))
		if err != nil {
			t.Fatalf("right key: %v", err)
		}
		db.Close()
	})
	t.Run("ErrKeySize", func(t *testing.T) {
		if _, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.WithCacheKey(testKey[:16])); err == nil || !strings.Contains(err.Error(), "32 bytes") {
			t.Fatalf("short key: %v", err)
		}
	})
	t.Run("ErrNoCacheKey", func(t *testing.T) {
		db := MustOpenDB(t)
		r := records.NewRecords(db, []connectors.Connector{newConn("RAA")}, records.RecordOptions{})
		defer r.Close()
		if _, err := r.Open(context.Background(), nhsA, false); !errors.Is(err, store.ErrNoCacheKey) {
			t.Fatalf("Open without a key: %v", err)
		}
		if err := db.PutCachedRecord(context.Background(), nhsA, "RAA", time.Now(), &connectors.Record{}); !errors.Is(err, store.ErrNoCacheKey) {
			t.Fatalf("Put without a key: %v", err)
		}
	})
}

func TestCacheTampered(t *testing.T) {
	sqliteOnly(t) // its statements are SQLite's
	flaky := newConn("RFF")
	f := newFixture(t, records.RecordOptions{}, flaky)
	mustOpen(t, f.r, nhsA, false)
	f.r.Settle(nhsA)

	raw, err := sql.Open("sqlite3", "file:"+f.path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tamper := func(t *testing.T, stmt string) {
		t.Helper()
		if res, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		} else if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%d rows changed", n)
		}
	}
	// Keep a good copy to restore between cases.
	var body []byte
	var at int64
	if err := raw.QueryRow(`SELECT body, fetched_at FROM record_cache`).Scan(&body, &at); err != nil {
		t.Fatal(err)
	}
	restore := func() {
		if _, err := raw.Exec(`UPDATE record_cache SET body = ?, fetched_at = ?, state = 'record'`, body, at); err != nil {
			t.Fatal(err)
		}
	}
	flaky.set(func(c *fakeConn) {
		c.err = &connectors.SourceError{Source: c.src, Kind: connectors.ErrUnavailable}
	})
	f.clock.Add(time.Hour)

	for _, tc := range []struct {
		name   string
		change func(body []byte, at int64, state string) ([]byte, int64, string)
	}{
		{"FlippedByte", func(b []byte, at int64, st string) ([]byte, int64, string) {
			b = bytes.Clone(b)
			b[len(b)/2] ^= 1
			return b, at, st
		}},
		{"Truncated", func(b []byte, at int64, st string) ([]byte, int64, string) { return b[:20], at, st }},
		{"Redated", func(b []byte, at int64, st string) ([]byte, int64, string) { return b, at + 3600_000, st }},
		{"StateChanged", func(b []byte, at int64, st string) ([]byte, int64, string) { return b, at, "no-record" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer restore()
			nb, nat, nst := tc.change(body, at, "record")
			if _, err := raw.Exec(`UPDATE record_cache SET body = ?, fetched_at = ?, state = ?`, nb, nat, nst); err != nil {
				t.Fatal(err)
			}
			if _, err := f.db.CachedRecords(context.Background(), nhsA); !errors.Is(err, store.ErrCacheCorrupt) {
				t.Fatalf("CachedRecords: %v", err)
			}
			v := mustOpen(t, f.r, nhsA, false)
			f.r.Settle(nhsA)
			s := v.Sources[0]
			if s.State != records.StateFailed || len(v.Entries) != 0 || len(v.Patients) != 0 {
				t.Fatalf("tampered cache shown: %+v, %d entries", s, len(v.Entries))
			}
		})
	}
	t.Run("RowMovedToAnotherPatient", func(t *testing.T) {
		// Cache patient B, then give B's row A's ciphertext.
		flaky.set(func(c *fakeConn) { c.err = nil })
		mustOpen(t, f.r, nhsB, false)
		f.r.Settle(nhsB)
		tamper(t, fmt.Sprintf(`UPDATE record_cache SET body = X'%X' WHERE fetched_at <> %d`, body, at))
		if _, err := f.db.CachedRecords(context.Background(), nhsB); !errors.Is(err, store.ErrCacheCorrupt) {
			t.Fatalf("swapped row: %v", err)
		}
	})
}

func TestPurge(t *testing.T) {
	a := newConn("RAA")
	f := newFixture(t, records.RecordOptions{}, a, newConn("RBB"))
	ctx := context.Background()
	mustOpen(t, f.r, nhsA, false)
	mustOpen(t, f.r, nhsB, false)
	f.r.Settle(nhsA)
	f.r.Settle(nhsB)

	if err := f.r.Purge(ctx, nhsA); err != nil {
		t.Fatal(err)
	}
	if got, err := f.db.CachedRecords(ctx, nhsA); err != nil || len(got) != 0 {
		t.Fatalf("after purge: %d rows, %v", len(got), err)
	}
	if got, _ := f.db.CachedRecords(ctx, nhsB); len(got) != 2 {
		t.Fatalf("other patient's cache: %d rows", len(got))
	}
	v, err := f.r.Status(ctx, nhsA)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Entries) != 0 || v.Sources[0].State != records.StateFailed {
		t.Fatalf("purged patient still shown: %+v", v.Sources[0])
	}

	t.Run("WhileFetchInFlight", func(t *testing.T) {
		// An objection upheld while a slow source is still answering must
		// not leave that answer in the cache.
		slow := newConn("RSL")
		slow.release = make(chan struct{})
		g := newFixture(t, records.RecordOptions{Deadline: 50 * time.Millisecond}, slow)
		v := mustOpen(t, g.r, nhsA, false)
		if v.Sources[0].State != records.StateTimeout {
			t.Fatalf("%+v", v.Sources[0])
		}
		if err := g.r.Purge(ctx, nhsA); err != nil {
			t.Fatal(err)
		}
		close(slow.release)
		g.r.Settle(nhsA)
		if got, _ := g.db.CachedRecords(ctx, nhsA); len(got) != 0 {
			t.Fatalf("late answer cached after purge: %d rows", len(got))
		}
	})
}

func TestPurgeExpired(t *testing.T) {
	f := newFixture(t, records.RecordOptions{MaxAge: 24 * time.Hour}, newConn("RAA"), newConn("RBB"))
	ctx := context.Background()
	mustOpen(t, f.r, nhsA, false)
	f.r.Settle(nhsA)
	f.clock.Add(20 * time.Hour)
	mustOpen(t, f.r, nhsB, false)
	f.r.Settle(nhsB)
	f.clock.Add(5 * time.Hour)

	n, err := f.r.PurgeExpired(ctx)
	if err != nil || n != 2 {
		t.Fatalf("purged %d, %v; want 2", n, err)
	}
	if got, _ := f.db.CachedRecords(ctx, nhsA); len(got) != 0 {
		t.Fatalf("expired rows left: %d", len(got))
	}
	if got, _ := f.db.CachedRecords(ctx, nhsB); len(got) != 2 {
		t.Fatalf("young rows purged: %d left", len(got))
	}

	t.Run("RunPurger", func(t *testing.T) {
		purged := make(chan struct{}, 1)
		g := newFixture(t, records.RecordOptions{Logger: slog.New(signalHandler{"record cache purged", purged})}, newConn("RAA"))
		mustOpen(t, g.r, nhsA, false)
		g.r.Settle(nhsA)
		g.clock.Add(25 * time.Hour)
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { g.r.RunPurger(ctx, time.Hour); close(done) }()
		<-purged // RunPurger purges at once, then every interval
		cancel()
		<-done
		if got, _ := g.db.CachedRecords(context.Background(), nhsA); len(got) != 0 {
			t.Fatalf("%d rows left", len(got))
		}
	})
}

// signalHandler is a slog.Handler that signals when a given message is
// logged, so that a test can wait for a background job without sleeping.
type signalHandler struct {
	msg string
	ch  chan struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

func TestSearch(t *testing.T) {
	birth := connectors.NewDate(1965, time.March, 12)
	pat := func(src *fakeConn, nhs, family string, born connectors.Date) connectors.Patient {
		return connectors.Patient{NHSNumber: nhs, Family: family, Given: []string{"Jane"}, BirthDate: born,
			Gender: connectors.GenderFemale, Postcode: "ZZ99 3VZ", AddressLines: []string{"1 Test Street"}, Source: src.src}
	}
	a, b, down, slow := newConn("RAA"), newConn("RBB"), newConn("RDD"), newConn("RSL")
	a.patients = []connectors.Patient{pat(a, nhsA, "Testpatient", birth), pat(a, nhsB, "Abbot", birth)}
	restricted := pat(b, nhsA, "TESTPATIENT", connectors.NewDate(1965, time.March, 21))
	restricted.Restricted = true
	b.patients = []connectors.Patient{restricted}
	down.findErr = &connectors.SourceError{Source: down.src, Kind: connectors.ErrUnavailable}
	slow.findHang = true
	f := newFixture(t, records.RecordOptions{Deadline: time.Second, SourceDeadline: map[string]time.Duration{"RSL": 100 * time.Millisecond}}, a, b, down, slow)

	began := time.Now()
	hits, sts, err := f.r.Search(context.Background(), connectors.Query{Family: "testpatient", BirthDate: birth})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 900*time.Millisecond {
		t.Fatalf("search waited %v for a source with a 100ms deadline", took)
	}
	if len(hits) != 2 || hits[0].NHSNumber != nhsB || hits[1].NHSNumber != nhsA {
		t.Fatalf("hits %+v", hits)
	}
	h := hits[1]
	if len(h.Sources) != 2 || h.Sources[0].ODS != "RAA" || h.Sources[1].ODS != "RBB" {
		t.Fatalf("sources %+v", h.Sources)
	}
	if !h.Disagree {
		t.Fatal("birth dates differ: want Disagree")
	}
	if !h.Patient.Restricted || h.Patient.Postcode != "" || h.Patient.AddressLines != nil {
		t.Fatalf("restricted patient's address shown: %+v", h.Patient)
	}
	if h.Patient.Source.ODS != "RAA" || h.Patient.BirthDate != birth {
		t.Fatalf("best demographics from the wrong source: %+v", h.Patient)
	}
	// Each source's own copy is kept, in configuration order, and
	// redacted like the best one: any source's restriction holds for all.
	if len(h.Held) != 2 || h.Held[0].Source.ODS != "RAA" || h.Held[1].Source.ODS != "RBB" {
		t.Fatalf("copies held %+v, want RAA's and RBB's", h.Held)
	}
	for _, p := range h.Held {
		if !p.Restricted || p.Postcode != "" || p.AddressLines != nil {
			t.Fatalf("%s's copy of a restricted patient keeps the address: %+v", p.Source.ODS, p)
		}
	}
	if len(hits[0].Held) != 1 || hits[0].Held[0].Postcode != "ZZ99 3VZ" {
		t.Fatalf("single-source hit's copy %+v", hits[0].Held)
	}
	if hits[0].Disagree || hits[0].Patient.Postcode == "" {
		t.Fatalf("single-source hit: %+v", hits[0])
	}
	want := []records.SourceState{records.StateLive, records.StateLive, records.StateFailed, records.StateTimeout}
	for i, s := range sts {
		if s.State != want[i] {
			t.Errorf("%s: %s, want %s", s.Source.ODS, s.State, want[i])
		}
	}
	if !strings.Contains(sts[2].Error, "could not be reached") {
		t.Errorf("failed source's reason: %q", sts[2].Error)
	}

	t.Run("CaseOnlyIsNotDisagreement", func(t *testing.T) {
		b.set(func(c *fakeConn) { c.patients = []connectors.Patient{pat(b, nhsA, "TESTPATIENT", birth)} })
		hits, _, err := f.r.Search(context.Background(), connectors.Query{NHSNumber: "999 000 0018"})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if h.NHSNumber == nhsA && h.Disagree {
				t.Fatal("case difference counted as disagreement")
			}
		}
	})
	t.Run("ErrInvalidQuery", func(t *testing.T) {
		if _, _, err := f.r.Search(context.Background(), connectors.Query{Family: "Testpatient"}); !errors.Is(err, connectors.ErrInvalidQuery) {
			t.Fatalf("err = %v", err)
		}
	})
}

func BenchmarkOpenWarm(b *testing.B) {
	var conns []*fakeConn
	for i := range 8 {
		c := newConn(fmt.Sprintf("R%02d", i))
		c.entries = 200
		c.text = "synthetic letter text"
		conns = append(conns, c)
	}
	f := newFixture(b, records.RecordOptions{}, conns...)
	mustOpen(b, f.r, nhsA, false)
	f.r.Settle(nhsA)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v, err := f.r.Open(context.Background(), nhsA, false)
		if err != nil {
			b.Fatal(err)
		}
		if len(v.Entries) != 1600 {
			b.Fatalf("%d entries", len(v.Entries))
		}
	}
	b.StopTimer()
	for _, c := range conns {
		if c.calls.Load() != 1 {
			b.Fatalf("%s called %d times on a warm cache", c.src.ODS, c.calls.Load())
		}
	}
}

func TestCacheKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.key")
	k1, err := store.LoadOrCreateCacheKey(path)
	if err != nil || len(k1) != store.CacheKeySize {
		t.Fatalf("create: %d bytes, %v", len(k1), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v, %v", fi.Mode(), err)
	}
	k2, err := store.LoadOrCreateCacheKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reload gave another key: %v", err)
	}
	for _, s := range []string{
		strings.Repeat("ab", 32),
		"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=",
		"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo",
	} {
		if k, err := store.ParseCacheKey(s); err != nil || len(k) != store.CacheKeySize {
			t.Errorf("ParseCacheKey(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "short", strings.Repeat("ab", 16)} {
		if _, err := store.ParseCacheKey(s); err == nil {
			t.Errorf("ParseCacheKey(%q): want error", s)
		}
	}
}

// spreadConn answers after a fixed latency, like a real source.
type spreadConn struct {
	*fakeConn
	latency time.Duration
}

func (c spreadConn) FetchRecord(ctx context.Context, nhs string) (*connectors.Record, error) {
	t := time.NewTimer(c.latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, &connectors.SourceError{Source: c.src, Kind: connectors.ErrTimeout, Err: ctx.Err()}
	}
	return c.fakeConn.FetchRecord(ctx, nhs)
}

// BenchmarkOpenSpread opens a record from 8 sources answering in 50 to
// 400 ms and reports page time over the slowest source's latency, which
// the fan-out must keep near 1.
func BenchmarkOpenSpread(b *testing.B) {
	db := MustOpenDB(b, store.WithCacheKey(testKey))
	var conns []connectors.Connector
	slowest := time.Duration(0)
	for i := range 8 {
		c := newConn(fmt.Sprintf("R%02d", i))
		c.entries = 200
		latency := 50*time.Millisecond + time.Duration(i)*50*time.Millisecond
		slowest = max(slowest, latency)
		conns = append(conns, spreadConn{c, latency})
	}
	r := records.NewRecords(db, conns, records.RecordOptions{Logger: slog.New(slog.DiscardHandler)})
	b.Cleanup(r.Close)
	var total time.Duration
	for b.Loop() {
		began := time.Now()
		v, err := r.Open(context.Background(), nhsA, true)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(began)
		if len(v.Entries) != 1600 {
			b.Fatalf("%d entries", len(v.Entries))
		}
		r.Settle(nhsA)
	}
	b.ReportMetric(float64(total)/float64(b.N)/float64(slowest), "page/slowest")
}
