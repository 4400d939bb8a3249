package web_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
)

// events returns the audit events matching f, newest first.
func events(t *testing.T, e *env, f store.AuditFilter) []store.AuditEvent {
	t.Helper()
	f.Limit = 500
	evs, _, err := e.db.SearchAudit(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestAuditTrail(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.get("/patients?nhs=9990000018")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	b.get("/patients/" + synthetic.RichNHSNumber)
	b.get("/admin/status") // refused

	user := store.AuditFilter{UserID: "555000000001"}
	byAction := map[store.Action]store.AuditEvent{}
	for _, ev := range events(t, e, user) {
		if _, seen := byAction[ev.Action]; !seen {
			byAction[ev.Action] = ev
		}
	}
	for _, a := range []store.Action{store.ActSignIn, store.ActSearch, store.ActReasonGiven, store.ActRecordOpen, store.ActAccessRefused} {
		ev, ok := byAction[a]
		if !ok {
			t.Errorf("no %s event", a)
			continue
		}
		if ev.UserName != "Dr Amara Okafor" || ev.RoleCode != "R8000" || ev.ODS != "RJZ" || ev.SessionHash == "" || ev.ClientAddr == "" || ev.Time.IsZero() {
			t.Errorf("%s event lacks who/where: %+v", a, ev)
		}
	}
	open := byAction[store.ActRecordOpen]
	if open.NHSNumber != synthetic.RichNHSNumber || open.Reason != "direct-care" || len(open.Sources) < 4 || open.Outcome != store.OutcomeAllowed {
		t.Errorf("record-open event %+v", open)
	}
	if s := byAction[store.ActSearch]; !strings.Contains(s.Detail, "nhs=9990000018") {
		t.Errorf("search terms not recorded: %q", s.Detail)
	}
	if r := byAction[store.ActAccessRefused]; r.Outcome != store.OutcomeRefused || !strings.Contains(r.OutcomeWhy, "view-service-status") {
		t.Errorf("refusal %+v", r)
	}
	// Identifiers only: no clinical content in any event.
	for _, ev := range events(t, e, store.AuditFilter{}) {
		blob, _ := json.Marshal(ev)
		for _, never := range []string{"SMITH", "Penicillin", "HbA1c", "Imaginary Road"} {
			if strings.Contains(string(blob), never) {
				t.Fatalf("audit event %d holds %q", ev.Seq, never)
			}
		}
	}
}

func TestNothingShownWithoutAudit(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	// Break the audit table behind the application's back.
	raw, err := sql.Open("sqlite3", "file:"+e.db.Path()+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER test_block_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit disabled by test'); END`); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/patients/" + synthetic.RichNHSNumber, "/patients/" + synthetic.RichNHSNumber + "/results"} {
		p := b.get(path)
		if p.status != http.StatusServiceUnavailable {
			t.Fatalf("%s with a failing audit log: status %d, want 503", path, p.status)
		}
		for _, never := range []string{"SMITH", "Penicillin", "data-testid=\"entry\""} {
			if strings.Contains(p.body, never) {
				t.Fatalf("%s: clinical data %q sent although the access was not recorded", path, never)
			}
		}
	}
}

func TestIGPages(t *testing.T) {
	e := sourcesEnv(t)
	c := e.browser()
	c.signIn("/saml/login", "clinician")
	c.giveReason(synthetic.RichNHSNumber, "break-glass", "Collapsed in clinic, no history available")
	c.get("/patients/" + synthetic.RichNHSNumber)

	ig := e.browser()
	ig.signIn("/saml/login", "igofficer")

	t.Run("SearchByPatient", func(t *testing.T) {
		p := ig.get("/ig/audit?nhs=" + synthetic.RichNHSNumber)
		rows := findAll(p.doc, "tr", "data-testid", "audit-event")
		if p.status != http.StatusOK || len(rows) < 2 {
			t.Fatalf("status %d, %d rows", p.status, len(rows))
		}
		for _, r := range rows {
			if !strings.Contains(text(r), "999 000 0018") {
				t.Fatalf("a row for another patient: %s", text(r))
			}
		}
		if attr(rows[0], "data-action") != string(store.ActAuditView) && attr(rows[0], "data-action") != string(store.ActRecordOpen) {
			t.Fatalf("newest first: top row is %s", attr(rows[0], "data-action"))
		}
		// Reasons are worded as the user chose them, not as codes.
		var reasons []string
		for _, r := range rows {
			if got := text(find(r, "td", "data-testid", "event-reason")); got != "" {
				reasons = append(reasons, got)
			}
		}
		if !slices.Contains(reasons, "Emergency access (break glass)") || slices.Contains(reasons, "break-glass") {
			t.Errorf("the reasons column reads %q", reasons)
		}
	})
	t.Run("WhoAccessedSaysReasonsInWords", func(t *testing.T) {
		p := ig.get("/ig/patients/" + synthetic.RichNHSNumber)
		got := text(find(p.doc, "table", "data-testid", "access-rows"))
		if !strings.Contains(got, "Emergency access (break glass)") || strings.Contains(got, "break-glass") {
			t.Errorf("who accessed the record reads %q", got)
		}
	})
	t.Run("ErrBadFilter", func(t *testing.T) {
		if p := ig.get("/ig/audit?nhs=123"); p.status != http.StatusBadRequest {
			t.Fatalf("status %d", p.status)
		}
	})
	t.Run("WhoAccessedThisRecord", func(t *testing.T) {
		p := ig.follow(ig.get("/ig/who?nhs=" + url.QueryEscape("999 000 0018")))
		rows := findAll(p.doc, "tr", "data-testid", "access-row")
		if len(rows) != 1 || !strings.Contains(text(rows[0]), "Dr Amara Okafor") || !strings.Contains(text(rows[0]), "Break glass") {
			t.Fatalf("%d rows: %v", len(rows), text(find(p.doc, "table", "", "")))
		}
	})
	t.Run("WhatDidThisUserAccess", func(t *testing.T) {
		p := ig.follow(ig.get("/ig/what?user=555000000001"))
		rows := findAll(p.doc, "tr", "data-testid", "access-row")
		if len(rows) != 1 || !strings.Contains(text(rows[0]), "999 000 0018") {
			t.Fatalf("%d rows", len(rows))
		}
	})
	t.Run("WhatDidThisUserAccessByName", func(t *testing.T) {
		// One member of staff signed in under a name holding "okafor":
		// straight to what she accessed, headed with her name.
		p := ig.follow(ig.get("/ig/what?user=" + url.QueryEscape("  okafor ")))
		if p.url.Path != "/ig/users/555000000001" {
			t.Fatalf("a name with one match went to %s", p.url.Path)
		}
		if h := text(find(p.doc, "h1", "", "")); h != "What Dr Amara Okafor (user 555000000001) accessed" {
			t.Errorf("heading %q", h)
		}
		if rows := findAll(p.doc, "tr", "data-testid", "access-row"); len(rows) != 1 || !strings.Contains(text(rows[0]), "999 000 0018") {
			t.Fatalf("%d rows", len(rows))
		}
		// Several: listed, each linked to their accesses; the search is audited.
		p = ig.get("/ig/what?user=a")
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		links := findAll(find(p.doc, "ul", "data-testid", "staff-matches"), "a", "", "")
		hrefs := map[string]string{}
		for _, a := range links {
			hrefs[attr(a, "href")] = text(a)
		}
		if len(links) < 2 || hrefs["/ig/users/555000000001"] != "Dr Amara Okafor" || hrefs["/ig/users/555000000004"] != "Helen Marsh" {
			t.Fatalf("staff listed for %q: %v", "a", hrefs)
		}
		found := false
		for _, ev := range events(t, e, store.AuditFilter{Actions: []store.Action{store.ActAuditView}}) {
			found = found || ev.Detail == "find staff named a"
		}
		if !found {
			t.Error("the name search was not audited")
		}
		// None: said, with the way to look the words up as an id.
		p = ig.get("/ig/what?user=Nobody+Here")
		if p.status != http.StatusOK || find(p.doc, "p", "data-testid", "no-staff") == nil {
			t.Fatalf("status %d, no 'no staff' line", p.status)
		}
		if find(p.doc, "a", "href", "/ig/users/Nobody%20Here") == nil {
			t.Error("no link to look the words up as a user id")
		}
	})
	t.Run("ExportCSV", func(t *testing.T) {
		p := ig.get("/ig/audit/export/csv?nhs=" + synthetic.RichNHSNumber)
		if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") {
			t.Fatalf("status %d %s", p.status, p.header.Get("Content-Type"))
		}
		recs, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
		if err != nil || len(recs) < 3 {
			t.Fatalf("%d records, %v", len(recs), err)
		}
		exports := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActAuditExport}})
		if len(exports) == 0 || exports[0].UserID != "555000000004" {
			t.Fatal("the export was not itself audited")
		}
	})
	t.Run("ExportFHIR", func(t *testing.T) {
		p := ig.get("/ig/audit/export/fhir?nhs=" + synthetic.RichNHSNumber)
		var bundle struct {
			ResourceType string `json:"resourceType"`
			Entry        []struct {
				Resource map[string]any `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal([]byte(p.body), &bundle); err != nil || bundle.ResourceType != "Bundle" || len(bundle.Entry) < 2 {
			t.Fatalf("bundle: %v, %d entries", err, len(bundle.Entry))
		}
		if bundle.Entry[0].Resource["resourceType"] != "AuditEvent" {
			t.Fatalf("entry is %v", bundle.Entry[0].Resource["resourceType"])
		}
	})
	t.Run("BreakGlassAlertReviewed", func(t *testing.T) {
		home := ig.get("/ig")
		if !strings.Contains(text(find(home.doc, "p", "data-testid", "open-alerts")), "1 alert") {
			t.Fatalf("IG home: %q", text(find(home.doc, "p", "data-testid", "open-alerts")))
		}
		nums := map[string]string{}
		for _, row := range findAll(find(home.doc, "dl", "data-testid", "ig-numbers"), "div", "class", "nhsuk-summary-list__row") {
			nums[text(find(row, "dt", "", ""))] = text(find(row, "dd", "", ""))
		}
		for k, want := range map[string]string{"Record views today": "1", "Break-glass uses in the last 7 days": "1", "Open alerts: break-glass": "1"} {
			if nums[k] != want {
				t.Errorf("IG number %q = %q, want %q (all: %v)", k, nums[k], want, nums)
			}
		}
		list := ig.get("/ig/alerts")
		link := attr(find(find(list.doc, "li", "data-testid", "alert"), "a", "", ""), "href")
		if link == "" {
			t.Fatal("no alert listed")
		}
		a := ig.get(link)
		f := a.form(t, "form[action='"+link+"/review']")
		bad := ig.post(link+"/review", f)
		if bad.status != http.StatusBadRequest {
			t.Fatalf("empty note: %d", bad.status)
		}
		f.Set("note", "Patient seen in clinic; emergency confirmed with the ward.")
		f.Set("outcome", "reviewed")
		r := ig.post(link+"/review", f)
		if r.status != http.StatusSeeOther {
			t.Fatalf("review: %d", r.status)
		}
		// The list it lands on confirms what was recorded.
		done := ig.follow(r)
		if got := text(find(done.doc, "", "data-testid", "alert-confirmation")); !strings.Contains(got, "closed with no concern") {
			t.Errorf("after the review the alerts page confirms %q", got)
		}
		if len(events(t, e, store.AuditFilter{Actions: []store.Action{store.ActAlertReview}})) != 1 {
			t.Fatal("the review was not audited")
		}
		if p := ig.get("/ig/alerts"); find(p.doc, "p", "data-testid", "no-alerts") == nil {
			t.Fatal("the reviewed alert is still open")
		}
	})
	t.Run("VerifyNow", func(t *testing.T) {
		p := ig.follow(ig.post("/ig/verify", url.Values{"csrf_token": {ig.csrf()}}))
		if got := text(find(p.doc, "", "data-testid", "verify-state")); !strings.Contains(got, "intact") {
			t.Fatalf("after verify: %q", got)
		}
	})
	t.Run("OnlyPrivacyOfficers", func(t *testing.T) {
		for _, path := range []string{"/ig/audit", "/ig/audit/export/csv", "/ig/patients/" + synthetic.RichNHSNumber, "/ig/alerts"} {
			if p := c.get(path); p.status != http.StatusForbidden {
				t.Errorf("clinician %s: %d", path, p.status)
			}
		}
	})
}
