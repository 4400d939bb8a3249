package views

import (
	"sort"
	"strconv"
	"strings"

	"github.com/carerecord/carerecord/connectors"
)

// The account of a record: what each source holds that the page does not
// show, in words a clinician reads beside the record. A record page never
// looks complete when it is not (hazards H-003, H-005).

// KindTitle names a kind in the plural, as a heading or the subject of a
// sentence: "Medicines", "Test results".
func KindTitle(k connectors.Kind) string {
	switch k {
	case connectors.KindResult:
		return "Test results"
	case connectors.KindImaging:
		return "Imaging reports"
	case connectors.KindMedication:
		return "Medicines"
	case connectors.KindEncounter:
		return "Encounters"
	case connectors.KindProcedure:
		return "Procedures"
	case connectors.KindProblem:
		return "Problems"
	case connectors.KindAllergy:
		return "Allergies"
	case connectors.KindDocument:
		return "Documents"
	case connectors.KindImmunization:
		return "Vaccinations"
	case connectors.KindAlert:
		return "Alerts"
	}
	return "Records"
}

// KindItems counts items of a kind: "1 allergy record", "120 prescriptions".
func KindItems(k connectors.Kind, n int) string {
	one, many := kindNouns(k)
	if n == 1 {
		return "1 " + one
	}
	return Count(n) + " " + many
}

// kindNoun names one item of each kind; every plural adds an s.
var kindNoun = map[connectors.Kind]string{
	connectors.KindResult:       "test result",
	connectors.KindImaging:      "imaging report",
	connectors.KindMedication:   "prescription",
	connectors.KindEncounter:    "encounter",
	connectors.KindProcedure:    "procedure",
	connectors.KindProblem:      "problem",
	connectors.KindAllergy:      "allergy record",
	connectors.KindDocument:     "document",
	connectors.KindImmunization: "vaccination record",
	connectors.KindAlert:        "alert",
}

func kindNouns(k connectors.Kind) (string, string) {
	one, ok := kindNoun[k]
	if !ok {
		return "record of unknown kind", "records of unknown kind"
	}
	return one, one + "s"
}

// GapText says what a gap leaves out, without naming the source:
// "Medicines unavailable: HTTP 500", "showing the newest 120 of 150
// prescriptions", or where the source gave no count "showing only the
// newest 120 prescriptions; the source holds more".
func GapText(g connectors.Gap) string {
	switch {
	case g.Failed:
		return joinNonEmpty(": ", KindTitle(g.Kind)+" unavailable", g.Reason)
	case g.Truncated && g.Total > 0:
		return "showing the newest " + Count(g.Read) + " of " + KindItems(g.Kind, g.Total)
	case g.Truncated:
		// The source did not say how many it holds: only that there are more.
		return "showing only the newest " + KindItems(g.Kind, g.Read) + "; the source holds more"
	}
	// Neither failed nor cut off: the source said it left something out
	// (GP Connect: confidential items withheld), and Reason says what.
	return joinNonEmpty(": ", KindTitle(g.Kind)+" incomplete", g.Reason)
}

// GapLine is a gap as the record page says it, naming the source:
// "Medicines unavailable from Guy's and St Thomas': HTTP 500", "Guy's and
// St Thomas': showing the newest 120 of 150 prescriptions".
func GapLine(src connectors.Source, g connectors.Gap) string {
	if g.Failed {
		return joinNonEmpty(": ", KindTitle(g.Kind)+" unavailable from "+src.Name, g.Reason)
	}
	return src.Name + ": " + GapText(g)
}

// UnreadableCounts counts unreadable resources by kind, in the order of
// connectors.Kinds, those of no known kind last.
func UnreadableCounts(us []connectors.Omission) []KindTally {
	n := map[connectors.Kind]int{}
	for _, u := range us {
		n[u.Kind]++
	}
	var out []KindTally
	for _, k := range append(append([]connectors.Kind(nil), connectors.Kinds...), "") {
		if n[k] > 0 {
			out = append(out, KindTally{Kind: k, N: n[k]})
			delete(n, k)
		}
	}
	// Kinds this version does not know, in a stable order.
	var rest []string
	for k := range n {
		rest = append(rest, string(k))
	}
	sort.Strings(rest)
	for _, k := range rest {
		out = append(out, KindTally{Kind: connectors.Kind(k), N: n[connectors.Kind(k)]})
	}
	return out
}

// KindTally is a count of one kind.
type KindTally struct {
	Kind connectors.Kind
	N    int
}

// UnreadableText is "2 allergy records could not be read".
func UnreadableText(t KindTally) string {
	return KindItems(t.Kind, t.N) + " could not be read"
}

// HiddenText counts resources hidden by rule: "2 entered in error, 1
// refuted", rules in the order of the first of each.
func HiddenText(hs []connectors.Omission) string {
	n := map[string]int{}
	var order []string
	for _, h := range hs {
		if n[h.Reason] == 0 {
			order = append(order, h.Reason)
		}
		n[h.Reason]++
	}
	var parts []string
	for _, r := range order {
		parts = append(parts, strconv.Itoa(n[r])+" "+connectors.HideRuleLabel(r))
	}
	return strings.Join(parts, ", ")
}

// DuplicateText says that a source holds more than one Patient resource
// for the NHS number: "holds 2 records for this patient; both are shown".
func DuplicateText(n int) string {
	if n <= 1 {
		return ""
	}
	all := "all are shown"
	if n == 2 {
		all = "both are shown"
	}
	return "holds " + strconv.Itoa(n) + " records for this patient; " + all
}

// AccountLine is one thing the record page says about what a source's
// record leaves out or how it was put together.
type AccountLine struct {
	Source connectors.Source
	// Kind is the kind the line is about; "" for the whole source.
	Kind connectors.Kind
	Text string
}

// Account is what the record page says about every shown source's record
// beyond its entries.
type Account struct {
	// Missing: kinds that failed or were cut off, and resources that
	// could not be read, shown where the clinician reads the record.
	Missing []AccountLine
	// Duplicates: sources holding more than one record for the patient.
	Duplicates []AccountLine
	// Hidden: resources left out by a named rule, one line per source.
	Hidden      []AccountLine
	HiddenCount int
}

// AddSource adds one source's account of its record.
func (a *Account) AddSource(src connectors.Source, hidden, unreadable []connectors.Omission, gaps []connectors.Gap, patientRecords int) {
	for _, g := range gaps {
		a.Missing = append(a.Missing, AccountLine{Source: src, Kind: g.Kind, Text: GapLine(src, g)})
	}
	for _, t := range UnreadableCounts(unreadable) {
		a.Missing = append(a.Missing, AccountLine{Source: src, Kind: t.Kind, Text: src.Name + ": " + UnreadableText(t)})
	}
	if d := DuplicateText(patientRecords); d != "" {
		a.Duplicates = append(a.Duplicates, AccountLine{Source: src, Text: src.Name + " " + d})
	}
	if len(hidden) > 0 {
		a.Hidden = append(a.Hidden, AccountLine{Source: src, Text: src.Name + ": " + HiddenText(hidden)})
		a.HiddenCount += len(hidden)
	}
}

// For keeps the missing lines that bear on what a filtered timeline
// shows: those of a chosen kind (or of no known kind) and source.
func (a Account) For(f Filter) []AccountLine {
	var out []AccountLine
	for _, l := range a.Missing {
		if f.Source != "" && l.Source.ODS != f.Source {
			continue
		}
		if len(f.Kinds) > 0 && l.Kind != "" && !f.Has(l.Kind) {
			continue
		}
		out = append(out, l)
	}
	return out
}
