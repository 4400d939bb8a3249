package web_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestServiceStatusHealth: after a clinician's record view, the
// administrator's status page counts each source's answers and errors over
// the last hour and day, names the database engine, and gives the audit
// chain's last event and verification state.
func TestServiceStatusHealth(t *testing.T) {
	src, _ := withSources(t, map[string]synthetic.Faults{synthetic.MaudsleyODS: {Unavailable: true}}, 10*time.Second)
	e := newEnv(t, src)
	clin := e.browser()
	clin.signIn("/saml/login", "clinician")
	clin.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	if p := clin.get("/patients/" + synthetic.RichNHSNumber); p.status != http.StatusOK {
		t.Fatalf("record: status %d", p.status)
	}
	admin := e.browser()
	admin.signIn("/saml/login", "admin")
	p := admin.get("/admin/status")
	if p.status != http.StatusOK {
		t.Fatalf("status page: status %d", p.status)
	}

	// row gives a source's counts, by the data-count of each cell.
	row := func(t *testing.T, ods string) map[string]int {
		t.Helper()
		table := find(p.doc, "table", "data-testid", "source-health")
		if table == nil {
			t.Fatal("no source health table")
		}
		tr := find(table, "tr", "data-ods", ods)
		if tr == nil {
			t.Fatalf("no row for %s", ods)
		}
		out := map[string]int{}
		for _, td := range findAll(tr, "td", "data-count", "*") {
			n, err := strconv.Atoi(strings.ReplaceAll(text(td), ",", ""))
			if err != nil {
				t.Fatalf("%s %s: %q is not a count", ods, attr(td, "data-count"), text(td))
			}
			out[attr(td, "data-count")] = n
		}
		return out
	}
	t.Run("AnsweringSourceCountsAnAnswer", func(t *testing.T) {
		got := row(t, synthetic.KingsODS)
		want := map[string]int{"hour-answers": 1, "hour-timeouts": 0, "hour-errors": 0, "day-answers": 1, "day-timeouts": 0, "day-errors": 0}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %d, want %d (row %v)", k, got[k], v, got)
			}
		}
	})
	t.Run("FailingSourceCountsAnError", func(t *testing.T) {
		got := row(t, synthetic.MaudsleyODS)
		if got["hour-errors"] != 1 || got["day-errors"] != 1 || got["hour-answers"] != 0 {
			t.Errorf("row %v, want one error in the hour and the day and no answer", got)
		}
	})
	t.Run("EveryConfiguredSourceHasARow", func(t *testing.T) {
		table := find(p.doc, "table", "data-testid", "source-health")
		if n := len(findAll(table, "tr", "data-ods", "*")); n != len(synthetic.Orgs()) {
			t.Errorf("%d rows, want %d", n, len(synthetic.Orgs()))
		}
	})
	// value is the summary-list value beside the key.
	value := func(key string) string {
		for _, r := range findAll(p.doc, "div", "class", "nhsuk-summary-list__row") {
			if strings.TrimSpace(text(find(r, "dt", "", ""))) == key {
				return strings.TrimSpace(text(find(r, "dd", "", "")))
			}
		}
		return ""
	}
	t.Run("DatabaseEngine", func(t *testing.T) {
		if got := value("Database engine"); got != "SQLite" {
			t.Errorf("Database engine %q, want SQLite", got)
		}
		if got := value("Database"); !strings.HasSuffix(got, ": answering") {
			t.Errorf("Database %q, want it answering", got)
		}
	})
	t.Run("AuditLastEvent", func(t *testing.T) {
		seq, _ := e.db.AuditHead()
		if seq == 0 {
			t.Fatal("no audit events after a record view")
		}
		// The page is rendered after its own access was audited, so the
		// head it shows is at most the head now.
		got := value("Last event")
		if !strings.HasPrefix(got, "Number ") {
			t.Fatalf("Last event %q", got)
		}
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimPrefix(strings.SplitN(got, ",", 2)[0], "Number "), ",", ""))
		if err != nil || n < 1 || int64(n) > seq {
			t.Errorf("Last event %q, want a number from 1 to %d", got, seq)
		}
		if got := value("State"); got != "Accepting events" {
			t.Errorf("State %q", got)
		}
		if got := value("Append-only guard"); !strings.HasPrefix(got, "In force: triggers") {
			t.Errorf("Append-only guard %q, want in force", got)
		}
	})
	t.Run("NotVerifiedYet", func(t *testing.T) {
		if got := value("Last verification"); !strings.HasPrefix(got, "Not Known") {
			t.Errorf("Last verification %q, want Not Known before any verification", got)
		}
	})
	t.Run("VerificationResultShown", func(t *testing.T) {
		if _, err := e.db.VerifyAudit(t.Context()); err != nil {
			t.Fatal(err)
		}
		p = admin.get("/admin/status")
		if got := value("Last verification"); !strings.Contains(got, ": intact, ") {
			t.Errorf("Last verification %q, want the intact result", got)
		}
	})
}
