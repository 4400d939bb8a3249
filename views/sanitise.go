package views

import (
	"context"
	"io"
	"regexp"

	"github.com/a-h/templ"
	"github.com/microcosm-cc/bluemonday"
)

// documentPolicy is what a source's HTML document may keep on a page:
// text structure only (paragraphs, lists, tables, emphasis, headings
// below the page's own), no attributes but a table cell's span and the
// text direction. No links, images, forms, scripts, styles or style
// attributes, so that the strict Content-Security-Policy (no inline
// styles) holds and nothing in a letter can fetch, run or restyle
// anything. Elements it does not allow are removed and their text kept
// (script and style lose their content too). Built on bluemonday, the
// Go ecosystem's maintained HTML sanitiser, stricter than its UGC policy.
var documentPolicy = func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "div", "span", "h3", "h4", "h5", "h6",
		"b", "strong", "i", "em", "u", "s", "sub", "sup", "small", "mark",
		"pre", "code", "blockquote", "hr", "abbr", "address", "cite", "q",
		"section", "article", "header", "footer")
	p.AllowLists()
	p.AllowElements("table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "colgroup", "col")
	p.AllowAttrs("colspan", "rowspan").Matching(bluemonday.Integer).OnElements("td", "th")
	p.AllowAttrs("scope").Matching(regexp.MustCompile(`^(row|col|rowgroup|colgroup)$`)).OnElements("th")
	p.AllowAttrs("dir").Matching(bluemonday.Direction).Globally()
	// Text of stripped tags ("<h1>Letter</h1><p>Dear") stays apart.
	p.AddSpaceWhenStrippingTag(true)
	return p
}()

// SanitiseHTML returns a source's HTML with only what documentPolicy
// allows. Every HTML document a page shows passes through it.
func SanitiseHTML(s string) string { return documentPolicy.Sanitize(s) }

// DocumentHTML renders a source's HTML document through the sanitiser:
// the one place a page writes markup that came from a source.
func DocumentHTML(s string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, SanitiseHTML(s))
		return err
	})
}
