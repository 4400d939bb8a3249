package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/views"
)

func page(t *testing.T, p views.Page) (string, *html.Node) {
	t.Helper()
	var b bytes.Buffer
	ctx := views.WithCSRFToken(context.Background(), "tok-123")
	if err := views.ErrorPage(p, 404, "Page not found", "Check the address.").Render(ctx, &b); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), doc
}

func count(n *html.Node, tag string) int {
	c := 0
	if n.Type == html.ElementNode && n.Data == tag {
		c++
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c += count(ch, tag)
	}
	return c
}

func TestLayout(t *testing.T) {
	t.Run("UserDataIsEscaped", func(t *testing.T) {
		out, doc := page(t, views.Page{Title: "x", User: &views.UserBar{Name: `<script>alert("n")</script>`, RoleName: "Nurse", OrgName: `<img src=x onerror=alert(1)>`, ODS: "RJ1"}})
		if strings.Contains(out, "<script>alert") || strings.Contains(out, "<img src=x") {
			t.Fatal("user data reached the page unescaped")
		}
		if count(doc, "img") != 0 {
			t.Fatal("an img element was injected")
		}
		if !strings.Contains(out, "&lt;script&gt;") {
			t.Fatal("the name is not shown as text")
		}
	})
	t.Run("OneH1SkipLinkAndSignOutWithToken", func(t *testing.T) {
		out, doc := page(t, views.Page{Title: "x", User: &views.UserBar{Name: "A", RoleName: "Nurse", OrgName: "Guy's", ODS: "RJ1"}})
		if n := count(doc, "h1"); n != 1 {
			t.Fatalf("%d h1 elements, want 1", n)
		}
		if !strings.Contains(out, `href="#maincontent"`) || !strings.Contains(out, `id="maincontent"`) {
			t.Fatal("no skip link to the main content")
		}
		if !strings.Contains(out, `action="/signout"`) || !strings.Contains(out, `name="csrf_token" value="tok-123"`) {
			t.Fatal("no sign-out form carrying the CSRF token")
		}
	})
	t.Run("DevWarningOnlyWhenDevSignIn", func(t *testing.T) {
		on, _ := page(t, views.Page{Title: "x", DevSignIn: true})
		off, _ := page(t, views.Page{Title: "x"})
		if !strings.Contains(on, "Development sign-in") || strings.Contains(off, "Development sign-in") {
			t.Fatal("the development warning must show exactly when the development IdP is active")
		}
	})
	t.Run("NoInlineScripts", func(t *testing.T) {
		_, doc := page(t, views.Page{Title: "x", DevSignIn: true, User: &views.UserBar{Name: "A"}})
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == "script" {
				src := ""
				for _, a := range n.Attr {
					if a.Key == "src" {
						src = a.Val
					}
				}
				if src == "" || n.FirstChild != nil {
					t.Error("inline script: the CSP forbids it")
				}
			}
			if n.Type == html.ElementNode {
				for _, a := range n.Attr {
					if strings.HasPrefix(a.Key, "on") || a.Key == "style" {
						t.Errorf("inline %s attribute on <%s>", a.Key, n.Data)
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
	})
}

func TestDateTime(t *testing.T) {
	cases := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 3, 12, 9, 5, 0, 0, time.UTC), "12-Mar-2026 09:05"},   // GMT
		{time.Date(2026, 7, 14, 23, 30, 0, 0, time.UTC), "15-Jul-2026 00:30"}, // BST: the next day in London
		{time.Time{}, "Not Known"},
	}
	for _, c := range cases {
		if got := views.DateTime(c.in); got != c.want {
			t.Errorf("DateTime(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestUnits checks that units read as a clinician writes them, not in
// UCUM's machine form, and that annotation-only units are left out.
func TestUnits(t *testing.T) {
	for in, want := range map[string]string{
		"mmol/L":           "mmol/L",
		"10*9/L":           "×10⁹/L",
		"10^9/L":           "×10⁹/L",
		"10*12/L":          "×10¹²/L",
		"[iU]/L":           "IU/L",
		"4000 [iU]":        "4000 IU",
		"mm[Hg]":           "mmHg",
		"mL/min/{1.73_m2}": "mL/min/1.73 m²",
		"mL/min/1.73m2":    "mL/min/1.73m²",
		"umol/L":           "µmol/L",
		"Cel":              "°C",
		"{score}":          "",
		"1":                "",
		"%":                "%",
		"":                 "",
	} {
		if got := views.Units(in); got != want {
			t.Errorf("Units(%q) = %q, want %q", in, got, want)
		}
	}
}
