package web_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store/pgtest"
)

// summaryValue is the value beside key in a page's summary lists.
func summaryValue(doc *html.Node, key string) string {
	for _, r := range findAll(doc, "div", "class", "nhsuk-summary-list__row") {
		if strings.TrimSpace(text(find(r, "dt", "", ""))) == key {
			return strings.TrimSpace(text(find(r, "dd", "", "")))
		}
	}
	return ""
}

// TestServiceStatusOnPostgres: on a store on a real PostgreSQL server the
// administrator's status page names the engine and the database (its URL,
// never a password), says it answers, gives the audit chain's last event,
// its verification and whether its append-only guard is in force and who
// could lift it.
func TestServiceStatusOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	src, _ := withSources(t, nil, 10*time.Second)
	e := newEnvOn(t, dsn, src)
	clin := e.browser()
	clin.signIn("/saml/login", "clinician")
	clin.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	if p := clin.get("/patients/" + synthetic.RichNHSNumber); p.status != http.StatusOK {
		t.Fatalf("record: status %d", p.status)
	}
	if _, err := e.db.VerifyAudit(t.Context()); err != nil {
		t.Fatal(err)
	}
	admin := e.browser()
	admin.signIn("/saml/login", "admin")
	p := admin.get("/admin/status")
	if p.status != http.StatusOK {
		t.Fatalf("status page: status %d", p.status)
	}
	value := func(key string) string { return summaryValue(p.doc, key) }
	t.Run("DatabaseIsPostgreSQLAndAnswers", func(t *testing.T) {
		if got := value("Database engine"); got != "PostgreSQL" {
			t.Errorf("Database engine %q, want PostgreSQL", got)
		}
		u, _ := url.Parse(dsn)
		got := value("Database")
		if want := "postgres://" + pgtest.AppRole + "@" + u.Host + u.Path; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ": answering") {
			t.Errorf("Database %q, want %s... answering", got, want)
		}
		v, err := e.db.SchemaVersion(t.Context())
		if err != nil || value("Schema version") != strconv.Itoa(v) || v == 0 {
			t.Errorf("Schema version %q, want %d (%v)", value("Schema version"), v, err)
		}
	})
	t.Run("AuditChainState", func(t *testing.T) {
		seq, _ := e.db.AuditHead()
		last := value("Last event")
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimPrefix(strings.SplitN(last, ",", 2)[0], "Number "), ",", ""))
		if err != nil || n < 1 || int64(n) > seq {
			t.Errorf("Last event %q, want a number from 1 to %d", last, seq)
		}
		if got := value("State"); got != "Accepting events" {
			t.Errorf("State %q, want Accepting events", got)
		}
		if got := value("Last verification"); !strings.Contains(got, ": intact, ") {
			t.Errorf("Last verification %q, want the intact result", got)
		}
	})
	t.Run("GuardInForceLiftableByOwner", func(t *testing.T) {
		// pgtest's role owns its database and the tables its migrations
		// made, so it could lift the guard, and the page says so.
		want := "In force, but the database role " + pgtest.AppRole + " owns the audit tables and could lift it"
		if got := value("Append-only guard"); got != want {
			t.Errorf("Append-only guard %q, want %q", got, want)
		}
	})
	t.Run("GuardDisabledShown", func(t *testing.T) {
		raw, err := sql.Open("pgx", dsn) // pgtest registers the driver
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.Exec(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`); err != nil {
			t.Fatal(err)
		}
		p = admin.get("/admin/status")
		if got := value("Append-only guard"); !strings.HasPrefix(got, "Not in force: ") || !strings.Contains(got, "audit_events_append_only") {
			t.Errorf("Append-only guard %q, want it not in force, naming the trigger", got)
		}
	})
}

// TestDatabaseUnreachablePage: while the PostgreSQL server is stopped, a
// signed-in clinician asking for a patient's record gets a 503 that says
// plainly that carerecord cannot reach its database, in the service's
// layout for a browser and as JSON for a client that asks for JSON, with
// Retry-After and no-store, and nothing of the patient's record; /healthz
// still answers and /readyz fails. When the server is back the record is
// shown again without the node restarting or the clinician signing in
// again.
func TestDatabaseUnreachablePage(t *testing.T) {
	pg := pgtest.Shared(t)
	src, _ := withSources(t, nil, 10*time.Second)
	e := newEnvOn(t, pgtest.DSN(t), src)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	record := "/patients/" + synthetic.RichNHSNumber
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	shown := b.get(record)
	if shown.status != http.StatusOK {
		t.Fatalf("record before: status %d", shown.status)
	}
	// What the record page showed of the patient, none of which may be
	// on the page that refuses it.
	clinical := []string{synthetic.RichNHSNumber, "999 000 0018", "SMITH", "Penicillin"}
	for _, c := range clinical[2:] {
		if !strings.Contains(shown.body, c) {
			t.Fatalf("the record page does not show %q: the check below would prove nothing", c)
		}
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			pg.Restart()
		}
	})
	noStoreRetry := func(t *testing.T, h http.Header) {
		t.Helper()
		if got := h.Get("Retry-After"); got == "" {
			t.Error("no Retry-After")
		} else if n, err := strconv.Atoi(got); err != nil || n <= 0 {
			t.Errorf("Retry-After %q, want a number of seconds", got)
		}
		if got := h.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", got)
		}
	}
	t.Run("BrowserGetsAPlainPage", func(t *testing.T) {
		p := b.get(record)
		if p.status != http.StatusServiceUnavailable || p.doc == nil {
			t.Fatalf("record with the database down: status %d, %q", p.status, p.header.Get("Content-Type"))
		}
		noStoreRetry(t, p.header)
		h1 := find(p.doc, "h1", "", "")
		if h1 == nil || strings.TrimSpace(text(h1)) != "carerecord cannot reach its database just now" {
			t.Fatalf("h1 %q", text(h1))
		}
		body := bodyText(p.doc)
		for _, want := range []string{"No patient record is shown while accesses cannot be recorded", "Try again in a minute", "contact your IT service desk"} {
			if !strings.Contains(body, want) {
				t.Errorf("the page does not say %q: %q", want, body)
			}
		}
		// In the service's layout: its header and the main region.
		if find(p.doc, "header", "", "") == nil || find(p.doc, "main", "", "") == nil {
			t.Error("the page is not in the service's layout")
		}
		for _, c := range clinical {
			if strings.Contains(p.body, c) {
				t.Errorf("the page holds %q from the patient's record", c)
			}
		}
	})
	t.Run("JSONClientGetsJSON", func(t *testing.T) {
		b.header.Set("Accept", "application/json")
		defer b.header.Del("Accept")
		p := b.get(record)
		if p.status != http.StatusServiceUnavailable || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
			t.Fatalf("status %d, %q", p.status, p.header.Get("Content-Type"))
		}
		noStoreRetry(t, p.header)
		var got map[string]string
		if err := json.Unmarshal([]byte(p.body), &got); err != nil || got["error"] != "database_unreachable" {
			t.Fatalf("body %q (%v), want error database_unreachable", p.body, err)
		}
		for _, c := range clinical {
			if strings.Contains(p.body, c) {
				t.Errorf("the answer holds %q from the patient's record", c)
			}
		}
	})
	t.Run("HealthzAnswersReadyzFails", func(t *testing.T) {
		if p := b.get("/healthz"); p.status != http.StatusOK {
			t.Errorf("/healthz %d, want 200", p.status)
		}
		if p := b.get("/readyz"); p.status != http.StatusServiceUnavailable {
			t.Errorf("/readyz %d, want 503", p.status)
		}
	})

	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	t.Run("RecoversWithoutRestartOrSignIn", func(t *testing.T) {
		if p := b.get("/readyz"); p.status != http.StatusOK {
			t.Fatalf("/readyz %d once the database is back, want 200", p.status)
		}
		b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
		p := b.get(record)
		if p.status != http.StatusOK || !strings.Contains(p.body, "SMITH") {
			t.Fatalf("record once the database is back: status %d", p.status)
		}
	})
}
