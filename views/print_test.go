package views_test

import (
	"bytes"
	"context"
	"testing"

	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/views"
)

// TestPrintSummaryStatesWhatItHolds: a print states its filter in the
// record page's words with the count it keeps, or that it is of every
// entry; and a print cut at its cap says so, with how many it holds.
func TestPrintSummaryStatesWhatItHolds(t *testing.T) {
	tests := []struct {
		name   string
		page   views.PrintPage
		filter string
		capped string
	}{
		{"Unfiltered", views.PrintPage{Total: 1024, All: 1024, Printed: 1024},
			"Not filtered: all 1,024 entries.", ""},
		{"Filtered", views.PrintPage{Filters: []views.FilterTag{{Label: "Test result"}, {Label: "On or after 01-Jan-2025"}}, Total: 12, All: 1024, Printed: 12},
			"Filtered: Test result; On or after 01-Jan-2025; 12 of 1,024 entries.", ""},
		{"CutAtTheCap", views.PrintPage{Total: 6200, All: 6200, Printed: 5000},
			"Not filtered: all 6,200 entries.",
			"Not every entry is printed: this print holds the newest 5,000 of the 6,200 entries the filter keeps. Narrow the filter (by date or kind) to print the others."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := views.PrintSummary(views.Page{Title: "Summary"}, tc.page).Render(context.Background(), &buf); err != nil {
				t.Fatal(err)
			}
			doc, err := html.Parse(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := textOf(byTestID(doc, "print-filter")); got != tc.filter {
				t.Errorf("filter %q, want %q", got, tc.filter)
			}
			if got := textOf(byTestID(doc, "print-capped")); got != tc.capped {
				t.Errorf("cut %q, want %q", got, tc.capped)
			}
		})
	}
}

func byTestID(n *html.Node, id string) *html.Node {
	return findEl(n, func(n *html.Node) bool { return attrOf(n, "data-testid") == id })
}
