// Package records opens a patient's record across every configured
// source: it asks the sources in parallel, each under its own deadline,
// stands the store's encrypted cache in for a source that is slow or down,
// merges the entries newest first, and says per source what the page
// shows. It also runs the patient search across sources and PDS's part of
// a record page. It keeps decoded records in memory only briefly and
// bounded, and must never log clinical content.
package records

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/metrics"
	"github.com/carerecord/carerecord/store"
)

// SourceState says what a record page shows for one source.
type SourceState string

const (
	// StateLive: the source answered for this page.
	StateLive SourceState = "live"
	// StateCached: shown from the cache, either a fresh cache hit or,
	// when the source failed or timed out, cache within the maximum age
	// (Stale then says whether it is past the fresh period).
	StateCached SourceState = "cached"
	// StateTimeout: the source missed its deadline and no usable cache was
	// held; a background fetch may still fill it in (Pending).
	StateTimeout SourceState = "timeout"
	// StateFailed: the source failed and no usable cache was held.
	StateFailed SourceState = "failed"
	// StateNoRecord: the source holds no record for the patient (live, or
	// cached with FetchedAt set).
	StateNoRecord SourceState = "no-record"
	// StatePending: (Status only) a fetch is still in flight and no usable
	// cache is held.
	StatePending SourceState = "pending"
)

// SourceStatus is one source's part of a record page.
type SourceStatus struct {
	Source connectors.Source
	State  SourceState
	// FetchedAt is when the data shown was fetched; zero if none is shown.
	FetchedAt time.Time
	// Stale is true for cached data older than the fresh period, shown
	// because the source failed or timed out.
	Stale bool
	// Error is a short reason fit for the page and the logs (from
	// connectors.SourceError); never patient content. It is set for
	// StateTimeout and StateFailed, and for cached data shown because the
	// source did not answer.
	Error string
	// Pending is true while a fetch for this source runs in the
	// background; the page can fill it in later.
	Pending bool
	// The account of what the record shown does not show, from the
	// source's connectors.Record (live or cached alike): resources hidden
	// by a named rule, resources that could not be read, kinds the source
	// could not give in full, and how many Patient resources it holds for
	// this NHS number. All empty when no record is shown.
	Hidden         []connectors.Omission
	Unreadable     []connectors.Omission
	Gaps           []connectors.Gap
	PatientRecords int
}

// Complete reports whether the record shown for this source says
// everything the source holds of kind k (connectors.Record.Complete). It
// says nothing of whether a record is shown at all: see State.
func (s *SourceStatus) Complete(k connectors.Kind) bool {
	r := connectors.Record{Unreadable: s.Unreadable, Gaps: s.Gaps}
	return r.Complete(k)
}

// Incomplete reports whether the record shown lacks anything the source
// holds: a kind that failed or was cut off, or resources that could not
// be read.
func (s *SourceStatus) Incomplete() bool { return len(s.Gaps) > 0 || len(s.Unreadable) > 0 }

// account copies the record's account of itself into s.
func (s *SourceStatus) account(rec *connectors.Record) {
	s.Hidden, s.Unreadable, s.Gaps, s.PatientRecords = rec.Hidden, rec.Unreadable, rec.Gaps, rec.PatientRecords
}

// RecordView is everything a record page shows for one patient.
type RecordView struct {
	NHSNumber string
	// Patients holds the demographics as each source holds them (Source
	// set), in configuration order, for the banner and disagreement checks.
	Patients []connectors.Patient
	// Entries is every shown source's entries, newest first. It may be
	// shared with other views of the same answers: never modify it.
	Entries []connectors.Entry
	// Sources has one status per configured source, in configuration order.
	Sources []SourceStatus
	// PDS is what the national demographics service said of the patient;
	// nil when none is configured.
	PDS *PDSAnswer
}

// Pending reports whether any source is still being fetched.
func (v *RecordView) Pending() bool {
	for i := range v.Sources {
		if v.Sources[i].Pending {
			return true
		}
	}
	return false
}

// RecordOptions tunes the fan-out and the cache. Zero values take the
// defaults.
type RecordOptions struct {
	// Fresh is how long a cached answer is used without asking the
	// source again (default 10m).
	Fresh time.Duration
	// MaxAge is how old a cached answer may be and still stand in for a
	// source that fails or times out; older cache is purged (default 24h).
	MaxAge time.Duration
	// Deadline is how long Open waits for a source (default 3s).
	Deadline time.Duration
	// SourceDeadline overrides Deadline per source, by ODS code.
	SourceDeadline map[string]time.Duration
	// LateWindow is how long a fetch may go on in the background after
	// its deadline, so that a slow source still fills the page in and the
	// cache (default 2m). The deadline bounds the first paint, not the
	// fetch: a source sending a long history (thousands of resources, many
	// pages, each request bounded by the connector's own timeout) arrives
	// within the late window, bounded in size by the connector's page and
	// response caps.
	LateWindow time.Duration
	// Now is the clock for cache ages (default: the DB's clock). Deadlines
	// always run on real time.
	Now func() time.Time
	// Logger receives one line per source fetch: identifiers and outcomes,
	// never clinical content (default slog.Default()).
	Logger *slog.Logger
	// MemoryCacheBytes bounds the decoded records held in memory for
	// repeat views within the fresh period (default
	// DefaultMemoryCacheBytes; negative turns it off, and with it the
	// merged timelines kept for those records). See recordMemo.
	MemoryCacheBytes int64
	// PDS is the national demographics service, asked beside the sources
	// for who the patient is; nil when not configured.
	PDS connectors.Demographics
}

// Defaults for RecordOptions.
const (
	DefaultFresh      = 10 * time.Minute
	DefaultMaxAge     = 24 * time.Hour
	DefaultDeadline   = 3 * time.Second
	DefaultLateWindow = 2 * time.Minute
)

// Records opens patient records across every configured source, through
// the encrypted cache. It is safe for concurrent use.
type Records struct {
	db     *store.DB
	conns  []connectors.Connector
	srcs   []connectors.Source
	ods    []string
	o      RecordOptions
	log    *slog.Logger
	memo   *recordMemo
	merged *mergeMemo
	pds    pdsMemo

	// bg parents every background fetch: detached from the request that
	// started it, but cancelled by Close.
	bg   context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	flights  map[flightKey]*flight
	failures map[flightKey]failure

	// health counts each source's fetches on this node (health.go).
	health healthLog
}

// flightKey names one fetch: one source, one patient. At most one flight
// per key runs at a time, so concurrent page views share one upstream call.
type flightKey struct{ ods, nhs string }

// flight is one upstream fetch. Waiters are told as soon as the answer
// arrives (answered); the flight stays registered until its answer is in
// the cache (done), so that no second fetch can start in between.
type flight struct {
	answered chan struct{}
	done     chan struct{}
	res      fetchResult // set before answered is closed
	err      error
	// write guards purged and the cache write: Purge sets purged under it,
	// so an answer is either written before Purge deletes the patient's
	// rows or not written at all.
	write  sync.Mutex
	purged bool
}

type fetchResult struct {
	rec       *connectors.Record // nil when noRecord
	noRecord  bool
	fetchedAt time.Time
	fromCache bool // another fetch filled the cache just before this one started
}

// failure is the last failed background fetch for a key, kept briefly so
// that Status can say why a source did not fill in.
type failure struct {
	state SourceState
	msg   string
	at    time.Time
}

const maxFailures = 1024

var errClosed = errors.New("records: records are closed")

// NewRecords returns a Records over the given connectors, asked in the
// order given. Their ODS codes must be unique: the cache is keyed by them.
// Call Close before closing db.
func NewRecords(db *store.DB, conns []connectors.Connector, o RecordOptions) *Records {
	if o.Fresh <= 0 {
		o.Fresh = DefaultFresh
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Deadline <= 0 {
		o.Deadline = DefaultDeadline
	}
	if o.LateWindow <= 0 {
		o.LateWindow = DefaultLateWindow
	}
	if o.Now == nil {
		o.Now = db.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MemoryCacheBytes == 0 {
		o.MemoryCacheBytes = DefaultMemoryCacheBytes
	}
	r := &Records{
		db: db, conns: conns, o: o, log: o.Logger, memo: newRecordMemo(max(o.MemoryCacheBytes, 0)),
		flights:  map[flightKey]*flight{},
		failures: map[flightKey]failure{},
	}
	if r.memo.enabled() {
		// A merged timeline is found again by the identity of the records
		// it was merged from, which only the memory cache keeps: without
		// it the memo would hold timelines no view can reuse.
		r.merged = newMergeMemo(50000)
	}
	r.bg, r.stop = context.WithCancel(context.Background())
	for _, c := range conns {
		r.srcs = append(r.srcs, c.Source())
		r.ods = append(r.ods, c.Source().ODS)
	}
	db.OnPurge(r.purgeHeard)
	return r
}

// Sources returns the configured sources in order.
func (r *Records) Sources() []connectors.Source { return append([]connectors.Source(nil), r.srcs...) }

// Close cancels the background fetches and waits for them to end. Records
// must not be used afterwards.
func (r *Records) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop()
	r.wg.Wait()
	r.memo.clear()
	r.merged.clear()
}

func (r *Records) deadline(ods string) time.Duration {
	if d, ok := r.o.SourceDeadline[ods]; ok && d > 0 {
		return d
	}
	return r.o.Deadline
}

// answer is what one source contributes to a view.
type answer struct{ rec *connectors.Record }

// Open returns the patient's record from every source. Sources are asked
// in parallel: a fresh cache hit is used without asking the source (unless
// refresh is set); otherwise the source is fetched, one fetch per source and
// patient at a time, and waited for up to its deadline. A fetch that misses
// its deadline goes on in the background for up to LateWindow and fills the
// cache, so Status or a reload shows it. A source that fails or times out
// is shown from cache up to MaxAge old. Open returns when every source has
// answered or reached its deadline, or when ctx ends (outstanding sources
// then count as timed out). The error wraps connectors.ErrNHSNumberFormat or
// ErrNHSNumberCheckDigit for a bad NHS number, ErrNoCacheKey without a
// cache key, or ctx's error if ctx was cancelled.
func (r *Records) Open(ctx context.Context, nhs string, refresh bool) (*RecordView, error) {
	nhs, err := connectors.ParseNHSNumber(nhs)
	if err != nil {
		return nil, fmt.Errorf("records: open record: %w", err)
	}
	if _, err := r.db.PatientKey(""); err != nil {
		return nil, err
	}
	// A request already gone starts no fetches.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("records: open record: %w", err)
	}
	start := time.Now()
	now := r.o.Now()
	rows := r.loadRows(ctx, nhs)
	view := &RecordView{NHSNumber: nhs, Sources: make([]SourceStatus, len(r.conns))}
	answers := make([]answer, len(r.conns))
	var wg sync.WaitGroup
	var pdsAnswer *PDSAnswer
	if r.o.PDS != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pdsAnswer = r.askPDS(ctx, nhs)
		}()
	}
	for i, c := range r.conns {
		st := &view.Sources[i]
		st.Source = r.srcs[i]
		if !sourceAllowed(ctx, st.Source.ODS) {
			withhold(st)
			continue
		}
		row := rows[st.Source.ODS]
		if !refresh && r.showCached(ctx, st, &answers[i], row, now, r.o.Fresh) {
			metrics.CacheLookup(true)
			st.Pending = r.inFlight(flightKey{st.Source.ODS, nhs})
			continue
		}
		// A fetch that finds the cache filled after this threshold uses
		// that instead of asking again (see fetch).
		threshold := now.Add(-r.o.Fresh)
		if refresh {
			threshold = now
		}
		metrics.CacheLookup(false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.await(ctx, c, nhs, threshold, start.Add(r.deadline(st.Source.ODS)), row, now, st, &answers[i])
		}()
	}
	wg.Wait()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, fmt.Errorf("records: open record: %w", ctx.Err())
	}
	r.merge(view, answers)
	applyPDS(view, pdsAnswer)
	return view, nil
}

// await waits for one source's flight until due, and fills in st.
func (r *Records) await(ctx context.Context, c connectors.Connector, nhs string, threshold, due time.Time,
	row *store.CacheRow, now time.Time, st *SourceStatus, ans *answer) {
	f, err := r.startFlight(ctx, c, nhs, threshold, time.Until(due))
	if err != nil {
		r.fallback(ctx, st, ans, row, now, StateFailed, st.Source.Name+": not asked, the service is shutting down")
		return
	}
	timer := time.NewTimer(time.Until(due))
	defer timer.Stop()
	select {
	case <-f.answered:
	case <-timer.C:
	case <-ctx.Done():
	}
	// The answer may have arrived together with the deadline: use it.
	select {
	case <-f.answered:
		r.showAnswer(ctx, st, ans, f, row, now)
	default:
		st.Pending = true
		r.fallback(ctx, st, ans, row, now, StateTimeout, timeoutMessage(st.Source))
	}
}

func timeoutMessage(src connectors.Source) string {
	return (&connectors.SourceError{Source: src, Kind: connectors.ErrTimeout}).Error()
}

// errorMessage gives the page a short reason. Only a SourceError promises
// to hold no patient content, so anything else is reported generically.
func errorMessage(src connectors.Source, err error) (SourceState, string) {
	if se, ok := errors.AsType[*connectors.SourceError](err); ok {
		if se.Kind == connectors.ErrTimeout {
			return StateTimeout, se.Error()
		}
		return StateFailed, se.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return StateTimeout, timeoutMessage(src)
	}
	return StateFailed, src.Name + ": failed"
}

// errorDetail is a SourceError's Detail for the log: built by connectors
// from structured parts of the answer only (status, OperationOutcome codes),
// never from the source's free text, which may quote the patient.
func errorDetail(err error) string {
	if se, ok := errors.AsType[*connectors.SourceError](err); ok {
		return se.Detail
	}
	return ""
}

// gapSummary names, for the log, the kinds a record lacks in part:
// "result: HTTP 500; medication: 7 of 41". Kinds, categories and counts
// only.
func gapSummary(rec *connectors.Record) string {
	if rec == nil {
		return ""
	}
	var parts []string
	for _, g := range rec.Gaps {
		var what []string
		if g.Failed {
			what = append(what, g.Reason)
		}
		if g.Truncated {
			of := "at least " + fmt.Sprint(g.Read)
			if g.Total > 0 {
				of = fmt.Sprint(g.Total)
			}
			what = append(what, fmt.Sprintf("%d of %s", g.Read, of))
		}
		parts = append(parts, string(g.Kind)+": "+strings.Join(what, ", "))
	}
	return strings.Join(parts, "; ")
}

// showAnswer fills st from an answered flight.
func (r *Records) showAnswer(ctx context.Context, st *SourceStatus, ans *answer, f *flight, row *store.CacheRow, now time.Time) {
	if f.err != nil {
		state, msg := errorMessage(st.Source, f.err)
		r.fallback(ctx, st, ans, row, now, state, msg)
		return
	}
	st.FetchedAt = f.res.fetchedAt
	switch {
	case f.res.noRecord:
		st.State = StateNoRecord
	case f.res.fromCache:
		st.State = StateCached
	default:
		st.State = StateLive
	}
	if f.res.rec != nil {
		ans.rec = f.res.rec
		st.account(f.res.rec)
	}
}

// showCached fills st from the cache row if it was fetched less than age
// before now and can be decoded, and reports whether it did.
func (r *Records) showCached(ctx context.Context, st *SourceStatus, ans *answer, row *store.CacheRow, now time.Time, age time.Duration) bool {
	if row == nil || now.Sub(row.FetchedAt()) >= age {
		return false
	}
	cr, ok := r.decode(ctx, row)
	if !ok {
		return false
	}
	st.FetchedAt = cr.FetchedAt
	st.Stale = now.Sub(cr.FetchedAt) >= r.o.Fresh
	if cr.NoRecord {
		st.State = StateNoRecord
		return true
	}
	st.State = StateCached
	ans.rec = cr.Record
	st.account(cr.Record)
	return true
}

// fallback shows cache within MaxAge for a source that did not answer, or
// else the given state and reason.
func (r *Records) fallback(ctx context.Context, st *SourceStatus, ans *answer, row *store.CacheRow, now time.Time, state SourceState, msg string) {
	st.Error = msg
	if !r.showCached(ctx, st, ans, row, now, r.o.MaxAge) {
		st.State = state
	}
}

// merge builds the view's patients and timeline from the answers. Each
// source's entries are put newest first (decoded cache rows already are,
// see decode), and the sources are then merged in one pass, ties going to
// the source configured first: the order connectors.SortNewestFirst gives
// the whole list, without sorting thousands of entries on every view.
func (r *Records) merge(view *RecordView, answers []answer) {
	recs := make([]*connectors.Record, 0, len(answers))
	for _, a := range answers {
		if a.rec == nil {
			continue
		}
		if a.rec.Patient != nil {
			view.Patients = append(view.Patients, *a.rec.Patient)
		}
		recs = append(recs, a.rec)
	}
	key := mergeKey(view.NHSNumber, recs)
	if es, ok := r.merged.get(key); ok {
		view.Entries = es
		return
	}
	defer func() { r.merged.put(key, view.NHSNumber, recs, view.Entries) }()
	lists := make([][]connectors.Entry, 0, len(recs))
	n := 0
	for _, rec := range recs {
		es := rec.Entries
		if !sortedNewestFirst(es) {
			// Shared with other views (single flight): sort a copy.
			es = slices.Clone(es)
			connectors.SortNewestFirst(es)
		}
		lists = append(lists, es)
		n += len(es)
	}
	view.Entries = make([]connectors.Entry, 0, n)
	heads := make([]int, len(lists))
	for len(view.Entries) < n {
		best := -1
		for i, l := range lists {
			if heads[i] == len(l) {
				continue
			}
			if best < 0 || newerFirst(&l[heads[i]], &lists[best][heads[best]]) < 0 {
				best = i
			}
		}
		view.Entries = append(view.Entries, lists[best][heads[best]])
		heads[best]++
	}
}

// newerFirst is connectors.SortNewestFirst's order: clinical date newest
// first, undated last, then by key.
func newerFirst(a, b *connectors.Entry) int {
	switch {
	case a.Date.IsZero() != b.Date.IsZero():
		if a.Date.IsZero() {
			return 1
		}
		return -1
	case !a.Date.Equal(b.Date):
		return b.Date.Compare(a.Date)
	case a.Source.ODS == b.Source.ODS:
		// Same "ODS/" prefix: the IDs decide, with no key to build.
		return strings.Compare(a.ID, b.ID)
	}
	return strings.Compare(a.Key(), b.Key())
}

func sortedNewestFirst(es []connectors.Entry) bool {
	for i := 1; i < len(es); i++ {
		if newerFirst(&es[i-1], &es[i]) > 0 {
			return false
		}
	}
	return true
}

// loadRows reads the patient's cache rows by source. A cache that cannot
// be read is logged and treated as empty: the sources can still answer.
// With the in-memory cache on, bodies are left unread: decode reads one
// only if its row is not held decoded.
func (r *Records) loadRows(ctx context.Context, nhs string) map[string]*store.CacheRow {
	rows, err := r.db.CacheRows(ctx, nhs, !r.memo.enabled())
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("record cache read failed", "err", err)
		}
		return nil
	}
	m := make(map[string]*store.CacheRow, len(rows))
	for i := range rows {
		m[rows[i].Source] = &rows[i]
	}
	return m
}

// decode decrypts a cache row, or takes it from the in-memory cache if it
// is held there for exactly this row; a row that fails is logged and
// ignored, so that a damaged cache shows nothing rather than something
// wrong. A row read without its body (loadRows) has it read here; if the
// row has gone meanwhile (purged) nothing is shown from it, and if it was
// replaced the newer row is used.
func (r *Records) decode(ctx context.Context, row *store.CacheRow) (store.CachedRecord, bool) {
	freshSince := r.o.Now().Add(-r.o.Fresh).UnixMilli() // as the cache stores times
	if cr, ok := r.memo.get(row, freshSince); ok {
		return cr, true
	}
	var gen uint64
	if r.memo.enabled() {
		gen = r.memo.generation()
	}
	if len(row.Body) == 0 {
		full, ok, err := r.db.CacheRowByKey(ctx, row.PatientKey, row.Source)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("record cache read failed", "source", row.Source, "patient_ref", patientRef(row.PatientKey), "err", err)
			}
			return store.CachedRecord{}, false
		}
		if !ok {
			return store.CachedRecord{}, false
		}
		row = &full
	}
	cr, size, err := r.db.DecodeCacheRow(row)
	if err != nil {
		r.log.Error("record cache row unusable", "source", row.Source, "patient_ref", patientRef(row.PatientKey), "err", err)
		return store.CachedRecord{}, false
	}
	// Sorted once here, before it is shared, so that merge need not.
	if cr.Record != nil && !sortedNewestFirst(cr.Record.Entries) {
		connectors.SortNewestFirst(cr.Record.Entries)
	}
	if row.FetchedMS >= freshSince {
		r.memo.put(gen, row, cr, size)
	}
	return cr, true
}

// patientRef is a short pseudonym for logs, tying lines about one patient
// together without naming them.
func patientRef(patientKey []byte) string {
	if len(patientKey) < 6 {
		return ""
	}
	return hex.EncodeToString(patientKey[:6])
}

func (r *Records) inFlight(k flightKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flights[k] != nil
}

// startFlight joins the running fetch for the source and patient, or
// starts one bounded by deadline plus LateWindow.
// startFlight starts the fetch of one source for one patient, unless one is
// under way. The fetch is detached from ctx (it outlives the request) but
// carries the signed-in user ctx names (connectors.RequesterFrom), for
// sources that must be told who is asking.
func (r *Records) startFlight(ctx context.Context, c connectors.Connector, nhs string, threshold time.Time, deadline time.Duration) (*flight, error) {
	k := flightKey{c.Source().ODS, nhs}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.flights[k]; f != nil {
		return f, nil
	}
	if r.closed {
		return nil, errClosed
	}
	f := &flight{answered: make(chan struct{}), done: make(chan struct{})}
	r.flights[k] = f
	r.wg.Add(1)
	who, hasWho := connectors.RequesterFrom(ctx)
	go r.run(k, f, c, threshold, max(deadline, 0)+r.o.LateWindow, func(ctx context.Context) context.Context {
		if hasWho {
			return connectors.WithRequester(ctx, who)
		}
		return ctx
	})
	return f, nil
}

func (r *Records) run(k flightKey, f *flight, c connectors.Connector, threshold time.Time, limit time.Duration, carry func(context.Context) context.Context) {
	defer r.wg.Done()
	began := time.Now()
	ctx, cancel := context.WithTimeout(carry(r.bg), limit)
	defer cancel()
	f.res, f.err = r.fetch(ctx, c, k.nhs, threshold)
	// Counted before the waiting page hears: once the page has its
	// answer, the status page counts it too.
	r.count(k.ods, f, time.Since(began), limit-r.o.LateWindow)
	close(f.answered)

	var pk []byte
	if key, err := r.db.PatientKey(k.nhs); err == nil {
		pk = key
	}
	log := r.log.With("source", k.ods, "patient_ref", patientRef(pk), "ms", time.Since(began).Milliseconds())
	switch {
	case f.err != nil:
		state, msg := errorMessage(c.Source(), f.err)
		log.Warn("source fetch failed", "state", state, "reason", msg, "detail", errorDetail(f.err))
	case f.res.fromCache:
	default:
		f.write.Lock()
		// A purge while this fetch was out (an upheld objection) means
		// the answer must not be kept.
		if !f.purged {
			// Not ctx: an answer that arrived just inside the limit, or
			// just as the service began to shut down, is still worth keeping.
			if err := r.db.PutCachedRecord(context.WithoutCancel(r.bg), k.nhs, k.ods, f.res.fetchedAt, f.res.rec); err != nil {
				log.Error("record cache write failed", "err", err)
			}
		}
		f.write.Unlock()
		// The row was replaced: what memory held for it is out of date.
		r.memo.dropPatient(pk, []string{k.ods})
		log.Info("source fetched", "no_record", f.res.noRecord, "gaps", gapSummary(f.res.rec))
	}

	r.mu.Lock()
	delete(r.flights, k)
	if f.err != nil {
		state, msg := errorMessage(c.Source(), f.err)
		r.noteFailure(k, failure{state: state, msg: msg, at: r.o.Now()})
	} else {
		delete(r.failures, k)
	}
	r.mu.Unlock()
	close(f.done)
}

// count adds a fetch's outcome to the source's metrics and health: a
// fetch answered from the cache asked no one and is not counted, nor is one
// cut short because the service is shutting down. pageDeadline is how long
// the page that started the fetch waited for it.
func (r *Records) count(ods string, f *flight, took, pageDeadline time.Duration) {
	outcome, health := metrics.FetchAnswered, healthAnswer
	switch se, isSource := errors.AsType[*connectors.SourceError](f.err); {
	case f.err == nil && f.res.fromCache:
		return
	case isSource && se.Kind == connectors.ErrCanceled:
		return
	case f.err == nil && took > pageDeadline:
		outcome, health = metrics.FetchLate, healthTimeout
	case f.err == nil && f.res.noRecord:
		outcome = metrics.FetchNoRecord
	case f.err == nil:
	case isSource && se.Kind == connectors.ErrTimeout, errors.Is(f.err, context.DeadlineExceeded):
		outcome, health = metrics.FetchTimeout, healthTimeout
	default:
		outcome, health = metrics.FetchError, healthError
	}
	metrics.Fetch(ods, outcome, took)
	r.health.note(ods, health, r.o.Now())
}

// noteFailure records a failed fetch; r.mu must be held. Old entries are
// dropped once the map grows, so that a long outage cannot grow it without
// bound.
func (r *Records) noteFailure(k flightKey, f failure) {
	if len(r.failures) >= maxFailures {
		for key, old := range r.failures {
			if f.at.Sub(old.at) >= r.o.Fresh {
				delete(r.failures, key)
			}
		}
		if len(r.failures) >= maxFailures {
			clear(r.failures)
		}
	}
	r.failures[k] = f
}

// fetch asks the source for the record, unless the cache was filled after
// threshold (by a fetch that ended just before this one began).
func (r *Records) fetch(ctx context.Context, c connectors.Connector, nhs string, threshold time.Time) (fetchResult, error) {
	src := c.Source()
	if row, ok, err := r.db.CacheRowFor(ctx, nhs, src.ODS); err == nil && ok && row.FetchedMS > threshold.UnixMilli() {
		if cr, ok := r.decode(ctx, &row); ok {
			return fetchResult{rec: cr.Record, noRecord: cr.NoRecord, fetchedAt: cr.FetchedAt, fromCache: true}, nil
		}
	}
	res, answered := askWithin(ctx, func(ctx context.Context) (*connectors.Record, error) { return c.FetchRecord(ctx, nhs) })
	if !answered {
		kind := connectors.ErrTimeout
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			kind = connectors.ErrCanceled
		}
		return fetchResult{}, &connectors.SourceError{Source: src, Kind: kind, Err: ctx.Err()}
	}
	now := r.o.Now()
	switch {
	case errors.Is(res.err, connectors.ErrNoRecord):
		return fetchResult{noRecord: true, fetchedAt: now}, nil
	case res.err != nil:
		return fetchResult{}, res.err
	case res.v == nil:
		return fetchResult{}, &connectors.SourceError{Source: src, Kind: connectors.ErrMalformed, Err: errors.New("no record and no error")}
	}
	normalise(res.v, src)
	return fetchResult{rec: res.v, fetchedAt: now}, nil
}

// reply is what a connector call returned.
type reply[T any] struct {
	v   T
	err error
}

// askWithin makes a connector call in its own goroutine, so that the
// caller is free when ctx ends even if the connector ignores cancellation.
// answered is false if ctx ended first.
func askWithin[T any](ctx context.Context, call func(context.Context) (T, error)) (res reply[T], answered bool) {
	ch := make(chan reply[T], 1)
	go func() {
		v, err := call(ctx)
		ch <- reply[T]{v, err}
	}()
	select {
	case res = <-ch:
		return res, true
	case <-ctx.Done():
		return res, false
	}
}

// normalise makes sure everything carries its source and that a
// restricted patient's details are blanked before they are cached or shown,
// whatever the connector did.
func normalise(rec *connectors.Record, src connectors.Source) {
	if rec.Patient != nil {
		if rec.Patient.Source == (connectors.Source{}) {
			rec.Patient.Source = src
		}
		rec.Patient.Redact()
	}
	for i := range rec.Entries {
		if rec.Entries[i].Source == (connectors.Source{}) {
			rec.Entries[i].Source = src
		}
	}
}

// Status returns the patient's view from the cache and the fetches in
// flight, asking no source. A record page polls it to fill in sources that
// answer after the first paint.
func (r *Records) Status(ctx context.Context, nhs string) (*RecordView, error) {
	nhs, err := connectors.ParseNHSNumber(nhs)
	if err != nil {
		return nil, fmt.Errorf("records: record status: %w", err)
	}
	if _, err := r.db.PatientKey(""); err != nil {
		return nil, err
	}
	now := r.o.Now()
	rows := r.loadRows(ctx, nhs)
	view := &RecordView{NHSNumber: nhs, Sources: make([]SourceStatus, len(r.conns))}
	answers := make([]answer, len(r.conns))
	for i := range r.conns {
		st := &view.Sources[i]
		st.Source = r.srcs[i]
		if !sourceAllowed(ctx, st.Source.ODS) {
			withhold(st)
			continue
		}
		k := flightKey{st.Source.ODS, nhs}
		r.mu.Lock()
		f := r.flights[k]
		fail, failed := r.failures[k]
		r.mu.Unlock()
		row := rows[st.Source.ODS]
		if f != nil {
			select {
			case <-f.answered:
				// Answered, cache write under way: the answer is the news.
				r.showAnswer(ctx, st, &answers[i], f, row, now)
				continue
			default:
			}
			st.Pending = true
			r.fallback(ctx, st, &answers[i], row, now, StatePending, "")
			continue
		}
		if failed && (row == nil || fail.at.After(row.FetchedAt())) {
			r.fallback(ctx, st, &answers[i], row, now, fail.state, fail.msg)
			continue
		}
		if r.showCached(ctx, st, &answers[i], row, now, r.o.MaxAge) {
			continue
		}
		st.State = StateFailed
		st.Error = st.Source.Name + ": no answer held; reload the page to ask again"
	}
	r.merge(view, answers)
	// PDS is remembered from the opening; asked again only once that has lapsed.
	applyPDS(view, r.askPDS(ctx, nhs))
	return view, nil
}

// Purge removes every cached answer for the patient, including any that a
// fetch still in flight would write. Objections rely on it.
//
// On PostgreSQL every other node purges the patient too, from its own
// memory and flights, when it hears of this purge (purgenotify.go).
func (r *Records) Purge(ctx context.Context, nhs string) error {
	return r.purge(ctx, nhs, true)
}

// purgeHeard is another node's purge, heard on this one: "" when notices
// may have been missed, and every patient is dropped from memory.
func (r *Records) purgeHeard(nhs string) {
	if nhs == "" {
		r.memo.clear()
		r.merged.clear()
		return
	}
	if err := r.purge(r.bg, nhs, false); err != nil && r.bg.Err() == nil {
		r.log.Error("purge heard from another node failed", "err", err)
	}
}

func (r *Records) purge(ctx context.Context, nhs string, notify bool) error {
	nhs, err := connectors.ParseNHSNumber(nhs)
	if err != nil {
		return fmt.Errorf("records: purge record: %w", err)
	}
	r.mu.Lock()
	var out []*flight
	for _, s := range r.srcs {
		if f := r.flights[flightKey{s.ODS, nhs}]; f != nil {
			out = append(out, f)
		}
	}
	r.mu.Unlock()
	// A fetch still out writes nothing from now on; one writing now
	// finishes first, and its row goes with the others below. So when
	// Purge returns, the cache holds nothing for the patient.
	for _, f := range out {
		f.write.Lock()
		f.purged = true
		f.write.Unlock()
	}
	metrics.ObjectionPurge(notify)
	if notify {
		_, err = r.db.PurgeCachedRecords(ctx, nhs)
	} else {
		_, err = r.db.PurgeCachedRecordsHere(ctx, nhs)
	}
	// After the rows have gone, so that no decode still under way can put
	// one back in memory; and even if the delete failed.
	if key, kerr := r.db.PatientKey(nhs); kerr == nil {
		r.memo.dropPatient(key, r.ods)
	}
	r.merged.dropPatient(nhs)
	return err
}

// PurgeExpired removes cached answers older than MaxAge and returns how
// many went, and drops decoded records past the fresh period from memory.
func (r *Records) PurgeExpired(ctx context.Context) (int, error) {
	now := r.o.Now()
	n, err := r.db.PurgeCacheBefore(ctx, now.Add(-r.o.MaxAge))
	// Memory holds decoded rows for the fresh period only.
	r.memo.dropBefore(now.Add(-r.o.Fresh).UnixMilli())
	r.merged.clear()
	return n, err
}

// RunPurger calls PurgeExpired now and then every interval until ctx ends.
func (r *Records) RunPurger(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := r.PurgeExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Error("record cache purge failed", "err", err)
		case n > 0:
			r.log.Info("record cache purged", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
