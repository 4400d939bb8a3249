package fhir

import (
	"slices"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

func TestPatientContacts(t *testing.T) {
	src := connectors.Source{Name: "Test Trust", ODS: "RXX"}
	cases := []struct {
		name    string
		contact string
		want    []connectors.Contact
	}{
		{"NextOfKinWithRelationshipInWords", `[{"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"N","display":"Next-of-Kin"}]},{"text":"Husband"}],
			"name":{"family":"Smith","given":["David"],"prefix":["Mr"]},"telecom":[{"system":"email","value":"d@example.com"},{"system":"phone","value":"020 7946 0118","use":"mobile"}]}]`,
			[]connectors.Contact{{Relationship: "Next-of-Kin, Husband", Name: "Mr David Smith", Phone: "020 7946 0118"}}},
		{"NameAsText", `[{"name":{"text":"Ms Ada Example"}}]`, []connectors.Contact{{Name: "Ms Ada Example"}}},
		{"PeriodEndedIsNoLongerAContact", `[{"name":{"text":"Former Contact"},"period":{"end":"2001-01-01"}}]`, nil},
		{"NobodyAndNoPhoneSaysNothing", `[{"relationship":[{"text":"Friend"}]}]`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(`{"resourceType":"Patient","id":"p1","contact":` + tc.contact + `}`)
			p, _, err := mapPatient(raw, src)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Contacts, tc.want) {
				t.Errorf("contacts %+v, want %+v", p.Contacts, tc.want)
			}
		})
	}
	t.Run("RestrictedPatientHasNone", func(t *testing.T) {
		raw := []byte(`{"resourceType":"Patient","id":"p1","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},
			"contact":[{"name":{"text":"Ms Briony Ashdown"},"telecom":[{"system":"phone","value":"020 7946 0134"}]}]}`)
		p, _, err := mapPatient(raw, src)
		if err != nil || !p.Restricted || p.Contacts != nil {
			t.Fatalf("restricted %v, contacts %+v, err %v", p.Restricted, p.Contacts, err)
		}
	})
}

// TestPatientDeathDate: deceasedDateTime keeps the precision it is given
// and, given a time, is the date in UK time; a date that cannot be read
// makes the Patient unreadable rather than misdated.
func TestPatientDeathDate(t *testing.T) {
	src := connectors.Source{Name: "Test Trust", ODS: "RXX"}
	cases := []struct {
		name, deceased string
		want           connectors.Date
		ok             bool
	}{
		{"Year", "2024", connectors.NewDate(2024, 0, 0), true},
		{"YearMonth", "2024-03", connectors.NewDate(2024, time.March, 0), true},
		{"Date", "2024-03-31", connectors.NewDate(2024, time.March, 31), true},
		{"DateTimeLateUTCIsNextDayInUK", "2024-03-31T23:30:00Z", connectors.NewDate(2024, time.April, 1), true},
		{"DateTimeWithOffset", "2024-06-30T23:30:00+01:00", connectors.NewDate(2024, time.June, 30), true},
		{"ErrBadDate", "31/03/2024", connectors.Date{}, false},
		{"ErrEmpty", "", connectors.Date{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(`{"resourceType":"Patient","id":"p1","deceasedDateTime":"` + tc.deceased + `"}`)
			p, _, err := mapPatient(raw, src)
			if !tc.ok {
				if err == nil {
					t.Fatalf("deceasedDateTime %q read as %v, want the Patient unreadable", tc.deceased, p.DeathDate)
				}
				return
			}
			if err != nil || !p.Deceased || p.DeathDate == nil || *p.DeathDate != tc.want {
				t.Fatalf("deceased %v on %v (%v), want %v", p.Deceased, p.DeathDate, err, tc.want)
			}
		})
	}
}
