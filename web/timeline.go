package web

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/views"
)

// pageSize bounds how many timeline entries one page renders: a patient
// with thousands of entries is paged, never rendered at once.
const pageSize = 50

// sameThing is the identity under which two sources' entries are the same
// clinical fact: kind, the coded concept (or the title when uncoded), the
// clinical date to the minute, and for results the value and units.
// Entries that differ in any of these are both shown, so a real
// difference is never hidden behind "also reported by".
func sameThing(e *connectors.Entry) factKey {
	k := factKey{kind: e.Kind, minute: e.Date.Truncate(time.Minute).Unix()}
	if len(e.Codes) > 0 {
		k.system, k.code = e.Codes[0].System, e.Codes[0].Code
	} else {
		k.code = strings.ToLower(strings.TrimSpace(e.Title))
	}
	switch {
	case e.Result != nil:
		k.a, k.b, k.c = e.Result.Comparator, e.Result.Value, e.Result.Units
		if k.b == "" {
			// No value of its own: its components' values (or why
			// there is none) tell two results apart.
			k.b = views.ResultValue(e.Result)
		}
	case e.Medication != nil:
		k.a, k.b = e.Medication.Dose, string(e.Medication.Status)
	case e.Problem != nil:
		k.a = string(e.Problem.Status)
	case e.Allergy != nil:
		k.a, k.b = e.Allergy.Substance, e.Allergy.Reaction
	case e.Document != nil:
		k.a = e.Document.Type
	case e.Immunization != nil:
		k.a, k.b = e.Immunization.Vaccine, e.Immunization.Status
	case e.Alert != nil:
		k.a, k.b = e.Alert.Category, e.Alert.Status
	}
	return k
}

// factKey is sameThing's identity: a comparable struct, so that building
// it costs no allocation or formatting per entry.
type factKey struct {
	kind         connectors.Kind
	system, code string
	minute       int64
	a, b, c      string
}

// dedupe folds entries that two or more sources report identically into
// one item naming the other sources. entries must be sorted newest first.
func dedupe(entries []connectors.Entry) []views.Item {
	items := make([]views.Item, 0, len(entries))
	first := make(map[factKey]int, len(entries))
	for _, e := range entries {
		if e.Date.IsZero() {
			// Without a date there is no safe identity: show each.
			items = append(items, views.Item{Entry: e})
			continue
		}
		k := sameThing(&e)
		if i, ok := first[k]; ok && items[i].Entry.Source.ODS != e.Source.ODS && !reportedBy(items[i], e.Source) {
			items[i].AlsoReportedBy = append(items[i].AlsoReportedBy, e.Source)
			continue
		}
		first[k] = len(items)
		items = append(items, views.Item{Entry: e})
	}
	return items
}

func reportedBy(it views.Item, s connectors.Source) bool {
	for _, o := range it.AlsoReportedBy {
		if o.ODS == s.ODS {
			return true
		}
	}
	return false
}

// parseFilter reads the timeline filter from a query string.
func parseFilter(q url.Values) views.Filter {
	f := views.Filter{Source: q.Get("source"), Text: strings.TrimSpace(q.Get("q"))}
	for _, k := range q["kind"] {
		for _, known := range connectors.Kinds {
			if k == string(known) {
				f.Kinds = append(f.Kinds, k)
			}
		}
	}
	if _, err := time.Parse("2006-01-02", q.Get("from")); err == nil {
		f.From = q.Get("from")
	}
	if _, err := time.Parse("2006-01-02", q.Get("to")); err == nil {
		f.To = q.Get("to")
	}
	if len(f.Text) > 100 {
		f.Text = f.Text[:100]
	}
	if r := q.Get("report"); len(r) <= 300 {
		f.Report = r
	}
	f.New = q.Get("new") == "1"
	for _, k := range q["hide"] {
		for _, known := range connectors.Kinds {
			if k == string(known) {
				f.Hide = append(f.Hide, k)
			}
		}
	}
	return f
}

// query writes a filter back into a query string.
func filterQuery(f views.Filter, page int) url.Values {
	q := url.Values{}
	for _, k := range f.Kinds {
		q.Add("kind", k)
	}
	if f.Source != "" {
		q.Set("source", f.Source)
	}
	if f.From != "" {
		q.Set("from", f.From)
	}
	if f.To != "" {
		q.Set("to", f.To)
	}
	if f.Text != "" {
		q.Set("q", f.Text)
	}
	if f.Report != "" {
		q.Set("report", f.Report)
	}
	if f.New {
		q.Set("new", "1")
	}
	for _, k := range f.Hide {
		q.Add("hide", k)
	}
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	return q
}

// recordPath is the record page with filter f, on its first page.
func recordPath(nhs string, f views.Filter) string {
	u := "/patients/" + nhs
	if q := filterQuery(f, 0); len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// onlyNew keeps the items isNew says arrived since the user last looked
// (the filter "new since you last looked"). items is not changed: it may
// be the timeline cache's.
func onlyNew(items []views.Item, isNew func(*views.Item) bool) []views.Item {
	kept := items[:0:0]
	for i := range items {
		if isNew(&items[i]) {
			kept = append(kept, items[i])
		}
	}
	return kept
}

// filterTags lists the filters in force, each with the address of the
// record with that filter alone removed (and the first page).
func filterTags(nhs string, f views.Filter, sources []connectors.Source) []views.FilterTag {
	var out []views.FilterTag
	add := func(label string, without views.Filter) {
		out = append(out, views.FilterTag{Label: label, RemoveURL: recordPath(nhs, without)})
	}
	for i, k := range f.Kinds {
		g := f
		g.Kinds = append(slices.Clone(f.Kinds[:i]), f.Kinds[i+1:]...)
		add(views.KindLabel(connectors.Kind(k)), g)
	}
	if f.Source != "" {
		name := f.Source
		for _, s := range sources {
			if s.ODS == f.Source {
				name = s.Name
			}
		}
		g := f
		g.Source = ""
		add("From "+name, g)
	}
	if f.From != "" {
		g := f
		g.From = ""
		add("On or after "+dayLabel(f.From), g)
	}
	if f.To != "" {
		g := f
		g.To = ""
		add("On or before "+dayLabel(f.To), g)
	}
	if f.Text != "" {
		g := f
		g.Text = ""
		add("Containing \u201c"+f.Text+"\u201d", g)
	}
	if f.Report != "" {
		g := f
		g.Report = ""
		add("One report's results", g)
	}
	for i, k := range f.Hide {
		g := f
		g.Hide = append(slices.Clone(f.Hide[:i]), f.Hide[i+1:]...)
		add("Hiding "+views.KindLabel(connectors.Kind(k)), g)
	}
	if f.New {
		g := f
		g.New = false
		add("New since you last looked", g)
	}
	return out
}

// dayLabel writes a yyyy-mm-dd filter date as pages show dates.
func dayLabel(s string) string {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return s
	}
	return t.Format("02-Jan-2006")
}

// applyFilter keeps the items the filter asks for. Dates compare as London
// calendar days, as the clinician typed them.
func applyFilter(items []views.Item, f views.Filter) []views.Item {
	if len(f.Kinds) == 0 && f.Source == "" && f.From == "" && f.To == "" && f.Text == "" && f.Report == "" && len(f.Hide) == 0 {
		return items
	}
	var from, to time.Time
	if f.From != "" {
		from, _ = time.ParseInLocation("2006-01-02", f.From, views.London)
	}
	if f.To != "" {
		to, _ = time.ParseInLocation("2006-01-02", f.To, views.London)
		to = to.AddDate(0, 0, 1)
	}
	text := strings.ToLower(f.Text)
	out := items[:0:0]
	for _, it := range items {
		e := &it.Entry
		if len(f.Kinds) > 0 && !f.Has(e.Kind) {
			continue
		}
		if f.Hides(e.Kind) {
			continue
		}
		if f.Source != "" && e.Source.ODS != f.Source && !reportedBy(it, connectors.Source{ODS: f.Source}) {
			continue
		}
		if !from.IsZero() && (e.Date.IsZero() || e.Date.Before(from)) {
			continue
		}
		if !to.IsZero() && (e.Date.IsZero() || !e.Date.Before(to)) {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(searchText(e)), text) {
			continue
		}
		if f.Report != "" && e.Key() != f.Report && (e.Result == nil || e.Source.ODS+"/"+e.Result.Group != f.Report) {
			continue
		}
		out = append(out, it)
	}
	return out
}

func searchText(e *connectors.Entry) string {
	parts := []string{e.Title, e.Source.Name}
	for _, c := range e.Codes {
		parts = append(parts, c.Display, c.Code)
	}
	switch {
	case e.Result != nil:
		parts = append(parts, e.Result.GroupTitle, e.Result.Comment)
	case e.Imaging != nil:
		parts = append(parts, e.Imaging.Modality, e.Imaging.BodySite, e.Imaging.Conclusion)
	case e.Medication != nil:
		parts = append(parts, e.Medication.Drug)
	case e.Document != nil:
		parts = append(parts, e.Document.Type, e.Document.Author)
	case e.Encounter != nil:
		parts = append(parts, e.Encounter.Type, e.Encounter.Location)
	case e.Allergy != nil:
		parts = append(parts, e.Allergy.Substance, e.Allergy.Reaction)
	case e.Immunization != nil:
		parts = append(parts, e.Immunization.Vaccine, e.Immunization.NotDoneReason)
	case e.Alert != nil:
		parts = append(parts, e.Alert.Category)
	}
	return strings.Join(parts, " ")
}

// yearsOf lists the years of items (newest first) with the page each
// begins on, for "Jump to a year".
func yearsOf(items []views.Item, link func(page int, year string) string) []views.YearLink {
	var out []views.YearLink
	for i := range items {
		e := &items[i].Entry
		if e.Date.IsZero() {
			continue
		}
		y := strconv.Itoa(e.Date.In(views.London).Year())
		if e.Precision != connectors.PrecisionTime {
			y = strconv.Itoa(e.Date.Year()) // a date as given, not shifted
		}
		if len(out) > 0 && out[len(out)-1].Year == y {
			out[len(out)-1].Count++
			continue
		}
		if slices.ContainsFunc(out, func(l views.YearLink) bool { return l.Year == y }) {
			continue // an undated or out-of-order entry: its year is listed
		}
		page := i/pageSize + 1
		out = append(out, views.YearLink{Year: y, URL: link(page, y), Page: page, Count: 1})
	}
	return out
}

// groupByDay splits items (newest first) into London calendar days; an
// entry with a date but no time falls on that date, and one with a partial
// date under its month or year ("May-1957", "1957"), never an invented day.
func groupByDay(items []views.Item) []views.DateGroup {
	var gs []views.DateGroup
	for _, it := range items {
		day := views.EntryDay(it.Entry)
		if len(gs) == 0 || gs[len(gs)-1].Day != day {
			gs = append(gs, views.DateGroup{Day: day})
		}
		gs[len(gs)-1].Items = append(gs[len(gs)-1].Items, it)
	}
	return gs
}

// vaccinationsListed is how many vaccinations the summary lists, newest
// first; the rest are a link to the timeline.
const vaccinationsListed = 5

// buildSummary picks allergies, active problems, current medicines and
// vaccinations given, each once however many sources hold it (the others
// named), and says for each box which sources' word on its kind is
// complete, not known (and why) or withheld: a box claims absence only
// when it can speak for every source.
func buildSummary(nhs string, items []views.Item, sources []records.SourceStatus) views.Summary {
	s := views.Summary{
		Allergies:    views.SummaryBox{Kind: connectors.KindAllergy, Heading: "Allergies", TestID: "allergies"},
		Problems:     views.SummaryBox{Kind: connectors.KindProblem, Heading: "Active problems", TestID: "problems"},
		Medications:  views.SummaryBox{Kind: connectors.KindMedication, Heading: "Current medicines", TestID: "medicines"},
		Vaccinations: views.SummaryBox{Kind: connectors.KindImmunization, Heading: "Vaccinations", TestID: "vaccinations"},
	}
	index := map[string]int{} // key -> position in its list
	add := func(list *[]views.Item, key string, it views.Item) {
		i, ok := index[key]
		if !ok {
			index[key] = len(*list)
			*list = append(*list, it)
			return
		}
		first := &(*list)[i]
		for _, src := range append([]connectors.Source{it.Entry.Source}, it.AlsoReportedBy...) {
			if src.ODS != first.Entry.Source.ODS && !reportedBy(*first, src) {
				// Clipped so the append copies: items may be shared with
				// the timeline cache and other requests.
				first.AlsoReportedBy = append(slices.Clip(first.AlsoReportedBy), src)
			}
		}
	}
	var vaccinations []views.Item
	for _, it := range items {
		e := it.Entry
		switch {
		case e.Problem != nil && e.Problem.Status == connectors.ProblemActive:
			add(&s.Problems.Items, "p\x00"+conceptKey(&e), it)
		case e.Medication != nil && e.Medication.Status == connectors.MedicationCurrent:
			add(&s.Medications.Items, "m\x00"+strings.ToLower(e.Medication.Drug)+"\x00"+strings.ToLower(e.Medication.Dose), it)
		case e.Allergy != nil:
			if e.Allergy.NoneKnownOfAnyKind() {
				for _, src := range append([]connectors.Source{e.Source}, it.AlsoReportedBy...) {
					if !slices.ContainsFunc(s.Allergies.NoneKnownAt, func(x connectors.Source) bool { return x.ODS == src.ODS }) {
						s.Allergies.NoneKnownAt = append(s.Allergies.NoneKnownAt, src)
					}
				}
			} else if e.Allergy.NoKnownAllergies {
				// "No known food allergy" and the like are listed as they
				// are, never summed up as "No known allergies".
				add(&s.Allergies.Items, "n\x00"+strings.ToLower(e.Title), it)
			} else if e.Allergy.Status == "" || e.Allergy.Status == "active" {
				add(&s.Allergies.Items, "a\x00"+strings.ToLower(e.Allergy.Substance), it)
			}
		case e.Immunization != nil && e.Immunization.Status != "not-done":
			add(&vaccinations, "i\x00"+strings.ToLower(e.Immunization.Vaccine)+"\x00"+views.EntryDay(e), it)
		}
	}
	// High-risk allergies first, each group in the order found.
	slices.SortStableFunc(s.Allergies.Items, func(a, b views.Item) int {
		ra, rb := a.Entry.Allergy.HighRisk(), b.Entry.Allergy.HighRisk()
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
	s.Vaccinations.Items = vaccinations[:min(len(vaccinations), vaccinationsListed)]
	if n := len(vaccinations) - vaccinationsListed; n > 0 {
		s.Vaccinations.More = n
		s.Vaccinations.MoreURL = "/patients/" + nhs + "?" + url.Values{"kind": {string(connectors.KindImmunization)}}.Encode()
	}
	for _, b := range []*views.SummaryBox{&s.Allergies, &s.Problems, &s.Medications, &s.Vaccinations} {
		coverage(b, sources)
	}
	return s
}

// coverage says, for a summary box, which sources' word on its kind is
// complete, which is not known and why, and how many are withheld.
func coverage(b *views.SummaryBox, sources []records.SourceStatus) {
	for i := range sources {
		st := &sources[i]
		switch st.State {
		case records.StateWithheld:
			b.Withheld++
		case records.StateNoRecord:
			// Holds no record for the patient: nothing of any kind.
		case records.StateLive, records.StateCached:
			if st.Complete(b.Kind) {
				b.Complete = append(b.Complete, st.Source)
			} else {
				b.Unknown = append(b.Unknown, views.Unknown{Source: st.Source, Why: views.UnknownWhy(b.Kind, st.Unreadable, st.Gaps)})
			}
		default:
			why := "did not answer"
			switch {
			case st.State == records.StatePending || st.Pending:
				why = "still loading"
			case st.State == records.StateTimeout:
				why = "did not answer in time"
			}
			b.Unknown = append(b.Unknown, views.Unknown{Source: st.Source, Why: why})
		}
	}
}

// activeAlerts are the alerts in force, shown before any other clinical
// content; the timeline keeps every alert, active or not.
func activeAlerts(items []views.Item) []views.Item {
	var out []views.Item
	for _, it := range items {
		if it.Entry.Alert != nil && it.Entry.Alert.Active() {
			out = append(out, it)
		}
	}
	return out
}

// carePlans are the documents A&E needs before anything else: care plans,
// ReSPECT forms and resuscitation (DNACPR) decisions, newest first, lifted
// to the top of the record beside the alerts.
func carePlans(items []views.Item) []views.Item {
	var out []views.Item
	for _, it := range items {
		if it.Entry.Document != nil && isCarePlan(&it.Entry) {
			out = append(out, it)
		}
	}
	return out
}

// carePlanWords mark a care plan or resuscitation decision in a
// document's type or title; ReSPECT is matched as written, since
// "respect" is an ordinary word too.
var carePlanWords = []string{"care plan", "dnacpr", "dnar", "do not attempt", "resuscitation", "treatment escalation", "advance decision", "emergency care and treatment"}

func isCarePlan(e *connectors.Entry) bool {
	for _, s := range []string{e.Document.Type, e.Title} {
		if strings.Contains(s, "ReSPECT") {
			return true
		}
		l := strings.ToLower(s)
		for _, w := range carePlanWords {
			if strings.Contains(l, w) {
				return true
			}
		}
	}
	if c, ok := e.Code(connectors.SystemSNOMED); ok && c.Code == "734163000" { // Care plan
		return true
	}
	return false
}

func conceptKey(e *connectors.Entry) string {
	if len(e.Codes) > 0 {
		return e.Codes[0].System + "|" + e.Codes[0].Code
	}
	return strings.ToLower(strings.TrimSpace(e.Title))
}
