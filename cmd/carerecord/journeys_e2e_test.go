package main

// The browser journeys of the three kinds of user, run by TestE2E in
// e2e_test.go with its harness: a clinician opens a record held by many
// sources, with its results, trends and documents; a privacy officer finds
// and exports that access and reviews a break-glass alert; a slow and a
// failing source, on a product of its own; and a member of the public
// objects, by keyboard, and the objection is upheld and enforced. Every
// page reached is checked with checkPage.

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
)

const (
	// The demo patient with records at six sources, as the banner names her.
	richNHS       = synthetic.RichNHSNumber
	richName      = "SMITH, Jane (Mrs)"
	clinicianID   = "555000000001"
	clinicianName = "Dr Amara Okafor"
	directCare    = "I am providing direct care to this patient"
	// The clinician's own organisation, King's College Hospital.
	clinicianODS = synthetic.KingsODS
)

// Journey: the clinician signs in, searches by name and date of birth
// (a list, checked at 375 px too), then by NHS number, which goes
// straight to the reason for access; states a reason, and sees entries
// from four or more sources; then the results list, a trend (one chart
// per laboratory) and a document.
func (e *e2e) clinicianOpensRecord(t *testing.T) {
	tb := e.newTab(t)
	tb.signIn("clinician")
	tb.waitH1("Find a patient")

	tb.searchName("Smith", "12", "3", "1965")
	tb.checkPage("search results", "Find a patient", http.StatusOK, "search-results")
	hits := run1(tb, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('tr[data-testid="search-hit"]')).map(r => r.textContent.replace(/\s+/g, ' ').trim())`))
	if len(hits) == 0 || !strings.Contains(hits[0], richName) || !strings.Contains(hits[0], "999 000 0018") {
		t.Fatalf("search for Smith born 12-Mar-1965 found %q, want first: %s, 999 000 0018", hits, richName)
	}

	tb.checkSearchHitsAt375()

	// By NHS number, typed with spaces: the one patient found opens the
	// reason step, which names her.
	tb.searchNHS("999 000 0018")
	tb.waitH1("Why are you opening this record?")
	tb.checkPage("reason page", "Why are you opening this record?", http.StatusOK, "access-reason")
	if got := tb.text(`#reason-hint`); !strings.Contains(got, "999 000 0018") {
		t.Errorf("the reason page does not name the patient's NHS number: %q", got)
	}
	if got := tb.text(`[data-testid="reason-patient"]`); !strings.Contains(got, richName) || !strings.Contains(got, "12-Mar-1965") {
		t.Errorf("the reason page reached from search does not name the patient found: %q", got)
	}
	tb.giveReason(directCare)

	tb.waitH1(richName)
	painted := tb.sourceLine(synthetic.LewishamODS)
	tb.waitSettled()
	tb.checkPage("record page", richName, http.StatusOK, "record")
	// The demo's Lewisham takes about 2.1 s to send a record; the page
	// does not wait past its 1.5 s deadline for it.
	if painted.State == string(records.StateLive) || painted.State == string(records.StateCached) {
		t.Errorf("the demo's record page waited for Lewisham (RJ2) past its 1.5 s deadline: %q", painted.Text)
	}
	if got := tb.text(`[data-testid="patient-nhs"]`); got != "999 000 0018" {
		t.Errorf("banner NHS No. is %q, want 999 000 0018", got)
	}
	// Her safeguarding alert is the first clinical content on the page,
	// in words, on screen without scrolling.
	type alertPlace struct {
		Text                   string
		Top, Summary, Viewport float64
	}
	ap := run1(tb, chromedp.Evaluate[alertPlace](`(() => {
		const a = document.querySelector('[data-testid="record-alert"]'), s = document.querySelector('.app-summary');
		return {Text: a ? a.textContent.replace(/\s+/g, ' ').trim() : '', Top: a ? a.getBoundingClientRect().top : -1,
			Summary: s ? s.getBoundingClientRect().top : -1, Viewport: window.innerHeight};
	})()`))
	if !strings.Contains(ap.Text, "Alert: Safeguarding") || ap.Top < 0 || ap.Top >= ap.Viewport || ap.Top >= ap.Summary {
		t.Errorf("the safeguarding alert is not the first thing on screen: %+v", ap)
	}
	if got := tb.text(`[data-testid="patient-born"]`); !strings.HasPrefix(got, "12-Mar-1965") {
		t.Errorf("banner born is %q, want 12-Mar-1965 first", got)
	}
	seen := tb.entrySources(4)
	if len(seen) < 4 {
		t.Errorf("the timeline shows entries from %d sources %v, want four or more", len(seen), seen)
	}
	tb.checkStickyBanner(375, 667)
	tb.checkStickyBanner(1280, 800)
	tb.checkPrintStyles()
	// The print view, from the record's link: the checks every page
	// passes, and printed, the summary alone.
	tb.followClick(`a[data-testid="print-link"]`)
	tb.waitH1(richName)
	tb.checkPage("print summary", richName, http.StatusOK, "print")
	tb.checkPrintView()

	// The results list and the trend of a test done at two Trusts in
	// different units: each laboratory is drawn on its own.
	tb.navigate(e.base+"/patients/"+richNHS, http.StatusOK)
	tb.waitSettled()
	// By its keyboard shortcut, r.
	tb.followKeys("r")
	tb.waitH1(richName)
	tb.wait(`table.nhsuk-table`)
	if p := tb.path(); !strings.HasSuffix(p, "/results") {
		t.Errorf("the r key led to %s, want the results table", p)
	}
	tb.checkPage("results table", richName, http.StatusOK, "results")
	tb.checkCumulative("results table")
	// Abnormal only, by its link (a GET parameter: no script needed).
	tb.followClick(`a[data-testid="cumulative-toggle"]`)
	tb.wait(`table.nhsuk-table`)
	tb.checkPage("results table, abnormal only", richName, http.StatusOK, "")
	if got := tb.text(`[data-testid="cumulative-filter"]`); !strings.Contains(got, "Showing only tests with an abnormal result") {
		t.Errorf("the abnormal-only table says %q, not that it is filtered", got)
	}
	tb.checkCumulative("results table, abnormal only")
	tb.followClick(`a[data-testid="cumulative-toggle"]`)
	tb.wait(`table.nhsuk-table`)
	// HbA1c, by its LOINC code: the laboratories name it differently.
	tb.followClick(`table.nhsuk-table a[href*="59261-8"]`)
	tb.waitH1(richName)
	tb.wait(`[data-testid="trend-table"]`)
	tb.checkPage("trend", richName, http.StatusOK, "trend")
	// One chart for the test, a series per laboratory on one time axis.
	if charts := tb.checkTrend(); charts != 1 {
		t.Errorf("the HbA1c trend draws %d charts, want one (every laboratory in mmol/mol)", charts)
	}
	if series := run1(tb, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="trend-series"]').length`)); series < 2 {
		t.Errorf("the HbA1c chart has %d series, want one per laboratory (two or more)", series)
	}
	tb.checkChartNarrow("trend")
	// The per-laboratory view keeps one laboratory's series.
	tb.followClick(`a[data-testid="trend-lab"]`)
	tb.wait(`[data-testid="trend-table"]`)
	tb.checkPage("trend, one laboratory", richName, http.StatusOK, "")
	if series := run1(tb, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="trend-series"]').length`)); series != 1 {
		t.Errorf("one laboratory's trend has %d series, want 1", series)
	}

	// A "Trend for ..." link on the record's timeline, of a test done more
	// than once on the page (the newest result may be one done once, a
	// blood culture say, whose trend has a single row and no chart).
	tb.navigate(e.base+"/patients/"+richNHS+"?kind=result", http.StatusOK)
	tb.waitSettled()
	trendFor := run1(tb, chromedp.Evaluate[string](`(() => {
		const links = Array.from(document.querySelectorAll('li[data-testid="entry"] a')).map(a => a.textContent.trim()).filter(t => t.startsWith('Trend for '));
		return links.find(t => links.indexOf(t) !== links.lastIndexOf(t)) || '';
	})()`))
	if trendFor == "" {
		t.Fatal(`no "Trend for ..." link among the record's results`)
	}
	tb.followClick(fmt.Sprintf(`//li[@data-testid="entry"]//a[normalize-space()=%q]`, strings.TrimSpace(trendFor)))
	tb.waitH1(richName)
	tb.wait(`[data-testid="trend-table"]`)
	tb.checkPage("trend from the timeline", richName, http.StatusOK, "")
	want := strings.TrimPrefix(strings.TrimSpace(trendFor), "Trend for ")
	if got := tb.text(`[data-testid="trend-title"]`); !strings.Contains(got, want) && !strings.Contains(want, got) {
		t.Errorf("%q opened the trend titled %q", trendFor, got)
	}
	tb.checkTrend()

	// The shortcuts are listed on a help page (?), and can be turned off.
	tb.navigate(e.base+"/patients/"+richNHS, http.StatusOK)
	tb.waitSettled()
	tb.followKeys("?")
	tb.waitH1("Keyboard shortcuts")
	tb.checkPage("keyboard shortcuts", "Keyboard shortcuts", http.StatusOK, "")
	tb.click(`#shortcuts-toggle`)
	if got := tb.text(`#shortcuts-state`); got != "off" {
		t.Errorf("after turning the shortcuts off the page says they are %q", got)
	}
	tb.navigate(e.base+"/patients/"+richNHS, http.StatusOK)
	tb.waitSettled()
	// A key the page acts on is one whose event it takes (preventDefault).
	if run1(tb, chromedp.Evaluate[bool](`(() => {
		const e = new KeyboardEvent('keydown', {key: 'r', bubbles: true, cancelable: true});
		document.body.dispatchEvent(e);
		return e.defaultPrevented;
	})()`)) {
		t.Error("the r key still works with the shortcuts turned off")
	}
	tb.navigate(e.base+"/help/keyboard", http.StatusOK)
	tb.click(`#shortcuts-toggle`)
	if got := tb.text(`#shortcuts-state`); got != "on" {
		t.Errorf("after turning the shortcuts on again the page says they are %q", got)
	}

	// A document: its text, or a link to download its PDF.
	tb.navigate(e.base+"/patients/"+richNHS+"?kind=document", http.StatusOK)
	tb.waitSettled()
	tb.followClick(`//li[@data-testid="entry"]//a[starts-with(normalize-space(), "Open ")]`)
	tb.waitH1(richName)
	tb.wait(`[data-testid="document-title"]`)
	tb.checkPage("document", richName, http.StatusOK, "document")
	text := run1(tb, chromedp.Evaluate[string](`(document.querySelector('[data-testid="document-text"]') || {}).textContent || ''`))
	pdf := run1(tb, chromedp.Evaluate[int](`document.querySelectorAll('a[data-testid="document-pdf"]').length`))
	if strings.TrimSpace(text) == "" && pdf == 0 {
		t.Errorf("the document page shows neither the document's text nor a link to its PDF:\n%s", tb.text("main"))
	}
	// The next (older) document, by its shortcut n.
	if run1(tb, chromedp.Evaluate[bool](`!!document.querySelector('a[data-testid="document-older"]')`)) {
		before := tb.path() + run1(tb, chromedp.Evaluate[string](`location.search`))
		tb.followKeys("n")
		tb.wait(`[data-testid="document-title"]`)
		if after := tb.path() + run1(tb, chromedp.Evaluate[string](`location.search`)); after == before {
			t.Error("n did not open the next document")
		}
	}
	// Searching the letters' text.
	tb.navigate(e.base+"/patients/"+richNHS+"/documents?q=dear", http.StatusOK)
	tb.wait(`[data-testid="docsearch-scope"]`)
	tb.checkPage("document search", richName, http.StatusOK, "")
	if n := run1(tb, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="docsearch-hit"] mark').length`)); n == 0 {
		t.Error("searching the letters for 'dear' finds none with the word marked")
	}
	// Back on the search page, her record is among the recent patients,
	// by name as her record page gave it.
	tb.navigate(e.base+"/patients", http.StatusOK)
	recent := run1(tb, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('li[data-testid="recent-patient"]')).map(li => li.textContent.replace(/\s+/g, ' ').trim())`))
	if !slices.ContainsFunc(recent, func(r string) bool { return strings.Contains(r, richName+", born 12-Mar-1965, NHS No. 999 000 0018") }) {
		t.Errorf("the recent patients read %q, want %s with her birth date and NHS number", recent, richName)
	}
}

// Journey: the privacy officer finds the clinician's access to 9990000018
// in the audit log and exports it as CSV.
func (e *e2e) privacyOfficerFindsAccess(t *testing.T) {
	tb := e.newTab(t)
	tb.signIn("igofficer")
	tb.waitH1("Information governance")

	tb.followClick(`//a[normalize-space()="Search the audit log"]`)
	tb.waitH1("Audit log")
	tb.do(chromedp.SendKeys(chromedp.CSS(`form[action="/ig/audit"] #nhs`), richNHS))
	tb.followClick(`//form[@action="/ig/audit"]//button[normalize-space()="Search"]`)
	tb.waitH1("Audit log")
	tb.wait(`[data-testid="audit-events"]`)
	tb.checkPage("audit search", "Audit log", http.StatusOK, "ig-audit-search")

	rows := run1(tb, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('tr[data-testid="audit-event"][data-action="record-open"]')).map(r => r.textContent.replace(/\s+/g, ' ').trim())`))
	found := false
	for _, r := range rows {
		if strings.Contains(r, clinicianName) && strings.Contains(r, clinicianID) && strings.Contains(r, "999 000 0018") && strings.Contains(r, directCare) {
			found = true
			break
		}
	}
	if !found {
		t.Errorf("the audit log filtered by %s has no record opening by %s (%s) for direct care; record-open rows:\n%s", richNHS, clinicianName, clinicianID, strings.Join(rows, "\n"))
	}
	others := run1(tb, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('tr[data-testid="audit-event"] td:nth-child(4)')).map(td => td.textContent.trim()).filter(s => s !== '999 000 0018')`))
	if len(others) > 0 {
		t.Errorf("the filter by %s shows events for other patients: %q", richNHS, others)
	}

	// The export, fetched in the page with the officer's session: the
	// browser's download would leave the page and the test would lose it.
	href := run1(tb, chromedp.Evaluate[string](`document.querySelector('a[data-testid="export-csv"]').href`))
	if u, err := url.Parse(href); err != nil || u.Query().Get("nhs") != richNHS {
		t.Errorf("the CSV export link %q does not keep the NHS number filter", href)
	}
	type fetched struct {
		Status int    `json:"status"`
		Type   string `json:"type"`
		Disp   string `json:"disp"`
		Body   string `json:"body"`
	}
	got := run1(tb, chromedp.Evaluate[fetched](fmt.Sprintf(`fetch(%q, {credentials: 'same-origin'}).then(async r => ({
		status: r.status, type: r.headers.get('Content-Type') || '', disp: r.headers.get('Content-Disposition') || '', body: await r.text()}))`, href),
		chromedp.EvalAwaitPromise))
	if got.Status != http.StatusOK || !strings.HasPrefix(got.Type, "text/csv") || !strings.Contains(got.Disp, "attachment") {
		t.Fatalf("CSV export: status %d, Content-Type %q, Content-Disposition %q", got.Status, got.Type, got.Disp)
	}
	recs, err := csv.NewReader(strings.NewReader(got.Body)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("CSV export is not CSV with rows (%v):\n%.500s", err, got.Body)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range []string{"user_id", "user_name", "action", "nhs_number", "reason", "hash"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("CSV header %q lacks %s", recs[0], h)
		}
	}
	found = false
	for _, r := range recs[1:] {
		if r[col["nhs_number"]] != richNHS {
			t.Errorf("CSV export filtered by %s has a row for %q", richNHS, r[col["nhs_number"]])
		}
		if r[col["user_id"]] == clinicianID && r[col["user_name"]] == clinicianName && r[col["action"]] == string(store.ActRecordOpen) && r[col["reason"]] == "direct-care" {
			found = true
		}
	}
	if !found {
		t.Errorf("the CSV export (%d rows) has no record-open row by %s for direct care", len(recs)-1, clinicianID)
	}
}

// Journey: a clinician breaks glass; the privacy officer finds the alert
// and reviews it.
func (e *e2e) privacyOfficerReviewsAlert(t *testing.T) {
	const nhs = synthetic.DeceasedNHSNumber
	doc := e.newTab(t)
	doc.signIn("clinician")
	doc.waitH1("Find a patient")
	doc.navigate(e.base+"/patients/"+nhs+"/access", http.StatusOK)
	doc.waitH1("Why are you opening this record?")
	// The break-glass explanation is a conditional reveal: hidden until
	// break glass is chosen (it stays visible without JavaScript).
	const detailShown = `document.getElementById("detail").offsetParent !== null`
	if run1(doc, chromedp.Evaluate[bool](detailShown)) {
		t.Error("the break-glass explanation shows before emergency access is chosen")
	}
	doc.click(`//label[normalize-space()="Emergency access (break glass)"]`)
	doc.wait(`#detail`)
	if !run1(doc, chromedp.Evaluate[bool](detailShown)) {
		t.Error("choosing emergency access does not reveal the box for its explanation")
	}
	doc.do(chromedp.SendKeys(chromedp.CSS(`#detail`), "Brought in unconscious to the emergency department; no history available"))
	doc.followClick(`//button[normalize-space()="Open the record"]`)
	doc.wait(`[data-testid="patient-nhs"]`)
	doc.waitSettled()

	tb := e.newTab(t)
	tb.signIn("igofficer")
	tb.waitH1("Information governance")
	tb.followClick(`[data-testid="open-alerts"] a`)
	tb.waitH1("Alerts to review")
	tb.wait(`[data-testid="alert"]`)
	tb.checkPage("alerts list", "Alerts to review", http.StatusOK, "ig-alerts")
	link := fmt.Sprintf(`//li[@data-testid="alert"][@data-kind=%q][contains(., "999 000 0050")][contains(., "Dr Amara Okafor")]/a`, store.AlertBreakGlass)
	if n := run1(tb, chromedp.Evaluate[int](fmt.Sprintf(`document.evaluate(%q, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null).snapshotLength`, link))); n == 0 {
		t.Fatalf("no alert for the clinician's break glass into 999 000 0050:\n%s", tb.text(`[data-testid="alerts"]`))
	}
	tb.followClick(link)
	tb.wait(`form textarea#note`)
	h1 := tb.text("h1")
	if h1 != "Alert: "+store.AlertBreakGlass {
		t.Errorf("the alert page's heading is %q, want Alert: %s", h1, store.AlertBreakGlass)
	}
	tb.checkPage("alert review", h1, http.StatusOK, "ig-alert-review")
	alertURL := run1(tb, chromedp.Location())

	// A review needs an outcome and a finding.
	tb.followClick(`//button[normalize-space()="Record the outcome"]`)
	tb.wait(`.nhsuk-error-summary`)
	tb.checkPage("alert review with errors", h1, http.StatusBadRequest, "")
	tb.click(`label[for="outcome-reviewed"]`)
	tb.do(chromedp.SendKeys(chromedp.CSS(`#note`), "Confirmed with the emergency department: the patient was being treated"))
	tb.followClick(`//button[normalize-space()="Record the outcome"]`)
	tb.waitH1("Alerts to review")
	if got := tb.text(`[data-testid="alert-confirmation"]`); !strings.Contains(got, "closed with no concern") {
		t.Errorf("after the review the alerts page confirms %q", got)
	}
	tb.navigate(alertURL, http.StatusOK)
	tb.waitH1(h1)
	if got := tb.text(`.nhsuk-summary-list`); !strings.Contains(got, "Confirmed with the emergency department") {
		t.Errorf("after the review the alert shows:\n%s", got)
	}
	if n := run1(tb, chromedp.Evaluate[int](`document.querySelectorAll('form textarea#note').length`)); n != 0 {
		t.Error("a closed alert still offers the review form")
	}
}

// Journey: a slow source and a failing one, on a product of their own so
// the faults are certain: Lewisham answers each request after 700 ms (a
// record fetch takes about 2 s, past the page's 1.5 s deadline) and Milton
// Keynes answers every request with 503. The page paints without Lewisham,
// fills it in without a reload, and labels Milton Keynes as failed.
func (e *e2e) slowAndFailingSources(t *testing.T) {
	base := startE2EDemo(t, "--faults", fmt.Sprintf("%s=latency:700ms,%s=unavailable", synthetic.LewishamODS, synthetic.MiltonKeynODS))
	fe := &e2e{base: base, browser: e.browser, axe: e.axe, shots: e.shots, known: e.known}
	tb := fe.newTab(t)
	tb.signIn("clinician")
	tb.waitH1("Find a patient")
	tb.searchNHS(richNHS)
	tb.waitH1("Why are you opening this record?")
	tb.giveReason(directCare)
	tb.waitH1(richName)

	// As painted: Lewisham is not there yet.
	lew, mk := tb.sourceLine(synthetic.LewishamODS), tb.sourceLine(synthetic.MiltonKeynODS)
	if lew.State != string(records.StateTimeout) && lew.State != string(records.StatePending) {
		t.Errorf("as the page painted, Lewisham (RJ2) was %q (%s), want timeout or pending: the page waited for the slow source", lew.State, lew.Text)
	}
	if !strings.Contains(lew.Text, "Did not answer in time") && !strings.Contains(lew.Text, "Still loading") {
		t.Errorf("as the page painted, Lewisham's line says %q, want that it has not answered yet", lew.Text)
	}
	if n := tb.countEntries(synthetic.LewishamODS); n != 0 {
		t.Errorf("as the page painted, %d entries from Lewisham were shown before it answered", n)
	}
	if got := tb.text(`[data-testid="sources-attention"]`); !strings.Contains(got, "still answering") || !strings.Contains(got, "Lewisham") {
		t.Errorf("the pending page's status line says %q", got)
	}
	before := tb.text(`[data-testid="timeline-count"]`)

	// Then it fills in, without a navigation.
	navs, docs := tb.navCount(), tb.countRequests(http.MethodGet, "/patients/"+richNHS)
	tb.step("Lewisham (RJ2) filled in", chromedp.Poll[chromedp.Void](fmt.Sprintf(
		`['live', 'cached'].includes((%s || {dataset: {}}).dataset.state)`, sourceLineJS(synthetic.LewishamODS)),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout)))
	tb.waitSettled()
	if tb.navCount() != navs || tb.countRequests(http.MethodGet, "/patients/"+richNHS) != docs {
		t.Errorf("the page navigated to fill in Lewisham; documents requested:\n%s", tb.requestLog())
	}
	// Lewisham's entries are in the timeline now (its newest may be past
	// the first page, so the count says it).
	if after := tb.text(`[data-testid="timeline-count"]`); after == before {
		t.Errorf("after Lewisham answered the timeline still says %q", after)
	}
	if n := run1(tb, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('#source option[value=%q]').length`, synthetic.LewishamODS))); n != 1 {
		t.Error("after Lewisham answered, the source filter does not offer it")
	}
	lew = tb.sourceLine(synthetic.LewishamODS)
	if strings.Contains(lew.Text, "Did not answer") || strings.Contains(lew.Text, "Still loading") || strings.Contains(lew.Text, "still trying") {
		t.Errorf("after filling in, Lewisham's line still says %q", lew.Text)
	}

	// The failing source is labelled, before and after the fill-in.
	for _, l := range []sourceState{mk, tb.sourceLine(synthetic.MiltonKeynODS)} {
		if l.State != string(records.StateFailed) || !strings.Contains(l.Text, "Failed") || !strings.Contains(l.Text, "Milton Keynes") {
			t.Errorf("Milton Keynes (RD8), which answers 503, is %q: %q; want failed, labelled Failed", l.State, l.Text)
		}
	}
	if n := tb.countEntries(synthetic.MiltonKeynODS); n != 0 {
		t.Errorf("%d entries from the failing source are shown", n)
	}
	// Said once, in one line above the record; the sources panel stays
	// closed so that it does not push the record below the fold.
	if open := run1(tb, chromedp.Evaluate[bool](`document.querySelector('[data-testid="sources"]').closest('details').open`)); open {
		t.Error("the sources panel opened by itself and pushes the record down")
	}
	if got := tb.text(`[data-testid="sources-attention"]`); !strings.Contains(got, "Milton Keynes") || !strings.Contains(got, "failed") {
		t.Errorf("the line above the record does not say Milton Keynes failed: %q", got)
	}
	if n := run1(tb, chromedp.Evaluate[int](`(document.querySelector('main').innerText.match(/did not answer in time/gi) || []).length`)); n > 1 {
		t.Errorf("the page says %d times that a source did not answer in time", n)
	}
	tb.checkPage("record page with a failed source", richName, http.StatusOK, "record-failed-source")
}

// Journey: a member of the public objects for 9990000018, with the keyboard
// only; the privacy officer checks who they are and upholds it; the
// clinician then sees the objection banner and only King's own entries.
func (e *e2e) objectionUpheldAndEnforced(t *testing.T) {
	// The clinician has the record open before the objection.
	doc := e.newTab(t)
	doc.signIn("clinician")
	doc.waitH1("Find a patient")
	doc.navigate(e.base+"/patients/"+richNHS+"/access", http.StatusOK)
	doc.waitH1("Why are you opening this record?")
	doc.giveReason(directCare)
	doc.waitH1(richName)
	doc.waitSettled()
	if n := len(doc.entrySources(2)); n < 2 {
		t.Fatalf("before the objection the record shows entries from %d source(s), want several", n)
	}

	pub := e.newTab(t)
	pub.navigate(e.base+"/objection", http.StatusOK)
	pub.waitH1("Object to sharing your care record")
	pub.checkPage("objection start", "Object to sharing your care record", http.StatusOK, "objection-start")
	pub.tabTo(`a.nhsuk-button[href="/objection/form"]`)
	pub.followKeys(kb.Enter)
	pub.wait(`form[action="/objection/form"]`)
	if p := pub.path(); p != "/objection/form" {
		t.Fatalf("Enter on Start now went to %s", p)
	}
	pub.checkPage("objection form", "Object to sharing your care record", http.StatusOK, "objection-form")
	// The questions for someone filling the form in for another person
	// show only once they say so.
	const onBehalfShown = `document.getElementById("submitter-name").offsetParent !== null`
	if run1(pub, chromedp.Evaluate[bool](onBehalfShown)) {
		t.Error("the questions for someone else show before the form says it is filled in for someone else")
	}
	pub.click(`//label[@for="on-behalf-yes"]`)
	if !run1(pub, chromedp.Evaluate[bool](onBehalfShown)) {
		t.Error("choosing 'for someone else' does not reveal the questions about them")
	}
	pub.click(`//label[@for="on-behalf-no"]`)
	if run1(pub, chromedp.Evaluate[bool](onBehalfShown)) {
		t.Error("the questions for someone else still show after choosing 'my own record'")
	}
	// Start again with nothing chosen, for the empty submission below.
	pub.navigate(e.base+"/objection/form", http.StatusOK)
	pub.wait(`form[action="/objection/form"]`)

	// Sent empty: every required field is named.
	pub.tabTo(`form[action="/objection/form"] button[type="submit"]`)
	pub.followKeys(kb.Enter)
	pub.wait(`.nhsuk-error-summary`)
	pub.checkPage("objection form with errors", "Object to sharing your care record", http.StatusBadRequest, "objection-form-errors")
	errs := run1(pub, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.nhsuk-error-summary a')).map(a => a.getAttribute('href') + ' ' + a.textContent.trim())`))
	for _, want := range []string{"#kind-object", "#on-behalf-yes", "#full-name", "#dob-day", "#address", "#postcode", "#contact", "#declaration"} {
		if !slices.ContainsFunc(errs, func(s string) bool { return strings.HasPrefix(s, want+" ") }) {
			t.Errorf("the error summary does not link to %s: %q", want, errs)
		}
	}
	if a := pub.activeElement(); !strings.Contains(a, "nhsuk-error-summary") {
		t.Errorf("after the errors, focus is on %s, want the error summary", a)
	}

	// Filled in by keyboard: Tab between fields, Space for the radio and
	// the checkbox, the arrow keys within a radio group, Enter to send.
	pub.tabTo(`#kind-object`)
	pub.do(chromedp.KeyEvent(" "))
	pub.tabTo(`#on-behalf-yes`)
	pub.do(chromedp.KeyEvent(kb.ArrowDown))
	pub.tabTo(`#full-name`)
	pub.do(chromedp.KeyEvent("Jane Smith"))
	pub.tabTo(`#dob-day`)
	pub.do(chromedp.KeyEvent("12"))
	pub.tabTo(`#dob-month`)
	pub.do(chromedp.KeyEvent("3"))
	pub.tabTo(`#dob-year`)
	pub.do(chromedp.KeyEvent("1965"))
	pub.tabTo(`#nhs`)
	pub.do(chromedp.KeyEvent("999 000 0018"))
	pub.tabTo(`#address`)
	pub.do(chromedp.KeyEvent("12 Imaginary Road" + kb.Enter + "Camberwell" + kb.Enter + "London"))
	pub.tabTo(`#postcode`)
	pub.do(chromedp.KeyEvent("SE5 9ZZ"))
	pub.tabTo(`#contact`)
	pub.do(chromedp.KeyEvent("jane.smith@example.com"))
	pub.tabTo(`#declaration`)
	pub.do(chromedp.KeyEvent(" "))
	type formState struct {
		Kind, OnBehalf bool
		Declared       bool
		Address        string
		Honeypot       string
	}
	fs := run1(pub, chromedp.Evaluate[formState](`({
		Kind: document.getElementById('kind-object').checked,
		OnBehalf: document.getElementById('on-behalf-no').checked,
		Declared: document.getElementById('declaration').checked,
		Address: document.getElementById('address').value,
		Honeypot: document.getElementById('website').value,
	})`))
	if !fs.Kind || !fs.OnBehalf || !fs.Declared || fs.Address != "12 Imaginary Road\nCamberwell\nLondon" || fs.Honeypot != "" {
		t.Fatalf("the form filled by keyboard is %+v", fs)
	}
	pub.tabTo(`form[action="/objection/form"] button[type="submit"]`)
	pub.followKeys(kb.Enter)
	pub.waitH1("Request sent")
	pub.checkPage("objection confirmation", "Request sent", http.StatusOK, "objection-done")
	ref := pub.text(`[data-testid="objection-ref"]`)
	if _, ok := store.NormaliseRef(ref); !ok {
		t.Fatalf("the confirmation shows reference %q", ref)
	}
	// The page shows whatever well-formed reference its address holds: the
	// widest letters too, at 320 px.
	pub.navigate(e.base+"/objection/done?ref=CR-WWWW-MMMM", http.StatusOK)
	pub.waitH1("Request sent")
	pub.checkPage("objection confirmation with the widest reference", "Request sent", http.StatusOK, "")

	// The privacy officer checks who sent it and upholds it.
	ig := e.newTab(t)
	ig.signIn("igofficer")
	ig.waitH1("Information governance")
	linked := run1(ig, chromedp.Evaluate[int](`document.querySelectorAll('main a[href="/ig/objections"]').length`)) > 0
	t.Run("IGHomeLinksToTheCaseQueue", func(t *testing.T) {
		if !linked {
			t.Fatal("the IG home has no link to the objection case queue at /ig/objections")
		}
	})
	if linked {
		ig.followClick(`main a[href="/ig/objections"]`)
	} else {
		ig.navigate(e.base+"/ig/objections", http.StatusOK)
	}
	ig.waitH1("Objections to sharing")
	ig.checkPage("case queue", "Objections to sharing", http.StatusOK, "objection-cases")
	row := fmt.Sprintf(`[data-testid="open"] tr[data-ref=%q] a`, ref)
	ig.wait(row)
	ig.followClick(row)
	ig.waitH1("Case " + ref)
	ig.wait(fmt.Sprintf(`table[data-testid="candidate"][data-nhs=%q]`, richNHS))
	ig.checkPage("case review", "Case "+ref, http.StatusOK, "objection-case-review")
	verdicts := run1(ig, chromedp.Evaluate[[]string](fmt.Sprintf(`Array.from(document.querySelectorAll('table[data-testid="candidate"][data-nhs=%q] tbody tr')).map(r => r.querySelector('th').textContent.trim() + ': ' + r.dataset.verdict)`, richNHS)))
	for _, v := range verdicts {
		if strings.HasSuffix(v, ": differs") {
			t.Errorf("the form gave the details the sources hold, but the identity check marks %q; all: %q", v, verdicts)
		}
	}
	ig.click(fmt.Sprintf(`label[for="matched-%s"]`, richNHS))
	ig.followClick(`//button[normalize-space()="Confirm identity"]`)
	ig.wait(`#decision-upheld`)
	ig.click(`label[for="decision-upheld"]`)
	ig.followClick(`//button[normalize-space()="Record decision"]`)
	ig.wait(`.nhsuk-error-summary`)
	ig.checkPage("case decision without a reason", "Case "+ref, http.StatusBadRequest, "")
	if got := ig.text(`.nhsuk-error-summary`); !strings.Contains(got, "Enter the reason for your decision") {
		t.Errorf("a decision without a reason: the error summary says %q", got)
	}
	ig.do(chromedp.SendKeys(chromedp.CSS(`#decision-note`), "Identity confirmed by phone; the patient asked us to stop sharing"))
	if !run1(ig, chromedp.Evaluate[bool](`document.getElementById('decision-upheld').checked`)) {
		ig.click(`label[for="decision-upheld"]`)
	}
	ig.followClick(`//button[normalize-space()="Record decision"]`)
	ig.waitH1("Case " + ref)
	if got := ig.text(`[data-testid="case-status"]`); got != "Upheld" {
		t.Errorf("after upholding, the case status is %q", got)
	}
	if got := ig.text(`[data-testid="case-matched"]`); !strings.Contains(got, "999 000 0018") {
		t.Errorf("the case's matched patient is %q", got)
	}

	// The clinician, still signed in with a reason, sees the objection.
	doc.navigate(e.base+"/patients/"+richNHS, http.StatusOK)
	doc.waitH1(richName)
	doc.waitSettled()
	doc.wait(`[data-testid="objection-banner"]`)
	doc.checkPage("record page under an objection", richName, http.StatusOK, "record-objection")
	type entry struct {
		Source string `json:"source"`
		Also   string `json:"also"`
	}
	entries := run1(doc, chromedp.Evaluate[[]entry](`Array.from(document.querySelectorAll('li[data-testid="entry"]')).map(li => ({source: li.dataset.source || '', also: li.dataset.also || ''}))`))
	if len(entries) == 0 {
		t.Error("under the objection the record shows nothing, not even King's own entries")
	}
	for _, en := range entries {
		if en.Source != clinicianODS || strings.Trim(strings.ReplaceAll(en.Also, clinicianODS, ""), " ") != "" {
			t.Errorf("under the objection an entry from %q (also %q) is shown, want %s's own only", en.Source, en.Also, clinicianODS)
			break
		}
	}
	// The other organisations are named in the sources panel (every
	// configured source is, whether or not it holds a record) as withheld.
	lines := run1(doc, chromedp.Evaluate[[]sourceState](`Array.from(document.querySelectorAll('li[data-testid="source"]')).map(li => ({state: li.dataset.state, text: li.textContent.replace(/\s+/g, ' ').trim()}))`))
	for _, l := range lines {
		if !strings.Contains(l.Text, "("+clinicianODS+")") && (!strings.Contains(l.Text, "the patient has objected to sharing") || l.State != string(records.StateWithheld)) {
			t.Errorf("under the objection another organisation's line is %q: %q, want it withheld", l.State, l.Text)
		}
	}
}

// ---- helpers for the journeys ----

// follow runs an action that leaves the page (a click on a link or a
// submit button) and waits until the next document is committed.
func (tb *tab) follow(what string, a chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	n := tb.navCount()
	tb.step(what, a)
	tb.waitNavigation(n)
}

// click clicks the first element the XPath or CSS query finds, waiting
// for it at most stepTimeout; followClick does so and waits for the
// next page.
func (tb *tab) click(query string) {
	tb.t.Helper()
	tb.step(query, findAgainIfReplaced(chromedp.Click(chromedp.Search(query))))
}

func (tb *tab) followClick(query string) {
	tb.t.Helper()
	tb.follow(query, findAgainIfReplaced(chromedp.Click(chromedp.Search(query))))
}

// findAgainIfReplaced runs a query action again when the element it found
// belonged to a document the page has since replaced (a redirect chain
// still settling after the awaited page first showed): DevTools then
// answers "Could not find node with given id" and nothing was clicked.
// Any other error, or the step's deadline, ends it.
func findAgainIfReplaced(a chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for {
			v, err := a(ctx, tg)
			if err == nil || !strings.Contains(err.Error(), "Could not find node with given id") {
				return v, err
			}
			select {
			case <-ctx.Done():
				return v, err
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// followKeys presses keys on the focused element and waits for the
// navigation they cause.
func (tb *tab) followKeys(keys string) {
	tb.t.Helper()
	tb.follow("the page after pressing a key", chromedp.KeyEvent(keys))
}

// searchNHS types an NHS number into the search page and submits it. A
// number that finds one patient goes on to the reason step (or the
// record): the caller waits for the page it expects.
func (tb *tab) searchNHS(nhs string) {
	tb.t.Helper()
	tb.do(chromedp.SendKeys(chromedp.CSS("#nhs"), nhs))
	tb.followClick(`//button[normalize-space()="Search by NHS number"]`)
}

// searchName searches by family name and date of birth (into the empty
// form) and waits for the results.
func (tb *tab) searchName(family, day, month, year string) {
	tb.t.Helper()
	for id, v := range map[string]string{"#family": family, "#dob-day": day, "#dob-month": month, "#dob-year": year} {
		tb.do(chromedp.SendKeys(chromedp.CSS(id), v))
	}
	tb.followClick(`//button[normalize-space()="Search by name and date of birth"]`)
	tb.waitH1("Find a patient")
	tb.wait(`#results`)
}

// giveReason chooses a reason on the reason page and opens the record.
func (tb *tab) giveReason(label string) {
	tb.t.Helper()
	tb.click(fmt.Sprintf(`//label[normalize-space()=%q]`, label))
	tb.followClick(`//button[normalize-space()="Open the record"]`)
}

// waitSettled waits until the record page has stopped polling for sources
// still answering.
func (tb *tab) waitSettled() {
	tb.t.Helper()
	tb.step("every source answered (#record-live no longer polls)", chromedp.Poll[chromedp.Void](
		`!!document.getElementById('record-live') && !document.getElementById('record-live').hasAttribute('hx-get') && !document.querySelector('.htmx-request')`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout)))
}

// entrySources returns the ODS codes of the sources of the timeline's
// entries (their own and those that also reported them), following the
// older pages until want are seen or there are none left.
func (tb *tab) entrySources(want int) []string {
	tb.t.Helper()
	seen := map[string]bool{}
	for range 30 {
		for _, s := range run1(tb, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('li[data-testid="entry"]'))
			.flatMap(li => [li.dataset.source || '', ...(li.dataset.also || '').split(' ')]).filter(Boolean)`)) {
			seen[s] = true
		}
		if len(seen) >= want {
			break
		}
		if run1(tb, chromedp.Evaluate[int](`document.querySelectorAll('a.nhsuk-pagination__link--next').length`)) == 0 {
			break
		}
		tb.followClick(`a.nhsuk-pagination__link--next`)
		tb.wait(`[data-testid="timeline-count"]`)
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (tb *tab) countEntries(ods string) int {
	tb.t.Helper()
	return run1(tb, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('li[data-testid="entry"][data-source=%q]').length`, ods)))
}

// sourceLineJS is a JavaScript expression for the sources panel's line of
// the source with this ODS code (or undefined).
func sourceLineJS(ods string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll('li[data-testid="source"]')).find(li => li.querySelector('strong').textContent.includes(%q))`, "("+ods+")")
}

type sourceState struct {
	State string `json:"state"`
	Text  string `json:"text"`
}

func (tb *tab) sourceLine(ods string) sourceState {
	tb.t.Helper()
	s := run1(tb, chromedp.Evaluate[sourceState](fmt.Sprintf(`(li => li ? {state: li.dataset.state, text: li.textContent.replace(/\s+/g, ' ').trim()} : {state: '', text: ''})(%s)`, sourceLineJS(ods))))
	if s.State == "" {
		tb.t.Fatalf("the sources panel has no line for %s:\n%s", ods, tb.text(`[data-testid="sources"]`))
	}
	return s
}

// checkTrend checks the trend page's shape (a labelled chart per source,
// each with points, and the table of every result) and returns the number
// of charts.
// checkCumulative checks the cumulative results table at 1,280 px and at
// 375 px: every panel's table is in a labelled region that scrolls on its
// own, the page itself never scrolls sideways, and the test names stay in
// view when a table is scrolled to its oldest sample.
func (tb *tab) checkCumulative(name string) {
	tb.t.Helper()
	type layout struct {
		Regions, Unlabelled, Rows, PageWidth, Viewport int
		NameVisible                                    bool
		Scrolled                                       bool
	}
	measure := `(() => {
		const regions = Array.from(document.querySelectorAll('section[data-testid="cumulative-panel"] [role="region"]'));
		const out = {Regions: regions.length, Unlabelled: regions.filter(r => !(r.getAttribute('aria-label') || '').trim()).length,
			Rows: document.querySelectorAll('tr[data-testid="cumulative-row"]').length,
			PageWidth: document.documentElement.scrollWidth, Viewport: document.documentElement.clientWidth, NameVisible: true, Scrolled: false};
		// The widest table, scrolled to its far end: its test names stay.
		const wide = regions.filter(r => r.scrollWidth > r.clientWidth + 1);
		for (const r of wide) {
			r.scrollLeft = r.scrollWidth;
			out.Scrolled = true;
			const box = r.getBoundingClientRect();
			const th = r.querySelector('tbody th[scope="row"]');
			const t = th.getBoundingClientRect();
			if (t.left < box.left - 1 || t.right > box.right + 1) out.NameVisible = false;
			r.scrollLeft = 0;
		}
		return out;
	})()`
	wide := run1(tb, chromedp.Evaluate[layout](measure))
	if wide.Regions == 0 || wide.Unlabelled > 0 || wide.Rows == 0 {
		tb.t.Errorf("%s at 1,280 px: %d table regions (%d unlabelled), %d rows", name, wide.Regions, wide.Unlabelled, wide.Rows)
	}
	tb.do(chromedp.EmulateViewport(375, 800))
	narrow := run1(tb, chromedp.Evaluate[layout](measure))
	tb.windowSize(name, 375)
	if narrow.PageWidth > narrow.Viewport {
		tb.t.Errorf("%s at 375 px: the page is %d px wide (scrolls sideways)", name, narrow.PageWidth)
	}
	if !narrow.Scrolled || !narrow.NameVisible {
		tb.t.Errorf("%s at 375 px: a table scrolled sideways=%v; its test names stay in view=%v", name, narrow.Scrolled, narrow.NameVisible)
	}
}

// checkChartNarrow checks at 375 px that every trend chart fits the
// screen and its legend is read in words beside it.
func (tb *tab) checkChartNarrow(name string) {
	tb.t.Helper()
	type fit struct {
		Charts, TooWide, Legends, PageWidth, Viewport int
	}
	tb.do(chromedp.EmulateViewport(375, 800))
	f := run1(tb, chromedp.Evaluate[fit](`(() => {
		const vw = document.documentElement.clientWidth;
		const charts = Array.from(document.querySelectorAll('figure[data-testid="trend-chart"] svg[role="img"]'));
		return {Charts: charts.length, TooWide: charts.filter(s => s.getBoundingClientRect().right > vw + 0.5 || s.getBoundingClientRect().width < 200).length,
			Legends: document.querySelectorAll('figure[data-testid="trend-chart"] [data-testid="trend-series"]').length,
			PageWidth: document.documentElement.scrollWidth, Viewport: vw};
	})()`))
	tb.windowSize(name, 375)
	if f.Charts == 0 || f.TooWide > 0 || f.Legends == 0 || f.PageWidth > f.Viewport {
		tb.t.Errorf("%s at 375 px: %d charts, %d not fitting the screen, %d legend lines, page %d px wide in %d", name, f.Charts, f.TooWide, f.Legends, f.PageWidth, f.Viewport)
	}
}

func (tb *tab) checkTrend() int {
	tb.t.Helper()
	type trend struct {
		Charts, Figures, Unlabelled, Empty, Rows int
	}
	tr := run1(tb, chromedp.Evaluate[trend](`(() => {
		const charts = Array.from(document.querySelectorAll('main svg[role="img"]'));
		return {
			Charts: charts.length,
			Figures: document.querySelectorAll('figure.app-chart').length,
			Unlabelled: charts.filter(s => !(s.getAttribute('aria-label') || '').trim()).length,
			Empty: charts.filter(s => s.querySelectorAll('path.app-chart__point').length === 0).length,
			Rows: document.querySelectorAll('[data-testid="trend-table"] tbody tr').length,
		};
	})()`))
	if tr.Charts == 0 || tr.Charts != tr.Figures || tr.Unlabelled > 0 || tr.Empty > 0 || tr.Rows < 2 {
		tb.t.Errorf("trend page: %d svg[role=img] charts in %d figures, %d without a label, %d without points; %d table rows (want one labelled chart with points per source and every result in the table)",
			tr.Charts, tr.Figures, tr.Unlabelled, tr.Empty, tr.Rows)
	}
	return tr.Charts
}

// Journey: the clinician, not yet signed in to carerecord, presses
// "Shared record" for Reginald Thistlewood in the synthetic EPR (SMART App
// Launch 2.0 EHR launch), signs in through the development OpenID provider,
// and lands on his reason page with direct care preselected (he is in
// clinic: an encounter is in context), then on his record. (Not Jane Smith:
// the journeys after this one need her record not yet cached.)
func (e *e2e) clinicianLaunchesFromEPR(t *testing.T) {
	tb := e.newTab(t)
	tb.navigate(e.epr+"/", http.StatusOK)
	tb.followClick(`tr[data-patient="epr-1002"] a`)
	// Not signed in: the start page offers both sign-ins, and comes back
	// to the launch.
	tb.waitH1("Sign in to carerecord")
	tb.followClick(`a[data-testid="sign-in"][href^="/oidc/login"]`)
	tb.wait("#username")
	tb.do(
		chromedp.SendKeys(chromedp.CSS("#username"), "clinician"),
		chromedp.SendKeys(chromedp.CSS("#password"), demoPassword),
	)
	tb.followClick(`main form button[type="submit"]`)
	tb.waitH1("Why are you opening this record?")
	if got := tb.text(`#reason-hint`); !strings.Contains(got, "999 000 0042") {
		t.Fatalf("the launch opened the reason page of another patient: %q", got)
	}
	if !run1(tb, chromedp.Evaluate[bool](`document.getElementById('reason-direct-care').checked`)) {
		t.Error("direct care is not preselected for a patient the EPR has in clinic")
	}
	tb.followClick(`//button[normalize-space()="Open the record"]`)
	tb.waitH1("THISTLEWOOD, Reginald (Mr)")
	if got := tb.text(`[data-testid="patient-nhs"]`); got != "999 000 0042" {
		t.Errorf("banner NHS No. is %q, want 999 000 0042", got)
	}
	tb.assertNoProblems("record opened from the EPR")
}

// checkStickyBanner scrolls the record to its end in a window of w x h
// and checks that the banner is still on screen with the patient's name,
// allergies and alerts and the link to another patient; that no label in
// it breaks inside a word; and that on a phone the allergies come before
// problems and medicines.
func (tb *tab) checkStickyBanner(w, h int64) {
	tb.t.Helper()
	tb.do(chromedp.EmulateViewport(w, h))
	defer func() {
		tb.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
			return err
		}))
	}()
	type bannerState struct {
		Scrolled                      float64
		Top, Bottom, Viewport         float64
		Name, Allergies, Alerts, Find bool
		BrokenLabels                  []string
		AllergiesBeforeProblems, Fits bool
	}
	st := run1(tb, chromedp.Evaluate[bannerState](`new Promise(done => {
		window.scrollTo(0, document.documentElement.scrollHeight);
		requestAnimationFrame(() => requestAnimationFrame(() => {
			const b = document.querySelector('[data-testid="patient-banner"]');
			const r = b.getBoundingClientRect();
			const onScreen = sel => { const el = b.querySelector(sel); if (!el) return false;
				const q = el.getBoundingClientRect(); return q.height > 0 && q.top >= 0 && q.bottom <= window.innerHeight; };
			// A label broken inside a word wraps onto a second line.
			const broken = Array.from(b.parentElement.querySelectorAll('.app-patient-banner__label'))
				.filter(l => { const r = document.createRange(); r.selectNodeContents(l);
					return new Set(Array.from(r.getClientRects()).map(q => Math.round(q.top))).size > 1; })
				.map(l => l.textContent.trim());
			const a = b.querySelector('[data-testid="banner-allergies"]'), p = document.querySelector('[data-testid="summary-problems"]'),
				m = document.querySelector('[data-testid="summary-medicines"]');
			const before = (x, y) => !!x && !!y && (x.compareDocumentPosition(y) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0;
			done({Scrolled: window.scrollY, Top: r.top, Bottom: r.bottom, Viewport: window.innerHeight,
				Name: onScreen('[data-testid="patient-name"]'), Allergies: onScreen('[data-testid="banner-allergies"]'),
				Alerts: onScreen('[data-testid="banner-alerts"]'), Find: onScreen('[data-testid="find-another-patient"]'),
				BrokenLabels: broken, AllergiesBeforeProblems: before(a, p) && before(a, m),
				Fits: document.documentElement.scrollWidth <= window.innerWidth});
		}));
	})`, chromedp.EvalAwaitPromise))
	at := fmt.Sprintf("at %dx%d", w, h)
	if st.Scrolled < 200 {
		tb.t.Fatalf("%s: the record did not scroll (%v px): the test proves nothing", at, st.Scrolled)
	}
	if st.Top < 0 || st.Top > 1 || !st.Name || !st.Allergies || !st.Alerts || !st.Find {
		tb.t.Errorf("%s: after scrolling to the end the banner is not on screen with name, allergies, alerts and 'Find another patient': %+v", at, st)
	}
	if st.Bottom > st.Viewport/2 {
		tb.t.Errorf("%s: the banner takes %v of %v px: it hides the record", at, st.Bottom, st.Viewport)
	}
	if len(st.BrokenLabels) > 0 {
		tb.t.Errorf("%s: banner labels break inside a word: %q", at, st.BrokenLabels)
	}
	if !st.AllergiesBeforeProblems {
		tb.t.Errorf("%s: the allergies do not come before problems and medicines", at)
	}
	if !st.Fits {
		tb.t.Errorf("%s: the page scrolls sideways", at)
	}
	if w < 400 {
		tb.screenshot("record-banner-phone")
	}
	tb.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
}

// checkPrintStyles prints the page (CSS print media) and checks that the
// screen furniture is gone: the development warning, buttons, forms and
// the link addresses NHS.UK frontend writes after links.
func (tb *tab) checkPrintStyles() {
	tb.t.Helper()
	tb.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	defer tb.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: ""})
		return err
	}))
	type printed struct {
		Shown        []string
		LinkURLs     int
		Banner, Body bool
	}
	p := run1(tb, chromedp.Evaluate[printed](`(() => {
		const shown = sel => Array.from(document.querySelectorAll(sel)).some(el => getComputedStyle(el).display !== 'none' && el.getClientRects().length > 0);
		const furniture = ['.app-dev-warning', '.nhsuk-button', 'form', '.nhsuk-header__account', '.nhsuk-footer'].filter(shown);
		const urls = Array.from(document.querySelectorAll('main a')).filter(a => { const c = getComputedStyle(a, '::after').content; return c && c !== 'none' && c !== 'normal' && c.includes('Link'); }).length;
		return {Shown: furniture, LinkURLs: urls, Banner: shown('[data-testid="patient-banner"]'), Body: shown('li[data-testid="entry"]')};
	})()`))
	if len(p.Shown) > 0 || p.LinkURLs > 0 || !p.Banner || !p.Body {
		tb.t.Errorf("printed, the record shows screen furniture %q and %d link addresses (banner %v, entries %v)", p.Shown, p.LinkURLs, p.Banner, p.Body)
	}
}

// checkPrintView checks the print view: on screen, its print button is
// offered (JavaScript shows it); printed (CSS print media), nothing but
// the summary: no controls, development warning or skip link, no link
// addresses, and the patient, who printed it and the entries are there.
func (tb *tab) checkPrintView() {
	tb.t.Helper()
	if !run1(tb, chromedp.Evaluate[bool](`(() => { const b = document.querySelector('button[data-print]');
		return !!b && !b.hidden && b.getClientRects().length > 0; })()`)) {
		tb.t.Error("the print view offers no print button on screen")
	}
	tb.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	defer tb.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: ""})
		return err
	}))
	type printed struct {
		Shown                []string
		LinkURLs             int
		Patient, By, Entries bool
	}
	p := run1(tb, chromedp.Evaluate[printed](`(() => {
		const shown = sel => Array.from(document.querySelectorAll(sel)).some(el => getComputedStyle(el).display !== 'none' && el.getClientRects().length > 0);
		const furniture = ['[data-testid="print-controls"]', '.app-dev-warning', '.nhsuk-skip-link', 'button', 'a', 'nav', 'form'].filter(shown);
		const urls = Array.from(document.querySelectorAll('a')).filter(a => { const c = getComputedStyle(a, '::after').content; return c && c !== 'none' && c !== 'normal' && c.includes('Link'); }).length;
		return {Shown: furniture, LinkURLs: urls, Patient: shown('[data-testid="patient-banner"]'), By: shown('[data-testid="printed-by"]'), Entries: shown('li[data-testid="entry"]')};
	})()`))
	if len(p.Shown) > 0 || p.LinkURLs > 0 || !p.Patient || !p.By || !p.Entries {
		tb.t.Errorf("the print view, printed, shows screen furniture %q and %d link addresses (patient %v, printed by %v, entries %v)", p.Shown, p.LinkURLs, p.Patient, p.By, p.Entries)
	}
}

// checkSearchHitsAt375 checks that at 375 px every column of a search
// result is on screen, each with its heading, not cut off in a table
// that scrolls sideways.
func (tb *tab) checkSearchHitsAt375() {
	tb.t.Helper()
	tb.do(chromedp.EmulateViewport(375, 667))
	defer tb.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
		return err
	}))
	type cells struct {
		Cells, Off int
		Headings   []string
	}
	c := run1(tb, chromedp.Evaluate[cells](`new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
		const tds = Array.from(document.querySelectorAll('tr[data-testid="search-hit"] td'));
		done({Cells: tds.length, Off: tds.filter(td => { const r = td.getBoundingClientRect(); return r.right > window.innerWidth + 0.5 || r.width === 0; }).length,
			Headings: Array.from(document.querySelectorAll('tr[data-testid="search-hit"] .nhsuk-table-responsive__heading')).filter(h => getComputedStyle(h).display !== 'none').map(h => h.textContent.trim())});
	})))`, chromedp.EvalAwaitPromise))
	if c.Cells < 6 || c.Off > 0 || len(c.Headings) < 6 {
		tb.t.Errorf("at 375 px the search result shows %d of %d columns on screen, with headings %q", c.Cells-c.Off, c.Cells, c.Headings)
	}
}
