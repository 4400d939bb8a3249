package views_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/views"
)

func fptr(v float64) *float64 { return &v }

// alt makes one ALT result at a laboratory, in its units and range.
func alt(src connectors.Source, at time.Time, value float64, units string, high float64) connectors.Entry {
	e := lab(src, at, "DiagnosticReport/l", "1742-6", "ALT", fmt.Sprint(value), units, "").Entry
	e.Result.Range = connectors.RefRange{Low: fptr(0), High: fptr(high)}
	return e
}

func labODS(s connectors.Source) string { return s.ODS }

func TestTrendCharts(t *testing.T) {
	lewisham := connectors.Source{Name: "Lewisham and Greenwich", ODS: "RJ2"}
	cases := []struct {
		name string
		rows []connectors.Entry // newest first
		// per chart: its series' sources, and whether the range is shared
		want   []string
		shared []bool
		bands  []int
	}{
		{"OneUnitWrittenTwoWaysOneChart", []connectors.Entry{
			alt(guys, day(20, 9), 30, "µmol/L", 41), alt(kings, day(12, 9), 25, "umol/L", 41), alt(guys, day(1, 9), 20, "umol/l", 41)},
			[]string{"[RJ1 RJZ]"}, []bool{true}, []int{1}},
		{"RangesDifferABandEach", []connectors.Entry{
			alt(guys, day(20, 9), 30, "U/L", 41), alt(kings, day(12, 9), 25, "U/L", 35)},
			[]string{"[RJ1 RJZ]"}, []bool{false}, []int{2}},
		{"DifferentUnitsApart", []connectors.Entry{
			alt(lewisham, day(20, 9), 30, "IU/L", 40), alt(kings, day(12, 9), 25, "U/L", 41), alt(kings, day(1, 9), 22, "U/L", 41)},
			[]string{"[RJ2]", "[RJZ]"}, []bool{true, true}, []int{1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			charts := views.TrendCharts(c.rows, "ALT", labODS)
			var got []string
			for i, tc := range charts {
				var ods []string
				for _, s := range tc.Series {
					ods = append(ods, s.Source.ODS)
				}
				got = append(got, fmt.Sprint(ods))
				if i < len(c.shared) && (tc.SharedRange != c.shared[i] || len(tc.Chart.Bands) != c.bands[i]) {
					t.Errorf("chart %d: shared range %v with %d bands, want %v with %d", i, tc.SharedRange, len(tc.Chart.Bands), c.shared[i], c.bands[i])
				}
				shapes := map[int]string{}
				for _, p := range tc.Chart.Points {
					if s, ok := shapes[p.Series]; ok && s != p.Shape {
						t.Errorf("series %d drawn as %s and %s", p.Series, s, p.Shape)
					}
					shapes[p.Series] = p.Shape
				}
				if len(shapes) != len(tc.Series) || (len(shapes) > 1 && shapes[0] == shapes[1]) {
					t.Errorf("chart %d: shapes %v for %d series, want one shape each", i, shapes, len(tc.Series))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("charts %v, want %v", got, c.want)
			}
		})
	}
	t.Run("OneTimeAxis", func(t *testing.T) {
		// Two charts of one test share the time axis: the same date is at
		// the same x in each.
		rows := []connectors.Entry{alt(lewisham, day(20, 9), 30, "IU/L", 40), alt(kings, day(1, 9), 22, "U/L", 41)}
		charts := views.TrendCharts(rows, "ALT", labODS)
		if len(charts) != 2 {
			t.Fatalf("%d charts", len(charts))
		}
		a, b := charts[0].Chart.XTicks, charts[1].Chart.XTicks
		if fmt.Sprint(a) != fmt.Sprint(b) || len(a) != 2 || a[0].Label != "01-Mar-2026" || a[1].Label != "20-Mar-2026" {
			t.Errorf("time axes %v and %v, want both 01-Mar-2026 to 20-Mar-2026", a, b)
		}
		if charts[0].Chart.Points[0].X <= charts[1].Chart.Points[0].X {
			t.Errorf("the 20th is drawn at x=%.1f, left of the 1st at x=%.1f", charts[0].Chart.Points[0].X, charts[1].Chart.Points[0].X)
		}
	})
}
