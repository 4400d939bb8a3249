package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/store"
)

// The synthetic audit log: a region's worth of users, patients and days,
// shaped like a busy month (mostly record openings and searches).
const (
	logUsers    = 2000
	logPatients = 50_000
	logDays     = 30
)

// Two patients outside the population, for the patient access list:
// heavyPatient's record is opened heavyAccesses times and fewPatient's
// fewAccesses times, each spread evenly over the whole log, so that the
// first page of each is read from the same patient index side by side.
const (
	heavyAccesses = 20_000
	fewAccesses   = 5
)

func heavyPatient() string { return logPatient(logPatients) }
func fewPatient() string   { return logPatient(logPatients + 1) }

func logUserID(i int) string { return fmt.Sprintf("5550%08d", i) }

// logPatient returns the i-th NHS number of the log's population, in the
// 999 test range with a valid Modulus 11 check digit.
func logPatient(i int) string {
	for n := 999_000_000 + i*2; ; n++ {
		s := strconv.Itoa(n)
		if check, ok := connectors.NHSNumberCheckDigit(s); ok {
			return s + strconv.Itoa(int(check))
		}
	}
}

// logStart is when the synthetic log begins: logDays before the run, so
// that the events the load runs add come after it, as time goes on.
func logStart(now time.Time) time.Time {
	return now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -logDays)
}

// generateAuditLog builds the log in a database file. It runs in a child
// process (see main), so that the memory the bulk load uses is not
// counted against the server.
func generateAuditLog(path string, n int, now time.Time) error {
	users := make([]struct{ id, name, session, ods string }, logUsers)
	for i := range users {
		users[i].id = logUserID(i)
		users[i].name = fmt.Sprintf("Dr User%04d LOGTEST", i)
		users[i].session = store.HashToken("log session " + strconv.Itoa(i))
		users[i].ods = []string{"RJZ", "RJ1", "RJ2", "RV5", "RD8", "G85991", "G85992", "G84991"}[i%8]
	}
	patients := make([]string, logPatients)
	for i := range patients {
		patients[i] = logPatient(i)
	}
	actions := []store.Action{store.ActRecordOpen, store.ActRecordOpen, store.ActRecordOpen, store.ActRecordOpen,
		store.ActSearch, store.ActSearch, store.ActDocumentOpen, store.ActReasonGiven, store.ActSignIn, store.ActAccessRefused}
	sources := []string{"RJZ", "RJ1", "G85991"}
	base := logStart(now)
	step := logDays * 24 * time.Hour / time.Duration(n)
	rng := rand.New(rand.NewPCG(7, 11))
	heavy, few := heavyPatient(), fewPatient()
	heavyEvery, fewEvery := max(n/heavyAccesses, 1), max(n/fewAccesses, 1)
	return store.BulkLoadAudit(context.Background(), path, n, func(i int) store.AuditEvent {
		u := &users[rng.IntN(logUsers)]
		ev := store.AuditEvent{Time: base.Add(time.Duration(i) * step), UserID: u.id, UserName: u.name,
			RoleCode: "R8000", ODS: u.ods, SessionHash: u.session, ClientAddr: "10.20.30.40",
			Action: actions[rng.IntN(len(actions))], Reason: "direct-care", Outcome: store.OutcomeAllowed}
		switch ev.Action {
		case store.ActSignIn:
			ev.Reason = ""
		case store.ActSearch:
			ev.Reason, ev.Detail = "", "nhs="+patients[rng.IntN(logPatients)]
		case store.ActAccessRefused:
			ev.NHSNumber, ev.Outcome, ev.OutcomeWhy = patients[rng.IntN(logPatients)], store.OutcomeRefused, "no reason for access given"
		default:
			ev.NHSNumber = patients[rng.IntN(logPatients)]
			if ev.Action == store.ActRecordOpen {
				ev.Sources = sources
			}
		}
		// The two patients of the access list take over events at even
		// intervals, after the draws, so the rest of the log is unchanged.
		switch {
		case i%fewEvery == fewEvery/2:
			ev.Action, ev.NHSNumber, ev.Reason, ev.Detail, ev.Outcome, ev.OutcomeWhy = store.ActRecordOpen, few, "direct-care", "", store.OutcomeAllowed, ""
			ev.Sources = sources
		case i%heavyEvery == heavyEvery/3:
			ev.Action, ev.NHSNumber, ev.Reason, ev.Detail, ev.Outcome, ev.OutcomeWhy = store.ActRecordOpen, heavy, "direct-care", "", store.OutcomeAllowed, ""
			ev.Sources = sources
		}
		return ev
	})
}

// groupCommit measures audit events committed per second by many
// concurrent callers, each waiting for its own event to be durable, with
// group commit and with one commit per event. Both commit durably: on
// SQLite with synchronous=FULL, set by store.Open; on PostgreSQL with
// fsync and synchronous_commit on, which the driver checks.
type groupCommitResult struct {
	grouped, single float64 // events per second
}

// opener opens a new, empty database for one group-commit run and checks
// that it commits durably.
type opener struct {
	open    func(name string, opts ...store.Option) (*store.DB, error)
	durable func(*store.DB) error
}

// sqliteOpener opens a SQLite file in the run's directory, and checks
// synchronous=FULL, set by store.Open.
func (b *bench) sqliteOpener() opener {
	return opener{
		open: func(name string, opts ...store.Option) (*store.DB, error) {
			return store.Open(filepath.Join(b.dir, name+".db"), opts...)
		},
		durable: func(db *store.DB) error {
			if p := db.Pragmas(context.Background())["synchronous"]; p != "2" {
				return fmt.Errorf("synchronous is %s, not FULL (2)", p)
			}
			return nil
		},
	}
}

// Each caller is a clinician going between ten patients, as on a ward
// round: ordinary record openings, below the alert thresholds.
func measureGroupCommit(o opener, profileDir, prefix string, callers int, d time.Duration) (groupCommitResult, error) {
	run := func(name string, opts ...store.Option) (float64, error) {
		if profileDir != "" {
			f, err := os.Create(filepath.Join(profileDir, "groupcommit-"+prefix+name+".cpu.pprof"))
			if err != nil {
				return 0, err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err == nil {
				defer pprof.StopCPUProfile()
			}
		}
		db, err := o.open(name, opts...)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		if err := o.durable(db); err != nil {
			return 0, err
		}
		var n atomic.Int64
		var firstErr error
		var once sync.Once
		start := time.Now()
		end := start.Add(d)
		var wg sync.WaitGroup
		for c := range callers {
			wg.Go(func() {
				// The caller's event and its round of ten patients are made
				// once, so that the loop times the commits and little else.
				ev := store.AuditEvent{UserID: logUserID(c), UserName: "Dr Bench COMMIT",
					RoleCode: "R8000", ODS: "RJZ", SessionHash: store.HashToken(strconv.Itoa(c)), ClientAddr: "127.0.0.1",
					Action: store.ActRecordOpen, Reason: "direct-care", Outcome: store.OutcomeAllowed, Sources: []string{"RJZ", "RJ1"}}
				var round [10]string
				for k := range round {
					round[k] = logPatient(c*10 + k)
				}
				for i := 0; i < 1_000_000 && time.Now().Before(end); i++ {
					ev.NHSNumber = round[i%10]
					_, err := db.Audit(context.Background(), ev)
					if err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds(), firstErr
	}
	var res groupCommitResult
	var err error
	if res.single, err = run("single", store.WithAuditBatchLimit(1)); err != nil {
		return res, fmt.Errorf("one commit per event: %w", err)
	}
	if res.grouped, err = run("grouped"); err != nil {
		return res, fmt.Errorf("group commit: %w", err)
	}
	return res, nil
}
