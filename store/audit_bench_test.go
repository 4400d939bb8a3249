package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

// benchAudit has many concurrent requests write record-open events, as a
// busy morning would. Both variants commit with synchronous=FULL; only the
// number of events per transaction differs, so their ratio is what group
// commit buys.
func benchAudit(b *testing.B, opts ...store.Option) {
	for _, callers := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) { benchAuditCallers(b, callers, opts...) })
	}
}

func benchAuditCallers(b *testing.B, callers int, opts ...store.Option) {
	db := MustOpenDB(b, opts...)
	var n atomic.Int64
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, err := db.Audit(context.Background(), store.AuditEvent{UserID: "u" + strconv.FormatInt(i%500, 10),
				UserName: "Dr Test USER", RoleCode: "R8000", ODS: "RX1", SessionHash: store.HashToken("s"),
				ClientAddr: "10.0.0.7", Action: store.ActRecordOpen, NHSNumber: auditPatients[i%int64(len(auditPatients))],
				Reason: "direct-care", Outcome: store.OutcomeAllowed, Sources: []string{"RX1", "A81001"}})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	if tx := db.AuditBatches(); tx > 0 {
		b.ReportMetric(float64(b.N)/float64(tx), "events/tx")
	}
}

func BenchmarkAuditGroupCommit(b *testing.B) { benchAudit(b) }

func BenchmarkAuditOneCommitEach(b *testing.B) { benchAudit(b, store.WithAuditBatchLimit(1)) }

// BenchmarkSearchAudit builds a log of CARERECORD_BENCH_AUDIT_EVENTS events
// (default 300,000; the 10-million run sets it) and measures the IG paths,
// reporting the 95th percentile of single calls.
func BenchmarkSearchAudit(b *testing.B) {
	total := 300_000
	if v, err := strconv.Atoi(os.Getenv("CARERECORD_BENCH_AUDIT_EVENTS")); err == nil && v > 0 {
		total = v
	}
	const (
		users    = 2000
		patients = 50_000
		days     = 30
	)
	nhs := make([]string, patients)
	for i := range nhs {
		nhs[i] = nhsFor(i)
	}
	path := filepath.Join(b.TempDir(), "audit.db")
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	step := days * 24 * time.Hour / time.Duration(total)
	rng := rand.New(rand.NewPCG(1, 2))
	actions := []store.Action{store.ActRecordOpen, store.ActRecordOpen, store.ActRecordOpen, store.ActSearch,
		store.ActSearch, store.ActDocumentOpen, store.ActRefresh, store.ActSignIn, store.ActReasonGiven, store.ActAccessRefused}
	began := time.Now()
	err := store.BulkLoadAudit(context.Background(), path, total, func(i int) store.AuditEvent {
		u := rng.IntN(users)
		ev := store.AuditEvent{Time: base.Add(time.Duration(i) * step), UserID: fmt.Sprintf("5550%05d", u),
			UserName: fmt.Sprintf("Dr User%d TEST", u), RoleCode: "R8000", ODS: fmt.Sprintf("R%02d", u%40),
			SessionHash: store.HashToken(strconv.Itoa(u)), ClientAddr: "10.1.2.3",
			Action: actions[rng.IntN(len(actions))], NHSNumber: nhs[rng.IntN(patients)], Reason: "direct-care",
			Outcome: store.OutcomeAllowed, Sources: []string{"RX1", "A81001", "RAJ"}}
		if ev.Action == store.ActAccessRefused {
			ev.Outcome, ev.OutcomeWhy = store.OutcomeRefused, "no legitimate relationship"
		}
		return ev
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d events in %s", total, time.Since(began).Round(time.Millisecond))
	// The searches are measured with the planner's statistics gathered,
	// though a server never runs ANALYZE.
	raw := rawAuditDB(b, path)
	mustRawExec(b, raw, `ANALYZE`)
	raw.Close()

	// Start-up to ready must not grow with the log.
	began = time.Now()
	db, err := store.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("open and ping with %d events: %s", total, time.Since(began).Round(time.Microsecond))

	ctx := context.Background()
	pick := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name string
		run  func() error
	}{
		{"ByUser", func() error {
			_, _, err := db.SearchAudit(ctx, store.AuditFilter{UserID: fmt.Sprintf("5550%05d", pick.IntN(users))})
			return err
		}},
		{"ByPatient", func() error {
			_, _, err := db.SearchAudit(ctx, store.AuditFilter{NHSNumber: nhs[pick.IntN(patients)]})
			return err
		}},
		{"ByDay", func() error {
			d := base.AddDate(0, 0, pick.IntN(days))
			_, _, err := db.SearchAudit(ctx, store.AuditFilter{From: d, To: d.AddDate(0, 0, 1)})
			return err
		}},
		{"ByUserAndDay", func() error {
			d := base.AddDate(0, 0, pick.IntN(days))
			_, _, err := db.SearchAudit(ctx, store.AuditFilter{UserID: fmt.Sprintf("5550%05d", pick.IntN(users)), From: d, To: d.AddDate(0, 0, 1)})
			return err
		}},
		{"ByAction", func() error {
			_, _, err := db.SearchAudit(ctx, store.AuditFilter{Actions: []store.Action{store.ActAccessRefused}, BeforeSeq: int64(pick.IntN(total) + 1)})
			return err
		}},
		{"PatientAccess", func() error {
			_, err := db.PatientAccess(ctx, nhs[pick.IntN(patients)])
			return err
		}},
		{"UserAccess", func() error {
			_, err := db.UserAccess(ctx, fmt.Sprintf("5550%05d", pick.IntN(users)))
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t := time.Now()
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
	// One walk of the whole chain, timed once: it is a scheduled job, not
	// a request path.
	began = time.Now()
	if res, err := db.VerifyAudit(ctx); err != nil || !res.OK {
		b.Fatalf("%+v %v", res, err)
	}
	b.Logf("verify %d events: %s", total, time.Since(began).Round(time.Millisecond))
}
