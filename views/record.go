package views

import (
	"strconv"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// Banner is the patient banner at the top of every record page.
type Banner struct {
	NHSNumber  string // spaced
	Name       string
	Born       string
	Age        string
	Gender     string
	Deceased   bool
	Died       string // date of death, or Not Known when deceased without a date
	AgeAtDeath string
	Restricted bool     // address, phone and GP are never shown
	Address    []string // with postcode as the last line
	GP         string
	// Disagreements says where sources hold different demographics for
	// this NHS number; shown prominently, never silently resolved.
	Disagreements []string
	Found         bool // at least one source holds the patient
	// FromPDS: the details are PDS's, and Disagreements are sources
	// against PDS. PDSNote says why they are not (PDS configured but not
	// checked); Superseded is the NHS number (spaced) that was asked for
	// when PDS said it has been replaced by this one.
	FromPDS    bool
	PDSNote    string
	Superseded string
	// Phone and Contacts (next of kin and other contacts, each "Mr David
	// Smith (Next-of-Kin, Husband): 020 7946 0118") are never set for a
	// restricted patient.
	Phone    string
	Contacts []string
	// Clinical: the user may see clinical data; the banner then carries
	// the allergies and the alerts in force on every page of the record.
	Clinical  bool
	Allergies SummaryBox
	Alerts    []string
	// EmergencyUntil is when emergency (break-glass) access to this
	// record ends, as HH:MM in London; empty for any other reason.
	EmergencyUntil string
}

// AllergiesShort is the banner's one line on allergies, by the summary's
// rules: the allergies listed (high risk first and said), or "No known
// allergies" or "Not recorded" only when every source gave its word in
// full, "Unavailable: not every source answered" when one did not, and
// what the patient's own organisation holds when the others are withheld.
func (b Banner) AllergiesShort() string {
	box := b.Allergies
	if len(box.Items) == 0 {
		switch {
		case box.Claims() && len(box.NoneKnownAt) > 0:
			return "No known allergies"
		case box.Claims():
			return "Not recorded"
		case box.Incomplete():
			return "Unavailable: not every source answered"
		}
		return box.Statement()
	}
	var names []string
	for _, it := range box.Items {
		a := it.Entry.Allergy
		switch {
		case a.NoKnownAllergies:
			names = append(names, orNotKnown(it.Entry.Title))
		case a.HighRisk():
			names = append(names, orNotKnown(a.Substance)+" (high risk)")
		default:
			names = append(names, orNotKnown(a.Substance))
		}
	}
	out := strings.Join(names, "; ")
	if box.Incomplete() {
		out += "; may be incomplete"
	}
	return out
}

// contactLine writes one contact as the banner shows it.
func contactLine(c connectors.Contact) string {
	who := orNotKnown(c.Name)
	if c.Relationship != "" {
		who += " (" + c.Relationship + ")"
	}
	if c.Phone != "" {
		who += ": " + c.Phone
	}
	return who
}

// NewBanner builds the banner from the demographics each source holds,
// in source order. The first source's values are shown; every difference
// between sources is listed. Any source marking the patient restricted
// makes the banner restricted.
func NewBanner(nhs string, patients []connectors.Patient, today connectors.Date) Banner {
	b := Banner{NHSNumber: NHSNumber(nhs), Name: NotKnown, Born: NotKnown, Gender: NotKnown}
	if len(patients) == 0 {
		return b
	}
	b.Found = true
	p := patients[0]
	b.Name = PatientName(&p)
	b.Born = Date(p.BirthDate)
	b.Gender = Gender(p.Gender)
	var (
		deceased bool
		died     *connectors.Date
	)
	for _, q := range patients {
		// Any source that restricts the record, or knows of the death,
		// decides it: the first date of death given is shown.
		b.Restricted = b.Restricted || q.Restricted
		if q.Deceased || q.DeathDate != nil {
			deceased = true
			if died == nil {
				died = q.DeathDate
			}
		}
	}
	b.setLife(p.BirthDate, deceased, died, today)
	if !b.Restricted {
		for _, q := range patients {
			if a := addressOf(q); a != nil {
				b.Address = a
				b.GP = joinNonEmpty(" ", q.RegisteredGP.Name, paren(q.RegisteredGP.ODS))
				break
			}
		}
		seen := map[string]bool{}
		for _, q := range patients {
			if b.Phone == "" {
				b.Phone = q.Phone
			}
			for _, k := range q.Contacts {
				l := contactLine(k)
				if !seen[strings.ToLower(l)] {
					seen[strings.ToLower(l)] = true
					b.Contacts = append(b.Contacts, l)
				}
			}
		}
	}
	b.Disagreements = disagreements(patients)
	return b
}

// setLife sets the banner's age, or its death: the date of death (Not
// Known when deceased without one) and the age at death.
func (b *Banner) setLife(born connectors.Date, deceased bool, died *connectors.Date, today connectors.Date) {
	b.Deceased, b.Died, b.AgeAtDeath, b.Age = deceased || died != nil, "", "", ""
	switch {
	case died != nil:
		b.Died, b.AgeAtDeath = Date(*died), Age(born, *died)
	case b.Deceased:
		b.Died = NotKnown
	default:
		b.Age = Age(born, today)
	}
}

// addressOf is p's address with the postcode as its last line, or nil.
func addressOf(p connectors.Patient) []string {
	if len(p.AddressLines) == 0 && p.Postcode == "" {
		return nil
	}
	return append(append([]string{}, p.AddressLines...), p.Postcode)
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

func disagreements(ps []connectors.Patient) []string {
	type field struct {
		label string
		value func(connectors.Patient) string
	}
	fields := []field{
		{"Name", func(p connectors.Patient) string { return PatientName(&p) }},
		{"Date of birth", func(p connectors.Patient) string { return Date(p.BirthDate) }},
		{"Gender", func(p connectors.Patient) string { return Gender(p.Gender) }},
	}
	var out []string
	for _, f := range fields {
		bySource := map[string][]string{}
		var order []string
		for _, p := range ps {
			v := f.value(p)
			if v == NotKnown {
				continue
			}
			key := strings.ToUpper(v)
			if _, ok := bySource[key]; !ok {
				order = append(order, key)
			}
			bySource[key] = append(bySource[key], v+" at "+p.Source.Name)
		}
		if len(order) > 1 {
			var parts []string
			for _, k := range order {
				parts = append(parts, strings.Join(bySource[k], "; "))
			}
			out = append(out, f.label+" differs between sources: "+strings.Join(parts, "; "))
		}
	}
	return out
}

// SourceLine is one source's status on the record page.
type SourceLine struct {
	Name, ODS string
	State     string // live, cached, timeout, failed, no-record, pending
	Label     string // what the page says
	Detail    string
	// NotAnswering: cached data is shown because the source did not
	// answer now (or the cache is past its fresh period).
	NotAnswering bool
	// Incomplete: the record shown lacks some of what the source holds
	// (a kind failed or was cut off, or resources could not be read);
	// Notes says what, and what else the page should know of the record
	// (duplicate Patient records, items hidden by rule).
	Incomplete bool
	Notes      []string
}

// Org names the source as the page shows it: name and ODS code, or only
// the stand-in's words for a source whose name is withheld.
func (l SourceLine) Org() string { return connectors.Source{Name: l.Name, ODS: l.ODS}.String() }

// Item is one timeline entry as shown, with the other sources that
// reported the same thing.
type Item struct {
	Entry          connectors.Entry
	AlsoReportedBy []connectors.Source
	Freshness      string
	TrendURL       string // results with a code: the trend page
	ResultsURL     string // results: their place in the cumulative table
	OpenURL        string // documents and imaging: the full text
	// ReportURL links a report and the document that presents it (a
	// DiagnosticReport's PDF) both ways; ReportTitle names the other end.
	ReportURL   string
	ReportTitle string
	// New: a result, letter or report that arrived since the user last
	// looked at this record.
	New bool
}

// DateGroup is the timeline's entries for one London calendar day.
type DateGroup struct {
	Day   string
	Items []Item
	// ID anchors the first day of a year reached from "Jump to a year".
	ID string
}

// YearLink jumps to the page of the timeline where a year begins.
type YearLink struct {
	Year, URL string
	// Page is the timeline page URL goes to.
	Page  int
	Count int
}

// Filter is the timeline's filter form, as submitted.
type Filter struct {
	Kinds  []string
	Source string
	From   string // yyyy-mm-dd
	To     string
	Text   string
	// Report keeps one report's results (its key, "ODS/DiagnosticReport/id"),
	// reached from the document that presents it.
	Report string
	// New keeps the results, letters and reports that arrived since the
	// user last looked at the record.
	New bool
	// Hide lists kinds left out (dialysis sessions' encounters, say).
	Hide []string
}

// Hides reports whether kind k is hidden.
func (f Filter) Hides(k connectors.Kind) bool {
	for _, x := range f.Hide {
		if x == string(k) {
			return true
		}
	}
	return false
}

// Has reports whether kind k is ticked.
func (f Filter) Has(k connectors.Kind) bool {
	for _, x := range f.Kinds {
		if x == string(k) {
			return true
		}
	}
	return false
}

// Summary is the record's at-a-glance panel: one box per kind, allergies
// first.
type Summary struct {
	Allergies    SummaryBox
	Problems     SummaryBox
	Medications  SummaryBox
	Vaccinations SummaryBox
}

// Boxes gives the boxes in the order the page shows them.
func (s Summary) Boxes() []SummaryBox {
	return []SummaryBox{s.Allergies, s.Problems, s.Medications, s.Vaccinations}
}

// RecordPage is everything the record page shows.
type RecordPage struct {
	NHS      string // 10 digits
	Banner   Banner
	Sources  []SourceLine
	Clinical bool // the user may see clinical data; clerks see demographics only
	Summary  Summary
	// Alerts are the record's active alerts (FHIR Flag: safeguarding,
	// reasonable adjustments...), shown before any other clinical content.
	Alerts []Item
	// CarePlans are care plans, ReSPECT forms and resuscitation decisions,
	// shown with the alerts before the rest of the record.
	CarePlans []Item
	// Account says what the sources hold that the page does not show.
	Account  Account
	Filter   Filter
	Options  []connectors.Source // for the source filter
	Groups   []DateGroup
	Total    int // entries after filtering
	From, To int // 1-based range shown
	PrevURL  string
	NextURL  string
	Pending  bool // sources still loading: the page fills in
	// Objected: the patient has an upheld objection to sharing; only the
	// user's own organisation's data is shown unless Overridden.
	Objected    bool
	Overridden  bool
	CanOverride bool
	LiveURL     string // fragment to poll while pending
	// RefreshURL is where "Refresh from every source" posts: it comes
	// back to this filter and page. Refreshed: this page is the one a
	// refresh redirected to, and Sources say what each source did then.
	RefreshURL string
	Refreshed  bool
	// PrintURL is the print view of the record with this filter.
	PrintURL string
	// Filters are the filters in force, each with the address of this
	// page without it; All counts the entries before filtering.
	Filters []FilterTag
	All     int
	// Since says what arrived since the user last looked.
	Since NewSince
	// Vitals: the latest of each vital sign the sources sent.
	Vitals []Vital
	// Page of Pages of the timeline; Years jump to where each year
	// begins; Hidden counts the entries of hidden kinds.
	Page, Pages int
	Years       []YearLink
	Hidden      int
}

// NewSince is what the record page says of what is new to this user.
type NewSince struct {
	// First: the user has not opened this record before, so nothing is
	// marked new.
	First bool
	When  string // the previous visit: "12-Mar-2026 14:02"
	// Results, Documents and Reports count what arrived since.
	Results, Documents, Imaging int
	OnlyURL, AllURL             string
}

// Total counts everything new.
func (n NewSince) Total() int { return n.Results + n.Documents + n.Imaging }

// Breakdown says what is new by kind: "3 results, 1 letter or document".
func (n NewSince) Breakdown() string {
	var parts []string
	if n.Results > 0 {
		parts = append(parts, plural(n.Results, "result"))
	}
	if n.Documents > 0 {
		parts = append(parts, plural(n.Documents, "letter or document")+"")
	}
	if n.Imaging > 0 {
		parts = append(parts, plural(n.Imaging, "imaging report"))
	}
	return strings.Join(parts, ", ")
}

// TrendPage shows one test over time.
type TrendPage struct {
	NHS    string
	Banner Banner
	Title  string
	Rows   []connectors.Entry // every result of the test, newest first
	// Charts: one per unit the values are in (one, unless laboratories
	// report the test in units that are not the same).
	Charts []TrendChart
	// Labs are the laboratories with values to draw, for the per-lab
	// view; Lab names the one shown alone ("" for all).
	Labs    []LabLink
	Lab     string
	AllURL  string
	Back    string
	Results string // the cumulative table
}

// LabLink is one laboratory's own view of a trend.
type LabLink struct {
	Name, URL string
	Current   bool
}

// ResultsPage is the cumulative results table.
type ResultsPage struct {
	NHS    string
	Banner Banner
	Table  Cumulative
	// AbnormalURL and AllURL switch the abnormal-only filter; PrevURL and
	// NextURL page through newer and older samples.
	AbnormalURL, AllURL string
	PrevURL, NextURL    string
	// Report: the table was opened from this report; ReportMissing says
	// why it is not in the table (" with the abnormal-only filter on").
	Report, ReportMissing string
	// Since says when the user last looked at the record; the table marks
	// what arrived since.
	Since NewSince
}

// DocumentPage shows one document or imaging report in full.
type DocumentPage struct {
	NHS    string
	Banner Banner
	Entry  connectors.Entry
	Back   string
	PDFURL string
	// HTML: the document is HTML, shown through the sanitiser.
	HTML bool
	// ReportURL links the document to the report it presents, or a
	// report to the document presenting it; ReportLabel says which.
	ReportURL, ReportTitle, ReportLabel string
	// Newer and Older are the documents before and after this one in the
	// record, newest first; it is the Position-th of Of.
	Newer, Older DocLink
	Position, Of int
}

// DocLink is a link to a neighbouring document.
type DocLink struct{ URL, Title, When string }

// SearchForm is the patient search form as submitted.
type SearchForm struct {
	NHS              string
	Family, Given    string
	Day, Month, Year string
	Gender, Postcode string
	Errors           []FieldError
	Submitted        bool
}

// ErrorFor returns the message for a field, or "".
func (f SearchForm) ErrorFor(field string) string {
	return fieldError(f.Errors, field)
}

// SearchHit is one search result.
type SearchHit struct {
	NHS        string
	Name       string
	Born       string
	Gender     string
	Postcode   string // empty for restricted patients
	Restricted bool
	Deceased   bool
	Sources    []connectors.Source
	Disagree   bool
	Objected   bool
	URL        string
	// FromPDS: the patient was found in PDS, whose details these are;
	// Replaces is the NHS number searched for (spaced) when PDS says it
	// was superseded by NHS.
	FromPDS  bool
	Replaces string
}

// SearchPage is the patient search page.
type SearchPage struct {
	Form    SearchForm
	Hits    []SearchHit
	Missing []SourceLine // sources that did not answer the search
	// Notice says why a search by NHS number that found one patient
	// lists them instead of going on to the reason for access.
	Notice string
	Recent []RecentPatient
}

// RecentPatient is a patient the user opened lately.
type RecentPatient struct {
	NHS    string
	Opened time.Time
	URL    string
	// Name and Born are as the record page showed them when the user
	// opened it ("" when not known or withheld; Born "" when restricted).
	Name, Born string
	Restricted bool
	// Objected: the patient has objected to sharing.
	Objected bool
}

// linkText names the recent patient on their link: by name, or by NHS
// number when no name is kept.
func (r RecentPatient) linkText() string {
	if r.Name == "" {
		return "NHS No. " + NHSNumber(r.NHS)
	}
	return r.Name
}

// details follows the link: the birth date and NHS number of a patient
// named on it.
func (r RecentPatient) details() string {
	if r.Name == "" {
		return ""
	}
	s := ""
	if r.Born != "" {
		s = ", born " + r.Born
	}
	return s + ", NHS No. " + NHSNumber(r.NHS)
}

// sourcesSummary is the one-line state of all sources.
func sourcesSummary(ss []SourceLine) string {
	ok, bad, pending, withheld := 0, 0, 0, 0
	for _, s := range ss {
		switch s.State {
		case "timeout", "failed":
			bad++
		case "pending":
			pending++
		case "withheld":
			withheld++
		default:
			ok++
		}
	}
	out := strconv.Itoa(ok) + " of " + strconv.Itoa(len(ss)-withheld) + " answered"
	if withheld > 0 {
		out += ", " + strconv.Itoa(withheld) + " not shown because the patient objected"
	}
	if pending > 0 {
		out += ", " + strconv.Itoa(pending) + " still loading"
	}
	if bad > 0 {
		out += ", " + strconv.Itoa(bad) + " did not"
	}
	return out
}

// SourcesAttention is the one line above the record saying which sources
// it lacks or shows from older data, each once ("Not every source
// answered: Lewisham and Greenwich NHS Trust: did not answer in time
// (still trying)"); empty when every source answered. The sources panel
// below it stays closed, so clinical content is not pushed off screen.
func SourcesAttention(ss []SourceLine) string {
	var parts []string
	for _, s := range ss {
		switch {
		case s.State == "timeout" || s.State == "failed" || s.State == "pending" || s.NotAnswering:
			parts = append(parts, s.Org()+": "+lowerFirst(s.Label))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Not every source answered: " + strings.Join(parts, "; ") + "."
}

func anchor(i int) string {
	if i == 0 {
		return "start"
	}
	return "end"
}

func alsoODS(ss []connectors.Source) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ODS)
	}
	return strings.Join(out, " ")
}

// sourcesOf names the sources that hold an item: its own and the others
// that reported the same.
func sourcesOf(it Item) string { return "(" + sourceNamesOf(it) + ")" }

// sourceNamesOf names an item's source and the others that reported the
// same, separated by semicolons.
func sourceNamesOf(it Item) string {
	names := []string{it.Entry.Source.Name}
	for _, s := range it.AlsoReportedBy {
		names = append(names, s.Name)
	}
	return strings.Join(names, "; ")
}

func medicationLine(e connectors.Entry) string {
	m := e.Medication
	out := joinNonEmpty(", ", m.Dose, m.Route, m.Frequency)
	if !m.Start.IsZero() {
		out = joinNonEmpty(", ", out, "from "+WhenDay(m.Start))
	}
	if !m.End.IsZero() {
		out = joinNonEmpty(" ", out, "to "+WhenDay(m.End))
	}
	if out == "" {
		return ""
	}
	return ": " + out
}

// Count writes a number with thousands separators: 5,717.
func Count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + Count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// ReasonForm is the reason-for-access page.
type ReasonForm struct {
	NHS               string
	Return            string
	Reasons           []ReasonOption
	Chosen            string
	Detail            string
	Errors            []FieldError
	Hours             int
	BreakGlassMinutes int
	// BreakGlass: emergency access is offered to this user's role.
	BreakGlass bool
	// Patient is who the search that led here found, when it went
	// straight to this page: the user confirms them here.
	Patient *Identified
}

// Identified is who a patient is, as a search result shows them: enough
// to confirm the right patient, nothing of their address.
type Identified struct {
	Name, Born, Gender string
	Deceased           bool
}

// ReasonOption is one legitimate-relationship reason.
type ReasonOption struct{ Code, Label string }

// ErrorFor returns the message for a field, or "".
func (f ReasonForm) ErrorFor(field string) string {
	return fieldError(f.Errors, field)
}

func (f ReasonForm) reasonError() string {
	for _, e := range f.Errors {
		if strings.HasPrefix(e.Field, "reason-") {
			return e.Message
		}
	}
	return ""
}

// alsoReportedBy names the other sources that hold the same item: "Also
// reported by: Guy's and St Thomas', Lewisham." as one string, so that no
// stray space stands before a comma or the full stop.
func alsoReportedBy(ss []connectors.Source) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Name
	}
	return "Also reported by: " + strings.Join(names, ", ") + "."
}

// medicationRest follows "Current" or "Past" on a medicine's line: its
// own status where that says more (" (on hold)"), then its dose, route,
// frequency and dates (": 5 mg, oral, once a day, from 01-Jun-2025"), as
// one string so that no space stands before the colon.
func medicationRest(e connectors.Entry) string {
	out := ""
	if w := medicationStatusWords(e.Medication); w != "" {
		out = " (" + w + ")"
	}
	return out + medicationLine(e)
}

// AlertShort is an alert in the banner's few words: its category
// ("Safeguarding", "Reasonable adjustment"), or the start of the alert
// when it has none; the alerts panel on the record page says it in full.
func AlertShort(e connectors.Entry) string {
	if e.Alert != nil && e.Alert.Category != "" {
		return e.Alert.Category
	}
	t := []rune(orNotKnown(e.Title))
	if len(t) > 40 {
		return strings.TrimSpace(string(t[:39])) + "…"
	}
	return string(t)
}

// deceasedWords follow "Deceased" on the banner: ": died 14-Jan-2025
// (aged 92y)", or that the date is not known.
func deceasedWords(b Banner) string {
	if b.Died == NotKnown || b.Died == "" {
		return ": date of death not known"
	}
	if b.AgeAtDeath != "" {
		return ": died " + b.Died + " (aged " + b.AgeAtDeath + ")"
	}
	return ": died " + b.Died
}

// FilterTag is one filter in force, shown as a tag that removes it.
type FilterTag struct {
	Label     string // "Test results", "From 01-Jan-2024", "Containing "potassium""
	RemoveURL string
}

// hiddenKinds says how many entries the kinds hidden leave out: "2,400
// entries hidden: Encounter, Procedure."
func hiddenKinds(n int, kinds []string) string {
	var names []string
	for _, k := range kinds {
		names = append(names, KindLabel(connectors.Kind(k)))
	}
	noun := "entries"
	if n == 1 {
		noun = "entry"
	}
	return Count(n) + " " + noun + " not shown because you chose to hide: " + strings.Join(names, ", ") + "."
}
