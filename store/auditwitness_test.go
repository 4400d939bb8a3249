package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/witness"
)

var testAuditKey = bytes.Repeat([]byte("a"), store.AuditKeySize)

// keyedLog is a keyed audit log with its witness file, in a temp dir.
type keyedLog struct {
	dir, db, witness string
}

func newKeyedLog(t *testing.T) keyedLog {
	dir := t.TempDir()
	return keyedLog{dir: dir, db: filepath.Join(dir, "c.db"), witness: filepath.Join(dir, "c.db.witness")}
}

// open opens the log as the server does: keyed, checkpointed to its
// witness file; the alarm state is what start-up found.
func (l keyedLog) open(t *testing.T, opts ...store.Option) *store.DB {
	t.Helper()
	w, err := witness.OpenFile(l.witness)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	opts = append([]store.Option{store.WithAuditKey(testAuditKey), store.WithWitnesses(w),
		store.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	db, err := store.Open(l.db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// verify runs the offline check as `carerecord audit verify` does.
func (l keyedLog) verify(t *testing.T) store.VerifyResult {
	t.Helper()
	res, err := store.VerifyAuditFile(context.Background(), l.db, store.WithAuditKey(testAuditKey),
		store.WithWitnesses(witness.ReadFile(l.witness)))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (l keyedLog) raw(t *testing.T) *sql.DB { return rawAuditDB(t, l.db) }

// writeEvents writes n events through a server's store and closes it
// (which writes the last checkpoint).
func (l keyedLog) writeEvents(t *testing.T, n int, verify bool) {
	t.Helper()
	db := l.open(t)
	for i := range n {
		ev := store.AuditEvent{UserID: "555000111", UserName: "Dr A TEST", Action: store.ActBreakGlass, Reason: "break-glass",
			NHSNumber: "9990000018", Detail: "collapsed in clinic " + string(rune('a'+i)), Outcome: store.OutcomeAllowed}
		if _, err := db.Audit(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if verify {
		if res, err := db.VerifyAudit(context.Background()); err != nil || !res.OK {
			t.Fatalf("verify before the attack: %+v, %v", res, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// plainRehash recomputes hashes from event `from` to the end by the
// documented plain rule, as an intruder without the key would.
func plainRehash(t *testing.T, raw *sql.DB, from int64) {
	t.Helper()
	var prev string
	if from > 1 {
		if err := raw.QueryRow(`SELECT hash FROM audit_events WHERE seq = ?`, from-1).Scan(&prev); err != nil {
			t.Fatal(err)
		}
	}
	var last int64
	raw.QueryRow(`SELECT MAX(seq) FROM audit_events`).Scan(&last)
	rehashAudit(t, raw, from, last)
	if prev != "" {
		// rehashAudit keeps the first event's prev_hash: make it follow on.
		mustRawExec(t, raw, `UPDATE audit_events SET prev_hash = ? WHERE seq = ?`, prev, from)
		rehashAudit(t, raw, from, last)
	}
}

// TestAuditAttacks is every attack on the audit log that needs only write
// access to the database file: each is caught both by the offline
// verification (`audit verify`) and at start-up, where the store raises
// the alarm that refuses clinical pages and fails /readyz.
func TestAuditAttacks(t *testing.T) {
	cases := []struct {
		name   string
		attack func(t *testing.T, l keyedLog, older string)
		kinds  []string // what verify may call it (the first problem found)
		start  []string // what start-up may call it
	}{
		{"DeleteEventsSinceLastVerification", func(t *testing.T, l keyedLog, _ string) {
			raw := l.raw(t)
			mustRawExec(t, raw, `DROP TRIGGER audit_events_no_delete`)
			mustRawExec(t, raw, `DELETE FROM audit_events WHERE seq > 3`)
			mustRawExec(t, raw, `DELETE FROM audit_verifications WHERE head_seq > 3`)
			mustRawExec(t, raw, `CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END`)
		}, []string{store.ProblemBehind, store.ProblemDeleted}, []string{store.ProblemBehind}},
		{"AlterAndRehashLastEvent", func(t *testing.T, l keyedLog, _ string) {
			raw := l.raw(t)
			mustRawExec(t, raw, `DROP TRIGGER audit_events_no_update`)
			mustRawExec(t, raw, `UPDATE audit_events SET user_id = 'someone-else' WHERE seq = 8`)
			plainRehash(t, raw, 8)
		}, []string{store.ProblemForged}, []string{store.ProblemForked, store.ProblemForged}},
		{"AppendForgedEvent", func(t *testing.T, l keyedLog, _ string) {
			raw := l.raw(t)
			var head store.AuditEvent
			raw.QueryRow(`SELECT seq, hash, time FROM audit_events WHERE seq = 8`).Scan(&head.Seq, &head.Hash, new(int64))
			forged := store.AuditEvent{Seq: 9, Time: time.Now().UTC().Truncate(time.Millisecond), UserID: "intruder", Action: store.ActSignIn,
				Outcome: store.OutcomeAllowed, Sources: []string{}, PrevHash: head.Hash}
			forged.Hash = store.AuditHash(forged)
			insertRawAuditEvent(t, raw, forged)
		}, []string{store.ProblemForged}, []string{store.ProblemForged}},
		{"RechainEverythingAndDeleteVerifications", func(t *testing.T, l keyedLog, _ string) {
			raw := l.raw(t)
			mustRawExec(t, raw, `DROP TRIGGER audit_events_no_update`)
			mustRawExec(t, raw, `UPDATE audit_events SET user_id = 'someone-else' WHERE seq = 2`)
			plainRehash(t, raw, 1)
			mustRawExec(t, raw, `DELETE FROM audit_verifications`)
		}, []string{store.ProblemForged}, []string{store.ProblemForked, store.ProblemForged}},
		{"ReplaceWithOlderCopy", func(t *testing.T, l keyedLog, older string) {
			copyFile(t, older, l.db)
		}, []string{store.ProblemBehind}, []string{store.ProblemBehind}},
		{"DropAppendOnlyTriggers", func(t *testing.T, l keyedLog, _ string) {
			raw := l.raw(t)
			mustRawExec(t, raw, `DROP TRIGGER audit_events_no_update`)
			mustRawExec(t, raw, `DROP TRIGGER audit_events_no_delete`)
		}, []string{store.ProblemSchema}, []string{store.ProblemSchema}},
		{"DeleteTheChainRecord", func(t *testing.T, l keyedLog, _ string) {
			raw := l.raw(t)
			mustRawExec(t, raw, `DROP TRIGGER audit_chain_no_delete`)
			mustRawExec(t, raw, `DELETE FROM audit_chain`)
			mustRawExec(t, raw, `DROP TRIGGER audit_events_no_update`)
			plainRehash(t, raw, 1)
		}, []string{store.ProblemForked, store.ProblemAltered}, []string{store.ProblemForked}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newKeyedLog(t)
			// Five events, verified and checkpointed; an older copy of
			// the file; then three more.
			l.writeEvents(t, 5, true)
			older := filepath.Join(l.dir, "older.db")
			copyFile(t, l.db, older)
			l.writeEvents(t, 3, false)
			if res := l.verify(t); !res.OK || res.Events != 8 || !res.Anchored || res.Anchor.Seq != 8 {
				t.Fatalf("verify before the attack = %+v", res)
			}

			tc.attack(t, l, older)

			res := l.verify(t)
			if res.OK || !hasKind(res.Problem, tc.kinds) {
				t.Fatalf("audit verify = %+v; want one of %v", res, tc.kinds)
			}
			t.Logf("audit verify: %s", res.Problem)

			db := l.open(t)
			al, bad := db.AuditAlarm()
			if !bad || !hasKind(al.Problem, tc.start) {
				t.Fatalf("start-up alarm = %+v, %v; want one of %v", al, bad, tc.start)
			}
			t.Logf("start-up: %s", al.Problem)
			// Refused, nothing more goes to the witness: the next start
			// sees the same.
			cps, err := witness.ReadFile(l.witness).All()
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			after, _ := witness.ReadFile(l.witness).All()
			if len(after) != len(cps) {
				t.Fatalf("the witness gained %d checkpoints while the log was refused", len(after)-len(cps))
			}
		})
	}
}

func hasKind(problem string, kinds []string) bool {
	for _, k := range kinds {
		if strings.HasPrefix(problem, k+": ") {
			return true
		}
	}
	return false
}

func TestAuditKeyedChain(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		l := newKeyedLog(t)
		l.writeEvents(t, 4, false)
		db := l.open(t)
		if _, bad := db.AuditAlarm(); bad {
			t.Fatal("alarm on an untouched log")
		}
		if db.AuditKeyedFrom() != 1 {
			t.Fatalf("keyed from %d, want 1 for a new log", db.AuditKeyedFrom())
		}
		cp, ok := db.AuditAnchor()
		if !ok || cp.Seq != 4 {
			t.Fatalf("anchor = %+v, %v", cp, ok)
		}
	})
	t.Run("ExistingPlainLogKeyedFromNextEvent", func(t *testing.T) {
		l := newKeyedLog(t)
		plain, err := store.Open(l.db)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := plain.Audit(context.Background(), store.AuditEvent{Action: store.ActSignIn, UserID: "u", Outcome: store.OutcomeAllowed}); err != nil {
				t.Fatal(err)
			}
		}
		plain.Close()
		l.writeEvents(t, 2, false)
		res := l.verify(t)
		if !res.OK || res.KeyedFrom != 4 || res.Events != 5 {
			t.Fatalf("verify = %+v; want intact, keyed from 4", res)
		}
		// The plain events before the key cannot be rewritten either:
		// the first keyed event's MAC covers the last plain hash.
		raw := l.raw(t)
		mustRawExec(t, raw, `DROP TRIGGER audit_events_no_update`)
		mustRawExec(t, raw, `UPDATE audit_events SET user_id = 'someone-else' WHERE seq = 2`)
		rehashAudit(t, raw, 2, 3)
		raw.Close()
		if res := l.verify(t); res.OK || res.FirstBadSeq != 3 {
			t.Fatalf("verify after rewriting the plain part = %+v", res)
		}
	})
	t.Run("ErrWrongKey", func(t *testing.T) {
		l := newKeyedLog(t)
		l.writeEvents(t, 1, false)
		_, err := store.Open(l.db, store.WithAuditKey(bytes.Repeat([]byte("b"), 32)))
		if err == nil || !strings.Contains(err.Error(), store.ErrAuditKeyMismatch.Error()) {
			t.Fatalf("open with another key: %v", err)
		}
	})
	t.Run("ErrNoKey", func(t *testing.T) {
		l := newKeyedLog(t)
		l.writeEvents(t, 1, false)
		if _, err := store.Open(l.db); err == nil {
			t.Fatal("a keyed log opened without its key")
		}
		if _, err := store.VerifyAuditFile(context.Background(), l.db); err == nil {
			t.Fatal("a keyed log verified without its key")
		}
	})
	t.Run("ErrWitnessLost", func(t *testing.T) {
		l := newKeyedLog(t)
		l.writeEvents(t, 2, false)
		if err := os.Remove(l.witness); err != nil {
			t.Fatal(err)
		}
		if res := l.verify(t); res.OK || !hasKind(res.Problem, []string{store.ProblemWitness}) {
			t.Fatalf("verify without the witness = %+v", res)
		}
		db := l.open(t)
		if al, bad := db.AuditAlarm(); !bad || !hasKind(al.Problem, []string{store.ProblemWitness}) {
			t.Fatalf("start without the witness: %+v %v", al, bad)
		}
	})
	t.Run("ErrWitnessForged", func(t *testing.T) {
		l := newKeyedLog(t)
		l.writeEvents(t, 2, false)
		cps, _ := witness.ReadFile(l.witness).All()
		cp := cps[len(cps)-1]
		cp.Seq = 1 // to make a rolled-back copy pass, an intruder would rewrite the witness
		b, _ := json.Marshal(cp)
		f, _ := os.OpenFile(l.witness, os.O_APPEND|os.O_WRONLY, 0)
		f.Write(append(b, '\n'))
		f.Close()
		if res := l.verify(t); res.OK || !hasKind(res.Problem, []string{store.ProblemWitness}) {
			t.Fatalf("verify with a forged checkpoint = %+v", res)
		}
	})
}

// TestAuditWitnesses checks the checkpoints that reach each kind of
// witness: the file (mode 0600, one JSON line each, MAC'd) and a remote
// endpoint over HTTP.
func TestAuditWitnesses(t *testing.T) {
	var (
		mu       sync.Mutex
		received []store.Checkpoint
	)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cp store.Checkpoint
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&cp) != nil {
			http.Error(w, "bad checkpoint", http.StatusBadRequest)
			return
		}
		mu.Lock()
		received = append(received, cp)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer remote.Close()
	l := newKeyedLog(t)
	db := l.open(t, store.WithWitnesses(witness.NewHTTP(remote.URL)))
	ev, err := db.Audit(context.Background(), store.AuditEvent{Action: store.ActSignIn, UserID: "u", Outcome: store.OutcomeAllowed})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := os.Stat(l.witness)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("witness file: %v, %v; want mode 0600", st, err)
	}
	cps, err := witness.ReadFile(l.witness).All()
	if err != nil || len(cps) != 2 {
		t.Fatalf("witness file holds %+v, %v; want the start's and the shutdown's", cps, err)
	}
	if last := cps[1]; last.Seq != 1 || last.Hash != ev.Hash || last.KeyedFrom != 1 || len(last.MAC) != 64 {
		t.Fatalf("last checkpoint %+v; want event 1's hash %s", last, ev.Hash)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) != 2 || received[1] != cps[1] {
		t.Fatalf("the remote witness received %+v; want what the file holds", received)
	}
}
