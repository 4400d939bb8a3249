package records_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
)

// The tests here run the fan-out over the real FHIR client and a FHIR
// server on loopback, for what only the two together show.

const fhirPatient = `{"resourceType":"Patient","id":"p1","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],` +
	`"name":[{"family":"Testpatient","given":["Jane"]}],"gender":"female","birthDate":"1965-03-12"}`

// fhirSource is a FHIR server holding one patient, p1 (NHS number nhsA),
// with n Observations, pageSize to a page. Other record types are empty
// unless fail names them: those searches answer HTTP 500 with a stack
// trace that quotes the patient. beforePage, when set, is called before
// each page after the first of the Observation search.
type fhirSource struct {
	n, pageSize int
	fail        map[string]bool
	beforePage  func(r *http.Request)
}

const stackTrace = "java.lang.IllegalStateException: Testpatient 9990000018 p1\n\tat org.example.Dao.search(Dao.java:12)"

func (s *fhirSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	typ := path.Base(r.URL.Path)
	if s.fail[typ] {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, stackTrace)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	var resources []string
	next := ""
	switch typ {
	case "Patient":
		resources = []string{fhirPatient}
	case "Observation":
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page > 0 && s.beforePage != nil {
			s.beforePage(r)
		}
		for i := page * s.pageSize; i < min(s.n, (page+1)*s.pageSize); i++ {
			// Newest first, as asked (_sort=-date).
			at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Duration(i) * time.Hour)
			resources = append(resources, fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final",`+
				`"code":{"text":"Sodium"},"effectiveDateTime":%q,"valueQuantity":{"value":140,"unit":"mmol/L"}}`, i, at.Format(time.RFC3339)))
		}
		if (page+1)*s.pageSize < s.n {
			next = "Observation?page=" + strconv.Itoa(page+1)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"resourceType":"Bundle","type":"searchset","total":%d,"link":[`, s.total(typ))
	if next != "" {
		fmt.Fprintf(&b, `{"relation":"next","url":%q}`, next)
	}
	b.WriteString(`],"entry":[`)
	for i, res := range resources {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"resource":` + res + `,"search":{"mode":"match"}}`)
	}
	b.WriteString("]}")
	w.Write(b.Bytes())
}

func (s *fhirSource) total(typ string) int {
	switch typ {
	case "Patient":
		return 1
	case "Observation":
		return s.n
	}
	return 0
}

// fhirFixture runs Records over one real FHIR client per source.
// timeout is each client's cfg.Timeout.
func fhirFixture(t *testing.T, o records.RecordOptions, timeout time.Duration, srcs map[string]*fhirSource) *records.Records {
	t.Helper()
	clock := newClock()
	db, err := store.Open(filepath.Join(t.TempDir(), "carerecord.db"), store.WithCacheKey(testKey), store.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var conns []connectors.Connector
	for _, ods := range []string{"RAA", "RBB"} {
		s, ok := srcs[ods]
		if !ok {
			continue
		}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		c, err := fhir.New(connectors.Config{Name: "Trust " + ods, ODS: ods, Kind: "fhir", BaseURL: srv.URL + "/R4",
			Timeout: timeout}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		conns = append(conns, c)
	}
	o.Now = clock.Now
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := records.NewRecords(db, conns, o)
	t.Cleanup(r.Close)
	return r
}

func TestLongHistoryArrivesAfterTheDeadline(t *testing.T) {
	// 3,000 results, 100 a page. Every page after the first waits until
	// the page has been painted, so the whole fetch takes longer than the
	// deadline by construction; and then 50 ms, so that the 30 pages take
	// longer than the client's timeout too, while each request is well
	// within it: the timeout bounds requests, not the fetch.
	const held = 3000
	painted := make(chan struct{})
	src := &fhirSource{n: held, pageSize: 100, beforePage: func(r *http.Request) {
		select {
		case <-painted:
		case <-r.Context().Done():
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-r.Context().Done():
		}
	}}
	const deadline = 300 * time.Millisecond
	r := fhirFixture(t, records.RecordOptions{Deadline: deadline}, time.Second, map[string]*fhirSource{"RAA": src})

	v, err := r.Open(t.Context(), nhsA, false)
	close(painted)
	if err != nil {
		t.Fatal(err)
	}
	if s := status(t, v, "RAA"); s.State != records.StateTimeout || !s.Pending {
		t.Fatalf("first paint: %+v; want the source still being fetched", s)
	}

	r.Settle(nhsA)
	v, err = r.Status(t.Context(), nhsA)
	if err != nil {
		t.Fatal(err)
	}
	s := status(t, v, "RAA")
	if s.State != records.StateCached || s.Pending || len(s.Gaps) != 0 || s.Error != "" {
		t.Errorf("after the fetch: %+v; want the source shown in full", s)
	}
	if n := entriesFrom(v, "RAA"); n != held {
		t.Errorf("%d entries, want all %d", n, held)
	}
}

// syncBuffer is a log destination safe for the fan-out's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func TestSourceFailuresLogNoPatientData(t *testing.T) {
	var logs syncBuffer
	r := fhirFixture(t, records.RecordOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, 10*time.Second, map[string]*fhirSource{
		// RAA fails one search: a gap, the rest shown.
		"RAA": {n: 3, pageSize: 100, fail: map[string]bool{"Condition": true}},
		// RBB fails the Patient search: the source fails.
		"RBB": {n: 3, pageSize: 100, fail: map[string]bool{"Patient": true}},
	})
	v, err := r.Open(context.Background(), nhsA, false)
	if err != nil {
		t.Fatal(err)
	}
	r.Settle(nhsA)
	if n := entriesFrom(v, "RAA"); n != 3 {
		t.Errorf("%d entries from the source with one failed search, want 3", n)
	}
	if s := status(t, v, "RBB"); s.State != records.StateFailed || s.Error != "Trust RBB: answered with an error (HTTP 500)" {
		t.Errorf("failed source: %+v", s)
	}

	byODS := map[string]map[string]any{}
	for _, l := range logs.lines() {
		if ods, ok := l["source"].(string); ok {
			byODS[ods] = l
		}
	}
	want := map[string]map[string]any{
		"RAA": {"msg": "source fetched", "gaps": "problem: HTTP 500"},
		"RBB": {"msg": "source fetch failed", "reason": "Trust RBB: answered with an error (HTTP 500)", "detail": ""},
	}
	for ods, fields := range want {
		for k, w := range fields {
			if got := byODS[ods][k]; got != w {
				t.Errorf("%s log %s = %v, want %q", ods, k, got, w)
			}
		}
	}
	all := fmt.Sprint(logs.lines())
	for _, w := range []string{nhsA, "999 000 0018", "Testpatient", "Jane", "IllegalStateException", "Dao.java", "Patient/p1"} {
		if strings.Contains(all, w) {
			t.Errorf("the log holds %q: %s", w, all)
		}
	}
}
