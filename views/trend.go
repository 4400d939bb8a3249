package views

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// Trends are drawn as SVG on the server: no chart library, no script, and
// the numbers are also in the table beside them. One test is one chart,
// whichever laboratories measured it, on one time axis: a series per
// laboratory, each with its own marker shape and its own reference range
// band where ranges differ. Values are only drawn on one axis when their
// units are one unit (UnitKey); a test reported in units that are not the
// same gets a chart per unit, and the page says so.

// Chart is one trend chart.
type Chart struct {
	Width, Height int
	Label         string // accessible description of the chart
	Bands         []ChartBand
	Lines         []ChartLine
	Points        []ChartPoint
	YTicks        []Tick
	XTicks        []Tick
}

// ChartBand is a reference range drawn behind the values: one for every
// series when they share a range, else one per series in its style.
type ChartBand struct {
	Rect
	Series int // -1: shared by every series
}

// ChartLine joins one series' points.
type ChartLine struct {
	Points string
	Series int
}

// Rect is a rectangle in chart coordinates.
type Rect struct{ X, Y, W, H float64 }

// ChartPoint is one plotted value.
type ChartPoint struct {
	X, Y     float64
	Title    string // shown as the point's tooltip
	Abnormal bool
	Series   int
	Shape    string // circle, square, triangle, diamond: by series
}

// Path draws the point's marker: the series' shape, larger when abnormal.
func (p ChartPoint) Path() string {
	r := 5.0
	if p.Abnormal {
		r = 7
	}
	x, y := p.X, p.Y
	switch p.Shape {
	case "square":
		return fmt.Sprintf("M%.1f,%.1fh%.1fv%.1fh%.1fz", x-r, y-r, 2*r, 2*r, -2*r)
	case "triangle":
		return fmt.Sprintf("M%.1f,%.1fL%.1f,%.1fL%.1f,%.1fz", x, y-r*1.2, x+r*1.1, y+r*0.9, x-r*1.1, y+r*0.9)
	case "diamond":
		return fmt.Sprintf("M%.1f,%.1fL%.1f,%.1fL%.1f,%.1fL%.1f,%.1fz", x, y-r*1.3, x+r*1.3, y, x, y+r*1.3, x-r*1.3, y)
	}
	return fmt.Sprintf("M%.1f,%.1fa%.1f,%.1f 0 1,0 %.1f,0a%.1f,%.1f 0 1,0 %.1f,0", x-r, y, r, r, 2*r, r, r, -2*r)
}

// Tick is an axis label.
type Tick struct {
	X, Y  float64
	Label string
}

const (
	chartW, chartH                 = 640, 260
	padL, padR, padT, padB float64 = 64, 16, 16, 40
)

// markerShapes tell the series apart without colour.
var markerShapes = []string{"circle", "square", "triangle", "diamond"}

// ShapeOf names series i's marker.
func ShapeOf(i int) string { return markerShapes[i%len(markerShapes)] }

// TrendPoint is one value on a trend.
type TrendPoint struct {
	Entry connectors.Entry
	Value float64
}

// Series is one laboratory's values of one test in one unit.
type Series struct {
	Source connectors.Source
	Units  string // as the laboratory wrote them, newest first
	Range  connectors.RefRange
	Points []TrendPoint // oldest first
	// Part names the component drawn ("Systolic"), for a result measured
	// in parts; "" otherwise.
	Part string
}

// Name is the series' name: its laboratory, and its part if any.
func (s Series) Name() string { return joinNonEmpty(", ", s.Source.Name, s.Part) }

// TrendChart is one chart of a trend: the series that share a unit.
type TrendChart struct {
	Units  string // as a person reads them
	Series []Series
	Chart  Chart
	// SharedRange: every series has the same range, drawn as one band.
	SharedRange bool
}

// sameRange reports whether two ranges are the same normal range.
func sameRange(a, b connectors.RefRange) bool {
	eq := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return eq(a.Low, b.Low) && eq(a.High, b.High) && a.Text == b.Text
}

// NewTrendChart lays out series that share one unit on one chart, times
// from t0 to t1 (the whole test's, so that every chart of a page shares
// its time axis).
func NewTrendChart(series []Series, title string, t0, t1 time.Time) TrendChart {
	tc := TrendChart{Series: series, SharedRange: true}
	if len(series) > 0 {
		tc.Units = unitsOrNotStated(series[0].Units)
		for _, s := range series[1:] {
			if !sameRange(s.Range, series[0].Range) {
				tc.SharedRange = false
			}
		}
	}
	c := Chart{Width: chartW, Height: chartH}
	lo, hi := math.Inf(1), math.Inf(-1)
	n := 0
	for _, s := range series {
		for _, p := range s.Points {
			lo, hi = math.Min(lo, p.Value), math.Max(hi, p.Value)
			n++
		}
		if s.Range.Low != nil {
			lo = math.Min(lo, *s.Range.Low)
		}
		if s.Range.High != nil {
			hi = math.Max(hi, *s.Range.High)
		}
	}
	if n == 0 {
		tc.Chart = c
		return tc
	}
	if hi == lo {
		hi, lo = hi+1, lo-1
	}
	margin := (hi - lo) * 0.1
	lo, hi = lo-margin, hi+margin
	span := t1.Sub(t0)
	plotW, plotH := float64(chartW)-padL-padR, float64(chartH)-padT-padB
	x := func(t time.Time) float64 {
		if span <= 0 {
			return padL + plotW/2
		}
		return padL + plotW*float64(t.Sub(t0))/float64(span)
	}
	y := func(v float64) float64 { return padT + plotH*(hi-v)/(hi-lo) }
	for i, s := range series {
		if s.Range.Low != nil && s.Range.High != nil && (i == 0 || !tc.SharedRange) {
			band := ChartBand{Rect: Rect{X: padL, Y: y(*s.Range.High), W: plotW, H: y(*s.Range.Low) - y(*s.Range.High)}, Series: i}
			if tc.SharedRange {
				band.Series = -1
			}
			c.Bands = append(c.Bands, band)
		}
		var pts []string
		for _, p := range s.Points {
			px, py := x(p.Entry.Date), y(p.Value)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
			value, flag, abnormal := pointValue(p.Entry.Result, s.Part)
			label := fmt.Sprintf("%s, %s: %s", EntryDay(p.Entry), s.Name(), value)
			if flag != "" {
				label += " (" + flag + ")"
			}
			c.Points = append(c.Points, ChartPoint{X: px, Y: py, Title: label, Abnormal: abnormal, Series: i, Shape: ShapeOf(i)})
		}
		c.Lines = append(c.Lines, ChartLine{Points: strings.Join(pts, " "), Series: i})
	}
	for _, v := range []float64{hi - margin, lo + margin} {
		c.YTicks = append(c.YTicks, Tick{X: padL - 8, Y: y(v) + 4, Label: trimNum(v)})
	}
	first, last := Day(t0), Day(t1)
	c.XTicks = append(c.XTicks, Tick{X: padL, Y: float64(chartH) - padB + 20, Label: first})
	if span > 0 {
		c.XTicks = append(c.XTicks, Tick{X: padL + plotW, Y: float64(chartH) - padB + 20, Label: last})
	}
	var parts []string
	for i, s := range series {
		part := fmt.Sprintf("%s: %s, drawn as %ss", s.Name(), plural(len(s.Points), "result"), ShapeOf(i))
		if r := s.Range.String(); r != "" {
			part += ", reference range " + r
		}
		parts = append(parts, part)
	}
	c.Label = fmt.Sprintf("%s in %s from %s to %s. %s.", title, tc.Units, first, last, strings.Join(parts, "; "))
	tc.Chart = c
	return tc
}

func trimNum(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

func unitsOrNotStated(s string) string {
	switch u := Units(s); {
	case u != "":
		return u
	case s == "":
		return "units not stated"
	case s == "1":
		return "no units"
	}
	return strings.Trim(s, "{}")
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

// seriesLegend names a series in words: laboratory, marker, how many
// results, its range.
func seriesLegend(i int, s Series) string {
	out := s.Name() + ": " + ShapeOf(i) + "s, " + plural(len(s.Points), "result")
	if r := s.Range.String(); r != "" {
		out += ", range " + r
	}
	return out
}

func seriesClass(i int) string { return "app-chart__series--" + strconv.Itoa(i%len(markerShapes)) }

// trendUnits lists the units of a trend's charts: "U/L and IU/L".
func trendUnits(cs []TrendChart) string {
	var us []string
	for _, c := range cs {
		us = append(us, c.Units)
	}
	if len(us) < 2 {
		return strings.Join(us, "")
	}
	return strings.Join(us[:len(us)-1], ", ") + " and " + us[len(us)-1]
}

// chartCaption names a chart's units and how its ranges are drawn.
func chartCaption(tc TrendChart) string {
	switch {
	case len(tc.Series) < 2:
		return tc.Units
	case tc.SharedRange:
		return tc.Units + ": one reference range, shaded, for every laboratory"
	}
	return tc.Units + ": each laboratory's reference range is shaded in its own style"
}

// TrendCharts lays out one test's results (newest first) as charts: a
// series per laboratory (named by labKey) and unit, series whose units
// are one unit (UnitKey) on one chart, a chart per unit otherwise, every
// chart on the same time axis. Values without a number or a date are in
// the table only.
func TrendCharts(rows []connectors.Entry, title string, labKey func(connectors.Source) string) []TrendChart {
	type seriesKey struct{ lab, unit, part string }
	series := map[seriesKey]*Series{}
	var order []seriesKey
	var t0, t1 time.Time
	add := func(e connectors.Entry, part string, value float64, units string, rr connectors.RefRange) {
		k := seriesKey{labKey(e.Source), UnitKey(units), part}
		sr, ok := series[k]
		if !ok {
			sr = &Series{Source: e.Source, Units: units, Range: rr, Part: part}
			series[k] = sr
			order = append(order, k)
		}
		sr.Points = append(sr.Points, TrendPoint{Entry: e, Value: value})
		if t0.IsZero() || e.Date.Before(t0) {
			t0 = e.Date
		}
		if e.Date.After(t1) {
			t1 = e.Date
		}
	}
	for _, e := range rows {
		if e.Result == nil || e.Date.IsZero() {
			continue
		}
		if e.Result.Numeric != nil {
			add(e, "", *e.Result.Numeric, e.Result.Units, e.Result.Range)
			continue
		}
		// A result measured in parts (systolic and diastolic blood
		// pressure): a series per part.
		for _, c := range e.Result.Components {
			if c.Numeric != nil {
				add(e, orNotKnown(c.Title), *c.Numeric, c.Units, c.Range)
			}
		}
	}
	var units []string
	byUnit := map[string][]Series{}
	for _, k := range order {
		sr := series[k]
		slices.SortStableFunc(sr.Points, func(a, b TrendPoint) int { return a.Entry.Date.Compare(b.Entry.Date) })
		if _, ok := byUnit[k.unit]; !ok {
			units = append(units, k.unit)
		}
		byUnit[k.unit] = append(byUnit[k.unit], *sr)
	}
	var out []TrendChart
	for _, u := range units {
		out = append(out, NewTrendChart(byUnit[u], title, t0, t1))
	}
	return out
}

// pointValue words one plotted value: the result's, or its part's.
func pointValue(r *connectors.Result, part string) (value, flag string, abnormal bool) {
	if part == "" {
		f, _ := ResultFlag(r)
		return joinNonEmpty(" ", r.Comparator+r.Value, Units(r.Units)), f, r.Abnormal()
	}
	for _, c := range r.Components {
		if orNotKnown(c.Title) == part {
			var f string
			if c.Flag.Abnormal() {
				f = c.Flag.Label()
			}
			return ComponentValue(c), f, c.Flag.Abnormal()
		}
	}
	return NotKnown, "", false
}
