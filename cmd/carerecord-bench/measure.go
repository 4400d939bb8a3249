package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web/devidp"
)

// longHistory is the demo patient with the longest history (about 3,000
// entries, nearly all at one source).
const longHistory = "9990000042"

// targetLatencies are what the eight sources take to answer a record
// fetch in the cold-cache run: spread from 50 to 400 ms.
var targetLatencies = []time.Duration{400, 350, 300, 250, 200, 150, 100, 50}

// runProduct runs every measurement that needs the server.
func (b *bench) runProduct(logPath string) error {
	cluster, err := synthetic.Start(synthetic.Orgs(), nil)
	if err != nil {
		return fmt.Errorf("synthetic sources: %w", err)
	}
	defer cluster.Close()
	cfgs := cluster.Configs()

	b.say("choosing patients: every demo patient read from every source")
	pick, err := choosePatients(cfgs)
	if err != nil {
		return err
	}
	b.res.patient, b.res.patientEntries, b.res.patientSources = pick.p200, pick.entries[pick.p200], len(pick.held[pick.p200])
	b.res.longEntries = pick.entries[longHistory]
	b.say("patient with about 200 entries: %s (%d entries at %d sources); %s has %d",
		pick.p200, b.res.patientEntries, b.res.patientSources, longHistory, b.res.longEntries)

	b.say("setting source latencies to 50-400 ms per record fetch")
	lat, err := calibrate(cluster, cfgs, pick)
	if err != nil {
		return err
	}
	b.res.sources = lat

	// Keys as a server loads them from files: made before the clock.
	sp, err := newKeyPair("carerecord bench service provider")
	if err != nil {
		return err
	}
	idpKeys, err := newKeyPair("carerecord bench development IdP")
	if err != nil {
		return err
	}
	users := benchUsers(b.o.clinicians)
	b.sp, b.idpKeys, b.users = sp, idpKeys, users
	b.rssBefore = readRSS()

	began := time.Now()
	p, err := startProduct(productConfig{dbPath: logPath, cacheKey: randomKey(store.CacheKeySize), sources: cfgs,
		deadline: b.o.deadline, fresh: time.Hour, users: users, sp: sp, idp: idpKeys, log: b.log})
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if err := p.waitReady(30 * time.Second); err != nil {
		p.stop()
		return err
	}
	b.res.startup = time.Since(began)
	b.say("start-up to /readyz 200 with %d audit events: %s", b.o.events, b.res.startup.Round(time.Microsecond))

	err = b.measure(p, cluster, pick, users)
	if serr := p.stop(); err == nil && serr != nil {
		err = fmt.Errorf("stop: %w", serr)
	}
	return err
}

func (b *bench) measure(p *product, cluster *synthetic.Cluster, pick patients, users []devidp.User) error {
	b.writerStats = func() sql.DBStats { w, _ := p.db.PoolStats(); return w }
	b.say("signing in %d clinicians through the development IdP", b.o.clinicians)
	clinicians, err := signInAll(p, users[:b.o.clinicians], []string{pick.p200, longHistory, pick.hang})
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range clinicians {
			c.close()
		}
	}()
	one := clinicians[0]

	// Record page time against the slowest source, cold cache.
	slowest := slices.MaxFunc(b.res.sources, func(a, c sourceLatency) int { return int(a.measured - c.measured) })
	b.say("cold record page, %d times (slowest source %s: %s)", b.o.reps, slowest.ods, slowest.measured.Round(time.Millisecond))
	var times []time.Duration
	for range b.o.reps {
		if err := settle(p.records, pick.p200, 10*time.Second); err != nil {
			return err
		}
		if err := p.records.Purge(context.Background(), pick.p200); err != nil {
			return err
		}
		t, body, err := timePage(one, "/patients/"+pick.p200)
		if err != nil {
			return err
		}
		if strings.Contains(body, "Did not answer in time") {
			return fmt.Errorf("cold page for %s: a source missed the %s deadline; lower the latencies or raise -deadline", pick.p200, b.o.deadline)
		}
		times = append(times, t)
	}
	b.res.cold = times
	b.res.slowest = slowest
	b.say("cold page median %s", percentile(times, 50).Round(time.Millisecond))

	// Warm cache, ~200 entries.
	if err := settle(p.records, pick.p200, 60*time.Second); err != nil {
		return err
	}
	b.say("warm load, %s: %d clinicians, %s", pick.p200, len(clinicians), b.o.duration)
	b.res.warm200, err = b.load(getters(clinicians), "/patients/"+pick.p200, "warm200")
	if err != nil {
		return err
	}
	b.say("  %.0f views/s, p50 %s, p99 %s", b.res.warm200.perSecond(), b.res.warm200.pct(50).Round(100*time.Microsecond), b.res.warm200.pct(99).Round(100*time.Microsecond))

	// Warm cache, the long history. Filled with no added latency: its
	// many pages would otherwise outlast the deadline on the first view.
	for _, s := range b.res.sources {
		cluster.SetFaults(s.ods, synthetic.Faults{})
	}
	if _, _, err := timePage(one, "/patients/"+longHistory); err != nil {
		return err
	}
	if err := settle(p.records, longHistory, 120*time.Second); err != nil {
		return err
	}
	for _, s := range b.res.sources {
		cluster.SetFaults(s.ods, synthetic.Faults{Latency: s.perRequest})
	}
	b.say("warm load, %s: %d clinicians, %s", longHistory, len(clinicians), b.o.duration)
	b.res.warmLong, err = b.load(getters(clinicians), "/patients/"+longHistory, "warm5000")
	if err != nil {
		return err
	}
	b.say("  %.0f views/s, p50 %s, p99 %s", b.res.warmLong.perSecond(), b.res.warmLong.pct(50).Round(100*time.Microsecond), b.res.warmLong.pct(99).Round(100*time.Microsecond))

	// One source hanging: the page must end at the deadline.
	b.say("cold record page with %s hanging, %d times (deadline %s)", pick.hangSource, b.o.reps, b.o.deadline)
	cluster.SetFaults(pick.hangSource, synthetic.Faults{Latency: time.Hour})
	times = nil
	for range b.o.reps {
		if err := p.records.Purge(context.Background(), pick.hang); err != nil {
			return err
		}
		t, body, err := timePage(one, "/patients/"+pick.hang)
		if err != nil {
			return err
		}
		if !strings.Contains(body, "Did not answer in time") {
			return fmt.Errorf("hang: the page for %s did not say a source missed its deadline", pick.hang)
		}
		times = append(times, t)
	}
	b.res.hang = times
	for _, s := range b.res.sources {
		cluster.SetFaults(s.ods, synthetic.Faults{Latency: s.perRequest})
	}
	b.say("hanging-source page median %s", percentile(times, 50).Round(time.Millisecond))

	// IG audit search over the big log, as the privacy officer does it.
	if b.res.ig, err = b.igSearch(p); err != nil {
		return err
	}
	if err := b.patientAccessList(p); err != nil {
		return err
	}

	b.res.rss, b.res.hwm = readRSS(), readHWM()
	b.res.rssBefore = b.rssBefore
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.res.heapInuse, b.res.sys = ms.HeapInuse, ms.Sys
	b.say("resident memory %d MB (%d MB before the server started), Go heap in use %d MB", b.res.rss>>20, b.res.rssBefore>>20, ms.HeapInuse>>20)

	// The same on PostgreSQL, side by side with this SQLite node.
	if b.pg != nil {
		return b.measurePostgres(p, clinicians, pick, cluster.Configs())
	}
	return nil
}

// load runs the closed loop with CPU and heap profiles if asked for.
func (b *bench) load(clinicians []getter, target, name string) (loadResult, error) {
	return b.loadFor(clinicians, target, name, b.o.duration)
}

// loadFor is load for d rather than the run's -duration.
func (b *bench) loadFor(clinicians []getter, target, name string, d time.Duration) (loadResult, error) {
	var stopProfile func()
	if b.o.profile != "" {
		if err := os.MkdirAll(b.o.profile, 0o755); err != nil {
			return loadResult{}, err
		}
		f, err := os.Create(filepath.Join(b.o.profile, name+".cpu.pprof"))
		if err != nil {
			return loadResult{}, err
		}
		// Profile the measured part only.
		timer := time.AfterFunc(b.o.warmup, func() { _ = pprof.StartCPUProfile(f) })
		stopProfile = func() {
			timer.Stop()
			pprof.StopCPUProfile()
			f.Close()
			if h, err := os.Create(filepath.Join(b.o.profile, name+".heap.pprof")); err == nil {
				_ = pprof.Lookup("heap").WriteTo(h, 0)
				h.Close()
			}
		}
	}
	var (
		cpu0  time.Duration
		w0    sql.DBStats
		began time.Time
		load  string
	)
	var pg0 pgCounters
	mark := time.AfterFunc(b.o.warmup, func() {
		cpu0, w0, began, load = processCPU(), b.writerStats(), time.Now(), loadAverage()
		if b.pgCounters != nil {
			pg0 = b.pgCounters()
		}
	})
	res := runLoad(clinicians, target, b.o.warmup, d, 10_000_000)
	mark.Stop()
	if !began.IsZero() {
		if b.pgCounters != nil {
			pg1 := b.pgCounters()
			res.pgCommits, res.pgSyncs = pg1.commits-pg0.commits, pg1.syncs-pg0.syncs
		}
		w1 := b.writerStats()
		res.cpuShare = float64(processCPU()-cpu0) / float64(time.Since(began)) / float64(nproc())
		res.loadAvg = load
		res.writeWaits, res.writeWait = w1.WaitCount-w0.WaitCount, w1.WaitDuration-w0.WaitDuration
	}
	if stopProfile != nil {
		stopProfile()
	}
	if res.views == 0 {
		return res, fmt.Errorf("load on %s: no page answered: %v", target, res.firstErr)
	}
	if res.errors > 0 {
		return res, fmt.Errorf("load on %s: %d errors, first: %v", target, res.errors, res.firstErr)
	}
	return res, nil
}

// timePage times one GET of a page, read in full.
func timePage(b *browser, target string) (time.Duration, string, error) {
	t0 := time.Now()
	p, err := b.get(target)
	d := time.Since(t0)
	if err != nil {
		return 0, "", err
	}
	if p.status != 200 {
		return 0, "", fmt.Errorf("GET %s: status %d", target, p.status)
	}
	return d, string(p.body), nil
}

// settle waits until no fetch for the patient is in flight (every answer
// written to the cache), so the next cold page starts fetches of its own
// rather than joining one.
func settle(r *records.Records, nhs string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		v, err := r.Status(context.Background(), nhs)
		if err != nil {
			return err
		}
		done := true
		for _, s := range v.Sources {
			// Status shows an answered flight that is still writing the
			// cache as live; anything else not pending has no flight.
			if s.Pending || s.State == records.StateLive {
				done = false
			}
		}
		if done {
			// A flight leaves the table just after its answer is cached.
			time.Sleep(50 * time.Millisecond)
			return nil
		}
		if time.Now().After(deadline) {
			var states []string
			for _, s := range v.Sources {
				states = append(states, fmt.Sprintf("%s %s pending=%t %s", s.Source.ODS, s.State, s.Pending, s.Error))
			}
			return fmt.Errorf("the cache for %s did not fill within %s: %s", nhs, limit, strings.Join(states, "; "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// benchUsers are n clinicians (R8000 at King's), the IG officer and the
// other demo users.
func benchUsers(n int) []devidp.User {
	var out []devidp.User
	for i := range n {
		out = append(out, devidp.User{Username: fmt.Sprintf("bench%03d", i+1), UserID: fmt.Sprintf("5551%08d", i+1),
			DisplayName: fmt.Sprintf("Dr Bench%03d LOADTEST", i+1), Assurance: "AAL3",
			Profiles: []devidp.Profile{{Code: "R8000", ODS: synthetic.KingsODS, OrgName: "King's College Hospital NHS Foundation Trust"}}})
	}
	return append(out, devidp.DemoUsers()...)
}

// signInAll signs every user in, eight at a time, and gives a reason for
// access to each patient.
func signInAll(p *product, users []devidp.User, nhs []string) ([]*browser, error) {
	out := make([]*browser, len(users))
	errs := make([]error, len(users))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			b := newBrowser(p.base)
			if err := b.signIn("/patients", u.Username, benchPassword); err != nil {
				errs[i] = err
				return
			}
			for _, n := range nhs {
				if err := b.giveReason(n, "direct-care"); err != nil {
					errs[i] = err
					return
				}
			}
			out[i] = b
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// patients are the ones the runs use.
type patients struct {
	p200       string // about 200 entries across the sources
	hang       string // for the hanging-source run
	hangSource string // the ODS code that hangs
	entries    map[string]int
	held       map[string][]string // NHS number -> sources holding a record
	perSource  map[string]map[string]int
}

// choosePatients reads every demo patient from every source holding it,
// with the real FHIR client, and picks the one nearest 200 entries among
// those held by the most sources.
func choosePatients(cfgs []connectors.Config) (patients, error) {
	pk := patients{entries: map[string]int{}, held: map[string][]string{}, perSource: map[string]map[string]int{}}
	clients := map[string]*fhir.Client{}
	for _, c := range cfgs {
		cl, err := fhir.New(c, nil)
		if err != nil {
			return pk, err
		}
		defer cl.Close()
		clients[c.ODS] = cl
		pk.perSource[c.ODS] = map[string]int{}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var firstErr error
	for _, dp := range synthetic.Patients() {
		for _, ods := range dp.Sources {
			cl := clients[ods]
			if cl == nil {
				continue
			}
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				rec, err := cl.FetchRecord(context.Background(), dp.NHSNumber)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if !errors.Is(err, connectors.ErrNoRecord) && firstErr == nil {
						firstErr = fmt.Errorf("%s from %s: %w", dp.NHSNumber, ods, err)
					}
					return
				}
				pk.entries[dp.NHSNumber] += len(rec.Entries)
				pk.held[dp.NHSNumber] = append(pk.held[dp.NHSNumber], ods)
				pk.perSource[ods][dp.NHSNumber] = len(rec.Entries)
			})
		}
	}
	wg.Wait()
	if firstErr != nil {
		return pk, firstErr
	}
	var candidates []synthetic.DemoPatient
	for _, dp := range synthetic.Patients() {
		if dp.NHSNumber != longHistory && !dp.Restricted && !dp.Deceased && pk.entries[dp.NHSNumber] > 0 {
			candidates = append(candidates, dp)
		}
	}
	if len(candidates) < 2 {
		return pk, errors.New("fewer than two usable synthetic patients")
	}
	score := func(dp synthetic.DemoPatient) int {
		d := pk.entries[dp.NHSNumber] - 200
		if d < 0 {
			d = -d
		}
		// Each source fewer counts as 40 entries off.
		return d + 40*(len(cfgs)-len(pk.held[dp.NHSNumber]))
	}
	slices.SortStableFunc(candidates, func(a, c synthetic.DemoPatient) int { return score(a) - score(c) })
	pk.p200 = candidates[0].NHSNumber
	pk.hang = candidates[1].NHSNumber
	// The hanging source is one that holds the hang patient's record.
	hs := pk.held[pk.hang]
	slices.Sort(hs)
	pk.hangSource = hs[0]
	return pk, nil
}

// sourceLatency is one source's latency in the cold run.
type sourceLatency struct {
	ods        string
	target     time.Duration
	perRequest time.Duration // the latency added to each FHIR request
	requests   float64       // round trips in one record fetch, as measured
	measured   time.Duration // median record fetch, straight from the source
	entries    int
}

// calibrate sets each source's per-request latency so that a record
// fetch of the chosen patient, straight from the source with the real
// client, takes its target time, then measures what it takes.
func calibrate(cluster *synthetic.Cluster, cfgs []connectors.Config, pk patients) ([]sourceLatency, error) {
	// The slowest targets go to the sources holding the most entries.
	order := slices.Clone(cfgs)
	slices.SortStableFunc(order, func(a, c connectors.Config) int {
		return pk.perSource[c.ODS][pk.p200] - pk.perSource[a.ODS][pk.p200]
	})
	var out []sourceLatency
	for i, cfg := range order {
		cl, err := fhir.New(cfg, nil)
		if err != nil {
			return nil, err
		}
		s := sourceLatency{ods: cfg.ODS, target: targetLatencies[i%len(targetLatencies)] * time.Millisecond,
			entries: pk.perSource[cfg.ODS][pk.p200]}
		const probe = 40 * time.Millisecond
		cluster.SetFaults(cfg.ODS, synthetic.Faults{})
		t0 := medianFetch(cl, pk.p200, 3)
		cluster.SetFaults(cfg.ODS, synthetic.Faults{Latency: probe})
		t1 := medianFetch(cl, pk.p200, 3)
		s.requests = max(float64(t1-t0)/float64(probe), 1)
		s.perRequest = max(time.Duration(float64(s.target-t0)/s.requests), 0)
		cluster.SetFaults(cfg.ODS, synthetic.Faults{Latency: s.perRequest})
		s.measured = medianFetch(cl, pk.p200, 5)
		cl.Close()
		out = append(out, s)
	}
	return out, nil
}

// medianFetch times n record fetches straight from one source.
func medianFetch(cl *fhir.Client, nhs string, n int) time.Duration {
	var ts []time.Duration
	for range n {
		t0 := time.Now()
		_, _ = cl.FetchRecord(context.Background(), nhs)
		ts = append(ts, time.Since(t0))
	}
	return percentile(ts, 50)
}

// patientAccessList times the first page of a patient's own access list
// (store.PatientAccesses, as /my-record reads it, keyset paged through the
// audit log's patient index) for a patient with many thousands of
// accesses and for one with a few, alternately in one run, so that the
// ratio of the two is measured under the same conditions.
func (b *bench) patientAccessList(p *product) error {
	ctx := context.Background()
	reps := b.o.queries
	b.say("patient access list, first page: %d accesses vs %d, %d times each, alternately", heavyAccesses, fewAccesses, reps)
	b.res.accessList = map[string][]time.Duration{}
	for i := range 2 * reps {
		who, nhs := "heavy", heavyPatient()
		if i%2 == 1 {
			who, nhs = "few", fewPatient()
		}
		t0 := time.Now()
		evs, _, err := p.db.PatientAccesses(ctx, nhs, 0, 25)
		t := time.Since(t0)
		if err != nil {
			return fmt.Errorf("patient access list: %w", err)
		}
		if want := min(25, map[string]int{"heavy": heavyAccesses, "few": fewAccesses}[who]); len(evs) < want*4/5 {
			return fmt.Errorf("patient access list for the %s patient: %d accesses on the first page, want about %d", who, len(evs), want)
		}
		b.res.accessList[who] = append(b.res.accessList[who], t)
	}
	h, f := percentile(b.res.accessList["heavy"], 50), percentile(b.res.accessList["few"], 50)
	b.say("  p50 %s vs %s (ratio %.2f)", h.Round(10*time.Microsecond), f.Round(10*time.Microsecond), float64(h)/float64(f))
	return nil
}

// igSearch times the IG officer's audit log searches over HTTP: by user,
// by patient and by day, each for values spread over the whole log.
func (b *bench) igSearch(p *product) (map[string][]time.Duration, error) {
	ig := newBrowser(p.base)
	defer ig.close()
	if err := ig.signIn("/ig", "igofficer", benchPassword); err != nil {
		return nil, fmt.Errorf("IG sign-in: %w", err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	start := logStart(b.now)
	kinds := []struct {
		name  string
		query func() url.Values
	}{
		{"user", func() url.Values { return url.Values{"user": {logUserID(rng.IntN(logUsers))}} }},
		{"patient", func() url.Values { return url.Values{"nhs": {logPatient(rng.IntN(logPatients))}} }},
		{"day", func() url.Values {
			d := start.AddDate(0, 0, 1+rng.IntN(logDays-1)).Format("2006-01-02")
			return url.Values{"from": {d}, "to": {d}}
		}},
	}
	res := map[string][]time.Duration{}
	for _, k := range kinds {
		b.say("IG audit search by %s, %d times", k.name, b.o.queries)
		for range b.o.queries {
			t, body, err := timePage(ig, "/ig/audit?"+k.query().Encode())
			if err != nil {
				return nil, fmt.Errorf("IG search by %s: %w", k.name, err)
			}
			if !strings.Contains(body, "<table") {
				return nil, fmt.Errorf("IG search by %s: no results table", k.name)
			}
			res[k.name] = append(res[k.name], t)
		}
		b.say("  p95 %s", percentile(res[k.name], 95).Round(100*time.Microsecond))
	}
	return res, nil
}
