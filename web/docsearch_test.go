package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestReadingDocuments checks reading the record's documents in turn and
// searching their text: the next and previous document link both ways,
// the search finds letters holding every word asked (the passage with the
// match marked), says how many documents it could not search, finds
// nothing for words no letter holds, and writes no searched words to the
// logs.
func TestReadingDocuments(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	record := "/patients/" + synthetic.RichNHSNumber
	b.settled(t, record)

	t.Run("NextAndPrevious", func(t *testing.T) {
		tl := b.get(record + "?kind=document")
		var first string
		for _, a := range findAll(tl.doc, "a", "", "") {
			if strings.HasPrefix(text(a), "Open ") {
				first = attr(a, "href")
				break
			}
		}
		if first == "" {
			t.Fatal("no document on the timeline")
		}
		d := b.get(first)
		older := attr(find(d.doc, "a", "data-testid", "document-older"), "href")
		if d.status != http.StatusOK || older == "" {
			t.Fatalf("status %d, older document %q: %s", d.status, older, text(find(d.doc, "p", "data-testid", "document-position")))
		}
		o := b.get(older)
		if back := attr(find(o.doc, "a", "data-testid", "document-newer"), "href"); back != first {
			t.Errorf("the older document's newer link is %q, want back to %q", back, first)
		}
		if pos := text(find(o.doc, "p", "data-testid", "document-position")); !strings.Contains(pos, " of ") {
			t.Errorf("position %q", pos)
		}
	})
	t.Run("SearchTheText", func(t *testing.T) {
		p := b.get(record + "/documents?" + url.Values{"q": {"DEAR clinic"}}.Encode())
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		hits := findAll(p.doc, "li", "data-testid", "docsearch-hit")
		if len(hits) == 0 {
			t.Fatalf("no letter holds 'dear' and 'clinic': %s", text(find(p.doc, "main", "", "")))
		}
		for _, h := range hits {
			if m := text(find(h, "mark", "", "")); !strings.EqualFold(m, "dear") {
				t.Errorf("the marked match is %q, want dear", m)
			}
			d := b.get(attr(find(h, "a", "", ""), "href"))
			if body := strings.ToLower(text(find(d.doc, "", "data-testid", "document-text"))); !strings.Contains(body, "dear") || !strings.Contains(body, "clinic") {
				t.Errorf("a hit's document does not hold both words: %.80s", body)
			}
		}
		if text(find(p.doc, "strong", "data-testid", "docsearch-unsearchable")) == "" {
			t.Error("the page does not say that the PDFs could not be searched")
		}
	})
	t.Run("NothingFound", func(t *testing.T) {
		p := b.get(record + "/documents?q=zqxjvwk")
		if find(p.doc, "p", "data-testid", "docsearch-none") == nil || len(findAll(p.doc, "li", "data-testid", "docsearch-hit")) > 0 {
			t.Errorf("a word no letter holds: %s", text(find(p.doc, "main", "", "")))
		}
		if strings.Contains(e.logs.String(), "zqxjvwk") {
			t.Error("the words searched for are in the logs")
		}
	})
}
