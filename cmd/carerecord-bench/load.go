package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// loadResult is one closed-loop load run.
type loadResult struct {
	views    int           // pages answered 200 and read in full
	errors   int           // anything else
	elapsed  time.Duration // from the first request to the last answer
	lat      []time.Duration
	bytes    int64
	firstErr error

	// What else was going on: the share of the machine's CPUs this
	// process used, the load average as the run began, and how long
	// requests waited for the database's one writer connection.
	cpuShare   float64
	loadAvg    string
	writeWaits int64
	writeWait  time.Duration

	// On PostgreSQL: transactions committed in the database (each
	// statement outside a transaction counts as one) and WAL flushes to
	// disk, server-wide, during the measured part.
	pgCommits, pgSyncs int64
}

func (r loadResult) perSecond() float64 { return float64(r.views) / r.elapsed.Seconds() }

func (r loadResult) pct(p float64) time.Duration { return percentile(r.lat, p) }

// percentile of sorted-on-demand durations (nearest rank).
func percentile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// getter is one clinician's browser: on one node, or going between nodes.
type getter interface {
	get(target string) (*page, error)
}

// roundRobin is one clinician's browser behind a round-robin proxy: each
// request goes to the next node in turn, with one cookie jar and one
// session (sessions are in the shared database, so the nodes need no
// sticky sessions). Each is used by one goroutine at a time.
type roundRobin struct {
	nodes []*browser
	next  int
}

func (r *roundRobin) get(target string) (*page, error) {
	b := r.nodes[r.next%len(r.nodes)]
	r.next++
	return b.get(target)
}

// onNode is a browser signed in elsewhere, sending its requests to base
// with the same cookie jar and connections.
func onNode(b *browser, base *url.URL) *browser { return &browser{base: base, c: b.c} }

func getters(bs []*browser) []getter {
	out := make([]getter, len(bs))
	for i, b := range bs {
		out[i] = b
	}
	return out
}

// merge puts two runs of the same load together, as one run of their
// combined length.
func (r loadResult) merge(o loadResult) loadResult {
	if r.elapsed == 0 {
		return o
	}
	out := r
	out.views += o.views
	out.errors += o.errors
	out.elapsed += o.elapsed
	out.lat = append(slices.Clone(r.lat), o.lat...)
	out.bytes += o.bytes
	if out.firstErr == nil {
		out.firstErr = o.firstErr
	}
	// CPU share weighted by time; the load averages of both runs.
	out.cpuShare = (r.cpuShare*r.elapsed.Seconds() + o.cpuShare*o.elapsed.Seconds()) / (r.elapsed + o.elapsed).Seconds()
	out.loadAvg = r.loadAvg + "; " + o.loadAvg
	out.writeWaits += o.writeWaits
	out.writeWait += o.writeWait
	out.pgCommits += o.pgCommits
	out.pgSyncs += o.pgSyncs
	return out
}

// runLoad has every browser GET target in a closed loop (the next request
// as soon as the last page is read) for d, after a warm-up of warm whose
// requests are not counted. Each loop is bounded by time and by maxPer
// requests.
func runLoad(browsers []getter, target string, warm, d time.Duration, maxPer int) loadResult {
	type part struct {
		lat    []time.Duration
		errors int
		bytes  int64
		err    error
	}
	parts := make([]part, len(browsers))
	start := time.Now()
	measureFrom := start.Add(warm)
	end := measureFrom.Add(d)
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Go(func() {
			pt := &parts[i]
			pt.lat = make([]time.Duration, 0, 4096)
			for n := 0; n < maxPer; n++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				p, err := b.get(target)
				t1 := time.Now()
				if t0.Before(measureFrom) {
					continue
				}
				switch {
				case err != nil:
					pt.errors++
					if pt.err == nil {
						pt.err = err
					}
				case p.status != http.StatusOK:
					pt.errors++
					if pt.err == nil {
						pt.err = fmt.Errorf("GET %s: status %d", target, p.status)
					}
				default:
					pt.lat = append(pt.lat, t1.Sub(t0))
					pt.bytes += int64(len(p.body))
				}
			}
		})
	}
	wg.Wait()
	res := loadResult{elapsed: time.Since(measureFrom)}
	for _, pt := range parts {
		res.lat = append(res.lat, pt.lat...)
		res.errors += pt.errors
		res.bytes += pt.bytes
		if res.firstErr == nil {
			res.firstErr = pt.err
		}
	}
	res.views = len(res.lat)
	return res
}
