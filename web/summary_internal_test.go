package web

import (
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/views"
)

var (
	lewisham = connectors.Source{Name: "Lewisham", ODS: "RJ2"}
	gp       = connectors.Source{Name: "Coldharbour Surgery", ODS: "G85001"}
)

func live(src connectors.Source) records.SourceStatus {
	return records.SourceStatus{Source: src, State: records.StateLive}
}

func allergy(src connectors.Source, substance string, high bool) connectors.Entry {
	a := &connectors.Allergy{Substance: substance, Status: "active"}
	if high {
		a.Criticality = "high"
	}
	return connectors.Entry{Kind: connectors.KindAllergy, ID: "AllergyIntolerance/" + substance, Source: src,
		Date: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Precision: connectors.PrecisionDay, Title: substance, Allergy: a}
}

func nka(src connectors.Source) connectors.Entry {
	return connectors.Entry{Kind: connectors.KindAllergy, ID: "AllergyIntolerance/nka", Source: src, Title: "No known allergy",
		Allergy: &connectors.Allergy{NoKnownAllergies: true, NoKnownScope: connectors.NoKnownAny}}
}

// nkfa is a source's "No known food allergy": a statement about food only.
func nkfa(src connectors.Source) connectors.Entry {
	return connectors.Entry{Kind: connectors.KindAllergy, ID: "AllergyIntolerance/nkfa", Source: src, Title: "No known food allergy",
		Allergy: &connectors.Allergy{NoKnownAllergies: true, NoKnownScope: connectors.NoKnownFood}}
}

// The summary's boxes claim absence only when they can speak for every
// source; otherwise they say where nothing is recorded and where it is
// not known, and why.
func TestBuildSummaryStatements(t *testing.T) {
	unreadableAllergies := live(lewisham)
	unreadableAllergies.Unreadable = []connectors.Omission{{Kind: connectors.KindAllergy, Reason: "no substance"}, {Kind: connectors.KindAllergy, Reason: "bad date"}}
	failedMeds := live(guys)
	failedMeds.Gaps = []connectors.Gap{{Kind: connectors.KindMedication, Failed: true, Reason: "HTTP 500"}}
	cutMeds := live(guys)
	cutMeds.Gaps = []connectors.Gap{{Kind: connectors.KindMedication, Truncated: true, Read: 120, Total: 150}}
	unknownKind := live(guys)
	unknownKind.Unreadable = []connectors.Omission{{Reason: "not JSON"}}
	down := records.SourceStatus{Source: guys, State: records.StateFailed}
	loading := records.SourceStatus{Source: guys, State: records.StateTimeout, Pending: true}
	withheld := func(src connectors.Source) records.SourceStatus {
		return records.SourceStatus{Source: src, State: records.StateWithheld}
	}
	noRecord := records.SourceStatus{Source: gp, State: records.StateNoRecord}

	cases := []struct {
		name    string
		entries []connectors.Entry
		sources []records.SourceStatus
		box     func(views.Summary) views.SummaryBox
		claims  bool
		want    string // Statement, or Caveat when the box lists items
		items   int
	}{
		{"NoKnownAllergiesWhenEverySourceAnswered", []connectors.Entry{nka(kings)},
			[]records.SourceStatus{live(kings), live(guys), noRecord}, allergiesBox, true, "No known allergies", 0},
		{"NoneRecordedWhenEverySourceAnswered", nil,
			[]records.SourceStatus{live(kings), live(guys)}, allergiesBox, true, "None recorded", 0},
		{"ASourceThatDidNotAnswerIsNamed", []connectors.Entry{nka(kings)},
			[]records.SourceStatus{live(kings), down}, allergiesBox, false,
			"Incomplete: no known allergies at King's; not known from Guy's (did not answer)", 0},
		{"UnreadableAllergiesCounted", nil,
			[]records.SourceStatus{live(kings), live(guys), unreadableAllergies}, allergiesBox, false,
			"Incomplete: none recorded at King's and Guy's; not known from Lewisham (2 allergy records could not be read)", 0},
		{"UnreadableOfAnotherKindDoesNotMatter", nil,
			[]records.SourceStatus{live(kings), unreadableAllergies}, problemsBox, true, "None recorded", 0},
		{"UnreadableOfNoKnownKindMattersToEveryBox", nil,
			[]records.SourceStatus{live(kings), unknownKind}, problemsBox, false,
			"Incomplete: none recorded at King's; not known from Guy's (1 record of unknown kind could not be read)", 0},
		{"FailedKindNamed", nil,
			[]records.SourceStatus{live(kings), failedMeds}, medicinesBox, false,
			"Incomplete: none recorded at King's; not known from Guy's (medicines unavailable: HTTP 500)", 0},
		{"CutOffKindNamed", nil,
			[]records.SourceStatus{live(kings), cutMeds}, medicinesBox, false,
			"Incomplete: none recorded at King's; not known from Guy's (showing the newest 120 of 150 prescriptions)", 0},
		{"StillLoading", nil,
			[]records.SourceStatus{live(kings), loading}, problemsBox, false,
			"Incomplete: none recorded at King's; not known from Guy's (still loading)", 0},
		{"ManySourcesCounted", nil,
			[]records.SourceStatus{live(kings), live(guys), live(gp), live(connectors.Source{Name: "Maudsley", ODS: "RV5"}), down},
			allergiesBox, false, "Incomplete: none recorded at 4 sources; not known from Guy's (did not answer)", 0},
		{"ObjectingPatientsOwnTrust", []connectors.Entry{nka(kings)},
			[]records.SourceStatus{live(kings), withheld(guys), withheld(gp)}, allergiesBox, false,
			"No known allergies at King's", 0},
		{"ListedWithCaveat", []connectors.Entry{allergy(kings, "Penicillin", false)},
			[]records.SourceStatus{live(kings), down}, allergiesBox, false,
			"Not known from Guy's (did not answer): there may be more.", 1},
		// "No known food allergy" says nothing about medicines: it is
		// listed as it is, never summed up as "No known allergies".
		{"NoKnownFoodAllergyIsNotNoKnownAllergies", []connectors.Entry{nkfa(kings)},
			[]records.SourceStatus{live(kings), live(guys)}, allergiesBox, true, "", 1},
		{"ListedForEverySource", []connectors.Entry{allergy(kings, "Penicillin", false), allergy(guys, "Penicillin", false)},
			[]records.SourceStatus{live(kings), live(guys)}, allergiesBox, true, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.box(buildSummary("9990000018", dedupe(tc.entries), tc.sources))
			if b.Claims() != tc.claims || len(b.Items) != tc.items {
				t.Fatalf("claims %v with %d items, want %v with %d", b.Claims(), len(b.Items), tc.claims, tc.items)
			}
			got := b.Statement()
			if len(b.Items) > 0 {
				got = b.Caveat()
			}
			if got != tc.want {
				t.Fatalf("box says %q\nwant      %q", got, tc.want)
			}
			if tc.name == "NoKnownFoodAllergyIsNotNoKnownAllergies" && (len(b.NoneKnownAt) != 0 || strings.Contains(b.Statement(), "No known allergies")) {
				t.Fatalf("a food-only statement became %q (none known at %v)", b.Statement(), b.NoneKnownAt)
			}
			if tc.name == "ListedForEverySource" && len(b.Items[0].AlsoReportedBy) != 1 {
				t.Fatal("the second source holding the same allergy is not named")
			}
		})
	}
	t.Run("WithheldSaidSo", func(t *testing.T) {
		b := buildSummary("9990000018", dedupe([]connectors.Entry{nka(kings)}),
			[]records.SourceStatus{live(kings), withheld(guys), withheld(gp)}).Allergies
		if w := b.WithheldText(); !strings.Contains(w, "2 other organisations") || !strings.Contains(w, "objected") {
			t.Fatalf("withheld text %q", w)
		}
		if strings.Contains(b.Statement(), "did not answer") || strings.Contains(b.Statement(), "unavailable") {
			t.Fatalf("withheld sources called unanswered: %q", b.Statement())
		}
	})
	t.Run("HighRiskAllergiesFirst", func(t *testing.T) {
		b := buildSummary("9990000018", dedupe([]connectors.Entry{allergy(kings, "Elastoplast", false), allergy(kings, "Penicillin", true)}),
			[]records.SourceStatus{live(kings)}).Allergies
		if len(b.Items) != 2 || b.Items[0].Entry.Allergy.Substance != "Penicillin" {
			t.Fatalf("items %v", b.Items)
		}
	})
}

func allergiesBox(s views.Summary) views.SummaryBox { return s.Allergies }
func problemsBox(s views.Summary) views.SummaryBox  { return s.Problems }
func medicinesBox(s views.Summary) views.SummaryBox { return s.Medications }
