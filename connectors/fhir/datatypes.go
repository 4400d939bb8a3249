package fhir

// Helpers for FHIR data types shared by the mappings: dates, references,
// codeable concepts and quantities.

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
	"golang.org/x/net/html"
)

// unescape rewrites a resource whose strings use \u escapes (Go and some
// other encoders write "<" as "\u003c") into plain UTF-8. samply's code
// enumerations compare the raw JSON text, so an escaped comparator ">"
// would otherwise be rejected although it is valid JSON.
func unescape(raw json.RawMessage) (json.RawMessage, error) {
	if !bytes.Contains(raw, []byte(`\u`)) {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// timeParser parses FHIR dates and dateTimes, remembering the first bad one
// so that a resource with an unreadable date is skipped, not misdated.
type timeParser struct{ err error }

func (p *timeParser) at(s *string) connectors.When {
	if s == nil {
		return connectors.When{}
	}
	w, err := connectors.ParseWhen(*s)
	if err != nil && p.err == nil {
		p.err = errBadDate
	}
	return w
}

// period gives the start of a Period, or its end when it has no start.
func (p *timeParser) period(pe *fhir.Period) connectors.When {
	if pe == nil {
		return connectors.When{}
	}
	return firstTime(p.at(pe.Start), p.at(pe.End))
}

// firstTime returns the first of ts the source gave (a date or words).
func firstTime(ts ...connectors.When) connectors.When {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return connectors.When{}
}

// refKey reduces a reference ("Observation/1", a full URL, a versioned
// reference) to "Type/id" so that it matches Entry.ID.
func refKey(p *string) string {
	r := str(p)
	if strings.HasPrefix(r, "#") {
		return r
	}
	if i := strings.Index(r, "/_history/"); i >= 0 {
		r = r[:i]
	}
	parts := strings.Split(strings.TrimRight(r, "/"), "/")
	if len(parts) < 2 {
		return r
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

func conceptText(cc *fhir.CodeableConcept) string {
	if cc == nil {
		return ""
	}
	if t := str(cc.Text); t != "" {
		return t
	}
	for _, c := range cc.Coding {
		if d := str(c.Display); d != "" {
			return d
		}
	}
	for _, c := range cc.Coding {
		if d := str(c.Code); d != "" {
			return d
		}
	}
	return ""
}

func conceptCode(cc *fhir.CodeableConcept) string {
	if cc == nil {
		return ""
	}
	for _, c := range cc.Coding {
		if c.Code != nil {
			return *c.Code
		}
	}
	return ""
}

func conceptCodes(cc *fhir.CodeableConcept) []connectors.Code {
	if cc == nil {
		return nil
	}
	var out []connectors.Code
	for _, c := range cc.Coding {
		if c.Code == nil {
			continue
		}
		out = append(out, connectors.Code{System: str(c.System), Code: *c.Code, Display: str(c.Display)})
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func joinNonEmpty(sep string, ss ...string) string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, sep)
}

// firstDated returns the first of ts that has a date, for an entry's
// place on the timeline (words such as "age 52" give none).
func firstDated(ts ...connectors.When) connectors.When {
	for _, t := range ts {
		if !t.Time.IsZero() {
			return t
		}
	}
	return connectors.When{}
}

// whenText words a date or time as a clinical screen shows it, as precise
// as the source gave it: "12-Mar-1965 14:30" (in London), "12-Mar-1965",
// "Mar-1965" or "1965".
func whenText(w connectors.When) string {
	if w.Time.IsZero() {
		return w.Text
	}
	switch w.Precision {
	case connectors.PrecisionYear:
		return w.Time.Format("2006")
	case connectors.PrecisionMonth:
		return w.Time.Format("Jan-2006")
	case connectors.PrecisionDay:
		return w.Time.Format("02-Jan-2006")
	}
	return w.Time.In(connectors.London).Format("02-Jan-2006 15:04")
}

// periodText words a Period: "12-Mar-2024 to 14-Mar-2024", "from
// 12-Mar-2024", "until 14-Mar-2024".
func (p *timeParser) periodText(pe *fhir.Period) string {
	if pe == nil {
		return ""
	}
	start, end := whenText(p.at(pe.Start)), whenText(p.at(pe.End))
	switch {
	case start != "" && end != "":
		return start + " to " + end
	case start != "":
		return "from " + start
	case end != "":
		return "until " + end
	}
	return ""
}

// number gives a decimal as the source wrote it.
func number(n *json.Number) string {
	if n == nil {
		return ""
	}
	return n.String()
}

// unitOf is a quantity's human unit, or its coded unit.
func unitOf(q *fhir.Quantity) string {
	if q == nil {
		return ""
	}
	return firstNonEmpty(str(q.Unit), str(q.Code))
}

// quantityText words a quantity with its comparator and unit: "< 5 mg".
func quantityText(q *fhir.Quantity) string {
	if q == nil || q.Value == nil {
		return ""
	}
	s := q.Value.String()
	if q.Comparator != nil {
		s = q.Comparator.Code() + s
	}
	return joinNonEmpty(" ", s, unitOf(q))
}

// rangeText words a Range: "5–10 mg", "≥ 5 mg", "≤ 10 mg"; units are
// written once when both ends share them.
func rangeText(r *fhir.Range) string {
	if r == nil {
		return ""
	}
	lo, hi := r.Low, r.High
	switch {
	case lo != nil && lo.Value != nil && hi != nil && hi.Value != nil:
		if unitOf(lo) == unitOf(hi) {
			return joinNonEmpty(" ", lo.Value.String()+"–"+hi.Value.String(), unitOf(hi))
		}
		return quantityText(lo) + "–" + quantityText(hi)
	case lo != nil && lo.Value != nil:
		return "≥ " + quantityText(lo)
	case hi != nil && hi.Value != nil:
		return "≤ " + quantityText(hi)
	}
	return ""
}

// ratioText words a Ratio: a titre "1:64", a strength "500 mg/10 mL".
func ratioText(r *fhir.Ratio) string {
	if r == nil || r.Numerator == nil || r.Numerator.Value == nil {
		return ""
	}
	num, den := quantityText(r.Numerator), quantityText(r.Denominator)
	if den == "" {
		return num
	}
	if unitOf(r.Numerator) == "" && unitOf(r.Denominator) == "" {
		return num + ":" + den
	}
	return num + "/" + den
}

// ucumTime words UCUM units of time, as used by Age and Timing.
var ucumTime = map[string]string{"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}

// ageText words an Age: "age 52", "age 6 months".
func ageText(a *fhir.Age) string {
	if a == nil || a.Value == nil {
		return ""
	}
	return "age " + ageValue(a.Value.String(), str(a.Code), str(a.Unit))
}

func ageValue(v, code, unit string) string {
	u, ok := ucumTime[code]
	switch {
	case ok && u == "year":
		return v
	case ok && v == "1":
		return v + " " + u
	case ok:
		return v + " " + u + "s"
	}
	return joinNonEmpty(" ", v, unit)
}

// ageRangeText words a Range of ages: "age 30–40", "age 6 months or over".
func ageRangeText(r *fhir.Range) string {
	if r == nil {
		return ""
	}
	part := func(q *fhir.Quantity) string {
		if q == nil || q.Value == nil {
			return ""
		}
		return ageValue(q.Value.String(), str(q.Code), str(q.Unit))
	}
	lo, hi := part(r.Low), part(r.High)
	switch {
	case lo != "" && hi != "":
		return "age " + lo + "–" + hi
	case lo != "":
		return "age " + lo + " or over"
	case hi != "":
		return "age up to " + hi
	}
	return ""
}

// narrativeText is a resource's narrative (text.div, XHTML the
// specification says is "safe to display") as plain text, for a resource
// the source named only there: a Procedure with no code whose narrative
// says "Routine Appendectomy in April 2013". Empty when the narrative is
// absent or says it is empty; cut at maxNarrative characters.
func narrativeText(raw json.RawMessage) string {
	var r struct {
		Text *struct {
			Status string `json:"status"`
			Div    string `json:"div"`
		} `json:"text"`
	}
	if json.Unmarshal(raw, &r) != nil || r.Text == nil || r.Text.Status == "empty" {
		return ""
	}
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(r.Text.Div))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt == html.TextToken {
			b.Write(z.Text())
			b.WriteByte(' ')
		}
	}
	s := strings.Join(strings.Fields(b.String()), " ")
	if rs := []rune(s); len(rs) > maxNarrative {
		s = string(rs[:maxNarrative]) + "…"
	}
	return s
}

const maxNarrative = 300
