package views_test

import (
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/views"
)

func TestGapWords(t *testing.T) {
	guys := connectors.Source{Name: "Guy's and St Thomas'", ODS: "RJ1"}
	cases := []struct {
		name string
		gap  connectors.Gap
		want string
	}{
		{"Failed", connectors.Gap{Kind: connectors.KindMedication, Failed: true, Reason: "HTTP 500"}, "Medicines unavailable from Guy's and St Thomas': HTTP 500"},
		{"FailedWithoutReason", connectors.Gap{Kind: connectors.KindImmunization, Failed: true}, "Vaccinations unavailable from Guy's and St Thomas'"},
		{"CutOffTotalKnown", connectors.Gap{Kind: connectors.KindMedication, Truncated: true, Read: 120, Total: 150}, "Guy's and St Thomas': showing the newest 120 of 150 prescriptions"},
		{"CutOffTotalUnknown", connectors.Gap{Kind: connectors.KindResult, Truncated: true, Read: 1000}, "Guy's and St Thomas': showing only the newest 1,000 test results; the source holds more"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := views.GapLine(guys, tc.gap); got != tc.want {
				t.Fatalf("%q, want %q", got, tc.want)
			}
		})
	}
}

func TestAccountWords(t *testing.T) {
	t.Run("UnreadableByKindInKindOrder", func(t *testing.T) {
		got := views.UnreadableCounts([]connectors.Omission{{Kind: connectors.KindAllergy}, {}, {Kind: connectors.KindResult}, {Kind: connectors.KindAllergy}})
		var words []string
		for _, c := range got {
			words = append(words, views.UnreadableText(c))
		}
		want := []string{"1 test result could not be read", "2 allergy records could not be read", "1 record of unknown kind could not be read"}
		if len(words) != len(want) {
			t.Fatalf("%q", words)
		}
		for i := range want {
			if words[i] != want[i] {
				t.Fatalf("%q, want %q", words, want)
			}
		}
	})
	t.Run("HiddenByRule", func(t *testing.T) {
		got := views.HiddenText([]connectors.Omission{{Reason: connectors.HideRefuted}, {Reason: connectors.HideEnteredInError}, {Reason: connectors.HideRefuted}, {Reason: connectors.HideSuperseded}})
		if want := "2 refuted, 1 entered in error, 1 superseded by a newer version"; got != want {
			t.Fatalf("%q, want %q", got, want)
		}
	})
	t.Run("Duplicates", func(t *testing.T) {
		for n, want := range map[int]string{0: "", 1: "", 2: "holds 2 records for this patient; both are shown", 3: "holds 3 records for this patient; all are shown"} {
			if got := views.DuplicateText(n); got != want {
				t.Errorf("%d: %q, want %q", n, got, want)
			}
		}
	})
}

func TestResultWords(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		name     string
		r        connectors.Result
		value    string
		flag     string
		critical bool
	}{
		{"ComparatorOnce", connectors.Result{Value: "90", Comparator: ">", Units: "mL/min"}, ">90 mL/min", "", false},
		{"Absent", connectors.Result{Absent: "Not performed"}, "No value: Not performed", "", false},
		{"NothingGiven", connectors.Result{}, "No value given", "", false},
		{"HighIsNotCritical", connectors.Result{Value: "6.1", Units: "mmol/L", Flag: connectors.FlagHigh}, "6.1 mmol/L", "High", false},
		{"CriticalLow", connectors.Result{Value: "61", Units: "g/L", Flag: connectors.FlagCriticalLow}, "61 g/L", "Critically low", true},
		{"BloodPressureSharedUnits", connectors.Result{Components: []connectors.Component{
			{Title: "Systolic", Value: "150", Numeric: f(150), Units: "mmHg", Flag: connectors.FlagHigh},
			{Title: "Diastolic", Value: "95", Units: "mmHg"}}}, "150 / 95 mmHg", "High (systolic)", false},
		{"CriticalComponentMakesTheResultCritical", connectors.Result{Flag: connectors.FlagHigh, Components: []connectors.Component{
			{Title: "Systolic", Value: "210", Units: "mmHg", Flag: connectors.FlagCriticalHigh},
			{Title: "Diastolic", Units: "mmHg", Absent: "Not performed"}}}, "210 / — mmHg; diastolic not recorded: Not performed", "Critically high (systolic)", true},
		{"ComponentsInTheirOwnUnits", connectors.Result{Components: []connectors.Component{
			{Title: "Ratio", Value: "1:64"}, {Title: "Level", Value: "3", Units: "IU"}}}, "1:64 / 3 IU", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := views.ResultValue(&tc.r); got != tc.value {
				t.Errorf("value %q, want %q", got, tc.value)
			}
			flag, critical := views.ResultFlag(&tc.r)
			if flag != tc.flag || critical != tc.critical {
				t.Errorf("flag %q critical %v, want %q %v", flag, critical, tc.flag, tc.critical)
			}
		})
	}
	t.Run("Ranges", func(t *testing.T) {
		r := connectors.Result{Units: "g/L", Range: connectors.RefRange{Low: f(115), High: f(165), AppliesTo: "Female"},
			OtherRanges: []connectors.RefRange{{Low: f(130), High: f(180), AppliesTo: "Male"}, {Text: "above 200 needs review", Type: "Action"}}}
		if got := views.RangeText(r.Range, r.Units); got != "range for Female: 115–165 g/L" {
			t.Errorf("range %q", got)
		}
		if got := views.OtherRanges(&r); got != "Range (for Male) 130–180 g/L; Action above 200 needs review" {
			t.Errorf("other ranges %q", got)
		}
	})
}

func TestWhenKeepsPrecision(t *testing.T) {
	summer := time.Date(2025, 7, 14, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		e    connectors.Entry
		day  string
	}{
		{"Instant", connectors.Entry{Date: time.Date(2025, 7, 14, 23, 30, 0, 0, time.UTC)}, "15-Jul-2025"},
		{"DateInSummer", connectors.Entry{Date: summer, Precision: connectors.PrecisionDay}, "14-Jul-2025"},
		{"Month", connectors.Entry{Date: time.Date(1957, 5, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionMonth}, "May-1957"},
		{"Year", connectors.Entry{Date: time.Date(1957, 1, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionYear}, "1957"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := views.EntryDay(tc.e); got != tc.day {
				t.Fatalf("%q, want %q", got, tc.day)
			}
		})
	}
}
