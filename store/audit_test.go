package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

// auditClock is a clock tests move by hand.
type auditClock struct {
	mu sync.Mutex
	t  time.Time
}

func newAuditClock() *auditClock {
	return &auditClock{t: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
}

func (c *auditClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *auditClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// auditPatients are NHS numbers from the 999 range with valid check digits.
var auditPatients = []string{"9990000018", "9990000026", "9990000034", "9990000042", "9990000050",
	"9990000069", "9990000077", "9990000085", "9990000093", "9990000107"}

func mustAudit(tb testing.TB, db *store.DB, ev store.AuditEvent) store.AuditEvent {
	tb.Helper()
	if ev.Outcome == "" {
		ev.Outcome = store.OutcomeAllowed
	}
	got, err := db.Audit(context.Background(), ev)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// rawAuditDB opens the file directly, as someone with access to the disk would.
func rawAuditDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	tb.Cleanup(func() { raw.Close() })
	return raw
}

func mustRawExec(tb testing.TB, db *sql.DB, q string, args ...any) {
	tb.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}

// sampleAuditLog writes n varied events, one minute apart, and returns them as
// committed.
func sampleAuditLog(tb testing.TB, db *store.DB, clock *auditClock, n int) []store.AuditEvent {
	tb.Helper()
	users := []struct{ id, name, role, ods string }{
		{"555000111", "Dr Jane SMITH", "R8000", "RX1"},
		{"555000222", "Nurse Amir KHAN", "R8001", "RX1"},
		{"555000333", "Dr Li WEI", "R8000", "A81001"},
	}
	actions := []store.Action{store.ActRecordOpen, store.ActSearch, store.ActDocumentOpen, store.ActRefresh, store.ActAccessRefused}
	var out []store.AuditEvent
	for i := range n {
		u := users[i%len(users)]
		ev := store.AuditEvent{UserID: u.id, UserName: u.name, RoleCode: u.role, ODS: u.ods,
			SessionHash: store.HashToken(fmt.Sprint("tok", i%4)), ClientAddr: "10.0.0.7",
			Action: actions[i%len(actions)], NHSNumber: auditPatients[i%7], Reason: "direct-care",
			Outcome: store.OutcomeAllowed, Sources: []string{"RX1", "A81001"}}
		if ev.Action == store.ActAccessRefused {
			ev.Outcome, ev.OutcomeWhy, ev.Reason = store.OutcomeRefused, "no legitimate relationship", ""
		}
		if i%11 == 0 {
			ev.Reason = "break-glass"
		}
		if ev.Action == store.ActSearch {
			ev.Detail, ev.Sources = "family=SMITH dob=1965-03-12", nil
		}
		out = append(out, mustAudit(tb, db, ev))
		clock.Add(time.Minute)
	}
	return out
}

func TestAudit(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		clock := newAuditClock()
		db := MustOpenDB(t, store.WithClock(clock.Now))
		in := store.AuditEvent{UserID: "555000111", UserName: "Dr Jane SMITH", RoleCode: "R8000", ODS: "RX1",
			SessionHash: store.HashToken("t"), ClientAddr: "10.0.0.7", Action: store.ActRecordOpen,
			NHSNumber: "999 000 0018", Reason: "direct-care", Detail: "summary", Outcome: store.OutcomeAllowed,
			Sources: []string{"RX1", "A81001"}}
		got, err := db.Audit(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != 1 || !got.Time.Equal(clock.Now()) || got.Time.Location() != time.UTC || got.NHSNumber != "9990000018" {
			t.Fatalf("committed event = %+v", got)
		}
		if got.PrevHash != strings.Repeat("0", 64) || len(got.Hash) != 64 || got.Hash != store.AuditHash(got) {
			t.Fatalf("hashes: prev %q hash %q", got.PrevHash, got.Hash)
		}
		second := mustAudit(t, db, store.AuditEvent{UserID: "555000111", Action: store.ActSignOut})
		if second.Seq != 2 || second.PrevHash != got.Hash {
			t.Fatalf("second event seq %d prev %q; want 2 chained to %q", second.Seq, second.PrevHash, got.Hash)
		}
		evs, _, err := db.SearchAudit(context.Background(), store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || !equalAuditEvents(evs[1], got) || !equalAuditEvents(evs[0], second) {
			t.Fatalf("read back %+v", evs)
		}
	})
	t.Run("CallerTimeKept", func(t *testing.T) {
		db := MustOpenDB(t)
		at := time.Date(2025, 1, 2, 3, 4, 5, 6789012, time.FixedZone("X", 3600))
		got := mustAudit(t, db, store.AuditEvent{Action: store.ActSignIn, Time: at})
		if !got.Time.Equal(at.Truncate(time.Millisecond)) || got.Time.Location() != time.UTC {
			t.Fatalf("time = %v, want %v in UTC", got.Time, at.Truncate(time.Millisecond))
		}
	})
	t.Run("ErrNoAction", func(t *testing.T) {
		db := MustOpenDB(t)
		if _, err := db.Audit(context.Background(), store.AuditEvent{Outcome: store.OutcomeAllowed}); err == nil {
			t.Fatal("want error for an event without an action")
		}
	})
	t.Run("ErrNoOutcome", func(t *testing.T) {
		db := MustOpenDB(t)
		if _, err := db.Audit(context.Background(), store.AuditEvent{Action: store.ActSignIn}); err == nil {
			t.Fatal("want error for an event without an outcome")
		}
	})
	t.Run("ErrClosed", func(t *testing.T) {
		db, err := store.Open(filepath.Join(t.TempDir(), "c.db"))
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = db.Audit(context.Background(), store.AuditEvent{Action: store.ActRecordOpen, Outcome: store.OutcomeAllowed})
		if !errors.Is(err, store.ErrAuditClosed) {
			t.Fatalf("err = %v, want ErrAuditClosed", err)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		db := MustOpenDB(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := db.Audit(ctx, store.AuditEvent{Action: store.ActRecordOpen, Outcome: store.OutcomeAllowed}); err == nil {
			// The writer may win the race and commit; the only wrong
			// answer is a nil error with nothing committed.
			evs, _, _ := db.SearchAudit(context.Background(), store.AuditFilter{})
			if len(evs) != 1 {
				t.Fatal("nil error but nothing committed")
			}
		}
	})
	t.Run("ErrWriteFailsThenRecovers", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.db")
		db, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		first := mustAudit(t, db, store.AuditEvent{Action: store.ActSignIn})
		raw := rawAuditDB(t, path)
		mustRawExec(t, raw, `CREATE TRIGGER fail_insert BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk says no'); END`)
		if _, err := db.Audit(context.Background(), store.AuditEvent{Action: store.ActRecordOpen, NHSNumber: "9990000018", Outcome: store.OutcomeAllowed}); err == nil {
			t.Fatal("want an error when the insert fails")
		}
		mustRawExec(t, raw, `DROP TRIGGER fail_insert`)
		next := mustAudit(t, db, store.AuditEvent{Action: store.ActRecordOpen, NHSNumber: "9990000018"})
		if next.Seq != 2 || next.PrevHash != first.Hash {
			t.Fatalf("after a failed write: seq %d prev %q; want 2 chained to event 1", next.Seq, next.PrevHash)
		}
		if res, err := db.VerifyAudit(context.Background()); err != nil || !res.OK {
			t.Fatalf("verify = %+v, %v", res, err)
		}
	})
	t.Run("AppendOnly", func(t *testing.T) {
		path := testDB(t)
		db, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		mustAudit(t, db, store.AuditEvent{Action: store.ActSignIn})
		// On PostgreSQL as the application's own role, which owns the
		// tables: the guard holds against it too.
		raw := rawDB(t, path)
		stmts := []string{`UPDATE audit_events SET user_id = 'x' WHERE seq = 1`, `DELETE FROM audit_events WHERE seq = 1`}
		if store.TestEngine == store.Postgres {
			stmts = append(stmts, `TRUNCATE audit_events CASCADE`)
		}
		for _, q := range stmts {
			_, err := raw.Exec(q)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want append-only refusal", q, err)
			}
		}
	})
}

func equalAuditEvents(a, b store.AuditEvent) bool {
	a.PatientFamilyName, b.PatientFamilyName = "", ""
	if a.Sources == nil {
		a.Sources = []string{}
	}
	if b.Sources == nil {
		b.Sources = []string{}
	}
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b)
}

func TestAuditGroupCommit(t *testing.T) {
	db := MustOpenDB(t)
	const n = 200
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		seqs  = make([]int64, n)
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ev, err := db.Audit(context.Background(), store.AuditEvent{UserID: fmt.Sprint("user", i%20), Action: store.ActRecordOpen,
				NHSNumber: auditPatients[i%len(auditPatients)], Outcome: store.OutcomeAllowed, Detail: fmt.Sprint("request ", i)})
			seqs[i], errs[i] = ev.Seq, err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("seqs not 1..%d: position %d holds %d", n, i, s)
		}
	}
	res, err := db.VerifyAudit(context.Background())
	if err != nil || !res.OK || res.Events != n {
		t.Fatalf("verify = %+v, %v", res, err)
	}
	batches := db.AuditBatches()
	t.Logf("%d events in %d transactions", n, batches)
	if batches >= n/2 {
		t.Fatalf("%d transactions for %d concurrent events: group commit is not grouping", batches, n)
	}
}

// auditMatches is the reference filter the SQL must agree with.
func auditMatches(f store.AuditFilter, ev store.AuditEvent) bool {
	switch {
	case f.UserID != "" && ev.UserID != f.UserID,
		f.NHSNumber != "" && ev.NHSNumber != f.NHSNumber,
		f.ODS != "" && ev.ODS != f.ODS,
		f.Reason != "" && ev.Reason != f.Reason,
		f.Outcome != "" && ev.Outcome != f.Outcome,
		len(f.Actions) > 0 && !slices.Contains(f.Actions, ev.Action),
		!f.From.IsZero() && ev.Time.Before(f.From),
		!f.To.IsZero() && !ev.Time.Before(f.To),
		f.BeforeSeq > 0 && ev.Seq >= f.BeforeSeq:
		return false
	}
	return true
}

func TestSearchAudit(t *testing.T) {
	clock := newAuditClock()
	db := MustOpenDB(t, store.WithClock(clock.Now))
	all := sampleAuditLog(t, db, clock, 120)
	t0 := all[0].Time
	filters := []struct {
		name string
		f    store.AuditFilter
	}{
		{"All", store.AuditFilter{}},
		{"User", store.AuditFilter{UserID: "555000222"}},
		{"Patient", store.AuditFilter{NHSNumber: "9990000034"}},
		{"PatientSpaced", store.AuditFilter{NHSNumber: "999 000 0034"}},
		{"ODS", store.AuditFilter{ODS: "A81001"}},
		{"Reason", store.AuditFilter{Reason: "break-glass"}},
		{"Action", store.AuditFilter{Actions: []store.Action{store.ActDocumentOpen}}},
		{"Actions", store.AuditFilter{Actions: []store.Action{store.ActRecordOpen, store.ActRefresh}}},
		{"Outcome", store.AuditFilter{Outcome: store.OutcomeRefused}},
		{"From", store.AuditFilter{From: t0.Add(100 * time.Minute)}},
		{"To", store.AuditFilter{To: t0.Add(10 * time.Minute)}},
		{"Range", store.AuditFilter{From: t0.Add(30 * time.Minute), To: t0.Add(40 * time.Minute)}},
		{"Before", store.AuditFilter{BeforeSeq: 6}},
		{"Combined", store.AuditFilter{UserID: "555000111", NHSNumber: "9990000018", From: t0, To: t0.Add(2 * time.Hour)}},
		{"NoMatch", store.AuditFilter{UserID: "nobody"}},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Limit = 500
			got, next, err := db.SearchAudit(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			ref := tt.f
			ref.NHSNumber = strings.ReplaceAll(ref.NHSNumber, " ", "")
			var want []int64
			for i := len(all) - 1; i >= 0; i-- {
				if auditMatches(ref, all[i]) {
					want = append(want, all[i].Seq)
				}
			}
			var gotSeqs []int64
			for _, ev := range got {
				gotSeqs = append(gotSeqs, ev.Seq)
				if !equalAuditEvents(ev, all[ev.Seq-1]) {
					t.Errorf("event %d read back as %+v", ev.Seq, ev)
				}
			}
			if !slices.Equal(gotSeqs, want) || next != 0 {
				t.Fatalf("seqs = %v (next %d), want %v", gotSeqs, next, want)
			}
		})
	}
	t.Run("KeysetPaging", func(t *testing.T) {
		f := store.AuditFilter{UserID: "555000111", Limit: 7}
		var seqs []int64
		pages := 0
		for {
			evs, next, err := db.SearchAudit(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(evs) > 7 {
				t.Fatalf("page of %d, limit 7", len(evs))
			}
			for _, ev := range evs {
				seqs = append(seqs, ev.Seq)
			}
			if next == 0 {
				break
			}
			f.BeforeSeq = next
		}
		if len(seqs) != 40 || pages != 6 {
			t.Fatalf("%d events over %d pages, want 40 over 6", len(seqs), pages)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] >= seqs[i-1] {
				t.Fatalf("pages not newest first without repeats: %v", seqs)
			}
		}
	})
	// A search by user or patient combined with other filters, read in
	// small pages: each page is cut inside the search table's walk and
	// the tail's, so every filter must hold there too.
	t.Run("CombinedFilterPaged", func(t *testing.T) {
		for _, f := range []store.AuditFilter{
			{UserID: "555000111", Actions: []store.Action{store.ActRecordOpen, store.ActRefresh, store.ActAccessRefused},
				From: t0.Add(10 * time.Minute), To: t0.Add(100 * time.Minute)},
			{NHSNumber: "999 000 0018", Outcome: store.OutcomeAllowed, Reason: "direct-care", ODS: "RX1"},
			{UserID: "555000333", NHSNumber: "9990000026", BeforeSeq: 110},
			{UserID: "555000222", Outcome: store.OutcomeRefused, To: t0.Add(90 * time.Minute)},
		} {
			want := []int64{}
			ref := f
			ref.NHSNumber = strings.ReplaceAll(ref.NHSNumber, " ", "")
			for i := len(all) - 1; i >= 0; i-- {
				if auditMatches(ref, all[i]) {
					want = append(want, all[i].Seq)
				}
			}
			if len(want) < 3 {
				t.Fatalf("filter %+v matches %d events: too few to page", f, len(want))
			}
			got := []int64{}
			p := f
			p.Limit = 2
			for {
				evs, next, err := db.SearchAudit(context.Background(), p)
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range evs {
					got = append(got, ev.Seq)
				}
				if next == 0 {
					break
				}
				p.BeforeSeq = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("search %+v in pages of 2: %v, want %v", f, got, want)
			}
		}
	})
	t.Run("DefaultAndMaxLimit", func(t *testing.T) {
		evs, next, _ := db.SearchAudit(context.Background(), store.AuditFilter{})
		if len(evs) != 50 || next != evs[49].Seq {
			t.Fatalf("default page: %d events, next %d", len(evs), next)
		}
		evs, _, _ = db.SearchAudit(context.Background(), store.AuditFilter{Limit: 10000})
		if len(evs) != 120 {
			t.Fatalf("limit 10000 gave %d of 120", len(evs))
		}
	})
	t.Run("EachAudit", func(t *testing.T) {
		var seqs []int64
		err := db.EachAudit(context.Background(), store.AuditFilter{ODS: "RX1", Limit: 3}, func(ev store.AuditEvent) error {
			seqs = append(seqs, ev.Seq)
			return nil
		})
		if err != nil || len(seqs) != 80 || seqs[0] != 119 {
			t.Fatalf("EachAudit: %d events from %v, err %v", len(seqs), seqs[:1], err)
		}
		stop := errors.New("stop")
		n := 0
		err = db.EachAudit(context.Background(), store.AuditFilter{}, func(store.AuditEvent) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("fn's error: got %v after %d calls", err, n)
		}
	})
}

func TestAccessSummaries(t *testing.T) {
	clock := newAuditClock()
	db := MustOpenDB(t, store.WithClock(clock.Now))
	open := func(user, name, nhs, reason string, action store.Action, outcome store.Outcome) {
		mustAudit(t, db, store.AuditEvent{UserID: user, UserName: name, RoleCode: "R8000", ODS: "RX1",
			Action: action, NHSNumber: nhs, Reason: reason, Outcome: outcome})
		clock.Add(time.Minute)
	}
	p1, p2 := auditPatients[0], auditPatients[1]
	start := clock.Now()
	open("u1", "Dr A ONE", p1, "direct-care", store.ActReasonGiven, store.OutcomeAllowed)
	open("u1", "Dr A ONE", p1, "direct-care", store.ActRecordOpen, store.OutcomeAllowed)
	open("u2", "Nurse B TWO", p1, "break-glass", store.ActBreakGlass, store.OutcomeAllowed)
	open("u2", "Nurse B TWO", p1, "break-glass", store.ActRecordOpen, store.OutcomeAllowed)
	open("u1", "Dr A ONE", p2, "", store.ActAccessRefused, store.OutcomeRefused)
	open("u1", "Dr A ONE (renamed)", p1, "direct-care", store.ActDocumentOpen, store.OutcomeAllowed)
	open("u3", "Clerk", p1, "", store.ActSearch, store.OutcomeAllowed) // a search is not an access

	who, err := db.PatientAccess(context.Background(), p1)
	if err != nil {
		t.Fatal(err)
	}
	if len(who) != 2 {
		t.Fatalf("PatientAccess = %+v, want u1 and u2", who)
	}
	u1, u2 := who[0], who[1]
	if u1.UserID != "u1" || u1.UserName != "Dr A ONE (renamed)" || u1.Count != 3 || u1.BreakGlass ||
		!slices.Equal(u1.Reasons, []string{"direct-care"}) || !u1.First.Equal(start) || !u1.Last.Equal(start.Add(5*time.Minute)) || u1.NHSNumber != p1 {
		t.Errorf("u1 = %+v", u1)
	}
	if u2.UserID != "u2" || u2.Count != 2 || !u2.BreakGlass || !slices.Equal(u2.Reasons, []string{"break-glass"}) {
		t.Errorf("u2 = %+v", u2)
	}

	what, err := db.UserAccess(context.Background(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(what) != 2 || what[0].NHSNumber != p1 || what[0].Count != 3 || what[1].NHSNumber != p2 || what[1].Count != 0 || what[1].Refused != 1 {
		t.Fatalf("UserAccess = %+v", what)
	}
	if none, err := db.PatientAccess(context.Background(), auditPatients[9]); err != nil || len(none) != 0 {
		t.Fatalf("unknown patient: %+v, %v", none, err)
	}
}

// tamperAuditLog writes ten events, closes the store and returns the file's
// path with the append-only triggers dropped, as an intruder would.
func tamperAuditLog(t *testing.T, verifyFirst bool) (string, []store.AuditEvent, *sql.DB) {
	t.Helper()
	clock := newAuditClock()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := store.Open(path, store.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	evs := sampleAuditLog(t, db, clock, 10)
	if verifyFirst {
		if res, err := db.VerifyAudit(context.Background()); err != nil || !res.OK {
			t.Fatalf("verify before tampering: %+v, %v", res, err)
		}
	}
	db.Close()
	raw := rawAuditDB(t, path)
	mustRawExec(t, raw, `DROP TRIGGER audit_events_no_update`)
	mustRawExec(t, raw, `DROP TRIGGER audit_events_no_delete`)
	return path, evs, raw
}

func renumberAudit(t *testing.T, raw *sql.DB, from, to, by int) {
	t.Helper()
	if by > 0 {
		for s := to; s >= from; s-- {
			mustRawExec(t, raw, `UPDATE audit_events SET seq = ? WHERE seq = ?`, s+by, s)
		}
		return
	}
	for s := from; s <= to; s++ {
		mustRawExec(t, raw, `UPDATE audit_events SET seq = ? WHERE seq = ?`, s+by, s)
	}
}

func insertRawAuditEvent(t *testing.T, raw *sql.DB, ev store.AuditEvent) {
	t.Helper()
	sources, _ := json.Marshal(ev.Sources)
	mustRawExec(t, raw, `INSERT INTO audit_events (seq, time, user_id, user_name, role_code, ods, session_hash,
		client_addr, action, nhs_number, reason, detail, outcome, outcome_why, sources, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.Seq, ev.Time.UnixMilli(), ev.UserID, ev.UserName, ev.RoleCode, ev.ODS, ev.SessionHash, ev.ClientAddr,
		string(ev.Action), ev.NHSNumber, ev.Reason, ev.Detail, string(ev.Outcome), ev.OutcomeWhy, string(sources), ev.PrevHash, ev.Hash)
}

// rehashAudit recomputes the hashes of events from..to (and the prev_hash of
// each after the first), as an intruder who knows the algorithm would.
func rehashAudit(t *testing.T, raw *sql.DB, from, to int64) {
	t.Helper()
	rows, err := raw.Query(`SELECT seq, time, user_id, user_name, role_code, ods, session_hash, client_addr,
		action, nhs_number, reason, detail, outcome, outcome_why, sources, prev_hash FROM audit_events
		WHERE seq BETWEEN ? AND ? ORDER BY seq`, from, to)
	if err != nil {
		t.Fatal(err)
	}
	var evs []store.AuditEvent
	for rows.Next() {
		var (
			ev                       store.AuditEvent
			tm                       int64
			action, outcome, sources string
		)
		if err := rows.Scan(&ev.Seq, &tm, &ev.UserID, &ev.UserName, &ev.RoleCode, &ev.ODS, &ev.SessionHash, &ev.ClientAddr,
			&action, &ev.NHSNumber, &ev.Reason, &ev.Detail, &outcome, &ev.OutcomeWhy, &sources, &ev.PrevHash); err != nil {
			t.Fatal(err)
		}
		ev.Time, ev.Action, ev.Outcome = time.UnixMilli(tm).UTC(), store.Action(action), store.Outcome(outcome)
		if err := json.Unmarshal([]byte(sources), &ev.Sources); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	rows.Close()
	prev := ""
	for _, ev := range evs {
		if prev != "" {
			ev.PrevHash = prev
		}
		ev.Hash = store.AuditHash(ev)
		prev = ev.Hash
		mustRawExec(t, raw, `UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?`, ev.PrevHash, ev.Hash, ev.Seq)
	}
}

func TestVerifyAudit(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		clock := newAuditClock()
		db := MustOpenDB(t, store.WithClock(clock.Now))
		if _, ok, err := db.LastVerification(context.Background()); ok || err != nil {
			t.Fatalf("a new log reports a verification: %v %v", ok, err)
		}
		res, err := db.VerifyAudit(context.Background())
		if err != nil || !res.OK || res.Events != 0 {
			t.Fatalf("empty log: %+v, %v", res, err)
		}
		evs := sampleAuditLog(t, db, clock, 25)
		res, err = db.VerifyAudit(context.Background())
		if err != nil || !res.OK || res.Events != 25 || res.HeadSeq != 25 || res.HeadHash != evs[24].Hash || !res.At.Equal(clock.Now()) {
			t.Fatalf("verify = %+v, %v", res, err)
		}
		last, ok, err := db.LastVerification(context.Background())
		if err != nil || !ok || last != res {
			t.Fatalf("LastVerification = %+v %v %v, want %+v", last, ok, err, res)
		}
	})

	cases := []struct {
		name        string
		verifyFirst bool
		tamper      func(t *testing.T, raw *sql.DB, path string, evs []store.AuditEvent)
		kind        string
		firstBad    int64
	}{
		{"AlteredField", false, func(t *testing.T, raw *sql.DB, _ string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `UPDATE audit_events SET nhs_number = '9990000093' WHERE seq = 5`)
		}, store.ProblemAltered, 5},
		{"AlteredHash", false, func(t *testing.T, raw *sql.DB, _ string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `UPDATE audit_events SET hash = ? WHERE seq = 5`, strings.Repeat("ab", 32))
		}, store.ProblemAltered, 5},
		{"AlteredLast", false, func(t *testing.T, raw *sql.DB, _ string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `UPDATE audit_events SET outcome = 'allowed', outcome_why = '' WHERE seq = 10`)
		}, store.ProblemAltered, 10},
		{"AlteredAndRehashed", false, func(t *testing.T, raw *sql.DB, path string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `UPDATE audit_events SET user_id = 'someone-else' WHERE seq = 5`)
			rehashAudit(t, raw, 5, 5) // event 6 still names the old hash of 5
		}, store.ProblemAltered, 5},
		{"Deleted", false, func(t *testing.T, raw *sql.DB, _ string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `DELETE FROM audit_events WHERE seq = 5`)
		}, store.ProblemDeleted, 5},
		{"DeletedFirst", false, func(t *testing.T, raw *sql.DB, _ string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `DELETE FROM audit_events WHERE seq = 1`)
		}, store.ProblemDeleted, 1},
		{"DeletedAndRenumbered", false, func(t *testing.T, raw *sql.DB, _ string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `DELETE FROM audit_events WHERE seq IN (5, 6)`)
			renumberAudit(t, raw, 7, 10, -2)
		}, store.ProblemDeleted, 5},
		{"InsertedForged", false, func(t *testing.T, raw *sql.DB, _ string, evs []store.AuditEvent) {
			renumberAudit(t, raw, 5, 10, 1)
			forged := evs[4]
			forged.UserID, forged.Hash = "intruder", strings.Repeat("cd", 32)
			insertRawAuditEvent(t, raw, forged)
		}, store.ProblemInserted, 5},
		{"InsertedWellHashed", false, func(t *testing.T, raw *sql.DB, _ string, evs []store.AuditEvent) {
			renumberAudit(t, raw, 5, 10, 1)
			forged := evs[4]
			forged.UserID, forged.PrevHash = "intruder", evs[3].Hash
			forged.Hash = store.AuditHash(forged)
			insertRawAuditEvent(t, raw, forged)
		}, store.ProblemInserted, 5},
		{"Swapped", false, func(t *testing.T, raw *sql.DB, _ string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `UPDATE audit_events SET seq = 1000 WHERE seq = 5`)
			mustRawExec(t, raw, `UPDATE audit_events SET seq = 5 WHERE seq = 6`)
			mustRawExec(t, raw, `UPDATE audit_events SET seq = 6 WHERE seq = 1000`)
		}, store.ProblemReordered, 5},
		{"TailDeletedAfterVerification", true, func(t *testing.T, raw *sql.DB, _ string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `DELETE FROM audit_events WHERE seq >= 9`)
		}, store.ProblemDeleted, 9},
		{"RemovedFromUserSearch", false, func(t *testing.T, raw *sql.DB, _ string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `DROP TRIGGER audit_by_user_no_delete`)
			mustRawExec(t, raw, `DELETE FROM audit_by_user WHERE seq IN (7, 8)`)
		}, store.ProblemUnsearchable, 7},
		{"RemovedFromPatientSearch", true, func(t *testing.T, raw *sql.DB, _ string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `DROP TRIGGER audit_by_patient_no_delete`)
			mustRawExec(t, raw, `DELETE FROM audit_by_patient WHERE seq = 3`)
		}, store.ProblemUnsearchable, 3},
		{"MovedInUserSearch", false, func(t *testing.T, raw *sql.DB, _ string, evs []store.AuditEvent) {
			mustRawExec(t, raw, `DROP TRIGGER audit_by_user_no_change`)
			mustRawExec(t, raw, `UPDATE audit_by_user SET user_id = 'someone-else' WHERE seq = 4`)
		}, store.ProblemUnsearchable, 4},
		{"RebuiltAfterVerification", true, func(t *testing.T, raw *sql.DB, path string, _ []store.AuditEvent) {
			mustRawExec(t, raw, `UPDATE audit_events SET user_id = 'someone-else' WHERE seq = 5`)
			rehashAudit(t, raw, 5, 10)
		}, store.ProblemAltered, 10},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			path, evs, raw := tamperAuditLog(t, tt.verifyFirst)
			tt.tamper(t, raw, path, evs)
			raw.Close()
			check := func(how string, res store.VerifyResult, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if res.OK || res.FirstBadSeq != tt.firstBad || !strings.HasPrefix(res.Problem, tt.kind+": ") {
					t.Fatalf("%s = %+v; want %s at event %d", how, res, tt.kind, tt.firstBad)
				}
				t.Logf("%s: event %d: %s", how, res.FirstBadSeq, res.Problem)
			}
			res, err := store.VerifyAuditFile(context.Background(), path)
			check("VerifyAuditFile", res, err)

			db, err := store.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			res, err = db.VerifyAudit(context.Background())
			check("VerifyAudit", res, err)
			last, ok, err := db.LastVerification(context.Background())
			if err != nil || !ok || last.OK || last.FirstBadSeq != tt.firstBad {
				t.Fatalf("recorded verification = %+v, %v, %v", last, ok, err)
			}
		})
	}
}

func TestVerifyAuditFile(t *testing.T) {
	t.Run("ReadOnlyFile", func(t *testing.T) {
		clock := newAuditClock()
		dir := t.TempDir()
		path := filepath.Join(dir, "c.db")
		db, err := store.Open(path, store.WithClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		sampleAuditLog(t, db, clock, 30)
		db.Close()
		if err := os.Chmod(path, 0o400); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(path)
		st1, _ := os.Stat(path)
		res, err := store.VerifyAuditFile(context.Background(), path)
		if err != nil || !res.OK || res.Events != 30 {
			t.Fatalf("VerifyAuditFile = %+v, %v", res, err)
		}
		// Read-only in a read-only directory, where not even the WAL index
		// can be created.
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		res, err = store.VerifyAuditFile(context.Background(), path)
		if err != nil || !res.OK || res.Events != 30 {
			t.Fatalf("VerifyAuditFile in a read-only directory = %+v, %v", res, err)
		}
		after, _ := os.ReadFile(path)
		st2, _ := os.Stat(path)
		if string(before) != string(after) || !st1.ModTime().Equal(st2.ModTime()) {
			t.Fatal("verifying changed the file")
		}
	})
	t.Run("ErrNoAuditLog", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.db")
		raw := rawAuditDB(t, path)
		mustRawExec(t, raw, `CREATE TABLE t (x)`)
		raw.Close()
		if _, err := store.VerifyAuditFile(context.Background(), path); err == nil {
			t.Fatal("want an error for a file without an audit log")
		}
		raw = rawAuditDB(t, path)
		var n int
		raw.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE name = 'audit_events'`).Scan(&n)
		if n != 0 {
			t.Fatal("verifying created the audit table: it must not migrate")
		}
	})
	t.Run("ErrMissingFile", func(t *testing.T) {
		if _, err := store.VerifyAuditFile(context.Background(), filepath.Join(t.TempDir(), "none.db")); err == nil {
			t.Fatal("want an error for a missing file")
		}
	})
}

func TestRunAuditVerifier(t *testing.T) {
	clock := newAuditClock()
	db := MustOpenDB(t, store.WithClock(clock.Now))
	sampleAuditLog(t, db, clock, 5)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { db.RunAuditVerifier(ctx, time.Hour); close(done) }()
	// Never verified, so the first walk runs at once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if last, ok, _ := db.LastVerification(context.Background()); ok {
			if !last.OK || last.Events != 5 {
				t.Fatalf("scheduled verification = %+v", last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the verifier did not run")
		}
		runtime.Gosched()
	}
	cancel()
	<-done
}
