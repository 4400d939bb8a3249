package views

import (
	"fmt"
	"time"
)

// CaseRow is one objection case in a list.
type CaseRow struct {
	URL      string
	Ref      string
	Kind     string // "object" or "withdraw"
	Status   string
	Name     string // the patient's name as submitted; "" when not given
	NHS      string // the matched NHS number, else the one submitted
	Received time.Time
	AgeDays  int
}

// CasesPage is the privacy officer's objection queue.
type CasesPage struct {
	Open       []CaseRow
	Upheld     []CaseRow
	Query      string
	Searched   bool
	Results    []CaseRow
	QueryError string
	// Floods are the spells in which the public form's global limit
	// turned forms away, newest first.
	Floods []FormFlood
}

// FormFlood is one spell in which the objection form's global limit
// (Limit forms per Window, in all) turned Refused forms away.
type FormFlood struct {
	From, To time.Time
	Refused  int
	Limit    int
	Window   string // "an hour"
}

// Sentence says a FormFlood in words, with times in London.
func (f FormFlood) Sentence() string {
	forms := "forms"
	if f.Refused == 1 {
		forms = "form"
	}
	when := "on " + Day(f.From) + " from " + Time(f.From) + " to " + Time(f.To)
	if Day(f.From) != Day(f.To) {
		when = "from " + Day(f.From) + " " + Time(f.From) + " to " + Day(f.To) + " " + Time(f.To)
	}
	return fmt.Sprintf("The public form turned away %d %s %s: it accepts at most %d forms %s from everyone together, and that limit was reached. People who were turned away were asked to try again later; their forms were not stored.",
		f.Refused, forms, when, f.Limit, f.Window)
}

// CaseDetail is one detail of the identity comparison: what was
// submitted, what a source holds, and whether they agree.
type CaseDetail struct {
	Label     string
	Submitted string
	Held      string
	// Verdict is "match", "differs", "not-given" (nothing submitted) or
	// "not-held" (the source holds nothing, or the record is restricted).
	Verdict string
}

// Candidate is a patient the sources hold who may be the one the form is
// about.
type Candidate struct {
	Index   int
	NHS     string // "" when the sources hold the patient without one
	Name    string
	Sources string
	Details []CaseDetail
	Matches int // details that match
	Of      int // details that could be compared
}

// CaseStepRow is one step in a case's history.
type CaseStepRow struct {
	At     time.Time
	ByName string
	From   string
	To     string
	Note   string
}

// CasePage is one objection case: the submitted details beside what the
// sources hold, and the next step an officer can take.
type CasePage struct {
	ID           int64
	Ref          string
	Kind         string
	Status       string
	Received     time.Time
	AgeDays      int
	MatchedNHS   string
	Submitted    []CaseDetail // label and submitted value only
	OnBehalf     bool
	Submitter    []CaseDetail
	Reason       string
	Contact      string
	Candidates   []Candidate
	SearchNote   string   // how the candidates were found, or why there are none
	Unanswered   []string // sources that did not answer the candidate search
	InForce      []CaseRow
	Steps        []CaseStepRow
	Conflict     string // another officer moved the case first
	Errors       []FieldError
	Matched      string // the radio chosen
	MatchedOther string
	IdentityNote string
	Decision     string
	DecisionNote string
	WithdrawNote string
	CloseNote    string
}

// ErrorFor returns the message for a field, or "".
func (c CasePage) ErrorFor(field string) string {
	return fieldError(c.Errors, field)
}

// CaseStatusLabel names a case status for people.
func CaseStatusLabel(s string) string {
	switch s {
	case "received":
		return "Received"
	case "identity-checked":
		return "Identity checked"
	case "upheld":
		return "Upheld"
	case "not-upheld":
		return "Not upheld"
	case "withdrawn":
		return "Withdrawn"
	case "":
		return "Submitted"
	}
	return s
}

// CaseKindLabel names what the patient asked for.
func CaseKindLabel(k string) string {
	switch k {
	case "object":
		return "Objection"
	case "withdraw":
		return "Withdraw objection"
	}
	return k
}

func caseStatusTag(s string) string {
	switch s {
	case "received":
		return "nhsuk-tag nhsuk-tag--blue"
	case "identity-checked":
		return "nhsuk-tag nhsuk-tag--purple"
	case "upheld":
		return "nhsuk-tag nhsuk-tag--green"
	case "not-upheld":
		return "nhsuk-tag nhsuk-tag--grey"
	case "withdrawn":
		return "nhsuk-tag nhsuk-tag--white"
	}
	return "nhsuk-tag"
}

// Days says how old a case is: "Today", "1 day", "12 days".
func Days(n int) string {
	if n == 0 {
		return "Today"
	}
	return plural(n, "day")
}

func verdictLabel(v string) string {
	switch v {
	case "match":
		return "Matches"
	case "differs":
		return "Different"
	case "not-given":
		return "Not given on the form"
	case "not-held":
		return "Not held"
	}
	return v
}

func orNotKnown(s string) string {
	if s == "" {
		return NotKnown
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "None given"
	}
	return s
}

// FirstMatchID is the id of the first radio of the identity question,
// where an error summary links to.
func FirstMatchID(c CasePage) string {
	for _, cand := range c.Candidates {
		if cand.NHS != "" {
			return "matched-" + cand.NHS
		}
	}
	return "matched-other"
}
