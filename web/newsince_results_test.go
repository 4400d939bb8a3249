package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestResultsTableMarksWhatIsNew checks that the cumulative results table
// marks, in words, what arrived since the user last looked: nothing on a
// first visit (and it says why), then on a later visit the samples of
// Guy's and St Thomas' (unavailable on the first visit) and no others,
// with a count above the table.
func TestResultsTableMarksWhatIsNew(t *testing.T) {
	opt, cluster := withSources(t, nil, 3*time.Second)
	e := newEnv(t, opt)
	cluster.SetFaults(synthetic.GSTTODS, synthetic.Faults{Unavailable: true})
	results := "/patients/" + synthetic.RichNHSNumber + "/results"

	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	b.settled(t, "/patients/"+synthetic.RichNHSNumber)
	t.Run("FirstVisitMarksNothing", func(t *testing.T) {
		p := b.get(results)
		if got := text(find(p.doc, "p", "data-testid", "cumulative-new-since")); !strings.Contains(got, "first time") {
			t.Errorf("the first visit does not say nothing is marked: %q", got)
		}
		if n := len(findAll(p.doc, "strong", "data-testid", "sample-new")) + len(findAll(p.doc, "strong", "data-testid", "cumulative-new")); n != 0 {
			t.Errorf("%d marks of new on a first visit", n)
		}
	})

	// Later: Guy's answers again, and the user comes back after the gap
	// that ends a visit.
	cluster.SetFaults(synthetic.GSTTODS, synthetic.Faults{})
	e.clock.Advance(45 * time.Minute)
	b2 := e.browser()
	b2.signIn("/saml/login", "clinician")
	b2.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	b2.settled(t, "/patients/"+synthetic.RichNHSNumber)
	t.Run("LaterVisitMarksWhatArrived", func(t *testing.T) {
		p := b2.get(results)
		marked := 0
		for _, th := range findAll(p.doc, "th", "data-testid", "sample") {
			mark := find(th, "strong", "data-testid", "sample-new")
			if mark == nil {
				continue
			}
			marked++
			if got := text(mark); got != "New since you last looked" {
				t.Errorf("a new sample is marked %q, not in words", got)
			}
			if src := attr(th, "data-source"); src != synthetic.GSTTODS {
				t.Errorf("a sample of %s, seen on the first visit, is marked new", src)
			}
		}
		if marked == 0 {
			t.Fatal("no sample of Guy's and St Thomas' is marked new")
		}
		if n := len(findAll(p.doc, "strong", "data-testid", "cumulative-new")); n != 0 {
			t.Errorf("%d values marked new one by one, though they arrived as whole samples", n)
		}
		if got := text(find(p.doc, "p", "data-testid", "cumulative-new-since")); !strings.Contains(got, "arrived since you last looked") {
			t.Errorf("no count of what is new above the table: %q", got)
		}
	})
}
