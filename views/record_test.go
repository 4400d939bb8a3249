package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/views"
)

func TestAge(t *testing.T) {
	on := connectors.NewDate(2026, 11, 24)
	cases := []struct {
		born connectors.Date
		want string
	}{
		{connectors.NewDate(1945, 7, 14), "81y"},
		{connectors.NewDate(1945, 11, 25), "80y"}, // birthday tomorrow
		{connectors.NewDate(2025, 1, 24), "22m"},
		{connectors.NewDate(2026, 11, 1), "23d"},
		{connectors.Date{}, ""},
		// A partial date of birth gives no age: it would rest on an
		// invented day.
		{connectors.NewDate(1957, 0, 0), ""},
		{connectors.NewDate(1957, 5, 0), ""},
	}
	for _, c := range cases {
		if got := views.Age(c.born, on); got != c.want {
			t.Errorf("Age(%v) = %q, want %q", c.born, got, c.want)
		}
	}
}

// TestWhen checks that a clinical date is shown no more precisely than its
// source gave it, and that a date without a time is never shifted by the
// summer-time offset into a time of day.
func TestWhen(t *testing.T) {
	summer := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		w       connectors.When
		when    string
		whenDay string
	}{
		{"DateAndTime", connectors.At(time.Date(2024, 7, 1, 13, 5, 0, 0, time.UTC)), "01-Jul-2024 14:05", "01-Jul-2024"},
		{"DateOnlyInSummer", connectors.When{Time: summer, Precision: connectors.PrecisionDay}, "01-Jul-2024", "01-Jul-2024"},
		{"MonthOnly", connectors.When{Time: time.Date(1957, 5, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionMonth}, "May-1957", "May-1957"},
		{"YearOnly", connectors.When{Time: time.Date(1957, 1, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionYear}, "1957", "1957"},
		{"AgeText", connectors.When{Text: "age 52 years"}, "age 52 years", "age 52 years"},
		{"Nothing", connectors.When{}, views.NotKnown, views.NotKnown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := views.When(c.w); got != c.when {
				t.Errorf("When = %q, want %q", got, c.when)
			}
			if got := views.WhenDay(c.w); got != c.whenDay {
				t.Errorf("WhenDay = %q, want %q", got, c.whenDay)
			}
		})
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 5717: "5,717", 1234567: "1,234,567"} {
		if got := views.Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBanner(t *testing.T) {
	today := connectors.NewDate(2026, 11, 24)
	kings := connectors.Source{Name: "King's", ODS: "RJZ"}
	guys := connectors.Source{Name: "Guy's", ODS: "RJ1"}
	jane := connectors.Patient{NHSNumber: "9990000018", Title: "Mrs", Given: []string{"Jane"}, Family: "Smith",
		BirthDate: connectors.NewDate(1945, 7, 14), Gender: "female", AddressLines: []string{"1 Invented Road"}, Postcode: "SE5 9ZZ", Source: kings}

	t.Run("Format", func(t *testing.T) {
		b := views.NewBanner("9990000018", []connectors.Patient{jane}, today)
		if b.Name != "SMITH, Jane (Mrs)" || b.Born != "14-Jul-1945" || b.Age != "81y" || b.Gender != "Female" || b.NHSNumber != "999 000 0018" {
			t.Fatalf("%+v", b)
		}
	})
	t.Run("NotKnown", func(t *testing.T) {
		b := views.NewBanner("9990000018", []connectors.Patient{{Family: "Smith", Source: kings}}, today)
		if b.Born != "Not Known" || b.Gender != "Not Known" {
			t.Fatalf("unknown values shown as %q / %q", b.Born, b.Gender)
		}
	})
	t.Run("RestrictedHidesAddressEvenIfOneSourceHasIt", func(t *testing.T) {
		r := jane
		r.Restricted, r.Source = true, guys
		r.AddressLines, r.Postcode = nil, ""
		b := views.NewBanner("9990000018", []connectors.Patient{jane, r}, today)
		if !b.Restricted || len(b.Address) != 0 || b.GP != "" {
			t.Fatalf("restricted banner shows %v", b.Address)
		}
		var out bytes.Buffer
		if err := views.PatientBanner(b).Render(context.Background(), &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), `data-testid="patient-restricted"`) {
			t.Fatal("the banner does not say the record is restricted")
		}
		if strings.Contains(out.String(), "SE5 9ZZ") || strings.Contains(out.String(), "Invented Road") {
			t.Fatal("the restricted patient's address is in the HTML")
		}
	})
	t.Run("Deceased", func(t *testing.T) {
		d := jane
		died := connectors.NewDate(2025, 1, 14)
		d.Deceased, d.DeathDate = true, &died
		b := views.NewBanner("9990000018", []connectors.Patient{d}, today)
		if !b.Deceased || b.Died != "14-Jan-2025" || b.AgeAtDeath != "79y" || b.Age != "" {
			t.Fatalf("%+v", b)
		}
	})
	t.Run("SourcesDisagree", func(t *testing.T) {
		other := jane
		other.Source, other.BirthDate = guys, connectors.NewDate(1945, 7, 15)
		b := views.NewBanner("9990000018", []connectors.Patient{jane, other}, today)
		if len(b.Disagreements) != 1 || !strings.Contains(b.Disagreements[0], "Date of birth differs") ||
			!strings.Contains(b.Disagreements[0], "15-Jul-1945 at Guy's") {
			t.Fatalf("disagreements %v", b.Disagreements)
		}
	})
	t.Run("SourceTextIsEscaped", func(t *testing.T) {
		evil := jane
		evil.Family = `<script>alert(1)</script>`
		var out bytes.Buffer
		if err := views.PatientBanner(views.NewBanner("9990000018", []connectors.Patient{evil}, today)).Render(context.Background(), &out); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "<script>") {
			t.Fatal("a source's text reached the page as markup")
		}
		if !strings.Contains(out.String(), "&lt;SCRIPT&gt;") {
			t.Fatal("the source's text is not shown as text")
		}
	})
}
