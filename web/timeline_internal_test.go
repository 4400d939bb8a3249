package web

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/views"
)

var (
	kings = connectors.Source{Name: "King's", ODS: "RJZ"}
	guys  = connectors.Source{Name: "Guy's", ODS: "RJ1"}
)

func result(src connectors.Source, id string, at time.Time, value, units string) connectors.Entry {
	return connectors.Entry{Kind: connectors.KindResult, ID: id, Source: src, Date: at, Title: "Creatinine",
		Codes:  []connectors.Code{{System: connectors.SystemLOINC, Code: "2160-0"}},
		Result: &connectors.Result{Value: value, Units: units}}
}

func TestDedupe(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	cases := []struct {
		name    string
		entries []connectors.Entry
		items   int
		also    int // AlsoReportedBy on the first item
	}{
		{"SameFactTwoSources", []connectors.Entry{result(kings, "a", at, "80", "umol/L"), result(guys, "b", at.Add(20*time.Second), "80", "umol/L")}, 1, 1},
		{"DifferentValueKeptApart", []connectors.Entry{result(kings, "a", at, "80", "umol/L"), result(guys, "b", at, "81", "umol/L")}, 2, 0},
		{"DifferentUnitsKeptApart", []connectors.Entry{result(kings, "a", at, "80", "umol/L"), result(guys, "b", at, "80", "µmol/L")}, 2, 0},
		{"SameSourceTwiceKeptApart", []connectors.Entry{result(kings, "a", at, "80", "umol/L"), result(kings, "b", at, "80", "umol/L")}, 2, 0},
		{"DifferentTimeKeptApart", []connectors.Entry{result(kings, "a", at, "80", "umol/L"), result(guys, "b", at.Add(time.Hour), "80", "umol/L")}, 2, 0},
		{"UndatedNeverMerged", []connectors.Entry{result(kings, "a", time.Time{}, "80", "umol/L"), result(guys, "b", time.Time{}, "80", "umol/L")}, 2, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items := dedupe(tc.entries)
			if len(items) != tc.items || len(items[0].AlsoReportedBy) != tc.also {
				t.Fatalf("%d items, first also reported by %d; want %d and %d", len(items), len(items[0].AlsoReportedBy), tc.items, tc.also)
			}
		})
	}
}

func TestApplyFilter(t *testing.T) {
	// 23:30 UTC on 14 July is 00:30 on 15 July in London (BST).
	late := result(kings, "a", time.Date(2025, 7, 14, 23, 30, 0, 0, time.UTC), "80", "umol/L")
	doc := connectors.Entry{Kind: connectors.KindDocument, ID: "d", Source: guys, Date: time.Date(2025, 7, 10, 9, 0, 0, 0, time.UTC),
		Title: "Discharge summary", Document: &connectors.Document{Type: "Discharge summary", Author: "Dr Invented"}}
	items := dedupe([]connectors.Entry{late, doc})
	cases := []struct {
		q    string
		want []string
	}{
		{"", []string{"a", "d"}},
		{"kind=document", []string{"d"}},
		{"kind=result&kind=document", []string{"a", "d"}},
		{"kind=nonsense", []string{"a", "d"}},
		{"source=RJ1", []string{"d"}},
		{"from=2025-07-15", []string{"a"}},
		{"to=2025-07-14", []string{"d"}},
		{"q=invented", []string{"d"}},
		{"q=CREATININE", []string{"a"}},
	}
	for _, tc := range cases {
		q, _ := url.ParseQuery(tc.q)
		got := applyFilter(items, parseFilter(q))
		var ids []string
		for _, it := range got {
			ids = append(ids, it.Entry.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.q, ids, tc.want)
		}
	}
}

func TestParseSearch(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		form   views.SearchForm
		fields []string
		nhs    string
	}{
		{"OK", views.SearchForm{NHS: "999 000 0018"}, nil, "9990000018"},
		{"ErrCheckDigit", views.SearchForm{NHS: "9990000019"}, []string{"nhs"}, ""},
		{"ErrLetters", views.SearchForm{NHS: "99900000AB"}, []string{"nhs"}, ""},
		{"OKDemographics", views.SearchForm{Family: "Smith", Day: "12", Month: "3", Year: "1965"}, nil, ""},
		{"ErrNoFamilyNoDate", views.SearchForm{}, []string{"family", "dob-day"}, ""},
		{"ErrFutureDate", views.SearchForm{Family: "Smith", Day: "1", Month: "1", Year: "2027"}, []string{"dob-day"}, ""},
		{"ErrThirtyFirstOfApril", views.SearchForm{Family: "Smith", Day: "31", Month: "4", Year: "1965"}, []string{"dob-day"}, ""},
		{"ErrGender", views.SearchForm{Family: "Smith", Day: "1", Month: "1", Year: "1965", Gender: "x"}, []string{"gender"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, errs := parseSearch(&tc.form, now)
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
			}
			if len(fields) != len(tc.fields) {
				t.Fatalf("errors on %v, want %v", fields, tc.fields)
			}
			for i := range fields {
				if fields[i] != tc.fields[i] {
					t.Fatalf("errors on %v, want %v", fields, tc.fields)
				}
			}
			if q.NHSNumber != tc.nhs {
				t.Fatalf("NHS number %q, want %q", q.NHSNumber, tc.nhs)
			}
		})
	}
}
