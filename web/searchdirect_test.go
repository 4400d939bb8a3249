package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
)

// unheldNHSNumber is a valid NHS number in the synthetic range that no
// source holds.
func unheldNHSNumber(t *testing.T) string {
	t.Helper()
	for _, first9 := range []string{"999888777", "999888776", "999888775"} {
		if d, ok := connectors.NHSNumberCheckDigit(first9); ok {
			return first9 + string('0'+d)
		}
	}
	t.Fatal("no valid NHS number to search for")
	return ""
}

// searchEvents are the user's search events for the NHS number, newest
// first.
func searchEvents(t *testing.T, e *env, nhs string) []store.AuditEvent {
	t.Helper()
	return events(t, e, store.AuditFilter{UserID: "555000000001", NHSNumber: nhs, Actions: []store.Action{store.ActSearch}})
}

// TestSearchByExactNHSNumber: a search by an NHS number that finds exactly
// that patient goes on to the reason for access, where the user confirms
// who the patient is; it is audited as a search, as a list would be; the
// record itself is opened (and audited) only once a reason is given.
func TestSearchByExactNHSNumber(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	nhs := synthetic.RichNHSNumber
	record := "/patients/" + nhs

	t.Run("OpensTheReasonStep", func(t *testing.T) {
		for _, typed := range []string{"999 000 0018", "9990000018", " 999 000 0018 "} {
			before := len(searchEvents(t, e, nhs))
			p := b.get("/patients?" + url.Values{"nhs": {typed}}.Encode())
			if p.status != http.StatusSeeOther {
				t.Fatalf("%q: status %d, want 303 to the reason step", typed, p.status)
			}
			loc, err := url.Parse(p.header.Get("Location"))
			if err != nil || loc.Path != record+"/access" || loc.Query().Get("return") != record {
				t.Fatalf("%q: redirected to %q, want %s/access?return=%s", typed, p.header.Get("Location"), record, record)
			}
			evs := searchEvents(t, e, nhs)
			if len(evs) != before+1 || !strings.Contains(evs[0].Detail, "nhs="+nhs) || evs[0].Outcome != store.OutcomeAllowed {
				t.Fatalf("%q: %d search events (was %d), newest %+v: want one more, with the terms", typed, len(evs), before, evs)
			}
		}
		if opened := events(t, e, store.AuditFilter{NHSNumber: nhs, Actions: []store.Action{store.ActRecordOpen}}); len(opened) != 0 {
			t.Fatalf("the record was opened (%d events) before a reason was given", len(opened))
		}
	})
	t.Run("ReasonStepNamesThePatient", func(t *testing.T) {
		p := b.follow(b.get("/patients?nhs=" + nhs))
		if p.status != http.StatusOK || p.url.Path != record+"/access" {
			t.Fatalf("status %d at %s, want the reason page", p.status, p.url.Path)
		}
		who := text(find(p.doc, "dl", "data-testid", "reason-patient"))
		for _, want := range []string{"SMITH, Jane (Mrs)", "12-Mar-1965", "Female"} {
			if !strings.Contains(who, want) {
				t.Errorf("the reason page shows %q, want %q in it", who, want)
			}
		}
		if hint := text(find(p.doc, "div", "id", "reason-hint")); !strings.Contains(hint, "999 000 0018") {
			t.Errorf("the reason page's hint %q lacks the NHS number", hint)
		}
		// The reason given there opens the record.
		form := find(p.doc, "form", "action", record+"/access")
		ret := attr(find(form, "input", "name", "return"), "value")
		r := b.post(attr(form, "action"), url.Values{"csrf_token": {b.csrf()}, "reason": {"direct-care"}, "return": {ret}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != record {
			t.Fatalf("reason given: status %d to %q, want 303 to the record", r.status, r.header.Get("Location"))
		}
	})
	t.Run("WithAReasonOpensTheRecord", func(t *testing.T) {
		before := len(searchEvents(t, e, nhs))
		p := b.get("/patients?nhs=" + nhs)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != record {
			t.Fatalf("status %d to %q, want 303 to the record: a reason was given this session", p.status, p.header.Get("Location"))
		}
		if n := len(searchEvents(t, e, nhs)); n != before+1 {
			t.Fatalf("%d search events, want %d: the search is audited whatever follows", n, before+1)
		}
	})
	t.Run("ReasonPageNamesNobodyUnsearched", func(t *testing.T) {
		// Reached without a search (a link, a recent patient), the reason
		// page shows the NHS number only.
		p := b.get("/patients/" + synthetic.DeceasedNHSNumber + "/access")
		if p.status != http.StatusOK || find(p.doc, "dl", "data-testid", "reason-patient") != nil {
			t.Fatalf("status %d; the page names a patient no search found", p.status)
		}
	})
	t.Run("FindsNobody", func(t *testing.T) {
		none := unheldNHSNumber(t)
		p := b.get("/patients?nhs=" + none)
		if p.status != http.StatusOK || len(findAll(p.doc, "tr", "data-testid", "search-hit")) != 0 {
			t.Fatalf("status %d, want the results page with no hits", p.status)
		}
		if h := text(find(p.doc, "h2", "id", "results")); h != "0 patients found" || !strings.Contains(text(p.doc), "No patient matches") {
			t.Errorf("results say %q", h)
		}
		if len(searchEvents(t, e, none)) != 1 {
			t.Error("the search that found nobody is not audited")
		}
	})
	t.Run("InvalidNumberStaysOnTheForm", func(t *testing.T) {
		if p := b.get("/patients?nhs=9990000019"); p.status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400 with the form", p.status)
		}
	})
	t.Run("ByNameStillLists", func(t *testing.T) {
		p := b.get("/patients?family=smith&given=jane&dob-day=12&dob-month=3&dob-year=1965")
		if p.status != http.StatusOK || len(findAll(p.doc, "tr", "data-testid", "search-hit")) != 1 {
			t.Fatalf("status %d: a search by name lists even one patient", p.status)
		}
	})
}
