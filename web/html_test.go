package web_test

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// find returns the first element with the tag and, if key is set, the
// attribute value.
func find(n *html.Node, tag, key, val string) *html.Node {
	all := findAll(n, tag, key, val)
	if len(all) == 0 {
		return nil
	}
	return all[0]
}

func findAll(n *html.Node, tag, key, val string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n == nil {
			return
		}
		if n.Type == html.ElementNode && (tag == "" || n.Data == tag) && (key == "" || hasAttr(n, key, val)) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func hasAttr(n *html.Node, key, val string) bool {
	for _, a := range n.Attr {
		if a.Key == key && (val == "*" || a.Val == val) {
			return true
		}
	}
	return false
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func (p *page) h1() string { return text(find(p.doc, "h1", "", "")) }

// selectForm picks a form by a tiny selector: "form[action='/x']" or
// "form[data-auto-submit]".
func (p *page) selectForm(t *testing.T, sel string) *html.Node {
	t.Helper()
	var f *html.Node
	switch {
	case strings.HasPrefix(sel, "form[action='"):
		f = find(p.doc, "form", "action", strings.TrimSuffix(strings.TrimPrefix(sel, "form[action='"), "']"))
	case sel == "form[data-auto-submit]":
		f = find(p.doc, "form", "data-auto-submit", "*")
	}
	if f == nil {
		t.Fatalf("no %s on page %s (status %d): %s", sel, p.url, p.status, p.h1())
	}
	return f
}

// form returns the values of the form's inputs, as a browser would send
// them (text, hidden and checked radios).
func (p *page) form(t *testing.T, sel string) url.Values {
	t.Helper()
	f := p.selectForm(t, sel)
	v := url.Values{}
	for _, in := range findAll(f, "input", "", "") {
		name := attr(in, "name")
		if name == "" {
			continue
		}
		switch attr(in, "type") {
		case "radio", "checkbox":
			if hasAttr(in, "checked", "*") {
				v.Add(name, attr(in, "value"))
			}
		default:
			v.Add(name, attr(in, "value"))
		}
	}
	return v
}

func (p *page) formAction(t *testing.T, sel string) string {
	t.Helper()
	return attr(p.selectForm(t, sel), "action")
}
