package connectors

import (
	"errors"
	"fmt"
	"strings"
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
// partial dates; those keep their precision (Day, and for a year Month too,
// stay 0), so that no day is invented and no age computed from one.
func ParseDate(s string) (Date, error) {
	for _, layout := range []string{time.DateOnly, "2006-01", "2006"} {
		if len(s) != len(layout) {
			continue
		}
		t, err := time.Parse(layout, s)
		if err != nil {
			return Date{}, fmt.Errorf("parse date %q: %w", s, err)
		}
		return DateOf(t).upTo(precisionOfLayout[layout]), nil
	}
	return Date{}, fmt.Errorf("parse date %q: want YYYY-MM-DD", s)
}

var precisionOfLayout = map[string]Precision{time.DateOnly: PrecisionDay, "2006-01": PrecisionMonth, "2006": PrecisionYear}

// upTo keeps of d only what precision p gives: the year for PrecisionYear,
// the year and month for PrecisionMonth, all of it otherwise.
func (d Date) upTo(p Precision) Date {
	switch p {
	case PrecisionYear:
		d.Month, d.Day = 0, 0
	case PrecisionMonth:
		d.Day = 0
	}
	return d
}

// IsZero reports whether d is the zero Date ("not known").
func (d Date) IsZero() bool { return d == Date{} }

// Partial reports whether d gives only a year, or a year and month.
func (d Date) Partial() bool { return !d.IsZero() && (d.Month == 0 || d.Day == 0) }

// Precision is how much of the date is known: PrecisionDay for a whole
// date, PrecisionMonth or PrecisionYear for a partial one.
func (d Date) Precision() Precision {
	switch {
	case d.Month == 0:
		return PrecisionYear
	case d.Day == 0:
		return PrecisionMonth
	}
	return PrecisionDay
}

// Time returns midnight UTC at the start of d (of its month or year when d
// is partial).
func (d Date) Time() time.Time {
	m, day := d.Month, d.Day
	if m == 0 {
		m = time.January
	}
	if day == 0 {
		day = 1
	}
	return time.Date(d.Year, m, day, 0, 0, 0, 0, time.UTC)
}

// String gives "2006-01-02", "2006-01" or "2006" as precise as d is, or ""
// for the zero Date.
func (d Date) String() string {
	switch {
	case d.IsZero():
		return ""
	case d.Month == 0:
		return fmt.Sprintf("%04d", d.Year)
	case d.Day == 0:
		return fmt.Sprintf("%04d-%02d", d.Year, d.Month)
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// Format formats d with a time layout, e.g. "02-Jan-2006" for clinical
// screens. A partial date is formatted only as far as it is known:
// "Jan-2006" or "2006", whatever the layout.
func (d Date) Format(layout string) string {
	switch {
	case d.IsZero():
		return ""
	case d.Month == 0:
		return fmt.Sprintf("%04d", d.Year)
	case d.Day == 0:
		return d.Time().Format("Jan-2006")
	}
	return d.Time().Format(layout)
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.Time().Before(e.Time()) }

// AgeOn returns the age in whole years on the given date (birthdays on
// 29 February count from 1 March in non-leap years). For a partial d the
// age is not known to the year: callers check Partial first and show none.
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

// Precision is how much of a clinical date or time a source gave. The zero
// value is a full date and time; the mapping of every source sets the
// others, so that a page never shows a time or day the source did not give.
type Precision uint8

const (
	// PrecisionTime: a date and a time of day.
	PrecisionTime Precision = iota
	// PrecisionDay: a date with no time ("2024-03-12").
	PrecisionDay
	// PrecisionMonth: a year and month ("1957-05").
	PrecisionMonth
	// PrecisionYear: a year only ("1957").
	PrecisionYear
)

// When is a clinical date or time as precise as its source gave it, or
// what the source gave instead of one (an age, a range of ages, free text):
// Condition.onset[x] has all of these.
type When struct {
	// Time is the instant, in UTC; for a partial date, the start of its
	// day, month or year (midnight UTC). Zero when the source gave Text
	// instead, or nothing.
	Time      time.Time `json:"time,omitzero"`
	Precision Precision `json:"precision,omitempty"`
	// Text is what the source gave instead of a date ("age 52 years",
	// "in childhood"), shown as it is.
	Text string `json:"text,omitempty"`
}

// IsZero reports whether the source gave nothing.
func (w When) IsZero() bool { return w.Time.IsZero() && w.Text == "" }

// At returns a When for an instant with a time of day.
func At(t time.Time) When { return When{Time: t} }

// On returns a When for a date, as precise as d is: the start of its day,
// month or year (midnight UTC).
func On(d Date) When { return When{Time: d.Time(), Precision: d.Precision()} }

// ErrBadDate: a source's date or dateTime could not be read. Its text is
// the short reason an Omission gives; the value is never in it (a date of
// birth or death is clinical content).
var ErrBadDate = errors.New("bad date")

// ParseWhen reads a FHIR date, dateTime or instant as precise as it is
// given: "1957", "1957-05" and "1957-05-12" as On that date; a date and time
// with its offset ("2024-03-31T23:30:00Z", "2024-03-12T09:05:00+01:00"), as
// the instant in UTC. FHIR: "If hours and minutes are specified, a timezone
// offset SHALL be populated." A blank string is the zero When; anything
// else is ErrBadDate.
func ParseWhen(s string) (When, error) {
	s = strings.TrimSpace(s)
	switch len(s) {
	case 0:
		return When{}, nil
	case len("2006"), len("2006-01"), len(time.DateOnly):
		d, err := ParseDate(s)
		if err != nil {
			return When{}, ErrBadDate
		}
		return On(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return When{}, ErrBadDate
	}
	return At(t.UTC()), nil
}

// Date is the calendar date of w: for an instant, its date in UK time (a
// death at 23:30 UTC on 31 March 2024 was on 1 April there); for a date,
// the date as given, partial if it is. The zero Date when w has no Time.
func (w When) Date() Date {
	switch {
	case w.Time.IsZero():
		return Date{}
	case w.Precision == PrecisionTime:
		return DateOf(w.Time.In(London))
	}
	return DateOf(w.Time).upTo(w.Precision)
}
