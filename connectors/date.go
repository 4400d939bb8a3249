package connectors

import (
	"fmt"
	"time"
	_ "time/tzdata" // Europe/London must work on a machine without tzdata
)

// London is the Europe/London time zone, in which every date and time is
// shown, every typed date is read, and the working day and the date of an
// instant from a source are reckoned.
var London = mustLondon()

func mustLondon() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic("connectors: Europe/London time zone: " + err.Error())
	}
	return l
}

// Date is a calendar date with no time of day and no zone. Dates of birth and
// death are dates, not instants: held as a time.Time they shift by a day when
// converted between zones, which on a patient banner is a safety issue. The
// zero Date means "not known".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// NewDate returns the date; it does not normalise out-of-range values.
func NewDate(year int, month time.Month, day int) Date {
	return Date{Year: year, Month: month, Day: day}
}

// DateOf returns the calendar date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate parses "2006-01-02". FHIR also allows "2006-01" and "2006" for
// partial dates; those give the first day of the month or year, because the
// model has no place for precision and a banner must show something.
func ParseDate(s string) (Date, error) {
	for _, layout := range []string{time.DateOnly, "2006-01", "2006"} {
		if len(s) != len(layout) {
			continue
		}
		t, err := time.Parse(layout, s)
		if err != nil {
			return Date{}, fmt.Errorf("parse date %q: %w", s, err)
		}
		return DateOf(t), nil
	}
	return Date{}, fmt.Errorf("parse date %q: want YYYY-MM-DD", s)
}

// IsZero reports whether d is the zero Date ("not known").
func (d Date) IsZero() bool { return d == Date{} }

// Time returns midnight UTC at the start of d.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String gives "2006-01-02", or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// Format formats d with a time layout, e.g. "02-Jan-2006" for clinical
// screens.
func (d Date) Format(layout string) string {
	if d.IsZero() {
		return ""
	}
	return d.Time().Format(layout)
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.Time().Before(e.Time()) }

// AgeOn returns the age in whole years on the given date (birthdays on
// 29 February count from 1 March in non-leap years).
func (d Date) AgeOn(on Date) int {
	age := on.Year - d.Year
	if on.Month < d.Month || (on.Month == d.Month && on.Day < d.Day) {
		age--
	}
	return age
}

// MarshalText encodes d as "2006-01-02" (empty for the zero Date), so that
// records cached as JSON keep dates as dates.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
