package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestLongHistoryNavigable checks that a long history can be found
// around in: the page count ("Page 1 of 60"), a jump to any year that
// lands on the page where it begins with that year's first day as the
// target, and a kind hidden (with the page saying how many entries that
// leaves out).
func TestLongHistoryNavigable(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.LongHistoryNHSNumber, "direct-care", "")
	record := "/patients/" + synthetic.LongHistoryNHSNumber
	first := b.settled(t, record)
	total := func(p *page) int {
		t.Helper()
		// "Showing 1 to 50 of 3,000 entries, newest first. Page 1 of 60."
		f := strings.Fields(text(find(p.doc, "p", "data-testid", "timeline-count")))
		for i, w := range f {
			if w == "of" && i+1 < len(f) {
				n, err := strconv.Atoi(strings.ReplaceAll(f[i+1], ",", ""))
				if err == nil {
					return n
				}
			}
		}
		t.Fatalf("no total in %q", strings.Join(f, " "))
		return 0
	}

	t.Run("PageCount", func(t *testing.T) {
		got := text(find(first.doc, "span", "data-testid", "timeline-page"))
		want := "Page 1 of " + strconv.Itoa((total(first)+49)/50) + "."
		if got != want {
			t.Errorf("page line %q, want %q", got, want)
		}
	})
	t.Run("JumpToAYear", func(t *testing.T) {
		years := findAll(first.doc, "a", "data-testid", "timeline-year")
		if len(years) < 5 {
			t.Fatalf("%d years to jump to, want the history's years", len(years))
		}
		oldest := years[len(years)-1]
		u, err := url.Parse(attr(oldest, "href"))
		if err != nil {
			t.Fatal(err)
		}
		p := b.get(attr(oldest, "href"))
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		target := find(p.doc, "h3", "id", u.Fragment)
		if target == nil || !strings.HasSuffix(text(target), strings.TrimPrefix(u.Fragment, "year-")) {
			t.Fatalf("the page %s has no day heading %q to land on (got %q)", u.RawQuery, u.Fragment, text(target))
		}
		if got := text(find(p.doc, "span", "data-testid", "timeline-page")); !strings.HasPrefix(got, "Page "+u.Query().Get("page")+" of") {
			t.Errorf("landed on %q, want page %s", got, u.Query().Get("page"))
		}
	})
	t.Run("HideAKind", func(t *testing.T) {
		p := b.get(record + "?hide=encounter")
		for _, en := range findAll(p.doc, "li", "data-testid", "entry") {
			if attr(en, "data-kind") == "encounter" {
				t.Fatal("an encounter is shown with encounters hidden")
			}
		}
		said := text(find(p.doc, "p", "data-testid", "timeline-hidden"))
		if !strings.Contains(said, "Encounter") {
			t.Fatalf("the page does not say what is hidden: %q", said)
		}
		n, err := strconv.Atoi(strings.ReplaceAll(strings.Fields(said)[0], ",", ""))
		if err != nil || n == 0 || total(p)+n != total(first) {
			t.Errorf("%d shown and %q hidden, want together the %d entries", total(p), said, total(first))
		}
		tagged := false
		for _, tag := range findAll(p.doc, "a", "data-testid", "filter-tag") {
			tagged = tagged || strings.Contains(text(tag), "Hiding Encounter")
		}
		if !tagged {
			t.Error("no filter tag says encounters are hidden")
		}
		if !hasAttr(find(p.doc, "input", "id", "hide-encounter"), "checked", "*") {
			t.Error("the filter form does not keep the kind hidden")
		}
	})
}
