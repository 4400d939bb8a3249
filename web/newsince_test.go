package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestNewSinceLastLooked checks that the record marks what arrived since
// this user last looked: nothing on a first visit (and it says why), then,
// on a later visit, the results, letters and reports that were not there
// before (here: what Guy's and St Thomas' holds, which was unavailable on
// the first visit), with their count at the top and a way to see them
// alone; and that pages of one visit keep the marks.
func TestNewSinceLastLooked(t *testing.T) {
	opt, cluster := withSources(t, nil, 3*time.Second)
	e := newEnv(t, opt)
	cluster.SetFaults(synthetic.GSTTODS, synthetic.Faults{Unavailable: true})
	record := "/patients/" + synthetic.RichNHSNumber

	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	t.Run("FirstVisitMarksNothing", func(t *testing.T) {
		p := b.settled(t, record)
		if find(p.doc, "p", "data-testid", "new-since-first") == nil {
			t.Errorf("the first visit does not say nothing is marked: %q", text(find(p.doc, "div", "data-testid", "new-since")))
		}
		if n := len(findAll(p.doc, "strong", "data-testid", "entry-new")); n != 0 {
			t.Errorf("%d entries marked new on a first visit", n)
		}
	})

	// Later: Guy's answers again, and the user comes back after the gap
	// that ends a visit (signed in afresh: the session would have locked).
	cluster.SetFaults(synthetic.GSTTODS, synthetic.Faults{})
	e.clock.Advance(45 * time.Minute)
	b2 := e.browser()
	b2.signIn("/saml/login", "clinician")
	b2.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	var onlyURL string
	t.Run("LaterVisitMarksWhatArrived", func(t *testing.T) {
		p := b2.settled(t, record+"?kind=result")
		count := text(find(p.doc, "strong", "data-testid", "new-since-count"))
		if count == "" {
			t.Fatalf("no count of what is new: %q", text(find(p.doc, "div", "data-testid", "new-since")))
		}
		marked := 0
		for _, en := range findAll(p.doc, "li", "data-testid", "entry") {
			isNew := find(en, "strong", "data-testid", "entry-new") != nil
			fromGuys := attr(en, "data-source") == synthetic.GSTTODS
			if isNew {
				marked++
			}
			if isNew && !fromGuys {
				t.Errorf("an entry from %s, seen on the first visit, is marked new", attr(en, "data-source"))
			}
		}
		if marked == 0 {
			t.Error("no result from Guy's and St Thomas' is marked new")
		}
		onlyURL = attr(find(p.doc, "a", "data-testid", "new-since-only"), "href")
	})
	t.Run("OnlyWhatIsNew", func(t *testing.T) {
		if onlyURL == "" {
			t.Skip("no link to what is new")
		}
		p := b2.get(onlyURL)
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		entries := findAll(p.doc, "li", "data-testid", "entry")
		if len(entries) == 0 {
			t.Fatal("nothing shown")
		}
		for _, en := range entries {
			if find(en, "strong", "data-testid", "entry-new") == nil {
				t.Fatalf("an entry not new is shown: %s", text(en))
			}
		}
		if find(p.doc, "a", "data-testid", "new-since-all") == nil {
			t.Error("no way back to everything")
		}
		tagged := false
		for _, tag := range findAll(p.doc, "a", "data-testid", "filter-tag") {
			tagged = tagged || strings.Contains(text(tag), "New since you last looked")
		}
		if !tagged {
			t.Error("no filter tag says only what is new is shown")
		}
	})
	t.Run("SameVisitKeepsTheMarks", func(t *testing.T) {
		e.clock.Advance(5 * time.Minute)
		p := b2.get(record + "?kind=result")
		if find(p.doc, "strong", "data-testid", "new-since-count") == nil {
			t.Error("the next page of the visit lost what is new")
		}
	})
}
