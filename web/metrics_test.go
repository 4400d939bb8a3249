package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/metrics"
)

// sample is one line of the Prometheus text format: a series and its labels.
type sample struct {
	name   string
	labels map[string]string
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	// Ten digits, spaced or not, as an NHS number is written.
	nhsLike = regexp.MustCompile(`\d{3}\s?\d{3}\s?\d{4}`)
)

// scrape GETs /metrics from a real loopback listener and parses its samples.
func scrape(t *testing.T) (string, []sample) {
	t.Helper()
	ts := httptest.NewServer(metrics.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d, %v", resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the Prometheus text format", ct)
	}
	var out []sample
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a sample line: %q", line)
		}
		s := sample{name: m[1], labels: map[string]string{}}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return string(body), out
}

// TestMetrics views a record, then scrapes /metrics: every family the
// operator relies on is there, requests are labelled by route pattern, and
// no label holds an NHS number or any other path parameter.
func TestMetrics(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	if p := b.get("/patients/" + synthetic.RichNHSNumber); p.status != http.StatusOK {
		t.Fatalf("record: status %d", p.status)
	}
	// A second view within the fresh period is served from the cache.
	if p := b.get("/patients/" + synthetic.RichNHSNumber); p.status != http.StatusOK {
		t.Fatalf("record again: status %d", p.status)
	}
	body, samples := scrape(t)

	has := func(name string, want map[string]string) bool {
		for _, s := range samples {
			if s.name != name {
				continue
			}
			match := true
			for k, v := range want {
				if s.labels[k] != v {
					match = false
				}
			}
			if match {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		behaviour string
		name      string
		labels    map[string]string
	}{
		{"RequestsByRoutePattern", "carerecord_http_requests_total", map[string]string{"route": "/patients/:nhs", "method": "GET", "status": "200"}},
		{"RequestLatency", "carerecord_http_request_duration_seconds_bucket", map[string]string{"route": "/patients/:nhs"}},
		{"SourceFetchesByODS", "carerecord_source_fetches_total", map[string]string{"source": "RJZ", "outcome": "answered"}},
		{"SourceFetchLatency", "carerecord_source_fetch_duration_seconds_bucket", map[string]string{"source": "RJZ"}},
		{"AuditCommitLatency", "carerecord_audit_commit_duration_seconds_bucket", nil},
		{"AuditBatchSize", "carerecord_audit_commit_batch_events_bucket", nil},
		{"CacheHits", "carerecord_record_cache_lookups_total", map[string]string{"result": "hit"}},
		{"CacheMisses", "carerecord_record_cache_lookups_total", map[string]string{"result": "miss"}},
		{"ObjectionPurges", "carerecord_objection_purges_total", map[string]string{"origin": "this_node"}},
		{"LiveSessions", "carerecord_sessions_live", nil},
	} {
		t.Run(c.behaviour, func(t *testing.T) {
			if !has(c.name, c.labels) {
				t.Errorf("no %s%v in the scrape", c.name, c.labels)
			}
		})
	}
	t.Run("NoPatientDataInLabels", func(t *testing.T) {
		for _, s := range samples {
			for k, v := range s.labels {
				if nhsLike.MatchString(v) || strings.Contains(v, synthetic.RichNHSNumber) {
					t.Errorf("%s label %s=%q holds an NHS number", s.name, k, v)
				}
				if k == "route" && strings.HasPrefix(v, "/patients/") && !strings.HasPrefix(v, "/patients/:nhs") {
					t.Errorf("%s route label %q is a path, not the route pattern", s.name, v)
				}
			}
		}
		if strings.Contains(body, synthetic.RichNHSNumber) {
			t.Error("the scrape holds the viewed NHS number")
		}
	})
}
