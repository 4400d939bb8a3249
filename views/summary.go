package views

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/carerecord/carerecord/connectors"
)

// SummaryBox is one box of the record's at-a-glance summary (active
// problems, current medicines, allergies, vaccinations): the items the
// sources hold, and which sources' word on this kind is complete, unknown
// or withheld. A box claims absence ("None recorded", "No known
// allergies") only when every source that may hold the patient answered
// for its kind in full and none is withheld.
type SummaryBox struct {
	Kind    connectors.Kind
	Heading string
	// TestID names the box for tests and the journeys.
	TestID string
	Items  []Item
	// More counts items of the kind not listed in the box (older
	// vaccinations), found in the timeline.
	More    int
	MoreURL string
	// NoneKnownAt: sources asserting that the patient has no known
	// allergies (a positive statement, unlike an absence of entries).
	NoneKnownAt []connectors.Source
	// Complete: sources holding a record for the patient that gave
	// everything of this kind.
	Complete []connectors.Source
	// Unknown: sources whose word on this kind is not known, and why.
	Unknown []Unknown
	// Withheld counts sources not shown because the patient objected to
	// sharing.
	Withheld int
}

// Unknown is a source whose word on one kind is not known.
type Unknown struct {
	Source connectors.Source
	// Why is short: "did not answer", "still loading", "2 allergy
	// records could not be read", "allergies unavailable: HTTP 500".
	Why string
}

// Claims reports whether the box may speak for every source: nothing is
// unknown and nothing withheld.
func (b SummaryBox) Claims() bool { return len(b.Unknown) == 0 && b.Withheld == 0 }

// Incomplete reports whether some source's word on the kind is not known.
func (b SummaryBox) Incomplete() bool { return len(b.Unknown) > 0 }

// Statement is what the box says when it lists nothing: "No known
// allergies" or "None recorded" only when it speaks for every source;
// otherwise where nothing is recorded and where it is not known, e.g.
// "Incomplete: none recorded at 5 sources; not known from Guy's and St
// Thomas' (did not answer), Lewisham (2 allergy records could not be
// read)"; or for an objecting patient what their own organisation holds
// ("No known allergies at King's College Hospital"), the withheld
// sources being said by WithheldText.
func (b SummaryBox) Statement() string {
	if b.Claims() {
		if len(b.NoneKnownAt) > 0 {
			return "No known allergies"
		}
		return "None recorded"
	}
	var parts []string
	if len(b.NoneKnownAt) > 0 {
		parts = append(parts, "no known allergies at "+sourceNames(b.NoneKnownAt))
	}
	var others []connectors.Source
	for _, s := range b.Complete {
		if !hasSource(b.NoneKnownAt, s) {
			others = append(others, s)
		}
	}
	if len(others) > 0 {
		parts = append(parts, "none recorded at "+sourceNames(others))
	}
	if len(b.Unknown) > 0 {
		parts = append(parts, "not known from "+b.unknownList())
	}
	if len(parts) == 0 {
		return "None shown"
	}
	out := strings.Join(parts, "; ")
	if b.Incomplete() {
		return "Incomplete: " + out
	}
	return capitalise(out)
}

// Caveat is what a box that lists items adds when it cannot speak for
// every source: "Not known from Guy's and St Thomas' (did not answer):
// there may be more." Empty when nothing is unknown.
func (b SummaryBox) Caveat() string {
	if len(b.Unknown) == 0 {
		return ""
	}
	return "Not known from " + b.unknownList() + ": there may be more."
}

// WithheldText says which sources the box cannot speak for because the
// patient objected to sharing; empty when none.
func (b SummaryBox) WithheldText() string {
	switch b.Withheld {
	case 0:
		return ""
	case 1:
		return "Not shown: 1 other organisation's record, because the patient objected to sharing."
	}
	return "Not shown: " + Count(b.Withheld) + " other organisations' records, because the patient objected to sharing."
}

func (b SummaryBox) unknownList() string {
	var us []string
	for _, u := range b.Unknown {
		us = append(us, u.Source.Name+" ("+u.Why+")")
	}
	return strings.Join(us, ", ")
}

// sourceNames names up to three sources ("King's and Guy's"), or counts
// more ("5 sources").
func sourceNames(ss []connectors.Source) string {
	switch {
	case len(ss) == 1:
		return ss[0].Name
	case len(ss) <= 3:
		var names []string
		for _, s := range ss[:len(ss)-1] {
			names = append(names, s.Name)
		}
		return strings.Join(names, ", ") + " and " + ss[len(ss)-1].Name
	}
	return Count(len(ss)) + " sources"
}

func hasSource(ss []connectors.Source, s connectors.Source) bool {
	for _, x := range ss {
		if x.ODS == s.ODS {
			return true
		}
	}
	return false
}

func capitalise(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// lowerFirst gives s with its first letter in lower case, to run on in a
// sentence: "allergies unavailable: HTTP 500".
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// UnknownWhy says why a source's word on kind k is not known, from its
// record's account: the kind failed or was cut off, or some resources
// could not be read. Empty when the account gives no reason.
func UnknownWhy(k connectors.Kind, unreadable []connectors.Omission, gaps []connectors.Gap) string {
	var why []string
	for _, g := range gaps {
		if g.Kind == k {
			why = append(why, lowerFirst(GapText(g)))
		}
	}
	for _, t := range UnreadableCounts(unreadable) {
		if t.Kind == k || t.Kind == "" {
			why = append(why, UnreadableText(t))
		}
	}
	return strings.Join(why, "; ")
}

// Sentence makes a sentence of a phrase: a capital first and a full stop.
func Sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") {
		return capitalise(s)
	}
	return capitalise(s) + "."
}
