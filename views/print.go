package views

import "strings"

// PrintPage is a summary of the record for printing or saving as PDF:
// the patient as the banner shows them, who printed it and when, the
// filter in words, and every entry the filter keeps (up to a cap), each
// with its source; no screen furniture.
type PrintPage struct {
	NHS    string
	Banner Banner
	// PrintedBy is "Dr Asha Patel, Consultant, King's College Hospital
	// NHS Foundation Trust"; PrintedAt is London time, "12-Mar-2026 14:32".
	PrintedBy, PrintedAt string
	// Filters are the filters in force, in the record page's words; Total
	// counts the entries they keep, All the record's entries.
	Filters    []FilterTag
	Total, All int
	// Printed counts the entries printed: Total, or the cap when Total is
	// larger (the newest are printed, and the page says so).
	Printed int
	Groups  []DateGroup
	// Sources says how each source answered; Missing what the sources
	// hold that this print does not show (kinds that failed or were cut
	// off, items that could not be read).
	Sources []SourceLine
	Missing []AccountLine
	// Objected: the patient objected to sharing, and only the user's
	// own organisation's data is printed unless Overridden.
	Objected, Overridden bool
	// BackURL is the record page with the same filter.
	BackURL string
}

// FilterWords states the filter in force as one line: "Filtered: Test
// result; On or after 01-Jan-2025; 12 of 1,024 entries", or that the
// print is of every entry.
func (p PrintPage) FilterWords() string {
	if len(p.Filters) == 0 {
		return "Not filtered: all " + Count(p.All) + " entries"
	}
	labels := make([]string, len(p.Filters))
	for i, f := range p.Filters {
		labels[i] = f.Label
	}
	return "Filtered: " + strings.Join(labels, "; ") + "; " + Count(p.Total) + " of " + Count(p.All) + " entries"
}

// Capped says the print holds fewer entries than the filter keeps.
func (p PrintPage) Capped() bool { return p.Printed < p.Total }
