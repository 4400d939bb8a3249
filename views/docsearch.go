package views

import (
	"html"
	"strings"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"

	"github.com/carerecord/carerecord/connectors"
)

// Searching the text of a record's letters, documents and reports: the
// server reads every one the record holds as text (HTML with its tags
// removed; imaging reports with their conclusions) and keeps those that
// hold every word asked, each with the passage around the first match.
// PDFs and documents whose content could not be read cannot be searched,
// and the page says how many there are.

var textOnly = bluemonday.StrictPolicy()

// DocumentText is a document's or imaging report's text as searched.
func DocumentText(e *connectors.Entry) string {
	switch {
	case e.Document != nil:
		if strings.Contains(strings.ToLower(e.Document.ContentType), "html") {
			return html.UnescapeString(textOnly.Sanitize(strings.NewReplacer("<br", " <br", "</p>", " </p>", "</div>", " </div>", "</li>", " </li>").Replace(e.Document.Text)))
		}
		return e.Document.Text
	case e.Imaging != nil:
		return joinNonEmpty("\n", e.Imaging.Report, e.Imaging.Conclusion)
	}
	return ""
}

// DocHit is one document that holds the words.
type DocHit struct {
	Entry connectors.Entry
	URL   string
	// Before, Match and After are the passage around the first match.
	Before, Match, After string
}

// DocSearchPage is the search of a record's documents.
type DocSearchPage struct {
	NHS    string
	Banner Banner
	Query  string
	Hits   []DocHit
	// Searched counts the documents with text; Unsearchable those
	// without (PDFs, content not sent or not readable).
	Searched, Unsearchable int
	Back                   string
}

// SearchDocuments keeps the documents among items whose text holds every
// word of q (case ignored), newest first.
func SearchDocuments(items []Item, q string, url func(*connectors.Entry) string) (hits []DocHit, searched, unsearchable int) {
	words := strings.Fields(strings.ToLower(q))
	for i := range items {
		e := &items[i].Entry
		if e.Document == nil && e.Imaging == nil {
			continue
		}
		text := DocumentText(e)
		if strings.TrimSpace(text) == "" {
			unsearchable++
			continue
		}
		searched++
		if len(words) == 0 {
			continue
		}
		lower := strings.ToLower(text)
		first := -1
		ok := true
		for _, w := range words {
			i := strings.Index(lower, w)
			if i < 0 {
				ok = false
				break
			}
			if first < 0 {
				first = i
			}
		}
		if !ok || len(lower) != len(text) {
			// (A text whose lower case changes its length is matched
			// on the lower case only; its passage is not cut.)
			if ok {
				hits = append(hits, DocHit{Entry: *e, URL: url(e), Before: passage(text, 0, 200)})
			}
			continue
		}
		w := words[0]
		hits = append(hits, DocHit{Entry: *e, URL: url(e),
			Before: "…" + lastRunes(text[:first], 80) + edgeSpace(text[:first], false), Match: text[first : first+len(w)],
			After: edgeSpace(text[first+len(w):], true) + firstRunes(text[first+len(w):], 120) + "…"})
	}
	return hits, searched, unsearchable
}

func passage(s string, from, n int) string { return firstRunes(s[from:], n) + "…" }

func firstRunes(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func lastRunes(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[len(r)-n:])
	}
	return s
}

// edgeSpace keeps one space where the text around a match had some.
func edgeSpace(s string, leading bool) string {
	if s == "" {
		return ""
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	if leading {
		r, _ = utf8.DecodeRuneInString(s)
	}
	if r == ' ' || r == '\n' || r == '\t' || r == '\r' {
		return " "
	}
	return ""
}
