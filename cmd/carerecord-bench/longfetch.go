package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
	"github.com/carerecord/carerecord/connectors/fhir/fhirtest"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
)

// The long fetch: one source holding 3,000 resources for one patient,
// answering every request after longFetchLatency, so that the whole fetch
// takes longer than the page deadline. The page must paint at its deadline
// and the fetch go on in the background until the record is whole; that
// takes the source's own time for the same requests plus what the product
// adds (decoding, mapping, the encrypted cache write).

const (
	longFetchNHS       = "9990000018"
	longFetchResources = 3000
	// longFetchLatency is added to every request, searches and pages alike.
	longFetchLatency = 100 * time.Millisecond
	// longFetchParallel is how many searches the FHIR client runs at once
	// (its maxParallel): the direct replay runs as many.
	longFetchParallel = 6
)

type longFetchResult struct {
	resources, included, requests int
	// shown and unreadable are what the page showed of the resources.
	shown, unreadable            int
	firstPaint, complete, direct []time.Duration
}

// longFetchPatient writes the patient's resources: 2,000 results, 300
// prescriptions naming 30 medicines by reference (sent by _include), 300
// encounters, 150 problems, 100 procedures, 100 letters, 50 vaccinations.
func longFetchPatient() (resources [][]byte, included int) {
	add := func(format string, args ...any) { resources = append(resources, []byte(fmt.Sprintf(format, args...))) }
	add(`{"resourceType":"Patient","id":"long","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":%q}],`+
		`"name":[{"family":"Longhistory","given":["Bench"]}],"gender":"female","birthDate":"1950-01-01"}`, longFetchNHS)
	day := func(i int) string {
		return time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC).AddDate(0, 0, -i).Format(time.RFC3339)
	}
	for i := range 2000 {
		add(`{"resourceType":"Observation","id":"o%d","status":"final","subject":{"reference":"Patient/long"},`+
			`"code":{"coding":[{"system":"http://loinc.org","code":"2951-2","display":"Sodium"}]},"effectiveDateTime":%q,`+
			`"valueQuantity":{"value":%d,"unit":"mmol/L"},"referenceRange":[{"low":{"value":133},"high":{"value":146}}]}`, i, day(i), 130+i%15)
	}
	for i := range 30 {
		add(`{"resourceType":"Medication","id":"med%d","code":{"text":"Medicine %d 5mg tablets"}}`, i, i)
		included++
	}
	for i := range 300 {
		add(`{"resourceType":"MedicationRequest","id":"mr%d","status":"completed","intent":"order","subject":{"reference":"Patient/long"},`+
			`"medicationReference":{"reference":"Medication/med%d"},"authoredOn":%q,"dosageInstruction":[{"text":"One daily"}]}`, i, i%30, day(i * 3)[:10])
	}
	for i := range 300 {
		add(`{"resourceType":"Encounter","id":"e%d","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/long"},`+
			`"period":{"start":%q}}`, i, day(i*2))
	}
	for i := range 150 {
		add(`{"resourceType":"Condition","id":"c%d","subject":{"reference":"Patient/long"},"code":{"text":"Condition %d"},`+
			`"clinicalStatus":{"coding":[{"code":"resolved"}]},"recordedDate":%q}`, i, i, day(i * 10)[:10])
	}
	for i := range 100 {
		add(`{"resourceType":"Procedure","id":"p%d","status":"completed","subject":{"reference":"Patient/long"},"code":{"text":"Procedure %d"},`+
			`"performedDateTime":%q}`, i, i, day(i*20))
	}
	for i := range 100 {
		add(`{"resourceType":"DocumentReference","id":"d%d","status":"current","subject":{"reference":"Patient/long"},"type":{"text":"Clinic letter"},`+
			`"date":%q,"content":[{"attachment":{"contentType":"text/plain","data":"U2VlbiBpbiBjbGluaWMu"}}]}`, i, day(i*15))
	}
	for i := range 50 {
		add(`{"resourceType":"Immunization","id":"i%d","status":"completed","patient":{"reference":"Patient/long"},`+
			`"vaccineCode":{"text":"Influenza vaccine"},"occurrenceDateTime":%q}`, i, day(i*365/50*7))
	}
	return resources, included
}

// measureLongFetch times reps full fetches through the fan-out (first paint
// and completion) and, side by side, the same requests made straight to
// the source.
func (b *bench) measureLongFetch() error {
	raws, included := longFetchPatient()
	src := fhirtest.New(fhirtest.Options{MaxCount: 100})
	for _, raw := range raws {
		if err := src.Put(raw); err != nil {
			return fmt.Errorf("long fetch: load: %w", err)
		}
	}
	cached := &cachedSource{h: src, delay: longFetchLatency, pages: map[string]cachedPage{}}
	hs := httptest.NewServer(cached)
	defer hs.Close()

	db, err := store.Open(filepath.Join(b.dir, "longfetch.db"), store.WithCacheKey(randomKey(store.CacheKeySize)))
	if err != nil {
		return err
	}
	defer db.Close()
	client, err := fhir.New(connectors.Config{Name: "Long History Trust", ODS: "RLH", Kind: connectors.SourceKindFHIR,
		BaseURL: hs.URL, Timeout: 10 * time.Second}, nil)
	if err != nil {
		return err
	}
	defer client.Close()
	records := records.NewRecords(db, []connectors.Connector{client}, records.RecordOptions{
		Fresh: time.Hour, Deadline: b.o.deadline, Logger: b.log,
	})
	defer records.Close()

	res := longFetchResult{resources: len(raws) - 1 - included, included: included}
	// One fetch first, unmeasured, so that every answer is held rendered
	// and the source's own time is its latency, not the test server's
	// work.
	if _, err := records.Open(context.Background(), longFetchNHS, false); err != nil {
		return err
	}
	if _, _, err := waitWhole(records, 5*time.Minute); err != nil {
		return err
	}
	direct := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer direct.CloseIdleConnections()
	for range b.o.reps {
		if err := records.Purge(context.Background(), longFetchNHS); err != nil {
			return err
		}
		before := len(cached.requests())
		t0 := time.Now()
		v, err := records.Open(context.Background(), longFetchNHS, false)
		if err != nil {
			return err
		}
		paint := time.Since(t0)
		if !v.Pending() {
			return fmt.Errorf("long fetch: the whole record arrived before the %s deadline; raise the latency", b.o.deadline)
		}
		shown, unreadable, err := waitWhole(records, 5*time.Minute)
		if err != nil {
			return err
		}
		done := time.Since(t0)
		reqs := cached.requests()[before:]
		res.firstPaint = append(res.firstPaint, paint)
		res.complete = append(res.complete, done)
		res.requests = len(reqs)
		res.shown, res.unreadable = shown, unreadable

		took, err := replay(direct, hs.URL, reqs)
		if err != nil {
			return err
		}
		res.direct = append(res.direct, took)
	}
	b.res.longFetch = res
	return nil
}

// waitWhole polls Status until the source is no longer being fetched and
// returns how many entries it shows and how many resources it counts as
// unreadable.
func waitWhole(r *records.Records, limit time.Duration) (shown, unreadable int, err error) {
	deadline := time.Now().Add(limit)
	for {
		v, err := r.Status(context.Background(), longFetchNHS)
		if err != nil {
			return 0, 0, err
		}
		s := v.Sources[0]
		if !s.Pending && (s.State == records.StateLive || s.State == records.StateCached) {
			if slices.ContainsFunc(s.Gaps, func(g connectors.Gap) bool { return g.Truncated || g.Failed }) {
				return 0, 0, fmt.Errorf("long fetch: the record is not whole: %+v", s.Gaps)
			}
			return len(v.Entries), len(s.Unreadable), nil
		}
		if !s.Pending {
			return 0, 0, fmt.Errorf("long fetch: the source ended %s: %s", s.State, s.Error)
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("long fetch: not complete within %s", limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// replay makes the requests the client made ("GET /path?query"), as it
// made them: the Patient search first, then each search's pages one after
// another with longFetchParallel searches at once, then the reads; and
// returns how long that took. Bodies are read in full and not decoded.
func replay(c *http.Client, base string, reqs []string) (time.Duration, error) {
	var patient, reads []string
	chains := map[string][]string{}
	var order []string
	for _, r := range reqs {
		uri := strings.TrimPrefix(r, "GET ")
		u, err := url.Parse(uri)
		if err != nil {
			return 0, err
		}
		switch {
		case u.Path == "/Patient":
			patient = append(patient, uri)
		case strings.Count(strings.Trim(u.Path, "/"), "/") > 0:
			reads = append(reads, uri)
		default:
			q := u.Query()
			q.Del("_offset")
			key := u.Path + "?" + q.Encode()
			if _, ok := chains[key]; !ok {
				order = append(order, key)
			}
			chains[key] = append(chains[key], uri)
		}
	}
	offset := func(uri string) int {
		u, _ := url.Parse(uri)
		n, _ := strconv.Atoi(u.Query().Get("_offset"))
		return n
	}
	for _, k := range order {
		slices.SortFunc(chains[k], func(a, b string) int { return offset(a) - offset(b) })
	}
	get := func(uri string) error {
		req, err := http.NewRequest(http.MethodGet, base+uri, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/fhir+json")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var sink json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&sink); err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("replay %s: status %d, %v", uri, resp.StatusCode, err)
		}
		return nil
	}
	runAll := func(jobs [][]string) error {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		sem := make(chan struct{}, longFetchParallel)
		for _, chain := range jobs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				for _, uri := range chain {
					if err := get(uri); err != nil {
						mu.Lock()
						first = cmp.Or(first, err)
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		return first
	}
	t0 := time.Now()
	if err := runAll([][]string{patient}); err != nil {
		return 0, err
	}
	var searches [][]string
	for _, k := range order {
		searches = append(searches, chains[k])
	}
	if err := runAll(searches); err != nil {
		return 0, err
	}
	var readJobs [][]string
	for _, r := range reads {
		readJobs = append(readJobs, []string{r})
	}
	if err := runAll(readJobs); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// cachedSource answers each distinct request as the server behind it first
// did, after delay: the source's time is its latency, the same for the
// product and the direct replay.
type cachedSource struct {
	h     http.Handler
	delay time.Duration

	mu    sync.Mutex
	pages map[string]cachedPage
	log   []string
}

type cachedPage struct {
	status int
	header http.Header
	body   []byte
}

func (c *cachedSource) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

func (c *cachedSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.RequestURI()
	c.mu.Lock()
	c.log = append(c.log, key)
	p, ok := c.pages[key+" "+r.Header.Get("Accept")]
	c.mu.Unlock()
	t := time.NewTimer(c.delay)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
		return
	}
	if !ok {
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, r)
		p = cachedPage{rec.Code, rec.Header(), rec.Body.Bytes()}
		c.mu.Lock()
		c.pages[key+" "+r.Header.Get("Accept")] = p
		c.mu.Unlock()
	}
	for k, v := range p.header {
		w.Header()[k] = v
	}
	w.WriteHeader(p.status)
	w.Write(p.body)
}
