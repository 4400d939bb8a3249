package views

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// The cumulative results table: the results of one patient, panel by
// panel, a row per test and a column per sample, newest first. A value is
// placed in the column of its own sample (the time it was taken, to the
// minute, at its laboratory, in its report) and nowhere else: two samples
// on one day are two columns, and a column never gathers values taken at
// different times.

// CumulativeColumnsPerPage is how many sample columns each panel shows on
// one page of the table; older samples are on the next pages.
const CumulativeColumnsPerPage = 8

// Cumulative is the cumulative results table as shown.
type Cumulative struct {
	Panels []CumPanel
	// AbnormalOnly: only tests with an abnormal result are shown; Tests
	// counts every test held, Shown those shown.
	AbnormalOnly bool
	Tests, Shown int
	// Page of Pages: each page shows up to CumulativeColumnsPerPage
	// samples of each panel.
	Page, Pages int
	// Found: the report asked for is in the table, its column marked
	// Current and anchored at ReportAnchor.
	Found        bool
	ReportAnchor string
	// NewValues counts the values shown on this page that arrived since
	// the user last looked at the record (CumOptions.New).
	NewValues int
}

// CumPanel is one panel's table.
type CumPanel struct {
	ID, Title string
	Columns   []CumColumn // this page's samples, newest first
	Rows      []CumRow
	// Samples counts the panel's samples on every page; First and Last
	// number this page's (1-based), both 0 when it has none here.
	Samples, First, Last int
}

// CumColumn is one sample: when it was taken, where, and its report.
type CumColumn struct {
	Day, Time string // Time is "" when the source gave no time
	Source    connectors.Source
	// ID anchors the column; ReportURL opens its report's results on the
	// timeline (and the report as sent from there).
	ID, ReportURL string
	ReportTitle   string
	// Current: the sample of the report the table was opened from.
	Current bool
	// New: every value of this sample (in the rows shown) arrived since
	// the user last looked; marked "New" in words on the column.
	New bool
	key cumColKey
}

// Heading is the column's header as one line: "12-Mar-2026 09:05".
func (c CumColumn) Heading() string { return joinNonEmpty(" ", c.Day, c.Time) }

// CumRow is one test.
type CumRow struct {
	Title    string
	TrendURL string
	// Units are the units every value of the test shares, written for a
	// person; "" when they differ (each cell then says its own) or none.
	Units string
	// Range is the latest value's reference range.
	Range string
	// Cells has one cell per column of the page.
	Cells []CumCell
	// Previous is the value before the latest, with its date; Change says
	// how the latest differs from it, in words ("up 12", "down 0.4",
	// "no change"), or why it is not compared.
	Previous, Change string
	Abnormal         bool
	key              string
	order            int
}

// CumCell is one test in one sample: usually one value, more only when a
// laboratory reported the test twice in one sample.
type CumCell struct{ Values []CumValue }

// CumValue is one value as the table shows it.
type CumValue struct {
	Text     string // value (with units where the row has none)
	Flag     string // "High", "Critically low (systolic)" ...: in words
	Critical bool
	Status   string // "Preliminary", "Amended" ...
	Range    string // this value's range where it differs from the row's
	// New: the value arrived since the user last looked, in a sample
	// that is not itself all new (its column then says so once).
	New bool
}

// CumLinks builds the table's links; the web package knows the routes.
type CumLinks struct {
	Trend  func(e *connectors.Entry) string
	Report func(e *connectors.Entry) string
}

type cumColKey struct {
	minute    int64
	precision connectors.Precision
	ods       string
	group     string
}

func colKeyOf(e *connectors.Entry) cumColKey {
	k := cumColKey{precision: e.Precision, ods: e.Source.ODS, group: e.Result.Group}
	if !e.Date.IsZero() {
		k.minute = e.Date.Truncate(time.Minute).Unix()
	} else {
		k.minute = math.MinInt64 // no date: after every dated sample
	}
	return k
}

// compareCols orders samples newest first, then by source and report so
// that the order never depends on the order the sources answered.
func compareCols(a, b cumColKey) int {
	return cmp.Or(cmp.Compare(b.minute, a.minute), cmp.Compare(a.ods, b.ods), cmp.Compare(a.group, b.group),
		cmp.Compare(a.precision, b.precision))
}

// CumOptions choose what the table shows.
type CumOptions struct {
	Page         int
	AbnormalOnly bool
	// Report ("ODS/DiagnosticReport/id"): show the page holding this
	// report's sample, and mark its column.
	Report string
	// New reports whether a result arrived since the user last looked at
	// the record; nil marks nothing.
	New func(e *connectors.Entry) bool
}

// NewCumulative lays out the results among items (any kinds, newest
// first) as one page of the cumulative table.
func NewCumulative(items []Item, opts CumOptions, links CumLinks) Cumulative {
	type panelAcc struct {
		id, title string
		cols      map[cumColKey]*CumColumn
		rows      map[string]*rowAcc
	}
	panels := map[string]*panelAcc{}
	tests := map[string]bool{}
	var order []string
	for i := range items {
		e := &items[i].Entry
		if e.Result == nil {
			continue
		}
		id, title := PanelOf(e)
		p := panels[id]
		if p == nil {
			p = &panelAcc{id: id, title: title, cols: map[cumColKey]*CumColumn{}, rows: map[string]*rowAcc{}}
			panels[id] = p
			order = append(order, id)
		}
		ck := colKeyOf(e)
		if p.cols[ck] == nil {
			col := &CumColumn{Day: EntryDay(*e), Time: entryTime(*e), Source: e.Source, key: ck, ReportTitle: e.Result.GroupTitle}
			if links.Report != nil && e.Result.Group != "" {
				col.ReportURL = links.Report(e)
			}
			p.cols[ck] = col
		}
		tk := TestKey(e)
		tests[tk] = true
		r := p.rows[tk]
		if r == nil {
			r = &rowAcc{row: CumRow{Title: orNotKnown(e.Title), key: tk, order: testOrder[strings.TrimPrefix(id, "panel-")+"|"+loincOf(e.Codes)]}}
			if links.Trend != nil {
				r.row.TrendURL = links.Trend(e)
			}
			p.rows[tk] = r
		}
		r.entries = append(r.entries, e)
	}
	out := Cumulative{AbnormalOnly: opts.AbnormalOnly, Tests: len(tests), Page: max(opts.Page, 1)}
	shownTests := map[string]bool{}
	type laid struct {
		cp   CumPanel
		cols []CumColumn
		rows []*rowAcc
	}
	var all []laid
	for _, id := range order {
		p := panels[id]
		var rows []*rowAcc
		for _, r := range p.rows {
			if opts.AbnormalOnly && !r.abnormal() {
				continue
			}
			rows = append(rows, r)
			shownTests[r.row.key] = true
		}
		if len(rows) == 0 {
			continue
		}
		// The samples of the rows shown, newest first.
		used := map[cumColKey]bool{}
		for _, r := range rows {
			for _, e := range r.entries {
				used[colKeyOf(e)] = true
			}
		}
		// A sample is new when every value of it shown is.
		fresh := map[cumColKey]bool{}
		if opts.New != nil {
			for k := range used {
				fresh[k] = true
			}
			for _, r := range rows {
				for _, e := range r.entries {
					if !opts.New(e) {
						fresh[colKeyOf(e)] = false
					}
				}
			}
		}
		var cols []CumColumn
		for k := range used {
			c := *p.cols[k]
			c.New = fresh[k]
			cols = append(cols, c)
		}
		slices.SortFunc(cols, func(a, b CumColumn) int { return compareCols(a.key, b.key) })
		for i := range cols {
			cols[i].ID = id + "-" + strconv.Itoa(i+1)
			if opts.Report != "" && cols[i].key.ods+"/"+cols[i].key.group == opts.Report && !out.Found {
				// Opened from a report: the page holding its sample.
				out.Found, cols[i].Current = true, true
				out.Page = i/CumulativeColumnsPerPage + 1
				out.ReportAnchor = cols[i].ID
			}
		}
		slices.SortFunc(rows, func(a, b *rowAcc) int {
			ao, bo := a.row.order, b.row.order
			switch {
			case ao > 0 && bo > 0 && ao != bo:
				return cmp.Compare(ao, bo)
			case ao > 0 && bo == 0:
				return -1
			case bo > 0 && ao == 0:
				return 1
			}
			return cmp.Or(cmp.Compare(strings.ToLower(a.row.Title), strings.ToLower(b.row.Title)), cmp.Compare(a.row.key, b.row.key))
		})
		all = append(all, laid{CumPanel{ID: id, Title: p.title, Samples: len(cols)}, cols, rows})
		out.Pages = max(out.Pages, (len(cols)+CumulativeColumnsPerPage-1)/CumulativeColumnsPerPage)
	}
	out.Pages = max(out.Pages, 1)
	out.Page = min(out.Page, out.Pages)
	for _, l := range all {
		cp := l.cp
		start := (out.Page - 1) * CumulativeColumnsPerPage
		if start < len(l.cols) {
			end := min(start+CumulativeColumnsPerPage, len(l.cols))
			cp.Columns, cp.First, cp.Last = l.cols[start:end], start+1, end
		}
		for _, r := range l.rows {
			row := r.layout(cp.Columns, opts.New)
			for i, cell := range row.Cells {
				for _, v := range cell.Values {
					if v.New || cp.Columns[i].New {
						out.NewValues++
					}
				}
			}
			cp.Rows = append(cp.Rows, row)
		}
		out.Panels = append(out.Panels, cp)
	}
	out.Shown = len(shownTests)
	// Panels as a laboratory's request form lists them, then the source's
	// own reports by name, "Other results" last.
	slices.SortStableFunc(out.Panels, func(a, b CumPanel) int {
		return cmp.Compare(panelRank(a), panelRank(b))
	})
	return out
}

func panelRank(p CumPanel) int {
	for i, d := range panelDefs {
		if p.ID == "panel-"+d.id {
			return i
		}
	}
	if p.ID == "panel-other" {
		return len(panelDefs) + 1
	}
	return len(panelDefs)
}

// rowAcc gathers one test's results, newest first.
type rowAcc struct {
	row     CumRow
	entries []*connectors.Entry
}

func (r *rowAcc) abnormal() bool {
	for _, e := range r.entries {
		if e.Result.Abnormal() {
			return true
		}
	}
	return false
}

// layout fills the row for this page's columns, with its units, range,
// previous value and change; a value new in a sample not all new is
// marked on its own.
func (r *rowAcc) layout(cols []CumColumn, isNew func(*connectors.Entry) bool) CumRow {
	row := r.row
	row.Abnormal = r.abnormal()
	// The row carries the units when every value shares them.
	sharedKey, shared := "", true
	for i, e := range r.entries {
		k := UnitKey(e.Result.Units)
		if i == 0 {
			sharedKey = k
		} else if k != sharedKey {
			shared = false
		}
	}
	slices.SortStableFunc(r.entries, func(a, b *connectors.Entry) int { return compareCols(colKeyOf(a), colKeyOf(b)) })
	latest := r.entries[0]
	if shared {
		row.Units = Units(latest.Result.Units)
	}
	row.Range = trendRange(latest.Result)
	byCol := map[cumColKey][]*connectors.Entry{}
	for _, e := range r.entries {
		byCol[colKeyOf(e)] = append(byCol[colKeyOf(e)], e)
	}
	row.Cells = make([]CumCell, len(cols))
	for i, c := range cols {
		for _, e := range byCol[c.key] {
			v := cumValue(e, shared, row.Range)
			v.New = isNew != nil && !c.New && isNew(e)
			row.Cells[i].Values = append(row.Cells[i].Values, v)
		}
	}
	if len(r.entries) > 1 {
		prev := r.entries[1]
		row.Previous = ResultValue(prev.Result) + " on " + EntryDay(*prev)
		row.Change = change(latest.Result, prev.Result)
	}
	return row
}

func cumValue(e *connectors.Entry, sharedUnits bool, rowRange string) CumValue {
	r := e.Result
	v := CumValue{Text: ResultValue(r), Status: connectors.StatusLabel(r.Status)}
	if sharedUnits && r.Value != "" {
		v.Text = r.Comparator + r.Value
	}
	v.Flag, v.Critical = ResultFlag(r)
	if v.Flag == "" && r.Interpretation != "" {
		v.Flag = r.Interpretation
	}
	if rg := trendRange(r); rg != "" && rg != rowRange {
		v.Range = "range " + rg
	}
	return v
}

// change says how the latest value differs from the one before, when both
// are plain numbers in one unit; otherwise why they are not compared.
func change(latest, prev *connectors.Result) string {
	if latest.Numeric == nil || prev.Numeric == nil {
		return ""
	}
	if UnitKey(latest.Units) != UnitKey(prev.Units) {
		return "Not compared: units differ"
	}
	if latest.Comparator != "" || prev.Comparator != "" {
		return "Not compared: a value is a bound (" + joinNonEmpty(", ", latest.Comparator+latest.Value, prev.Comparator+prev.Value) + ")"
	}
	d := *latest.Numeric - *prev.Numeric
	places := max(decimals(latest.Value), decimals(prev.Value))
	s := strconv.FormatFloat(math.Abs(d), 'f', places, 64)
	if z, _ := strconv.ParseFloat(s, 64); z == 0 {
		return "No change"
	}
	if d > 0 {
		return "Up " + s
	}
	return "Down " + s
}

func decimals(v string) int {
	if i := strings.IndexByte(v, '.'); i >= 0 {
		return len(v) - i - 1
	}
	return 0
}

// rangeWords writes a row's range after its units: "range 45–84".
func rangeWords(r string) string {
	if r == "" {
		return ""
	}
	return "range " + r
}

// pluralWord is one or many: "result" or "results".
func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
