package views_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/views"
)

var (
	kings = connectors.Source{Name: "King's College Hospital", ODS: "RJZ"}
	guys  = connectors.Source{Name: "Guy's and St Thomas'", ODS: "RJ1"}
)

func loinc(code, display string) []connectors.Code {
	return []connectors.Code{{System: "http://loinc.org", Code: code, Display: display}}
}

// lab makes one numeric laboratory result in report group at time at.
func lab(src connectors.Source, at time.Time, group, code, title, value, units string, flag connectors.Flag) views.Item {
	n, err := strconv.ParseFloat(value, 64)
	r := &connectors.Result{Value: value, Units: units, Flag: flag, Group: group, GroupTitle: "Report " + group}
	if err == nil {
		r.Numeric = &n
	}
	return views.Item{Entry: connectors.Entry{Kind: connectors.KindResult, ID: "Observation/" + code + at.Format("0601021504") + src.ODS,
		Source: src, Date: at, Codes: loinc(code, title), Title: title, Result: r}}
}

func day(d, h int) time.Time { return time.Date(2026, 3, d, h, 5, 0, 0, time.UTC) }

// table finds a panel of the cumulative table by its anchor.
func panelOf(t *testing.T, c views.Cumulative, id string) views.CumPanel {
	t.Helper()
	for _, p := range c.Panels {
		if p.ID == id {
			return p
		}
	}
	var ids []string
	for _, p := range c.Panels {
		ids = append(ids, p.ID)
	}
	t.Fatalf("no panel %s among %v", id, ids)
	return views.CumPanel{}
}

func rowOf(t *testing.T, p views.CumPanel, title string) views.CumRow {
	t.Helper()
	for _, r := range p.Rows {
		if r.Title == title {
			return r
		}
	}
	t.Fatalf("no row %q in %s", title, p.ID)
	return views.CumRow{}
}

// cellTexts gives each cell of a row as "value flag", "" when empty.
func cellTexts(r views.CumRow) []string {
	var out []string
	for _, c := range r.Cells {
		var vs []string
		for _, v := range c.Values {
			vs = append(vs, strings.TrimSpace(v.Text+" "+v.Flag))
		}
		out = append(out, strings.Join(vs, " | "))
	}
	return out
}

func TestCumulative(t *testing.T) {
	items := []views.Item{ // newest first, as the timeline holds them
		lab(kings, day(20, 9), "DiagnosticReport/u3", "14682-9", "Creatinine", "130", "umol/L", connectors.FlagHigh),
		lab(kings, day(20, 9), "DiagnosticReport/u3", "2823-3", "Potassium", "4.1", "mmol/L", connectors.FlagNormal),
		// Two samples on one day at two laboratories: two columns.
		lab(guys, day(12, 15), "DiagnosticReport/g2", "14682-9", "Creatinine", "118", "µmol/L", connectors.FlagHigh),
		lab(kings, day(12, 8), "DiagnosticReport/u2", "14682-9", "Creatinine", "95", "umol/L", connectors.FlagHigh),
		lab(kings, day(12, 8), "DiagnosticReport/f2", "718-7", "Haemoglobin", "101", "g/L", connectors.FlagLow),
		lab(kings, day(1, 8), "DiagnosticReport/u1", "14682-9", "Creatinine", "80", "umol/L", connectors.FlagNormal),
		lab(kings, day(1, 8), "DiagnosticReport/u1", "2823-3", "Potassium", "4.4", "mmol/L", connectors.FlagNormal),
		// A test done once, not in any known panel, with a text value.
		{Entry: connectors.Entry{Kind: connectors.KindResult, ID: "Observation/bc", Source: kings, Date: day(2, 10),
			Codes: loinc("600-7", "Blood culture"), Title: "Blood culture", Result: &connectors.Result{Value: "No growth"}}},
		// Not a result: ignored.
		{Entry: connectors.Entry{Kind: connectors.KindDocument, ID: "DocumentReference/d", Source: kings, Date: day(3, 10), Title: "Letter",
			Document: &connectors.Document{}}},
	}
	links := views.CumLinks{Report: func(e *connectors.Entry) string { return "report:" + e.Source.ODS + "/" + e.Result.Group }}
	all := views.NewCumulative(items, views.CumOptions{}, links)

	t.Run("PanelsByCode", func(t *testing.T) {
		var got []string
		for _, p := range all.Panels {
			got = append(got, p.Title)
		}
		want := []string{"Full blood count (FBC)", "Urea and electrolytes (U&E)", "Other results"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("panels %q, want %q (known panels in order, Other results last)", got, want)
		}
		if all.Tests != 4 || all.Shown != 4 {
			t.Errorf("tests %d shown %d, want 4 and 4", all.Tests, all.Shown)
		}
	})
	t.Run("ValuesInTheirOwnSampleColumn", func(t *testing.T) {
		ue := panelOf(t, all, "panel-ue")
		var heads []string
		for _, c := range ue.Columns {
			heads = append(heads, c.Heading()+" "+c.Source.ODS)
		}
		want := []string{"20-Mar-2026 09:05 RJZ", "12-Mar-2026 15:05 RJ1", "12-Mar-2026 08:05 RJZ", "01-Mar-2026 08:05 RJZ"}
		if fmt.Sprint(heads) != fmt.Sprint(want) {
			t.Fatalf("columns %q, want %q (newest first, one per sample)", heads, want)
		}
		if got, want := cellTexts(rowOf(t, ue, "Creatinine")), []string{"130 High", "118 High", "95 High", "80"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("creatinine cells %q, want %q", got, want)
		}
		// Potassium was not measured on the 12th: its cells there are empty,
		// never filled with a neighbour's value.
		if got, want := cellTexts(rowOf(t, ue, "Potassium")), []string{"4.1", "", "", "4.4"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("potassium cells %q, want %q", got, want)
		}
	})
	t.Run("EquivalentUnitsShareTheRow", func(t *testing.T) {
		r := rowOf(t, panelOf(t, all, "panel-ue"), "Creatinine")
		if r.Units != "µmol/L" {
			t.Errorf("creatinine row units %q, want µmol/L (umol/L and µmol/L are one unit)", r.Units)
		}
	})
	t.Run("PreviousAndChange", func(t *testing.T) {
		ue := panelOf(t, all, "panel-ue")
		cr := rowOf(t, ue, "Creatinine")
		if cr.Change != "Up 12" || cr.Previous != "118 µmol/L on 12-Mar-2026" {
			t.Errorf("creatinine change %q previous %q, want Up 12 and 118 µmol/L on 12-Mar-2026", cr.Change, cr.Previous)
		}
		k := rowOf(t, ue, "Potassium")
		if k.Change != "Down 0.3" {
			t.Errorf("potassium change %q, want Down 0.3", k.Change)
		}
		once := rowOf(t, panelOf(t, all, "panel-other"), "Blood culture")
		if once.Previous != "" || once.Change != "" {
			t.Errorf("a test done once has previous %q change %q", once.Previous, once.Change)
		}
	})
	t.Run("OneOffResultsIncluded", func(t *testing.T) {
		bc := rowOf(t, panelOf(t, all, "panel-other"), "Blood culture")
		if got := cellTexts(bc); fmt.Sprint(got) != "[No growth]" {
			t.Errorf("blood culture cells %q", got)
		}
	})
	t.Run("AbnormalOnly", func(t *testing.T) {
		ab := views.NewCumulative(items, views.CumOptions{AbnormalOnly: true}, links)
		if !ab.AbnormalOnly || ab.Tests != 4 || ab.Shown != 2 {
			t.Fatalf("abnormal only: %v, shown %d of %d, want 2 of 4", ab.AbnormalOnly, ab.Shown, ab.Tests)
		}
		ue := panelOf(t, ab, "panel-ue")
		if len(ue.Rows) != 1 || ue.Rows[0].Title != "Creatinine" {
			t.Errorf("U&E rows with abnormal only: %+v", ue.Rows)
		}
		for _, p := range ab.Panels {
			if p.ID == "panel-other" {
				t.Error("the panel with no abnormal result is still shown")
			}
		}
	})
	t.Run("ReportLinksBothWays", func(t *testing.T) {
		c := views.NewCumulative(items, views.CumOptions{Report: "RJ1/DiagnosticReport/g2"}, links)
		if !c.Found {
			t.Fatal("the report's sample was not found")
		}
		ue := panelOf(t, c, "panel-ue")
		for _, col := range ue.Columns {
			if col.Current != (col.Source.ODS == "RJ1") {
				t.Errorf("column %s %s current=%v", col.Heading(), col.Source.ODS, col.Current)
			}
			if col.Current && (col.ID != c.ReportAnchor || col.ReportURL != "report:RJ1/DiagnosticReport/g2") {
				t.Errorf("the report's column is %q (anchor %q), links to %q", col.ID, c.ReportAnchor, col.ReportURL)
			}
		}
	})
}

// TestCumulativePages checks that a long history is paged by samples, that
// each page says which of how many it is, and that the report's page is
// the one opened from it.
func TestCumulativePages(t *testing.T) {
	var items []views.Item
	for i := 20; i >= 1; i-- {
		items = append(items, lab(kings, day(i, 8), "DiagnosticReport/u"+strconv.Itoa(i), "2823-3", "Potassium", "4."+strconv.Itoa(i%10), "mmol/L", ""))
	}
	cases := []struct {
		name              string
		opts              views.CumOptions
		page, first, last int
		firstDay          string
	}{
		{"FirstPage", views.CumOptions{}, 1, 1, 8, "20-Mar-2026"},
		{"SecondPage", views.CumOptions{Page: 2}, 2, 9, 16, "12-Mar-2026"},
		{"LastPage", views.CumOptions{Page: 3}, 3, 17, 20, "04-Mar-2026"},
		{"PastTheEnd", views.CumOptions{Page: 9}, 3, 17, 20, "04-Mar-2026"},
		{"OpenedFromAReport", views.CumOptions{Report: "RJZ/DiagnosticReport/u3"}, 3, 17, 20, "04-Mar-2026"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := views.NewCumulative(items, c.opts, views.CumLinks{})
			p := got.Panels[0]
			if got.Page != c.page || got.Pages != 3 || p.First != c.first || p.Last != c.last || p.Samples != 20 || p.Columns[0].Day != c.firstDay {
				t.Errorf("page %d of %d, samples %d to %d of %d from %s; want page %d of 3, %d to %d of 20 from %s",
					got.Page, got.Pages, p.First, p.Last, p.Samples, p.Columns[0].Day, c.page, c.first, c.last, c.firstDay)
			}
		})
	}
}

func TestUnitKey(t *testing.T) {
	same := [][]string{
		{"µmol/L", "umol/L", "μmol/L", "umol/l", "µmol/l"},
		{"10^9/L", "10*9/L", "×10⁹/L", "x10^9/L", "10E9/L", "10*9/l"},
		{"mmol/L", "mmol/l", " mmol/L "},
		{"IU/L", "[iU]/L", "[IU]/L", "iu/l"},
		{"mL/min/1.73m2", "mL/min/{1.73_m2}", "ml/min/1.73m²"},
		{"mmHg", "mm[Hg]"},
		{"°C", "Cel"},
		{"ug/L", "µg/L", "mcg/L"},
	}
	for _, group := range same {
		for _, u := range group[1:] {
			if views.UnitKey(u) != views.UnitKey(group[0]) {
				t.Errorf("UnitKey(%q) = %q, UnitKey(%q) = %q: want one unit", u, views.UnitKey(u), group[0], views.UnitKey(group[0]))
			}
		}
	}
	different := [][2]string{
		{"U/L", "IU/L"},
		{"mU/L", "m[IU]/L"},
		{"mL/min", "mL/min/{1.73_m2}"},
		{"mmol/L", "mmol/mol"},
		{"mg/L", "mg/dL"},
		{"10^9/L", "10^12/L"},
		{"g/L", "g/dL"},
	}
	for _, d := range different {
		if views.UnitKey(d[0]) == views.UnitKey(d[1]) {
			t.Errorf("UnitKey(%q) = UnitKey(%q) = %q: they are different units", d[0], d[1], views.UnitKey(d[0]))
		}
	}
}

// TestCumulativeHTML checks the table as rendered: the test name is a row
// header, every cell is tied to its sample's column header, abnormal
// values carry the word, and the abnormal-only state is said.
func TestCumulativeHTML(t *testing.T) {
	items := []views.Item{
		lab(kings, day(20, 9), "DiagnosticReport/u3", "14682-9", "Creatinine", "130", "umol/L", connectors.FlagCriticalHigh),
		lab(kings, day(1, 8), "DiagnosticReport/u1", "14682-9", "Creatinine", "80", "umol/L", connectors.FlagNormal),
	}
	for _, abnormal := range []bool{false, true} {
		t.Run("AbnormalOnly="+strconv.FormatBool(abnormal), func(t *testing.T) {
			rp := views.ResultsPage{NHS: "9990000018", Table: views.NewCumulative(items, views.CumOptions{AbnormalOnly: abnormal}, views.CumLinks{}),
				AllURL: "/all", AbnormalURL: "/abnormal"}
			var out bytes.Buffer
			if err := views.Results(views.Page{Title: "Results"}, rp).Render(context.Background(), &out); err != nil {
				t.Fatal(err)
			}
			doc, err := html.Parse(&out)
			if err != nil {
				t.Fatal(err)
			}
			region := findEl(doc, func(n *html.Node) bool { return attrOf(n, "role") == "region" })
			if region == nil || attrOf(region, "aria-label") == "" || attrOf(region, "tabindex") != "0" {
				t.Fatal("the table is not in a labelled, focusable scrolling region")
			}
			row := findEl(doc, func(n *html.Node) bool { return attrOf(n, "data-testid") == "cumulative-row" })
			th := findEl(row, func(n *html.Node) bool { return n.Data == "th" })
			if attrOf(th, "scope") != "row" || !strings.Contains(textOf(th), "Creatinine") {
				t.Errorf("row header %q scope %q", textOf(th), attrOf(th, "scope"))
			}
			cells := findAllEl(row, func(n *html.Node) bool { return attrOf(n, "data-testid") == "cumulative-cell" })
			if len(cells) != 2 {
				t.Fatalf("%d cells", len(cells))
			}
			head := findEl(doc, func(n *html.Node) bool { return n.Data == "th" && attrOf(n, "id") == attrOf(cells[0], "headers") })
			if head == nil || !strings.Contains(textOf(head), "20-Mar-2026") {
				t.Errorf("the first cell's header is %q, want the 20-Mar-2026 sample", textOf(head))
			}
			if got := textOf(cells[0]); !strings.Contains(got, "130") || !strings.Contains(got, "Critically high") {
				t.Errorf("the abnormal cell reads %q, want the value and the word", got)
			}
			filter := textOf(findEl(doc, func(n *html.Node) bool { return attrOf(n, "data-testid") == "cumulative-filter" }))
			toggle := findEl(doc, func(n *html.Node) bool { return attrOf(n, "data-testid") == "cumulative-toggle" })
			if abnormal {
				if !strings.Contains(filter, "only tests with an abnormal result: 1 of 1") || attrOf(toggle, "href") != "/all" {
					t.Errorf("abnormal-only page says %q, toggle to %q", filter, attrOf(toggle, "href"))
				}
			} else if !strings.Contains(filter, "every test") || attrOf(toggle, "href") != "/abnormal" {
				t.Errorf("full page says %q, toggle to %q", filter, attrOf(toggle, "href"))
			}
			if got := textOf(findEl(doc, func(n *html.Node) bool { return attrOf(n, "data-testid") == "cumulative-page" })); !strings.Contains(got, "Page 1 of 1") {
				t.Errorf("page line %q", got)
			}
		})
	}
}

func findAllEl(n *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && ok(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
	return out
}

func findEl(n *html.Node, ok func(*html.Node) bool) *html.Node {
	if all := findAllEl(n, ok); len(all) > 0 {
		return all[0]
	}
	return nil
}

func attrOf(n *html.Node, key string) string {
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

func textOf(n *html.Node) string {
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

// TestCumulativeMarksWhatIsNew: a sample every shown value of which
// arrived since the user last looked is marked "New" on its column, once;
// a value that arrived late in an older sample is marked on its own; and
// nothing is marked when nothing is said to be new.
func TestCumulativeMarksWhatIsNew(t *testing.T) {
	items := []views.Item{
		lab(kings, day(20, 9), "DiagnosticReport/u3", "14682-9", "Creatinine", "130", "umol/L", connectors.FlagHigh),
		lab(kings, day(20, 9), "DiagnosticReport/u3", "2823-3", "Potassium", "4.1", "mmol/L", connectors.FlagNormal),
		lab(kings, day(12, 8), "DiagnosticReport/u2", "14682-9", "Creatinine", "95", "umol/L", connectors.FlagHigh),
		lab(kings, day(1, 8), "DiagnosticReport/u1", "14682-9", "Creatinine", "80", "umol/L", connectors.FlagNormal),
		// Added to the old sample since: new on its own.
		lab(kings, day(1, 8), "DiagnosticReport/u1", "2823-3", "Potassium", "4.4", "mmol/L", connectors.FlagNormal),
	}
	fresh := map[string]bool{items[0].Entry.Key(): true, items[1].Entry.Key(): true, items[4].Entry.Key(): true}
	isNew := func(e *connectors.Entry) bool { return fresh[e.Key()] }
	// newMarks gives each column as "heading: New" or "heading", and each
	// row's cells as "New" where the value is marked.
	newMarks := func(c views.Cumulative) (cols []string, cells map[string][]bool) {
		ue := panelOf(t, c, "panel-ue")
		for _, col := range ue.Columns {
			s := col.Heading()
			if col.New {
				s += ": New"
			}
			cols = append(cols, s)
		}
		cells = map[string][]bool{}
		for _, r := range ue.Rows {
			for _, cell := range r.Cells {
				marked := false
				for _, v := range cell.Values {
					marked = marked || v.New
				}
				cells[r.Title] = append(cells[r.Title], marked)
			}
		}
		return cols, cells
	}
	tests := []struct {
		name      string
		opts      views.CumOptions
		cols      []string
		cells     map[string][]bool
		newValues int
	}{
		{"NewSampleOnItsColumnNewValueInItsCell", views.CumOptions{New: isNew},
			[]string{"20-Mar-2026 09:05: New", "12-Mar-2026 08:05", "01-Mar-2026 08:05"},
			map[string][]bool{"Creatinine": {false, false, false}, "Potassium": {false, false, true}}, 3},
		{"NothingNewNothingMarked", views.CumOptions{},
			[]string{"20-Mar-2026 09:05", "12-Mar-2026 08:05", "01-Mar-2026 08:05"},
			map[string][]bool{"Creatinine": {false, false, false}, "Potassium": {false, false, false}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := views.NewCumulative(items, tc.opts, views.CumLinks{})
			cols, cells := newMarks(c)
			if fmt.Sprint(cols) != fmt.Sprint(tc.cols) {
				t.Errorf("columns %q, want %q", cols, tc.cols)
			}
			if fmt.Sprint(cells) != fmt.Sprint(tc.cells) {
				t.Errorf("cells marked new %v, want %v", cells, tc.cells)
			}
			if c.NewValues != tc.newValues {
				t.Errorf("%d new values counted, want %d", c.NewValues, tc.newValues)
			}
		})
	}
}
