package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestResultsTable checks the cumulative results table over the synthetic
// sources: panels named by code whatever each laboratory calls them,
// values tied to their sample's column, the abnormal-only filter said on
// the page, page counts, and the way from a report to its sample in the
// table and back.
func TestResultsTable(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	b.settled(t, "/patients/"+synthetic.RichNHSNumber)
	base := "/patients/" + synthetic.RichNHSNumber + "/results"

	t.Run("PanelsByCode", func(t *testing.T) {
		p := b.get(base)
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		panels := map[string]bool{}
		for _, s := range findAll(p.doc, "section", "data-testid", "cumulative-panel") {
			panels[attr(s, "data-panel")] = true
		}
		for _, want := range []string{"panel-fbc", "panel-ue", "panel-lft", "panel-diabetes"} {
			if !panels[want] {
				t.Errorf("no %s panel among %v", want, panels)
			}
		}
	})
	t.Run("EveryCellUnderItsSample", func(t *testing.T) {
		p := b.get(base)
		heads := map[string]bool{}
		for _, h := range findAll(p.doc, "th", "data-testid", "sample") {
			heads[attr(h, "id")] = true
		}
		cells := findAll(p.doc, "td", "data-testid", "cumulative-cell")
		if len(cells) == 0 {
			t.Fatal("no cells")
		}
		for _, c := range cells {
			if !heads[attr(c, "headers")] {
				t.Fatalf("a cell names header %q, which is not a sample column", attr(c, "headers"))
			}
		}
	})
	t.Run("AbnormalOnlySaysSo", func(t *testing.T) {
		all := b.get(base)
		ab := b.get(base + "?abnormal=1")
		if ab.status != http.StatusOK {
			t.Fatalf("status %d", ab.status)
		}
		rowsAll := findAll(all.doc, "tr", "data-testid", "cumulative-row")
		rows := findAll(ab.doc, "tr", "data-testid", "cumulative-row")
		if len(rows) == 0 || len(rows) >= len(rowsAll) {
			t.Fatalf("abnormal only shows %d rows of %d", len(rows), len(rowsAll))
		}
		for _, r := range rows {
			if !hasAttr(r, "data-abnormal", "*") {
				t.Errorf("a row without an abnormal result is shown: %s", text(r))
			}
		}
		if got := text(find(ab.doc, "", "data-testid", "cumulative-filter")); !strings.Contains(got, "Showing only tests with an abnormal result") {
			t.Errorf("the filtered page says %q", got)
		}
		if got := attr(find(ab.doc, "a", "data-testid", "cumulative-toggle"), "href"); got != base {
			t.Errorf("the way back to every test is %q", got)
		}
		flags := findAll(ab.doc, "strong", "data-testid", "cumulative-flag")
		if len(flags) == 0 {
			t.Error("no abnormal value is marked in words")
		}
	})
	t.Run("ReportToTableAndBack", func(t *testing.T) {
		p := b.get(base)
		report := attr(find(p.doc, "a", "data-testid", "sample-report"), "href")
		if report == "" {
			t.Fatal("no sample links to its report")
		}
		tl := b.get(report)
		if tl.status != http.StatusOK || find(tl.doc, "p", "data-testid", "timeline-report") == nil {
			t.Fatalf("the report link opened status %d without the one-report timeline", tl.status)
		}
		back := attr(find(tl.doc, "a", "data-testid", "report-in-table"), "href")
		if back == "" {
			t.Fatal("the report's timeline has no way back to the table")
		}
		again := b.get(back)
		if find(again.doc, "p", "data-testid", "cumulative-report-found") == nil {
			t.Fatalf("the table opened from the report does not find it: %s", text(find(again.doc, "main", "", "")))
		}
		current := find(again.doc, "th", "aria-current", "true")
		if current == nil || !strings.Contains(text(current), "The report you came from") {
			t.Errorf("the report's column is not marked: %q", text(current))
		}
		// Each result on the timeline leads to the table too.
		if find(tl.doc, "a", "data-testid", "results-table-link") == nil {
			t.Error("a result on the timeline has no link to the results table")
		}
	})
	t.Run("PageCount", func(t *testing.T) {
		p := b.get(base)
		if got := text(find(p.doc, "p", "data-testid", "cumulative-page")); !strings.HasPrefix(got, "Page 1 of ") {
			t.Errorf("page line %q", got)
		}
	})
}
