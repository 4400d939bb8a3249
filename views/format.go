package views

import (
	"fmt"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// NotKnown is shown for a value the record does not hold (NHS Common User
// Interface guidance: never "?" or blank).
const NotKnown = "Not Known"

// Date shows a calendar date as on clinical screens: 12-Mar-1965.
func Date(d connectors.Date) string {
	if d.IsZero() {
		return NotKnown
	}
	return d.Format("02-Jan-2006")
}

// Day shows the London calendar day of an instant: 12-Mar-2026.
func Day(t time.Time) string {
	if t.IsZero() {
		return NotKnown
	}
	return t.In(London).Format("02-Jan-2006")
}

// Time shows the London time of day of an instant: 09:05.
func Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(London).Format("15:04")
}

// Age gives an age as clinical screens show it: days under four weeks,
// weeks under three months... kept simple and unambiguous: "23d" under a
// month, "14m" under two years, otherwise "81y".
func Age(born, on connectors.Date) string {
	if born.IsZero() || on.IsZero() || born.Partial() || on.Partial() || on.Before(born) {
		// No age from a partial date: it would rest on an invented day.
		return ""
	}
	b, o := born.Time(), on.Time()
	days := int(o.Sub(b).Hours() / 24)
	months := (o.Year()-b.Year())*12 + int(o.Month()-b.Month())
	if o.Day() < b.Day() {
		months--
	}
	switch {
	case months < 1:
		return fmt.Sprintf("%dd", days)
	case months < 24:
		return fmt.Sprintf("%dm", months)
	}
	return fmt.Sprintf("%dy", born.AgeOn(on))
}

// Gender shows a FHIR administrative gender.
func Gender(g string) string {
	switch g {
	case connectors.GenderMale:
		return "Male"
	case connectors.GenderFemale:
		return "Female"
	case connectors.GenderOther:
		return "Other"
	}
	return NotKnown
}

// NHSNumber shows an NHS number spaced 3-3-4: 999 000 0018.
func NHSNumber(n string) string {
	return connectors.FormatNHSNumber(n)
}

// Ago says how long ago an instant was, for freshness notes.
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return NotKnown
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	}
	return "on " + DateTime(t)
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// KindLabel names an entry kind for people.
func KindLabel(k connectors.Kind) string {
	switch k {
	case connectors.KindResult:
		return "Test result"
	case connectors.KindImaging:
		return "Imaging"
	case connectors.KindMedication:
		return "Medicine"
	case connectors.KindEncounter:
		return "Encounter"
	case connectors.KindProcedure:
		return "Procedure"
	case connectors.KindProblem:
		return "Problem"
	case connectors.KindAllergy:
		return "Allergy"
	case connectors.KindDocument:
		return "Document"
	case connectors.KindImmunization:
		return "Vaccination"
	case connectors.KindAlert:
		return "Alert"
	}
	return string(k)
}

// PatientName shows a patient's name as "SMITH, Jane (Mrs)", or Not Known.
func PatientName(p *connectors.Patient) string {
	if p == nil || (p.Family == "" && len(p.Given) == 0) {
		return NotKnown
	}
	return p.DisplayName()
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
