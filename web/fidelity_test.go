package web_test

// The record page says what the sources hold and what it does not show:
// records built from the model, served through the real fan-out, cache and
// pages, read back by parsing the HTML.

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/connectors"
)

// modelSource is an in-process source holding one record, built by the
// test from the model; with down set it fails as an unreachable source.
type modelSource struct {
	src  connectors.Source
	nhs  string
	rec  func() *connectors.Record
	down bool
}

func (s modelSource) Source() connectors.Source { return s.src }

func (s modelSource) FindPatients(context.Context, connectors.Query) ([]connectors.Patient, error) {
	return nil, nil
}

func (s modelSource) FetchRecord(_ context.Context, nhs string) (*connectors.Record, error) {
	if s.down {
		return nil, &connectors.SourceError{Source: s.src, Kind: connectors.ErrUnavailable, Err: errors.New("connection refused")}
	}
	if nhs != s.nhs || s.rec == nil {
		return nil, connectors.ErrNoRecord
	}
	rec := s.rec()
	rec.Fetched = time.Now()
	for i := range rec.Entries {
		rec.Entries[i].Source = s.src
	}
	return rec, nil
}

const fidelityNHS = "9990000018"

var (
	kingsSrc    = connectors.Source{Name: "King's College Hospital", ODS: "RJZ"}
	guysSrc     = connectors.Source{Name: "Guy's and St Thomas'", ODS: "RJ1"}
	lewishamSrc = connectors.Source{Name: "Lewisham", ODS: "RJ2"}
	mkSrc       = connectors.Source{Name: "Milton Keynes", ODS: "RD8"}
)

func fidelityPatient() *connectors.Patient {
	return &connectors.Patient{NHSNumber: fidelityNHS, Family: "Smith", Given: []string{"Jane"}, Title: "Mrs",
		BirthDate: connectors.NewDate(1965, time.March, 12), Gender: connectors.GenderFemale}
}

func ptr(f float64) *float64 { return &f }

// kingsRecord is a complete record with the breadth a page must show.
func kingsRecord() *connectors.Record {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	return &connectors.Record{
		Patient:        fidelityPatient(),
		PatientRecords: 2,
		Hidden: []connectors.Omission{
			{Kind: connectors.KindResult, Resource: "Observation/e1", Reason: connectors.HideEnteredInError},
			{Kind: connectors.KindResult, Resource: "Observation/e2", Reason: connectors.HideEnteredInError},
			{Kind: connectors.KindAllergy, Resource: "AllergyIntolerance/r1", Reason: connectors.HideRefuted},
		},
		Entries: []connectors.Entry{
			{Kind: connectors.KindAllergy, ID: "AllergyIntolerance/pen", Date: day(2019, time.June, 3), Precision: connectors.PrecisionDay,
				Title: "Penicillin", Allergy: &connectors.Allergy{Substance: "Penicillin", Reaction: "Anaphylaxis", Criticality: "high", Status: "active"}},
			{Kind: connectors.KindAllergy, ID: "AllergyIntolerance/plaster", Date: day(2018, time.June, 3), Precision: connectors.PrecisionDay,
				Title: "Elastoplast", Allergy: &connectors.Allergy{Substance: "Elastoplast", Reaction: "Rash", Status: "active"}},
			{Kind: connectors.KindAlert, ID: "Flag/safe", Date: day(2024, time.February, 3), Precision: connectors.PrecisionDay,
				Title: "Child protection plan in place", Alert: &connectors.Alert{Category: "Safeguarding", Status: "active",
					Start: connectors.When{Time: day(2024, time.February, 3), Precision: connectors.PrecisionDay}}},
			{Kind: connectors.KindAlert, ID: "Flag/old", Date: day(2020, time.January, 1), Precision: connectors.PrecisionDay,
				Title: "Needs an interpreter", Alert: &connectors.Alert{Category: "Reasonable adjustment", Status: "inactive"}},
			{Kind: connectors.KindImmunization, ID: "Immunization/flu", Date: day(2025, time.October, 1), Precision: connectors.PrecisionDay,
				Title: "Influenza vaccine", Immunization: &connectors.Immunization{Vaccine: "Influenza vaccine", Status: "completed", DoseNumber: "1"}},
			// A date without a time in summer: midnight UTC is 01:00 in London.
			{Kind: connectors.KindProblem, ID: "Condition/asthma", Date: day(2025, time.July, 14), Precision: connectors.PrecisionDay,
				Title: "Asthma", Problem: &connectors.Problem{Status: connectors.ProblemActive,
					Onset: connectors.When{Time: day(1957, time.May, 1), Precision: connectors.PrecisionMonth}}},
			// A partial date: May 1957, no day.
			{Kind: connectors.KindProcedure, ID: "Procedure/tonsils", Date: day(1957, time.May, 1), Precision: connectors.PrecisionMonth,
				Title: "Tonsillectomy", Procedure: &connectors.Procedure{Status: "completed"}},
			{Kind: connectors.KindResult, ID: "Observation/bp", Date: time.Date(2025, time.July, 15, 9, 30, 0, 0, time.UTC),
				Title: "Blood pressure", Result: &connectors.Result{Status: "preliminary", Components: []connectors.Component{
					{Title: "Systolic", Value: "150", Numeric: ptr(150), Units: "mmHg", Flag: connectors.FlagCriticalHigh},
					{Title: "Diastolic", Units: "mmHg", Absent: "Not performed"},
				}}},
			{Kind: connectors.KindResult, ID: "Observation/trop", Date: time.Date(2025, time.July, 15, 8, 0, 0, 0, time.UTC),
				Title: "Troponin T", Result: &connectors.Result{Value: "5", Comparator: "<", Units: "ng/L", Status: "final",
					Range: connectors.RefRange{High: ptr(14)}}},
			{Kind: connectors.KindResult, ID: "Observation/gcs", Date: time.Date(2025, time.July, 15, 7, 0, 0, 0, time.UTC),
				Title: "Glasgow coma score", Result: &connectors.Result{Value: "13", Numeric: ptr(13), Status: "amended", Units: "{score}",
					Range:       connectors.RefRange{Low: ptr(15), High: ptr(15)},
					OtherRanges: []connectors.RefRange{{Low: ptr(3), High: ptr(8), Type: "Severe"}, {Low: ptr(9), High: ptr(12), Type: "Moderate"}}}},
			{Kind: connectors.KindResult, ID: "Observation/k", Date: time.Date(2025, time.July, 15, 6, 0, 0, 0, time.UTC),
				Title: "Potassium", Result: &connectors.Result{Absent: "Error"}},
			{Kind: connectors.KindResult, ID: "Observation/wcc", Date: time.Date(2025, time.July, 15, 5, 0, 0, 0, time.UTC),
				Title: "White cell count", Result: &connectors.Result{Value: "12.1", Numeric: ptr(12.1), Units: "10*9/L", Status: "final",
					Range: connectors.RefRange{Low: ptr(4), High: ptr(11)}, Flag: connectors.FlagHigh}},
		},
	}
}

func fidelityEnv(t *testing.T, sources ...connectors.Connector) (*env, *browser) {
	t.Helper()
	e := newEnv(t, func(s *envSetup) { s.conns, s.deadline = append(s.conns, sources...), 3*time.Second })
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(fidelityNHS, "direct-care", "")
	return e, b
}

func texts(ns []*html.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, text(n))
	}
	return out
}

// before reports whether a comes before b in document order.
func before(doc, a, b *html.Node) bool {
	for _, n := range findAll(doc, "", "", "") {
		switch n {
		case a:
			return true
		case b:
			return false
		}
	}
	return false
}

func TestRecordPageAccount(t *testing.T) {
	guysRec := func() *connectors.Record {
		return &connectors.Record{Patient: fidelityPatient(), Gaps: []connectors.Gap{
			{Kind: connectors.KindMedication, Failed: true, Reason: "HTTP 500"},
			{Kind: connectors.KindResult, Truncated: true, Read: 120, Total: 150},
		}}
	}
	lewishamRec := func() *connectors.Record {
		return &connectors.Record{Patient: fidelityPatient(), Unreadable: []connectors.Omission{
			{Kind: connectors.KindAllergy, Reason: "no substance"}, {Kind: connectors.KindAllergy, Reason: "bad date"}}}
	}
	_, b := fidelityEnv(t,
		modelSource{src: kingsSrc, nhs: fidelityNHS, rec: kingsRecord},
		modelSource{src: guysSrc, nhs: fidelityNHS, rec: guysRec},
		modelSource{src: lewishamSrc, nhs: fidelityNHS, rec: lewishamRec},
		modelSource{src: mkSrc, down: true},
	)
	p := b.get("/patients/" + fidelityNHS)
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}

	t.Run("SourceWithAGapIsIncompleteNotUpToDate", func(t *testing.T) {
		line := sourceLineFor(p, "RJ1")
		if !hasAttr(line, "data-incomplete", "*") || strings.Contains(text(line), "Up to date") {
			t.Fatalf("source line %q is not marked incomplete", text(line))
		}
		notes := texts(findAll(find(line, "ul", "", ""), "li", "", ""))
		want := []string{"Medicines unavailable: HTTP 500.", "Showing the newest 120 of 150 test results."}
		if !slices.Equal(notes, want) {
			t.Fatalf("notes %q, want %q", notes, want)
		}
		if l := sourceLineFor(p, "RJZ"); hasAttr(l, "data-incomplete", "*") || !strings.Contains(text(l), "Up to date") {
			t.Fatalf("a complete source: %q", text(l))
		}
	})
	t.Run("MissingSaidBesideTheSummary", func(t *testing.T) {
		box := find(p.doc, "div", "data-testid", "record-incomplete")
		got := texts(findAll(find(box, "ul", "data-testid", "account-missing"), "li", "", ""))
		want := []string{
			"Medicines unavailable from Guy's and St Thomas': HTTP 500",
			"Guy's and St Thomas': showing the newest 120 of 150 test results",
			"Lewisham: 2 allergy records could not be read",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("missing %q\nwant    %q", got, want)
		}
		if !before(p.doc, box, find(p.doc, "div", "data-testid", "summary-allergies")) {
			t.Fatal("the account comes after the summary")
		}
	})
	t.Run("MissingSaidAtTheTopOfTheTimeline", func(t *testing.T) {
		cases := []struct {
			query string
			want  int
		}{{"", 3}, {"?kind=medication", 1}, {"?kind=problem", 0}, {"?source=RJ2", 1}, {"?kind=result&kind=allergy", 2}}
		for _, tc := range cases {
			pp := b.get("/patients/" + fidelityNHS + tc.query)
			top := find(pp.doc, "div", "data-testid", "timeline-incomplete")
			if n := len(findAll(top, "li", "", "")); n != tc.want {
				t.Errorf("%q: %d lines at the top of the timeline, want %d: %q", tc.query, n, tc.want, text(top))
			}
			if top != nil && !before(pp.doc, find(pp.doc, "h2", "id", "timeline"), top) {
				t.Errorf("%q: the lines are not in the timeline", tc.query)
			}
		}
	})
	t.Run("DuplicatePatientRecordsSaid", func(t *testing.T) {
		got := text(find(p.doc, "div", "data-testid", "account-duplicates"))
		if !strings.Contains(got, "King's College Hospital holds 2 records for this patient; both are shown.") {
			t.Fatalf("duplicates %q", got)
		}
	})
	t.Run("HiddenByRuleCountedOnThePage", func(t *testing.T) {
		d := find(p.doc, "details", "data-testid", "account-hidden")
		if !strings.HasPrefix(text(find(d, "summary", "", "")), "3 items hidden by rule") {
			t.Fatalf("hidden summary %q", text(find(d, "summary", "", "")))
		}
		if got := texts(findAll(d, "li", "", "")); !slices.Equal(got, []string{"King's College Hospital: 2 entered in error, 1 refuted"}) {
			t.Fatalf("hidden %q", got)
		}
	})
	t.Run("SummaryBoxesSayWhatIsNotKnown", func(t *testing.T) {
		allergies := find(p.doc, "div", "data-testid", "summary-allergies")
		if attr(allergies, "data-claims") != "false" {
			t.Fatal("the allergy box claims to speak for every source")
		}
		caveat := text(find(allergies, "p", "data-testid", "allergies-caveat"))
		if caveat != "Incomplete: Not known from Lewisham (2 allergy records could not be read), Milton Keynes (did not answer): there may be more." {
			t.Fatalf("allergy caveat %q", caveat)
		}
		meds := text(find(p.doc, "p", "data-testid", "medicines"))
		want := "Incomplete: none recorded at King's College Hospital and Lewisham; not known from Guy's and St Thomas' (medicines unavailable: HTTP 500), Milton Keynes (did not answer)"
		if meds != want {
			t.Fatalf("medicines %q\nwant      %q", meds, want)
		}
	})
	t.Run("HighRiskAllergyInWordsAndFirst", func(t *testing.T) {
		items := findAll(find(p.doc, "ul", "data-testid", "allergies"), "li", "", "")
		if len(items) != 2 || !strings.HasPrefix(text(items[0]), "High risk Penicillin") {
			t.Fatalf("allergies %q", texts(items))
		}
		if find(items[1], "", "data-testid", "allergy-high-risk") != nil {
			t.Fatal("a low-risk allergy is marked high risk")
		}
	})
	t.Run("ActiveAlertsBeforeAnyOtherClinicalContent", func(t *testing.T) {
		alerts := findAll(p.doc, "div", "data-testid", "record-alert")
		if len(alerts) != 1 {
			t.Fatalf("%d active alerts, want 1: %q", len(alerts), texts(alerts))
		}
		got := text(alerts[0])
		for _, want := range []string{"Alert: Safeguarding", "Child protection plan in place", "King's College Hospital", "since 03-Feb-2024"} {
			if !strings.Contains(got, want) {
				t.Errorf("alert %q lacks %q", got, want)
			}
		}
		for _, later := range []*html.Node{find(p.doc, "ul", "data-testid", "sources"), find(p.doc, "div", "data-testid", "summary-allergies"),
			find(p.doc, "li", "data-testid", "entry")} {
			if !before(p.doc, alerts[0], later) {
				t.Fatalf("the alert comes after %s", attr(later, "data-testid"))
			}
		}
		// Every alert, active or not, is on the timeline under its kind.
		pp := b.get("/patients/" + fidelityNHS + "?kind=alert")
		if n := len(findAll(pp.doc, "li", "data-kind", "alert")); n != 2 {
			t.Fatalf("%d alerts on the timeline, want 2", n)
		}
	})
	t.Run("Vaccinations", func(t *testing.T) {
		if got := text(find(p.doc, "ul", "data-testid", "vaccinations")); !strings.Contains(got, "Influenza vaccine 01-Oct-2025") {
			t.Fatalf("vaccinations box %q", got)
		}
		pp := b.get("/patients/" + fidelityNHS + "?kind=immunization")
		es := findAll(pp.doc, "li", "data-testid", "entry")
		if len(es) != 1 || !strings.Contains(text(es[0]), "Vaccination") || find(pp.doc, "input", "id", "kind-immunization") == nil {
			t.Fatalf("vaccination entries %q", texts(es))
		}
	})
}

// Dates keep the precision their source gave: no time for a date without
// one, no invented day for a partial date.
func TestRecordPageDatePrecision(t *testing.T) {
	_, b := fidelityEnv(t, modelSource{src: kingsSrc, nhs: fidelityNHS, rec: kingsRecord})
	p := b.get("/patients/" + fidelityNHS)
	entry := func(id string) *html.Node {
		for _, n := range findAll(p.doc, "li", "data-testid", "entry") {
			if strings.Contains(text(n), id) {
				return n
			}
		}
		t.Fatalf("no entry %q", id)
		return nil
	}
	dayOf := func(n *html.Node) string {
		for ul := n.Parent; ul != nil; ul = ul.PrevSibling {
			if ul.Type == html.ElementNode && ul.Data == "h3" {
				return text(ul)
			}
		}
		return ""
	}
	t.Run("DateWithoutTimeShowsNoTime", func(t *testing.T) {
		asthma := entry("Asthma")
		if strings.Contains(text(asthma), " at ") {
			t.Fatalf("a date without a time is shown with one: %q", text(asthma))
		}
		if d := dayOf(asthma); d != "14-Jul-2025" {
			t.Fatalf("day %q, want 14-Jul-2025", d)
		}
		if !strings.Contains(text(find(p.doc, "ul", "data-testid", "problems")), "Asthma since May-1957") {
			t.Fatalf("problems box %q", text(find(p.doc, "ul", "data-testid", "problems")))
		}
	})
	t.Run("TimeShownInLondon", func(t *testing.T) {
		if got := text(entry("Blood pressure")); !strings.Contains(got, "at 10:30") {
			t.Fatalf("%q, want the London time 10:30", got)
		}
	})
	t.Run("PartialDateGroupedUnderItsMonth", func(t *testing.T) {
		tonsils := entry("Tonsillectomy")
		if d := dayOf(tonsils); d != "May-1957" {
			t.Fatalf("day %q, want May-1957", d)
		}
		if strings.Contains(text(tonsils), " at ") || strings.Contains(p.body, "01-May-1957") {
			t.Fatal("a partial date gained a day or a time")
		}
	})
}

// Results show what the source sent: a comparator once, a missing value
// and why, components each with theirs, critical distinct from high in
// words, the status, the normal range and the others on request.
func TestRecordPageResults(t *testing.T) {
	withOnHold := func() *connectors.Record {
		rec := kingsRecord()
		// On hold counts as current, and the page says it is on hold.
		rec.Entries = append(rec.Entries, connectors.Entry{Kind: connectors.KindMedication, ID: "MedicationRequest/warfarin",
			Date: time.Date(2025, time.June, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionDay, Title: "Warfarin 1mg tablets",
			Medication: &connectors.Medication{Drug: "Warfarin 1mg tablets", Dose: "3 mg",
				Status: connectors.MedicationCurrent, SourceStatus: "on-hold", Prescribed: true}})
		return rec
	}
	_, b := fidelityEnv(t, modelSource{src: kingsSrc, nhs: fidelityNHS, rec: withOnHold})
	p := b.get("/patients/" + fidelityNHS + "?kind=result")
	result := func(title string) *html.Node {
		for _, n := range findAll(p.doc, "li", "data-testid", "entry") {
			if strings.Contains(text(find(n, "p", "class", "app-timeline__title")), title) {
				return n
			}
		}
		t.Fatalf("no result %q", title)
		return nil
	}
	cases := []struct {
		title, value, flag, status, rng string
		critical                        bool
	}{
		{"Blood pressure", "150 / — mmHg; diastolic not recorded: Not performed", "Critically high (systolic)", "Preliminary", "", true},
		{"Troponin T", "<5 ng/L", "", "", "(range ≤ 14 ng/L)", false},
		{"Glasgow coma score", "13", "", "Amended", "(range 15–15)", false},
		{"Potassium", "No value: Error", "", "", "", false},
		// Units as a clinician writes them, not UCUM's machine form.
		{"White cell count", "12.1 ×10⁹/L", "High", "", "(range 4–11 ×10⁹/L)", false},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.title, " ", ""), func(t *testing.T) {
			n := result(tc.title)
			if got := text(find(n, "span", "data-testid", "result-value")); got != tc.value {
				t.Errorf("value %q, want %q", got, tc.value)
			}
			flag := find(n, "strong", "data-testid", "result-flag")
			critical := flag != nil && hasAttr(flag, "data-critical", "*")
			if text(flag) != tc.flag || critical != tc.critical {
				t.Errorf("flag %q (critical %v), want %q (%v)", text(flag), critical, tc.flag, tc.critical)
			}
			if got := text(find(n, "strong", "data-testid", "result-status")); got != tc.status {
				t.Errorf("status %q, want %q", got, tc.status)
			}
			if got := text(find(n, "span", "data-testid", "result-range")); got != tc.rng {
				t.Errorf("range %q, want %q", got, tc.rng)
			}
		})
	}
	t.Run("ComponentsEachWithTheirOwn", func(t *testing.T) {
		got := texts(findAll(result("Blood pressure"), "li", "data-testid", "result-component"))
		want := []string{"Systolic: 150 mmHg Critically high", "Diastolic: not recorded: Not performed"}
		if !slices.Equal(got, want) {
			t.Fatalf("components %q, want %q", got, want)
		}
	})
	t.Run("OtherRangesAvailable", func(t *testing.T) {
		d := find(result("Glasgow coma score"), "details", "data-testid", "result-other-ranges")
		if got := text(find(d, "p", "", "")); got != "Other ranges: Severe 3–8; Moderate 9–12" {
			t.Fatalf("other ranges %q", got)
		}
	})
	t.Run("MedicineLineReadsAsASentence", func(t *testing.T) {
		mp := b.get("/patients/" + fidelityNHS + "?kind=medication")
		got := text(find(mp.doc, "p", "data-testid", "medicine-line"))
		if got != "Current (on hold): 3 mg" {
			t.Fatalf("the medicine's line reads %q", got)
		}
	})
	t.Run("MedicineOnHoldSaidSo", func(t *testing.T) {
		box := find(p.doc, "", "data-testid", "medicines")
		if got := text(find(box, "strong", "data-testid", "medicine-status")); got != "(on hold)" {
			t.Fatalf("a current medicine on hold reads %q in the summary", got)
		}
	})
	t.Run("ComparatorOnce", func(t *testing.T) {
		if strings.Contains(text(p.doc), "<<") {
			t.Fatal("a comparator printed twice")
		}
	})
}
