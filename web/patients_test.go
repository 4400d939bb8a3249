package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/synthetic"
)

// A shared environment with the synthetic sources: starting them is the
// expensive part, and these tests only read.
func sourcesEnv(t *testing.T) *env {
	t.Helper()
	opt, _ := withSources(t, nil, 3*time.Second)
	return newEnv(t, opt)
}

func TestSearch(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")

	t.Run("HitShowsWhoAndWhereHeld", func(t *testing.T) {
		p := b.get("/patients?family=smith&given=jane&dob-day=12&dob-month=3&dob-year=1965")
		hits := findAll(p.doc, "tr", "data-testid", "search-hit")
		if p.status != http.StatusOK || len(hits) != 1 {
			t.Fatalf("status %d, %d hits, want 1", p.status, len(hits))
		}
		row := text(hits[0])
		for _, want := range []string{"SMITH, Jane (Mrs)", "12-Mar-1965", "Female", "999 000 0018"} {
			if !strings.Contains(row, want) {
				t.Errorf("hit %q lacks %q", row, want)
			}
		}
		if n := strings.Count(row, "NHS Foundation Trust") + strings.Count(row, "Practice") + strings.Count(row, "Surgery"); n < 4 {
			t.Errorf("hit lists %d sources, want 4 or more: %s", n, row)
		}
	})
	t.Run("ErrCheckDigitNoLookup", func(t *testing.T) {
		before := upstreamRequests.Load()
		p := b.get("/patients?nhs=9990000019")
		if p.status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", p.status)
		}
		summary := find(p.doc, "div", "class", "nhsuk-error-summary")
		if summary == nil || attr(find(summary, "a", "", ""), "href") != "#nhs" {
			t.Fatal("no error summary linking to the NHS number field")
		}
		if !strings.Contains(text(summary), "not a valid NHS number") {
			t.Fatalf("message %q", text(summary))
		}
		if n := upstreamRequests.Load() - before; n != 0 {
			t.Fatalf("%d requests reached the sources for an invalid NHS number", n)
		}
	})
	t.Run("ErrTooShort", func(t *testing.T) {
		p := b.get("/patients?nhs=99900")
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "10 digits") {
			t.Fatalf("status %d", p.status)
		}
	})
	t.Run("ByNameAndDateOfBirth", func(t *testing.T) {
		p := b.get("/patients?family=smith&dob-day=12&dob-month=3&dob-year=1965")
		hits := findAll(p.doc, "tr", "data-testid", "search-hit")
		if len(hits) == 0 || !strings.Contains(text(hits[0]), "999 000 0018") {
			t.Fatalf("status %d, hits %d", p.status, len(hits))
		}
	})
	t.Run("EveryGeneratedPatientIsFindable", func(t *testing.T) {
		n := 0
		for _, dp := range synthetic.Patients() {
			if dp.Family == "" || n >= 5 {
				continue
			}
			n++
			q := url.Values{"family": {dp.Family}, "dob-day": {itoa(dp.BirthDate.Day)}, "dob-month": {itoa(int(dp.BirthDate.Month))}, "dob-year": {itoa(dp.BirthDate.Year)}}
			p := b.get("/patients?" + q.Encode())
			if !strings.Contains(text(p.doc), formatNHS(dp.NHSNumber)) {
				t.Errorf("%s born %v not found", dp.Family, dp.BirthDate)
			}
		}
	})
	t.Run("RestrictedPostcodeHidden", func(t *testing.T) {
		// A restricted patient is listed, not opened at once: the list
		// says why, and the user confirms the patient first.
		p := b.get("/patients?nhs=" + synthetic.RestrictedNHSNumber)
		hits := findAll(p.doc, "tr", "data-testid", "search-hit")
		if p.status != http.StatusOK || len(hits) != 1 || !strings.Contains(text(hits[0]), "Restricted record") {
			t.Fatalf("restricted hit: status %d, %d hits", p.status, len(hits))
		}
		if n := text(find(p.doc, "div", "data-testid", "search-notice")); !strings.Contains(n, "restricted") {
			t.Errorf("the list does not say why it did not open the record: %q", n)
		}
	})
	t.Run("ErrMissingFields", func(t *testing.T) {
		p := b.get("/patients?family=&dob-day=&dob-month=&dob-year=")
		links := findAll(find(p.doc, "div", "class", "nhsuk-error-summary"), "a", "", "")
		if p.status != http.StatusBadRequest || len(links) != 2 {
			t.Fatalf("status %d, %d errors, want 400 with family and date of birth", p.status, len(links))
		}
	})
	t.Run("ErrImpossibleDate", func(t *testing.T) {
		p := b.get("/patients?family=smith&dob-day=31&dob-month=2&dob-year=1965")
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "real date") {
			t.Fatalf("status %d", p.status)
		}
	})
	t.Run("RecentPatients", func(t *testing.T) {
		b.giveReason(synthetic.OrdinaryNHSNumber, "direct-care", "")
		b.get("/patients/" + synthetic.OrdinaryNHSNumber)
		p := b.get("/patients")
		if !strings.Contains(text(p.doc), "999 000 0026") {
			t.Fatal("the opened patient is not in the recent list")
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

func formatNHS(n string) string { return n[:3] + " " + n[3:6] + " " + n[6:] }

func TestRecordPage(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	for _, n := range []string{synthetic.RichNHSNumber, synthetic.OrdinaryNHSNumber, synthetic.LongHistoryNHSNumber, synthetic.RestrictedNHSNumber, synthetic.DeceasedNHSNumber} {
		b.giveReason(n, "direct-care", "")
	}

	t.Run("Banner", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber)
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		checks := map[string]string{"patient-name": "SMITH, Jane (Mrs)", "patient-gender": "Female", "patient-nhs": "999 000 0018"}
		for id, want := range checks {
			if got := text(find(p.doc, "", "data-testid", id)); got != want {
				t.Errorf("%s = %q, want %q", id, got, want)
			}
		}
		if got := text(find(p.doc, "dd", "data-testid", "patient-born")); !strings.HasPrefix(got, "12-Mar-1965 (") || !strings.HasSuffix(got, "y)") {
			t.Errorf("born = %q, want 12-Mar-1965 (NNy)", got)
		}
	})
	t.Run("EntriesFromFourOrMoreSourcesNewestFirst", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber)
		entries := findAll(p.doc, "li", "data-testid", "entry")
		if len(entries) != 50 {
			t.Fatalf("%d entries on the first page, want 50", len(entries))
		}
		sources := map[string]bool{}
		kinds := map[string]map[string]bool{}
		for _, kind := range []string{"result", "imaging", "medication", "encounter", "procedure", "problem", "allergy", "document"} {
			kinds[kind] = map[string]bool{}
			next := "/patients/" + synthetic.RichNHSNumber + "?kind=" + kind
			for pages := 0; next != "" && pages < 50; pages++ {
				pp := b.get(next)
				for _, en := range findAll(pp.doc, "li", "data-testid", "entry") {
					// The entry's own source and those that reported the same.
					for _, src := range append([]string{attr(en, "data-source")}, strings.Fields(attr(en, "data-also"))...) {
						sources[src] = true
						kinds[kind][src] = true
					}
				}
				next = attr(find(pp.doc, "a", "class", "nhsuk-pagination__link nhsuk-pagination__link--next"), "href")
			}
		}
		if len(sources) < 4 {
			t.Fatalf("entries from %d sources, want 4 or more", len(sources))
		}
		for _, k := range []string{"result", "imaging", "medication", "encounter", "procedure", "problem", "allergy", "document"} {
			if len(kinds[k]) < 4 {
				t.Errorf("%s entries from %d sources, want 4 or more", k, len(kinds[k]))
			}
		}
		// Day headings run newest first.
		var days []time.Time
		for _, h := range findAll(p.doc, "h3", "class", "nhsuk-heading-xs app-timeline__day") {
			d, err := time.Parse("02-Jan-2006", text(h))
			if err == nil {
				days = append(days, d)
			}
		}
		for i := 1; i < len(days); i++ {
			if days[i].After(days[i-1]) {
				t.Fatalf("day %v after %v: not newest first", days[i], days[i-1])
			}
		}
	})
	t.Run("AbnormalResultsSaySo", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber + "?kind=result")
		for _, en := range findAll(p.doc, "li", "data-testid", "entry") {
			if attr(en, "data-kind") != "result" {
				t.Fatalf("kind filter let through %s", attr(en, "data-kind"))
			}
		}
		found := false
		for page := 1; page < 10 && !found; page++ {
			pp := b.get("/patients/" + synthetic.RichNHSNumber + "?kind=result&page=" + itoa(page))
			for _, f := range findAll(pp.doc, "strong", "data-testid", "result-flag") {
				if w := text(f); w == "High" || w == "Low" || strings.HasPrefix(w, "Critically") {
					found = true
				}
			}
		}
		if !found {
			t.Fatal("no abnormal result is flagged in words")
		}
	})
	t.Run("SourceFilter", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber + "?source=RJ1")
		es := findAll(p.doc, "li", "data-testid", "entry")
		if len(es) == 0 {
			t.Fatal("no entries for RJ1")
		}
		for _, en := range es {
			if attr(en, "data-source") != "RJ1" && !strings.Contains(text(en), "Also reported by") {
				t.Fatalf("source filter let through %s", attr(en, "data-source"))
			}
			// "Also reported by: A, B." with no stray space before the
			// punctuation.
			if line := text(find(en, "p", "class", "app-meta app-timeline__source")); strings.Contains(line, " ,") || strings.Contains(line, " .") {
				t.Fatalf("source line reads %q", line)
			}
		}
	})
	t.Run("Summary", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.OrdinaryNHSNumber)
		if got := text(find(p.doc, "", "data-testid", "allergies")); got != "No known allergies" {
			t.Fatalf("allergies for the ordinary patient: %q", got)
		}
	})
	t.Run("TrendAcrossTwoTrusts", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber + "/results")
		link := ""
		for _, a := range findAll(p.doc, "a", "data-testid", "cumulative-trend") {
			if strings.Contains(attr(a, "href"), "59261-8") {
				link = attr(a, "href")
			}
		}
		if link == "" {
			t.Fatalf("no HbA1c in the results table: %s", text(find(p.doc, "main", "", "")))
		}
		tp := b.get(link)
		if tp.status != http.StatusOK {
			t.Fatalf("trend status %d", tp.status)
		}
		// One chart, whichever laboratories measured it: a series per
		// laboratory on one time axis.
		charts := findAll(tp.doc, "figure", "data-testid", "trend-chart")
		if len(charts) != 1 {
			t.Fatalf("%d charts, want one for the test (mmol/mol at every laboratory): %q", len(charts), texts(findAll(tp.doc, "figcaption", "", "")))
		}
		if series := findAll(tp.doc, "li", "data-testid", "trend-series"); len(series) < 2 {
			t.Fatalf("%d series, want one per laboratory (2 or more)", len(series))
		}
		rows := findAll(find(tp.doc, "table", "data-testid", "trend-table"), "tr", "", "")
		if len(rows) < 4 {
			t.Fatalf("%d table rows", len(rows))
		}
	})
	t.Run("DocumentOpensInFull", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber + "?kind=document")
		var link string
		for _, a := range findAll(p.doc, "a", "", "") {
			if strings.HasPrefix(text(a), "Open ") {
				link = attr(a, "href")
				break
			}
		}
		if link == "" {
			t.Fatal("no document link")
		}
		d := b.get(link)
		if d.status != http.StatusOK || (text(find(d.doc, "div", "data-testid", "document-text")) == "" && !strings.Contains(d.body, "Download the PDF")) {
			t.Fatalf("document page status %d without its content", d.status)
		}
	})
	t.Run("LongHistoryIsPaged", func(t *testing.T) {
		// The first paint waits the deadline only; a long history may
		// still be arriving then (on a busy machine), and fills in.
		p := b.settled(t, "/patients/"+synthetic.LongHistoryNHSNumber)
		count := text(find(p.doc, "p", "data-testid", "timeline-count"))
		if !strings.HasPrefix(count, "Showing 1 to 50 of ") {
			t.Fatalf("count %q", count)
		}
		total, _ := strconv.Atoi(strings.ReplaceAll(strings.Fields(strings.TrimPrefix(count, "Showing 1 to 50 of "))[0], ",", ""))
		if total < 2500 {
			t.Fatalf("total %d, want 2,500 or more", total)
		}
		if n := len(findAll(p.doc, "li", "data-testid", "entry")); n != 50 {
			t.Fatalf("%d entries rendered, want 50", n)
		}
		next := attr(find(p.doc, "a", "class", "nhsuk-pagination__link nhsuk-pagination__link--next"), "href")
		if np := b.get(next); !strings.HasPrefix(text(find(np.doc, "p", "data-testid", "timeline-count")), "Showing 51 to 100 of") {
			t.Fatal("the second page does not follow")
		}
	})
	t.Run("RestrictedAddressNeverInHTML", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RestrictedNHSNumber)
		if find(p.doc, "dd", "data-testid", "patient-restricted") == nil {
			t.Fatal("no restricted notice")
		}
		if find(p.doc, "dd", "data-testid", "patient-address") != nil {
			t.Fatal("an address is shown for a restricted patient")
		}
	})
	t.Run("Deceased", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.DeceasedNHSNumber)
		if got := text(find(p.doc, "dd", "data-testid", "patient-died")); !strings.Contains(got, "Deceased") || !strings.Contains(got, "14-Jan-2025") {
			t.Fatalf("died = %q", got)
		}
	})
	t.Run("ErrInvalidNHSNumberInPath", func(t *testing.T) {
		for _, bad := range []string{"9990000019", "12345", "999000001x"} {
			if p := b.get("/patients/" + bad); p.status != http.StatusNotFound {
				t.Errorf("/patients/%s: status %d, want 404", bad, p.status)
			}
		}
	})
	t.Run("ClerkSeesDemographicsOnly", func(t *testing.T) {
		c := e.browser()
		c.signIn("/saml/login", "clerk")
		c.giveReason(synthetic.RichNHSNumber, "care-admin", "")
		p := c.get("/patients/" + synthetic.RichNHSNumber)
		if p.status != http.StatusOK || text(find(p.doc, "", "data-testid", "patient-name")) != "SMITH, Jane (Mrs)" {
			t.Fatalf("clerk: status %d", p.status)
		}
		if len(findAll(p.doc, "li", "data-testid", "entry")) != 0 || find(p.doc, "", "data-testid", "allergies") != nil {
			t.Fatal("a clerk was shown clinical entries")
		}
		if r := c.get("/patients/" + synthetic.RichNHSNumber + "/results"); r.status != http.StatusForbidden {
			t.Fatalf("clerk results: %d", r.status)
		}
	})
}

func TestSlowSourceFillsIn(t *testing.T) {
	opt, cluster := withSources(t, nil, 300*time.Millisecond)
	e := newEnv(t, opt)
	cluster.SetFaults(synthetic.LewishamODS, synthetic.Faults{Latency: 400 * time.Millisecond})
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	start := time.Now()
	p := b.get("/patients/" + synthetic.RichNHSNumber)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the page took %s waiting for a slow source; its deadline is 300ms", took)
	}
	state := func(p *page) string {
		for _, s := range findAll(p.doc, "li", "data-testid", "source") {
			if strings.Contains(text(s), "(RJ2)") {
				return attr(s, "data-state")
			}
		}
		return ""
	}
	if st := state(p); st != "timeout" && st != "pending" {
		t.Fatalf("slow source state %q, want timeout", st)
	}
	live := find(p.doc, "div", "id", "record-live")
	poll := attr(live, "hx-get")
	if poll == "" {
		t.Fatal("the page does not poll for the missing source")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		lp := b.get(poll)
		if st := state(lp); st == "live" || st == "cached" {
			if attr(find(lp.doc, "div", "id", "record-live"), "hx-get") != "" {
				t.Fatal("still polling after every source answered")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow source never filled in")
		}
		<-time.After(100 * time.Millisecond)
	}
}

func TestFailingSourceShowsCache(t *testing.T) {
	opt, cluster := withSources(t, nil, 2*time.Second)
	e := newEnv(t, opt)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	b.get("/patients/" + synthetic.RichNHSNumber) // warms the cache
	cluster.SetFaults(synthetic.KingsODS, synthetic.Faults{Unavailable: true})
	p := b.follow(b.post("/patients/"+synthetic.RichNHSNumber+"/refresh", url.Values{"csrf_token": {b.csrf()}}))
	for _, s := range findAll(p.doc, "li", "data-testid", "source") {
		if strings.Contains(text(s), "(RJZ)") {
			if attr(s, "data-state") != "cached" || !strings.Contains(text(s), "Not answering") {
				t.Fatalf("failing source: %s (%s)", text(s), attr(s, "data-state"))
			}
			// One line above the record says so; the source list stays
			// closed, so it does not push the record off screen.
			if got := text(find(p.doc, "p", "data-testid", "sources-attention")); !strings.Contains(got, "King's College Hospital NHS Foundation Trust (RJZ): not answering") {
				t.Errorf("the line above the record says %q", got)
			}
			if hasAttr(find(p.doc, "details", "data-testid", "sources-panel"), "open", "*") {
				t.Error("the sources panel opens by itself and pushes the record down")
			}
			return
		}
	}
	t.Fatal("no RJZ source line")
}

// carelessSource holds one restricted patient but, unlike PDS and the
// FHIR connector, still sends the address, postcode, phone and GP: the
// portal must show none of them all the same.
type carelessSource struct{ p connectors.Patient }

func (s carelessSource) Source() connectors.Source {
	return connectors.Source{Name: "Careless Trust", ODS: "RXX"}
}

func (s carelessSource) FindPatients(context.Context, connectors.Query) ([]connectors.Patient, error) {
	return []connectors.Patient{s.p}, nil
}

func (s carelessSource) FetchRecord(_ context.Context, nhs string) (*connectors.Record, error) {
	if nhs != s.p.NHSNumber {
		return nil, connectors.ErrNoRecord
	}
	p := s.p
	return &connectors.Record{Patient: &p, Fetched: time.Now()}, nil
}

func TestRestrictedDetailsFromCarelessSourceHidden(t *testing.T) {
	src := carelessSource{connectors.Patient{
		NHSNumber: synthetic.RestrictedNHSNumber, Family: "Ashdown", Given: []string{"Rowan"},
		BirthDate: connectors.NewDate(1991, time.December, 4), Gender: connectors.GenderFemale,
		AddressLines: []string{"7 Hidden Mews"}, Postcode: "SE22 1ZZ", Phone: "020 7946 0034",
		RegisteredGP: connectors.Organisation{Name: "Peckham Secret Practice", ODS: "G99999"},
		Restricted:   true, Source: connectors.Source{Name: "Careless Trust", ODS: "RXX"},
	}}
	e := newEnv(t, func(s *envSetup) { s.conns, s.deadline = append(s.conns, src), 3*time.Second })
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	secrets := []string{"Hidden Mews", "SE22", "7946 0034", "Peckham Secret Practice", "G99999"}

	t.Run("Search", func(t *testing.T) {
		p := b.get("/patients?nhs=" + synthetic.RestrictedNHSNumber)
		hits := findAll(p.doc, "tr", "data-testid", "search-hit")
		if p.status != http.StatusOK || len(hits) != 1 || !strings.Contains(text(hits[0]), "Restricted record") {
			t.Fatalf("status %d, %d hits, want the one restricted hit", p.status, len(hits))
		}
		for _, s := range secrets {
			if strings.Contains(p.body, s) {
				t.Errorf("the search page shows %q of a restricted patient", s)
			}
		}
	})
	t.Run("Record", func(t *testing.T) {
		b.giveReason(synthetic.RestrictedNHSNumber, "direct-care", "")
		p := b.get("/patients/" + synthetic.RestrictedNHSNumber)
		if p.status != http.StatusOK || find(p.doc, "dd", "data-testid", "patient-restricted") == nil {
			t.Fatalf("status %d, want the record with its restricted notice", p.status)
		}
		for _, s := range secrets {
			if strings.Contains(p.body, s) {
				t.Errorf("the record page shows %q of a restricted patient", s)
			}
		}
	})
}

// settled gets a record page and, while a source is still loading (the
// page polls for the rest), asks again until every source has answered or
// given up, as a clinician waiting on the page would see it. It fails the
// test if the page has not settled within a minute.
func (b *browser) settled(t *testing.T, path string) *page {
	t.Helper()
	until := time.Now().Add(time.Minute)
	for {
		p := b.get(path)
		if attr(find(p.doc, "div", "id", "record-live"), "hx-get") == "" {
			return p
		}
		if time.Now().After(until) {
			t.Fatalf("%s still loading a source after a minute", path)
		}
		<-time.After(200 * time.Millisecond)
	}
}
