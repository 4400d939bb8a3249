package synthetic

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// person is one synthetic patient as every organisation knows them.
type person struct {
	nhs        string
	title      string
	given      []string
	family     string
	gender     string
	birth      connectors.Date
	death      time.Time // zero while alive
	lines      []string
	town       string
	postcode   string
	phone      string
	gp         string // ODS code of the registered practice
	restricted bool
	// orgs are the ODS codes of the organisations that hold a record,
	// the registered practice first.
	orgs     []string
	problems []onset
	allergy  *allergen
	// nka: the patient has been asked and has no known allergies.
	nka bool
	// level says how much each organisation holds: 0 little, 1 ordinary,
	// 2 rich (every kind of entry everywhere).
	level int
	// overrides shift a lab test's typical value for this patient, so that
	// results tell a story (rising HbA1c, falling eGFR).
	overrides    map[string]func(when time.Time) (mean float64)
	longDialysis bool
	// kin is the patient's next of kin (Patient.contact), if any.
	kin *kin
}

// kin is a next of kin as a source holds them.
type kin struct {
	relationship string // as the source words it, beside the v2-0131 code N
	title, given string
	family       string
	phone        string
}

type onset struct {
	key   string
	start time.Time
	end   time.Time // zero for a current problem
	// at is where the problem is managed (ODS); empty means anywhere.
	at string
}

// GeneratedPatients is how many patients the generator adds to the fixed
// ones; all are findable by family name and date of birth.
const GeneratedPatients = 60

var population = sync.OnceValue(buildPopulation)

func seed(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func newRand(parts ...string) *rand.Rand {
	return rand.New(rand.NewPCG(seed(parts...), 0x9e3779b97f4a7c15))
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func buildPopulation() []*person {
	people := fixedPeople()
	r := newRand("population")
	used := map[string]bool{}
	for _, p := range people {
		used[p.nhs] = true
	}
	// NHS numbers 999 010 000x upwards, skipping those with no valid check
	// digit.
	next := 1000
	nhs := func() string {
		for {
			first9 := fmt.Sprintf("999%06d", next)
			next++
			if d, ok := connectors.NHSNumberCheckDigit(first9); ok {
				n := first9 + string('0'+d)
				if !used[n] {
					used[n] = true
					return n
				}
			}
		}
	}
	gps := []string{PeckhamGPODS, BrixtonGPODS, BromleyGPODS}
	trusts := []string{KingsODS, GSTTODS, LewishamODS, MaudsleyODS, MiltonKeynODS}
	for i := range GeneratedPatients {
		p := &person{nhs: nhs(), level: 0}
		if r.IntN(2) == 0 {
			p.gender = connectors.GenderFemale
			p.given = []string{femaleGiven[r.IntN(len(femaleGiven))]}
			p.title = []string{"Mrs", "Ms", "Miss", "Dr"}[r.IntN(4)]
		} else {
			p.gender = connectors.GenderMale
			p.given = []string{maleGiven[r.IntN(len(maleGiven))]}
			p.title = []string{"Mr", "Mr", "Mr", "Dr"}[r.IntN(4)]
		}
		p.family = families[i%len(families)]
		born := day(1936+r.IntN(70), time.Month(1+r.IntN(12)), 1+r.IntN(28))
		p.birth = connectors.DateOf(born)
		p.gp = gps[r.IntN(len(gps))]
		a := practiceAreas[p.gp]
		p.lines = []string{fmt.Sprintf("%d %s", 1+r.IntN(180), streets[r.IntN(len(streets))])}
		p.town = a.town
		p.postcode = fmt.Sprintf("%s %dZZ", a.districts[r.IntN(len(a.districts))], 1+r.IntN(9))
		p.phone = fmt.Sprintf("07700 900%03d", r.IntN(1000))
		p.orgs = []string{p.gp}
		// One or two hospitals: the local Trusts mostly.
		for _, t := range trusts {
			if (t == KingsODS || t == GSTTODS || t == LewishamODS) && r.IntN(3) == 0 {
				p.orgs = append(p.orgs, t)
			}
		}
		if len(p.orgs) == 1 {
			p.orgs = append(p.orgs, trusts[r.IntN(3)])
		}
		adult := born.AddDate(18, 0, 0)
		if adult.After(DataDate) {
			adult = born.AddDate(1, 0, 0)
		}
		span := DataDate.Sub(adult)
		for _, k := range pick(r, chronicProblems, r.IntN(3)) {
			start := adult.Add(time.Duration(r.Int64N(int64(span))))
			p.problems = append(p.problems, onset{key: k, start: start})
			if problems[k].mental && !slices.Contains(p.orgs, MaudsleyODS) {
				p.orgs = append(p.orgs, MaudsleyODS)
			}
		}
		for _, k := range pick(r, acuteProblems, r.IntN(2)) {
			start := adult.Add(time.Duration(r.Int64N(int64(span))))
			p.problems = append(p.problems, onset{key: k, start: start, end: start.AddDate(0, 0, 10+r.IntN(30))})
		}
		switch r.IntN(5) {
		case 0:
			a := allergens[r.IntN(len(allergens))]
			p.allergy = &a
		case 1, 2:
			p.nka = true
		}
		people = append(people, p)
	}
	return people
}

func pick(r *rand.Rand, from []string, n int) []string {
	idx := r.Perm(len(from))[:n]
	out := make([]string, n)
	for i, j := range idx {
		out[i] = from[j]
	}
	return out
}

// fixedPeople are the demo's named patients; the demo script refers to
// them by NHS number.
func fixedPeople() []*person {
	penicillin := allergens[0]
	rich := &person{
		nhs: RichNHSNumber, title: "Mrs", given: []string{"Jane"}, family: "Smith", gender: connectors.GenderFemale,
		birth: connectors.NewDate(1965, time.March, 12), lines: []string{"12 Imaginary Road", "Camberwell"}, town: "London",
		postcode: "SE5 9ZZ", phone: "020 7946 0018", gp: PeckhamGPODS,
		kin:     &kin{relationship: "Husband", title: "Mr", given: "David", family: "Smith", phone: "020 7946 0118"},
		orgs:    []string{PeckhamGPODS, KingsODS, GSTTODS, LewishamODS, MiltonKeynODS, MaudsleyODS},
		allergy: &penicillin, level: 2,
		problems: []onset{
			{key: "oa", start: day(2006, time.June, 2), at: MiltonKeynODS},
			{key: "htn", start: day(2009, time.March, 14)},
			{key: "t2dm", start: day(2012, time.May, 21)},
			{key: "gallstones", start: day(2015, time.February, 3), end: day(2015, time.April, 20), at: KingsODS},
			{key: "depression", start: day(2016, time.September, 9), at: MaudsleyODS},
			{key: "ckd", start: day(2019, time.August, 30)},
			{key: "headache", start: day(2021, time.November, 2), end: day(2021, time.December, 1), at: GSTTODS},
			{key: "pneumonia", start: day(2023, time.January, 8), end: day(2023, time.February, 10), at: LewishamODS},
		},
		overrides: map[string]func(time.Time) float64{
			// HbA1c climbs after diagnosis, then improves on gliclazide.
			"hba1c": func(t time.Time) float64 {
				y := yearsSince(t, day(2012, time.May, 1))
				switch {
				case y < 0:
					return 44
				case y < 8:
					return 50 + 2*y
				default:
					return 64 - 1.5*(y-8)
				}
			},
			// Kidney function declines slowly: CKD stage 3.
			"creat": func(t time.Time) float64 { return 78 + 5*max(0, yearsSince(t, day(2012, time.January, 1))) },
			"egfr":  func(t time.Time) float64 { return 82 - 3.2*max(0, yearsSince(t, day(2012, time.January, 1))) },
			"k":     func(time.Time) float64 { return 5.0 },
			"hb":    func(time.Time) float64 { return 112 },
			"crp": func(t time.Time) float64 {
				if t.After(day(2023, time.January, 1)) && t.Before(day(2023, time.March, 1)) {
					return 140
				}
				return 3
			},
		},
	}
	ordinary := &person{
		nhs: OrdinaryNHSNumber, title: "Mr", given: []string{"Oliver", "James"}, family: "Brackenbury", gender: connectors.GenderMale,
		birth: connectors.NewDate(1978, time.August, 23), lines: []string{"7 Example Street"}, town: "London",
		postcode: "SW9 4ZZ", phone: "020 7946 0026", gp: BrixtonGPODS,
		orgs: []string{BrixtonGPODS, GSTTODS, KingsODS}, nka: true, level: 1,
		problems: []onset{
			{key: "asthma", start: day(1990, time.April, 1)},
			{key: "uti", start: day(2024, time.July, 3), end: day(2024, time.July, 20)},
		},
	}
	restricted := &person{
		nhs: RestrictedNHSNumber, title: "Ms", given: []string{"Rowan"}, family: "Ashdown", gender: connectors.GenderFemale,
		birth: connectors.NewDate(1991, time.December, 4), lines: []string{"Address withheld"}, town: "London",
		postcode: "SE22 1ZZ", phone: "020 7946 0034", gp: PeckhamGPODS, restricted: true,
		// A Trust holds her sister as next of kin: never shown, as her
		// own address is not.
		kin:  &kin{relationship: "Sister", title: "Ms", given: "Briony", family: "Ashdown", phone: "020 7946 0134"},
		orgs: []string{PeckhamGPODS, MaudsleyODS, KingsODS}, nka: true, level: 1,
		problems: []onset{
			{key: "depression", start: day(2018, time.March, 12), at: MaudsleyODS},
		},
	}
	long := &person{
		nhs: LongHistoryNHSNumber, title: "Mr", given: []string{"Reginald"}, family: "Thistlewood", gender: connectors.GenderMale,
		birth: connectors.NewDate(1944, time.February, 29), lines: []string{"3 Placeholder Close", "Chelsfield"}, town: "Orpington",
		postcode: "BR6 7ZZ", phone: "020 7946 0042", gp: BromleyGPODS,
		orgs: []string{BromleyGPODS, GSTTODS, KingsODS}, allergy: &allergens[2], level: 1, longDialysis: true,
		problems: []onset{
			{key: "htn", start: day(1990, time.January, 15)},
			{key: "eskd", start: dialysisStart, at: GSTTODS},
			{key: "af", start: day(2016, time.May, 5)},
		},
		overrides: map[string]func(time.Time) float64{
			"creat": func(time.Time) float64 { return 620 },
			"egfr":  func(time.Time) float64 { return 7 },
			"urea":  func(time.Time) float64 { return 21 },
			"k":     func(time.Time) float64 { return 5.4 },
			"hb":    func(time.Time) float64 { return 108 },
		},
	}
	deceased := &person{
		nhs: DeceasedNHSNumber, title: "Mrs", given: []string{"Edith"}, family: "Winterbourne", gender: connectors.GenderFemale,
		birth: connectors.NewDate(1932, time.July, 19), death: time.Date(2025, time.January, 14, 4, 20, 0, 0, time.UTC),
		lines: []string{"40 Notional Gardens"}, town: "London", postcode: "SE15 3ZZ", phone: "020 7946 0050", gp: PeckhamGPODS,
		kin:  &kin{relationship: "Son", title: "Mr", given: "Arthur", family: "Winterbourne", phone: "020 7946 0150"},
		orgs: []string{PeckhamGPODS, KingsODS}, nka: true, level: 1,
		problems: []onset{
			{key: "af", start: day(2010, time.March, 1)},
			{key: "pneumonia", start: day(2025, time.January, 2), end: day(2025, time.January, 14), at: KingsODS},
		},
	}
	return []*person{rich, ordinary, restricted, long, deceased}
}

// dialysisStart is when the long-history patient's haemodialysis began.
var dialysisStart = day(2016, time.November, 7)

func yearsSince(t, from time.Time) float64 { return t.Sub(from).Hours() / (24 * 365.25) }

// holds reports whether the organisation holds a record for p.
func (p *person) holds(ods string) bool { return slices.Contains(p.orgs, ods) }

// alive reports whether p was alive at t.
func (p *person) alive(t time.Time) bool { return p.death.IsZero() || t.Before(p.death) }

// DemoPatient describes one synthetic patient, for demo scripts, seeding and
// tests: who they are and which organisations hold their record.
type DemoPatient struct {
	NHSNumber  string
	Title      string
	Given      []string
	Family     string
	BirthDate  connectors.Date
	Gender     string
	Postcode   string // empty for a restricted patient
	GP         string // ODS code of the registered practice
	Sources    []string
	Restricted bool
	Deceased   bool
}

// Patients lists every synthetic patient, the fixed demo patients first.
func Patients() []DemoPatient {
	var out []DemoPatient
	for _, p := range population() {
		d := DemoPatient{NHSNumber: p.nhs, Title: p.title, Given: slices.Clone(p.given), Family: p.family,
			BirthDate: p.birth, Gender: p.gender, Postcode: p.postcode, GP: p.gp, Sources: slices.Clone(p.orgs),
			Restricted: p.restricted, Deceased: !p.death.IsZero()}
		if p.restricted {
			d.Postcode = ""
		}
		out = append(out, d)
	}
	return out
}
