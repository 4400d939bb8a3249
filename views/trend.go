package views

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Chart is a trend drawn as SVG on the server: no chart library, no
// script, and the numbers are also in the table beside it.
type Chart struct {
	Width, Height int
	Label         string // accessible description of the chart
	Band          *Rect  // the reference range, if the source gave both ends
	Line          string // polyline points
	Points        []ChartPoint
	YTicks        []Tick
	XTicks        []Tick
}

// Rect is a rectangle in chart coordinates.
type Rect struct{ X, Y, W, H float64 }

// ChartPoint is one plotted value.
type ChartPoint struct {
	X, Y     float64
	Title    string // shown as the point's tooltip
	Abnormal bool
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

// NewChart lays out one series. Times run left to right; a series with
// one point is drawn in the middle.
func NewChart(s Series, title string) Chart {
	c := Chart{Width: chartW, Height: chartH}
	if len(s.Points) == 0 {
		return c
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range s.Points {
		lo, hi = math.Min(lo, p.Value), math.Max(hi, p.Value)
	}
	if s.Range.Low != nil {
		lo = math.Min(lo, *s.Range.Low)
	}
	if s.Range.High != nil {
		hi = math.Max(hi, *s.Range.High)
	}
	if hi == lo {
		hi, lo = hi+1, lo-1
	}
	margin := (hi - lo) * 0.1
	lo, hi = lo-margin, hi+margin
	t0, t1 := s.Points[0].Entry.Date, s.Points[len(s.Points)-1].Entry.Date
	span := t1.Sub(t0)
	plotW, plotH := float64(chartW)-padL-padR, float64(chartH)-padT-padB
	x := func(t time.Time) float64 {
		if span <= 0 {
			return padL + plotW/2
		}
		return padL + plotW*float64(t.Sub(t0))/float64(span)
	}
	y := func(v float64) float64 { return padT + plotH*(hi-v)/(hi-lo) }
	if s.Range.Low != nil && s.Range.High != nil {
		c.Band = &Rect{X: padL, Y: y(*s.Range.High), W: plotW, H: y(*s.Range.Low) - y(*s.Range.High)}
	}
	var pts []string
	for _, p := range s.Points {
		px, py := x(p.Entry.Date), y(p.Value)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
		label := fmt.Sprintf("%s: %s", EntryDay(p.Entry), joinNonEmpty(" ", p.Entry.Result.Comparator+p.Entry.Result.Value, Units(s.Units)))
		if f, _ := ResultFlag(p.Entry.Result); f != "" {
			label += " (" + f + ")"
		}
		c.Points = append(c.Points, ChartPoint{X: px, Y: py, Title: label, Abnormal: p.Entry.Result.Abnormal()})
	}
	c.Line = strings.Join(pts, " ")
	for _, v := range []float64{hi - margin, lo + margin} {
		c.YTicks = append(c.YTicks, Tick{X: padL - 8, Y: y(v) + 4, Label: trimNum(v)})
	}
	first, last := EntryDay(s.Points[0].Entry), EntryDay(s.Points[len(s.Points)-1].Entry)
	c.XTicks = append(c.XTicks, Tick{X: padL, Y: float64(chartH) - padB + 20, Label: first})
	if span > 0 {
		c.XTicks = append(c.XTicks, Tick{X: padL + plotW, Y: float64(chartH) - padB + 20, Label: last})
	}
	c.Label = fmt.Sprintf("%s at %s, %d results from %s to %s, in %s", title, s.Source.Name, len(s.Points), first, last, unitsOrNotStated(s.Units))
	if r := s.Range.String(); r != "" {
		c.Label += ", reference range " + r
	}
	return c
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

// chartCaption names a series: source, units and the source's range.
func chartCaption(s Series) string {
	out := s.Source.Name + ", " + unitsOrNotStated(s.Units)
	if r := s.Range.String(); r != "" {
		out += ", range " + r
	}
	return out
}
