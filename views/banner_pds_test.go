package views

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

func TestBannerFromPDS(t *testing.T) {
	today := connectors.NewDate(2026, time.December, 4)
	died := connectors.NewDate(2025, time.January, 14)
	kings := connectors.Source{Name: "King's", ODS: "RJZ"}
	gp := connectors.Source{Name: "Peckham Practice", ODS: "G1"}
	pdsPatient := connectors.Patient{NHSNumber: "9990000018", Family: "Smith", Given: []string{"Jane"}, Title: "Mrs",
		BirthDate: connectors.NewDate(1965, time.March, 12), Gender: "female", AddressLines: []string{"1 PDS Road"}, Postcode: "SE5 9ZZ",
		RegisteredGP: connectors.Organisation{ODS: "G1"}}
	source := func(src connectors.Source, edit func(*connectors.Patient)) connectors.Patient {
		p := pdsPatient
		p.Source, p.AddressLines, p.Postcode = src, []string{"9 Old Street"}, "SE1 1ZZ"
		p.RegisteredGP = connectors.Organisation{Name: "Peckham Practice", ODS: "G1"}
		if edit != nil {
			edit(&p)
		}
		return p
	}
	t.Run("AddressAndGPArePDSsWithTheGPNamedByASource", func(t *testing.T) {
		b := NewBannerFromPDS("9990000018", National{Checked: true, Patient: pdsPatient}, []connectors.Patient{source(gp, nil)}, today)
		if !b.FromPDS || strings.Join(b.Address, ", ") != "1 PDS Road, SE5 9ZZ" || b.GP != "Peckham Practice (G1)" {
			t.Errorf("from PDS %v, address %v, GP %q", b.FromPDS, b.Address, b.GP)
		}
		if len(b.Disagreements) != 0 {
			t.Errorf("an older address is not a disagreement: %v", b.Disagreements)
		}
	})
	t.Run("SourceDisagreeingNamedAgainstPDS", func(t *testing.T) {
		b := NewBannerFromPDS("9990000018", National{Checked: true, Patient: pdsPatient},
			[]connectors.Patient{source(kings, func(p *connectors.Patient) { p.BirthDate = connectors.NewDate(1965, time.March, 21) })}, today)
		want := "Date of birth at King's: 21-Mar-1965 (PDS: 12-Mar-1965)"
		if !slices.Contains(b.Disagreements, want) {
			t.Errorf("disagreements %q, want %q", b.Disagreements, want)
		}
	})
	t.Run("DeathFromPDSAndASourceWithoutTheDateAgrees", func(t *testing.T) {
		dead := pdsPatient
		dead.Deceased, dead.DeathDate = true, &died
		b := NewBannerFromPDS("9990000018", National{Checked: true, Patient: dead},
			[]connectors.Patient{source(kings, func(p *connectors.Patient) { p.Deceased = true })}, today)
		if !b.Deceased || b.Died != "14-Jan-2025" || b.Age != "" {
			t.Errorf("deceased %v died %q age %q", b.Deceased, b.Died, b.Age)
		}
		if len(b.Disagreements) != 0 {
			t.Errorf("disagreements %q", b.Disagreements)
		}
	})
	t.Run("SourceNotKnowingOfTheDeathIsNamed", func(t *testing.T) {
		dead := pdsPatient
		dead.Deceased, dead.DeathDate = true, &died
		b := NewBannerFromPDS("9990000018", National{Checked: true, Patient: dead}, []connectors.Patient{source(kings, nil)}, today)
		if !slices.Contains(b.Disagreements, "Died at King's: not recorded as deceased (PDS: 14-Jan-2025)") {
			t.Errorf("disagreements %q", b.Disagreements)
		}
	})
	t.Run("RestrictedInPDSHidesWhatSourcesHold", func(t *testing.T) {
		r := pdsPatient
		r.Restricted = true
		r.Redact()
		b := NewBannerFromPDS("9990000018", National{Checked: true, Patient: r}, []connectors.Patient{source(gp, nil)}, today)
		if !b.Restricted || len(b.Address) > 0 || b.GP != "" {
			t.Errorf("restricted %v address %v GP %q", b.Restricted, b.Address, b.GP)
		}
	})
	t.Run("RestrictedInASourceHidesPDSAddress", func(t *testing.T) {
		r := source(kings, func(p *connectors.Patient) { p.Restricted = true; p.Redact() })
		b := NewBannerFromPDS("9990000018", National{Checked: true, Patient: pdsPatient}, []connectors.Patient{r}, today)
		if !b.Restricted || len(b.Address) > 0 || b.GP != "" || b.Phone != "" {
			t.Errorf("restricted %v address %v GP %q phone %q", b.Restricted, b.Address, b.GP, b.Phone)
		}
	})
	t.Run("DeathKnownToASourceOnlyIsNamedNotShown", func(t *testing.T) {
		b := NewBannerFromPDS("9990000018", National{Checked: true, Patient: pdsPatient},
			[]connectors.Patient{source(kings, func(p *connectors.Patient) { p.Deceased, p.DeathDate = true, &died })}, today)
		if b.Deceased || b.Died != "" || b.Age != "61y" {
			t.Errorf("deceased %v died %q age %q, want PDS's: alive, 61y", b.Deceased, b.Died, b.Age)
		}
		if !slices.Contains(b.Disagreements, "Died at King's: 14-Jan-2025 (PDS: not recorded as deceased)") {
			t.Errorf("disagreements %q", b.Disagreements)
		}
	})
	// The rule for age and death is one: the same patient gives the same
	// life on the sources' banner as from PDS.
	partial := connectors.NewDate(2025, time.January, 0)
	lives := []struct {
		name                  string
		deceased              bool
		date                  *connectors.Date
		died, ageAtDeath, age string
	}{
		{"Alive", false, nil, "", "", "61y"},
		{"DiedOnADate", true, &died, "14-Jan-2025", "59y", ""},
		{"DateOfDeathWithoutTheFlag", false, &died, "14-Jan-2025", "59y", ""},
		{"DeceasedDateNotKnown", true, nil, NotKnown, "", ""},
		{"DiedInAMonthHasNoAgeAtDeath", true, &partial, "Jan-2025", "", ""},
	}
	for _, l := range lives {
		t.Run("Life/"+l.name, func(t *testing.T) {
			p := pdsPatient
			p.Deceased, p.DeathDate = l.deceased, l.date
			q := p
			q.Source = kings
			for name, b := range map[string]Banner{
				"sources": NewBanner("9990000018", []connectors.Patient{q}, today),
				"PDS":     NewBannerFromPDS("9990000018", National{Checked: true, Patient: p}, []connectors.Patient{q}, today),
			} {
				if !b.Deceased != (l.died == "") || b.Died != l.died || b.AgeAtDeath != l.ageAtDeath || b.Age != l.age {
					t.Errorf("%s: deceased %v died %q at %q age %q; want died %q at %q age %q",
						name, b.Deceased, b.Died, b.AgeAtDeath, b.Age, l.died, l.ageAtDeath, l.age)
				}
			}
		})
	}
	t.Run("PDSNotCheckedFallsBackToSourcesAndSaysSo", func(t *testing.T) {
		b := NewBannerFromPDS("9990000018", National{Failed: "PDS: did not answer in time"}, []connectors.Patient{source(kings, nil)}, today)
		if b.FromPDS || b.Name != "SMITH, Jane (Mrs)" || b.PDSNote != "Could not check PDS (did not answer in time): these details are from the sources." {
			t.Errorf("from PDS %v name %q note %q", b.FromPDS, b.Name, b.PDSNote)
		}
	})
}
