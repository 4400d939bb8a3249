package web_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestObjectionQueueSaysEachHeadingOnce: each table in the case queue is
// named by its heading alone (no caption or label saying it again), and
// a seeded case carries the name the patient gave.
func TestObjectionQueueSaysEachHeadingOnce(t *testing.T) {
	e := sourcesEnv(t)
	if err := e.db.SeedUpheldObjectionNamed(context.Background(), "9990000026", "Oliver James Brackenbury", "demo"); err != nil {
		t.Fatal(err)
	}
	ig := e.browser()
	ig.signIn("/saml/login", "igofficer")
	p := ig.get("/ig/objections")
	n := 0
	var walk func(*html.Node)
	walk = func(x *html.Node) {
		if x.Type == html.TextNode {
			n += strings.Count(x.Data, "Objections in force")
		}
		for _, a := range x.Attr {
			if a.Key == "aria-label" || a.Key == "title" {
				n += strings.Count(a.Val, "Objections in force")
			}
		}
		for c := x.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(find(p.doc, "main", "", ""))
	if n != 1 {
		t.Errorf("the queue says \"Objections in force\" %d times, want once", n)
	}
	table := find(p.doc, "table", "data-testid", "upheld")
	if table == nil || find(p.doc, "", "id", attr(table, "aria-labelledby")) == nil {
		t.Fatal("the table of objections in force is not named by its heading")
	}
	if got := text(table); !strings.Contains(got, "Oliver James Brackenbury") || strings.Contains(got, "Not Known") {
		t.Errorf("the seeded case reads %q, want the name the patient gave", got)
	}
}
