package views

import (
	"strconv"
	"strings"

	"github.com/carerecord/carerecord/connectors"
)

// How a timeline entry's details are written. Each says what the source
// gave and no more: a comparator once, a missing value and why, a date no
// more precise than the source's.

// entryTime is the time of day an entry shows beside its title, or ""
// when the source gave a date without a time (or a partial date).
func entryTime(e connectors.Entry) string {
	if e.Precision != connectors.PrecisionTime {
		return ""
	}
	return Time(e.Date)
}

// EntryDay is the heading of the timeline day an entry falls in: the
// London calendar day of an instant, the date as given for a date without
// a time, and only "May-1957" or "1957" for a partial date.
func EntryDay(e connectors.Entry) string { return WhenDay(e.When()) }

// ResultValue writes a result's value as the source gave it: the
// comparator once, then the value and units ("<5 ng/L"); for a result
// measured in parts, its components' values together ("150 / — mmHg;
// diastolic not recorded: Not performed"); and for no value, why ("No
// value: Not performed").
func ResultValue(r *connectors.Result) string {
	switch {
	case r.Value != "":
		return joinNonEmpty(" ", r.Comparator+r.Value, Units(r.Units))
	case len(r.Components) > 0:
		return componentsLine(r.Components)
	case r.Absent != "":
		return "No value: " + r.Absent
	}
	return "No value given"
}

// ComponentValue writes one component's value and units, or why it has
// none ("not recorded: Not performed").
func ComponentValue(c connectors.Component) string {
	switch {
	case c.Value != "":
		return joinNonEmpty(" ", c.Comparator+c.Value, Units(c.Units))
	case c.Absent != "":
		return "not recorded: " + c.Absent
	}
	return "not recorded"
}

// componentsLine writes components measured together on one line,
// "150 / 95 mmHg" when they share units, each with its own units
// otherwise, a dash for a missing value, and why each is missing.
func componentsLine(cs []connectors.Component) string {
	shared := cs[0].Units
	for _, c := range cs {
		if c.Units != shared && c.Value != "" {
			shared = ""
		}
	}
	var vals, missing []string
	for _, c := range cs {
		switch {
		case c.Value == "":
			vals = append(vals, "—")
			why := strings.ToLower(orNotKnown(c.Title)) + " not recorded"
			if c.Absent != "" {
				why += ": " + c.Absent
			}
			missing = append(missing, why)
		case shared != "":
			vals = append(vals, c.Comparator+c.Value)
		default:
			vals = append(vals, joinNonEmpty(" ", c.Comparator+c.Value, Units(c.Units)))
		}
	}
	out := joinNonEmpty(" ", strings.Join(vals, " / "), Units(shared))
	if len(missing) > 0 {
		out += "; " + strings.Join(missing, "; ")
	}
	return out
}

// ResultFlag words a result's flag and reports whether it is critical. A
// critical component makes the whole result critical, and says which
// component ("Critically high (systolic)"); an abnormal component flags a
// result that has no flag of its own.
func ResultFlag(r *connectors.Result) (string, bool) {
	if r.Flag.Critical() {
		return r.Flag.Label(), true
	}
	for _, c := range r.Components {
		if c.Flag.Critical() {
			return c.Flag.Label() + " (" + strings.ToLower(orNotKnown(c.Title)) + ")", true
		}
	}
	if r.Flag.Abnormal() {
		return r.Flag.Label(), false
	}
	for _, c := range r.Components {
		if c.Flag.Abnormal() {
			return c.Flag.Label() + " (" + strings.ToLower(orNotKnown(c.Title)) + ")", false
		}
	}
	return "", false
}

// RangeText writes the reference range shown beside a value: "range
// 133–146 mmol/L", or "range for Female: 115–165 g/L" where the source
// says whom it applies to; "" when there is none.
func RangeText(rr connectors.RefRange, units string) string {
	s := rr.String()
	if s == "" {
		return ""
	}
	if rr.Text == "" {
		s = joinNonEmpty(" ", s, Units(units))
	}
	label := "range"
	if rr.Type != "" {
		label = strings.ToLower(rr.Type)
	}
	if rr.AppliesTo != "" {
		label += " for " + rr.AppliesTo
		return label + ": " + s
	}
	return label + " " + s
}

// OtherRanges lists a result's other reference ranges, each named by its
// type and whom it applies to: "Severe 3–8; Moderate 9–12".
func OtherRanges(r *connectors.Result) string {
	var out []string
	for _, rr := range r.OtherRanges {
		s := rr.String()
		if rr.Text == "" {
			s = joinNonEmpty(" ", s, Units(r.Units))
		}
		name := joinNonEmpty(" ", orDefault(rr.Type, "Range"), parenFor(rr.AppliesTo))
		out = append(out, name+" "+s)
	}
	return strings.Join(out, "; ")
}

func parenFor(s string) string {
	if s == "" {
		return ""
	}
	return "(for " + s + ")"
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// allergyLine writes an allergy's reaction, severity, criticality,
// verification and category: what a clinician weighs before prescribing.
func allergyLine(a *connectors.Allergy) string {
	var crit string
	switch a.Criticality {
	case "high":
		crit = "high criticality"
	case "low":
		crit = "low criticality"
	case "unable-to-assess":
		crit = "criticality not assessed"
	}
	var sev string
	if a.Severity != "" {
		sev = a.Severity + " reaction"
	}
	var ver string
	if a.Verification == "unconfirmed" || a.Verification == "presumed" {
		ver = "unconfirmed"
	}
	var cat string
	if a.Category != "" {
		cat = a.Category + " allergy"
	}
	return joinNonEmpty(", ", a.Reaction, sev, crit, ver, cat)
}

// immunizationLine writes a vaccination given: the dose number, dose,
// route, site, batch and who gave it.
func immunizationLine(im *connectors.Immunization) string {
	var dose string
	if im.DoseNumber != "" {
		dose = "dose " + im.DoseNumber
	}
	var lot string
	if im.Lot != "" {
		lot = "batch " + im.Lot
	}
	var by string
	if im.Performer != "" {
		by = "given by " + im.Performer
	}
	return orDefault(joinNonEmpty(", ", "Given", dose, im.Dose, im.Route, im.Site, lot, by), "Given")
}

// medicationStatusWords gives the source's own status where it says more
// than current or past ("on hold", "stopped", "entered as not taken").
func medicationStatusWords(m *connectors.Medication) string {
	switch m.SourceStatus {
	case "", "active", "completed", "intended":
		return ""
	case "on-hold":
		return "on hold"
	case "not-taken":
		return "not taken"
	case "unknown":
		return "status unknown"
	}
	return strings.ReplaceAll(m.SourceStatus, "-", " ")
}

// alertMeta writes where an alert came from and since when: "King's
// College Hospital, since 03-Feb-2024, raised by Safeguarding team".
func alertMeta(it Item) string {
	a := it.Entry.Alert
	var since, until, by string
	if !a.Start.IsZero() {
		since = "since " + WhenDay(a.Start)
	}
	if !a.End.IsZero() {
		until = "until " + WhenDay(a.End)
	}
	if a.Author != "" && a.Author != it.Entry.Source.Name {
		by = "raised by " + a.Author
	}
	return joinNonEmpty(", ", sourceNamesOf(it), since, until, by)
}

// hiddenSummary heads the list of items hidden by rule.
func hiddenSummary(n int) string {
	if n == 1 {
		return "1 item hidden by rule (entered in error, refuted, cancelled or superseded)"
	}
	return strconv.Itoa(n) + " items hidden by rule (entered in error, refuted, cancelled or superseded)"
}

// DocumentUnavailable says why a document's content is not here.
func DocumentUnavailable(d *connectors.Document) string {
	return "Held at the source, could not be read: " + d.Unavailable
}

// trendRange is a trend row's range: the result's own, or its
// components' ("Systolic 90–140; Diastolic 60–90").
func trendRange(r *connectors.Result) string {
	if s := r.Range.String(); s != "" {
		return s
	}
	var out []string
	for _, c := range r.Components {
		if s := c.Range.String(); s != "" {
			out = append(out, orNotKnown(c.Title)+" "+s)
		}
	}
	return strings.Join(out, "; ")
}

// unitBraces drops UCUM's annotation braces: "{1.73_m2}" is "1.73_m2".
var unitBraces = strings.NewReplacer("{", "", "}", "")

// unitWords are UCUM units as a clinical screen writes them.
var unitWords = strings.NewReplacer(
	"10*12", "×10¹²", "10^12", "×10¹²", "10*9", "×10⁹", "10^9", "×10⁹", "10*6", "×10⁶", "10^6", "×10⁶",
	"10*3", "×10³", "10^3", "×10³",
	"[iU]", "IU", "[IU]", "IU", "mm[Hg]", "mmHg", "[in_i]", "in", "[lb_av]", "lb", "[degF]", "°F",
	"Cel", "°C", "umol", "µmol", "ug", "µg", "uL", "µL", "_m2", " m²", "m2", "m²",
)

// Units writes a result's units as a clinical screen shows them, not in
// UCUM's machine form: "×10⁹/L" for "10*9/L", "IU/L" for "[iU]/L", "mmHg"
// for "mm[Hg]", "mL/min/1.73 m²" for "mL/min/{1.73_m2}". A unit that is
// only an annotation ("{score}") or the unit "1" (a plain count or ratio)
// says nothing a reader needs and is left out.
func Units(u string) string {
	u = strings.TrimSpace(u)
	if u == "1" || (strings.HasPrefix(u, "{") && strings.HasSuffix(u, "}") && strings.Count(u, "{") == 1) {
		return ""
	}
	return unitWords.Replace(unitBraces.Replace(u))
}
