// Package metrics holds carerecord's Prometheus metrics: one registry per
// process, served by Handler on the operator's own listen address
// (serve's metrics_listen), never on the public one.
//
// No label carries patient data: requests are labelled by the Echo route
// pattern ("/patients/:nhs"), never the path; sources by their ODS code;
// everything else by a small fixed set of words.
package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is the process's registry. Tests may gather from it directly.
var Registry = prometheus.NewRegistry()

// Fetch outcomes, the outcome label of source fetches.
const (
	FetchAnswered = "answered"  // the source answered with a record
	FetchNoRecord = "no_record" // the source answered that it holds none
	FetchLate     = "late"      // the source answered, but after the page's deadline (the page said it timed out; the cache kept the answer)
	FetchTimeout  = "timeout"   // the source did not answer in time, not even in the background
	FetchError    = "error"     // the source answered with an error, or could not be reached
)

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "carerecord_http_requests_total",
		Help: "HTTP requests by route pattern (never the path), method and status code.",
	}, []string{"route", "method", "status"})
	requestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "carerecord_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern and method.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "carerecord_source_fetches_total",
		Help: "Fetches of a patient's record from a source, by source ODS code and outcome (answered, no_record, late: after the page's deadline, timeout, error).",
	}, []string{"source", "outcome"})
	fetchSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "carerecord_source_fetch_duration_seconds",
		Help:    "How long a source took to answer or fail, by source ODS code.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2, 3, 5, 10, 30},
	}, []string{"source"})
	auditCommitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "carerecord_audit_commit_duration_seconds",
		Help:    "How long one group commit of audit events took (one transaction).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	auditBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "carerecord_audit_commit_batch_events",
		Help:    "Audit events written by one group commit.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	})
	auditCommitErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "carerecord_audit_commit_errors_total",
		Help: "Group commits of audit events that failed (their callers were refused).",
	})
	cacheLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "carerecord_record_cache_lookups_total",
		Help: "A source's part of a record view: hit (served from the fresh cache without asking the source) or miss (the source was asked).",
	}, []string{"result"})
	purges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "carerecord_objection_purges_total",
		Help: "Patients purged from the record cache because an objection was upheld, by where the upholding happened (this_node, other_node).",
	}, []string{"origin"})
	sessionCount atomic.Pointer[func() (int, error)]
	sessions     = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "carerecord_sessions_live",
		Help: "Live staff sessions (shared by every node on one database).",
	}, func() float64 {
		f := sessionCount.Load()
		if f == nil {
			return 0
		}
		n, err := (*f)()
		if err != nil {
			return -1
		}
		return float64(n)
	})
)

func init() {
	Registry.MustRegister(requests, requestSeconds, fetches, fetchSeconds, auditCommitSeconds, auditBatch,
		auditCommitErrors, cacheLookups, purges, sessions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The series exist from the start, so that a rate over them is 0
	// rather than absent before the first event.
	for _, r := range []string{"hit", "miss"} {
		cacheLookups.WithLabelValues(r)
	}
	for _, o := range []string{"this_node", "other_node"} {
		purges.WithLabelValues(o)
	}
}

// Handler serves the registry in the Prometheus text format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}

// Request counts one HTTP request. route must be the route pattern.
func Request(route, method string, status int, took time.Duration) {
	requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	requestSeconds.WithLabelValues(route, method).Observe(took.Seconds())
}

// Fetch counts one fetch from the source with ODS code ods.
func Fetch(ods, outcome string, took time.Duration) {
	fetches.WithLabelValues(ods, outcome).Inc()
	fetchSeconds.WithLabelValues(ods).Observe(took.Seconds())
}

// AuditCommit counts one group commit of n events.
func AuditCommit(n int, took time.Duration, err error) {
	if err != nil {
		auditCommitErrors.Inc()
		return
	}
	auditCommitSeconds.Observe(took.Seconds())
	auditBatch.Observe(float64(n))
}

// CacheLookup counts one source's part of a record view.
func CacheLookup(hit bool) {
	if hit {
		cacheLookups.WithLabelValues("hit").Inc()
	} else {
		cacheLookups.WithLabelValues("miss").Inc()
	}
}

// ObjectionPurge counts one patient purged for an upheld objection.
func ObjectionPurge(here bool) {
	if here {
		purges.WithLabelValues("this_node").Inc()
	} else {
		purges.WithLabelValues("other_node").Inc()
	}
}

// CountSessionsWith sets how the live sessions gauge is read at scrape
// time (the store's count; the last call wins).
func CountSessionsWith(f func() (int, error)) { sessionCount.Store(&f) }
