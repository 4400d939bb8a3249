package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestActiveFilterTags: a filtered timeline says so, with each filter a
// tag that removes it alone and the count of entries it leaves of all.
func TestActiveFilterTags(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	nhs := synthetic.RichNHSNumber
	b.giveReason(nhs, "direct-care", "")

	whole := b.get("/patients/" + nhs)
	if find(whole.doc, "", "data-testid", "active-filters") != nil {
		t.Fatal("the unfiltered record shows filter tags")
	}
	all := regexp.MustCompile(`of ([0-9,]+) entries`).FindStringSubmatch(text(find(whole.doc, "p", "data-testid", "timeline-count")))
	if all == nil {
		t.Fatal("no count on the unfiltered record")
	}
	q := url.Values{"kind": {"result", "document"}, "source": {synthetic.KingsODS}, "from": {"2020-01-01"}}
	p := b.get("/patients/" + nhs + "?" + q.Encode())
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	shown := regexp.MustCompile(`of ([0-9,]+) entries`).FindStringSubmatch(text(find(p.doc, "p", "data-testid", "timeline-count")))
	if got, want := text(find(p.doc, "p", "data-testid", "filter-count")), shown[1]+" of "+all[1]+" entries shown: filtered by"; got != want {
		t.Errorf("filter count %q, want %q", got, want)
	}
	tags := map[string]url.Values{}
	for _, a := range findAll(p.doc, "a", "data-testid", "filter-tag") {
		u, err := url.Parse(attr(a, "href"))
		if err != nil || u.Path != "/patients/"+nhs {
			t.Fatalf("tag %q links to %q", text(a), attr(a, "href"))
		}
		label, _, _ := strings.Cut(text(a), ": remove this filter")
		tags[label] = u.Query()
	}
	want := map[string]url.Values{
		"Test result": {"kind": {"document"}, "source": {synthetic.KingsODS}, "from": {"2020-01-01"}},
		"Document":    {"kind": {"result"}, "source": {synthetic.KingsODS}, "from": {"2020-01-01"}},
		"From King's College Hospital NHS Foundation Trust": {"kind": {"result", "document"}, "from": {"2020-01-01"}},
		"On or after 01-Jan-2020":                           {"kind": {"result", "document"}, "source": {synthetic.KingsODS}},
	}
	if len(tags) != len(want) {
		t.Errorf("tags %v, want %v", tags, want)
	}
	for label, w := range want {
		if got, ok := tags[label]; !ok || got.Encode() != w.Encode() {
			t.Errorf("tag %q removes to %v, want %v (tags: %v)", label, got, w, tags)
		}
	}
	if attr(find(p.doc, "a", "data-testid", "filter-clear"), "href") != "/patients/"+nhs {
		t.Error("no 'Clear filters' beside the tags")
	}
}
