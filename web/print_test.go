package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
)

// printOutside lists the elements of the print view outside its screen
// controls (the area print media hides) that are screen furniture: the
// page's navigation, header and footer, forms and their controls, links,
// and the development warning.
func printOutside(doc *html.Node) []string {
	var out []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if strings.Contains(" "+attr(n, "class")+" ", " app-no-print ") {
				return // hidden when printed
			}
			switch n.Data {
			case "nav", "header", "footer", "form", "button", "input", "select", "textarea", "a":
				out = append(out, "<"+n.Data+"> "+text(n))
			}
			if strings.Contains(attr(n, "class"), "app-dev-warning") {
				out = append(out, "development warning")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// TestPrintSummary: the record's print view, reached from the record
// with its filter kept, names who printed it and when (London time),
// states the filter in words, holds every entry the filter keeps (not only
// the fifty of a screen page) each with its source, carries no screen
// furniture outside the area print hides, and is audited as a print; it
// needs the reason step and clinical permission as the record does.
func TestPrintSummary(t *testing.T) {
	e := sourcesEnv(t)
	// Summer time, so that London time is not UTC: 13:32 UTC is 14:32.
	e.clock.Advance(time.Date(2026, 6, 15, 13, 32, 0, 0, time.UTC).Sub(e.clock.Now()))
	nhs := synthetic.RichNHSNumber
	printURL := "/patients/" + nhs + "/print"
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	printed := func(t *testing.T) []store.AuditEvent {
		t.Helper()
		return events(t, e, store.AuditFilter{UserID: "555000000001", Actions: []store.Action{store.ActRecordPrint}})
	}

	t.Run("NeedsTheReasonStep", func(t *testing.T) {
		p := b.get(printURL)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/patients/"+nhs+"/access?") {
			t.Fatalf("print without a reason for access: status %d to %q, want the reason step", p.status, p.header.Get("Location"))
		}
		if find(p.doc, "li", "data-testid", "entry") != nil {
			t.Error("entries printed without a reason for access")
		}
		if evs := printed(t); len(evs) != 0 {
			t.Errorf("%d print events without a print", len(evs))
		}
	})
	t.Run("ClericalStaffCannotPrint", func(t *testing.T) {
		clerk := e.browser()
		clerk.signIn("/saml/login", "clerk")
		clerk.giveReason(nhs, "care-admin", "")
		p := clerk.get(printURL)
		if p.status != http.StatusForbidden || find(p.doc, "li", "data-testid", "entry") != nil {
			t.Errorf("a clerk's print: status %d, want 403 and no entries", p.status)
		}
	})

	b.giveReason(nhs, "direct-care", "")
	filter := url.Values{"kind": {"result"}, "from": {"2015-01-01"}}
	record := b.settled(t, "/patients/"+nhs+"?"+filter.Encode())
	link := attr(find(record.doc, "a", "data-testid", "print-link"), "href")
	if link == "" {
		t.Fatal("the record page has no 'Print or save a summary' link")
	}
	if u, err := url.Parse(link); err != nil || u.Path != printURL || u.Query().Encode() != filter.Encode() {
		t.Fatalf("the print link %q does not keep the record's filter %v", link, filter.Encode())
	}
	counted := regexp.MustCompile(`^([0-9,]+) of ([0-9,]+) entries`).FindStringSubmatch(text(find(record.doc, "p", "data-testid", "filter-count")))
	if counted == nil {
		t.Fatal("the filtered record does not count its entries")
	}
	p := b.get(link)
	if p.status != http.StatusOK {
		t.Fatalf("print: status %d", p.status)
	}
	entries := findAll(p.doc, "li", "data-testid", "entry")

	t.Run("HeadingNamesThePatientAndWhoPrintedWhen", func(t *testing.T) {
		if got, want := p.h1(), record.h1(); got != want {
			t.Errorf("print heading %q, want the patient %q", got, want)
		}
		for _, id := range []string{"patient-nhs", "patient-born", "patient-gender", "banner-allergies"} {
			got, want := text(find(p.doc, "dd", "data-testid", id)), text(find(record.doc, "dd", "data-testid", id))
			if id == "banner-allergies" {
				want = text(find(find(record.doc, "div", "data-testid", id), "dd", "", ""))
			}
			if got == "" || got != want {
				t.Errorf("%s printed as %q, the banner says %q", id, got, want)
			}
		}
		want := "Printed by Dr Amara Okafor, Clinical Practitioner, King's College Hospital NHS Foundation Trust at 15-Jun-2026 14:32"
		if got := text(find(p.doc, "p", "data-testid", "printed-by")); got != want {
			t.Errorf("printed by %q, want %q", got, want)
		}
	})
	t.Run("FilterInWords", func(t *testing.T) {
		want := "Filtered: Test result; On or after 01-Jan-2015; " + counted[1] + " of " + counted[2] + " entries."
		if got := text(find(p.doc, "p", "data-testid", "print-filter")); got != want {
			t.Errorf("filter printed as %q, want %q", got, want)
		}
	})
	t.Run("EveryFilteredEntryBeyondFifty", func(t *testing.T) {
		if n := strings.ReplaceAll(counted[1], ",", ""); len(entries) <= 50 || thousands(len(entries)) != counted[1] {
			t.Fatalf("%d entries printed, the filter keeps %s (want more than a page of 50 for this test)", len(entries), n)
		}
		onScreen := findAll(record.doc, "li", "data-testid", "entry")
		for i, en := range onScreen {
			if got, want := text(find(entries[i], "p", "class", "app-timeline__title")), text(find(en, "p", "class", "app-timeline__title")); got != want {
				t.Fatalf("entry %d printed as %q, shown as %q: not the same entries in the same order", i+1, got, want)
			}
		}
		for _, en := range entries {
			if attr(en, "data-kind") != string(connectors.KindResult) {
				t.Fatalf("a %s entry printed under a filter for results", attr(en, "data-kind"))
			}
			if src := text(find(en, "p", "data-testid", "entry-source")); !strings.HasPrefix(src, "Source: ") || len(src) < len("Source: xx") {
				t.Fatalf("an entry printed without its source: %q", src)
			}
		}
		if find(p.doc, "p", "data-testid", "print-capped") != nil {
			t.Error("the print says it is cut although every entry is there")
		}
	})
	t.Run("NoScreenFurniture", func(t *testing.T) {
		for _, f := range printOutside(p.doc) {
			t.Errorf("printed: %s", f)
		}
		if find(p.doc, "button", "data-print", "") == nil {
			t.Error("no print button in the screen controls")
		}
	})
	t.Run("AuditedAsAPrint", func(t *testing.T) {
		evs := printed(t)
		if len(evs) != 1 {
			t.Fatalf("%d print events for one print", len(evs))
		}
		ev := evs[0]
		if ev.NHSNumber != nhs || ev.Reason != "direct-care" || ev.Outcome != store.OutcomeAllowed || len(ev.Sources) < 4 {
			t.Errorf("print event %+v", ev)
		}
		ig := e.browser()
		ig.signIn("/saml/login", "igofficer")
		a := ig.get("/ig/audit?" + url.Values{"action": {string(store.ActRecordPrint)}, "nhs": {nhs}}.Encode())
		rows := findAll(a.doc, "tr", "data-testid", "audit-event")
		if len(rows) != 1 || attr(rows[0], "data-action") != string(store.ActRecordPrint) || !strings.Contains(text(rows[0]), "Record summary printed") {
			t.Errorf("the IG audit search finds %d print rows, labelled %q", len(rows), text(find(a.doc, "table", "data-testid", "audit-events")))
		}
	})
}

// thousands writes n as pages count: 1,024.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestPrintWithholds: the print withholds what the record page withholds:
// an objecting patient's data held by other organisations, and a
// restricted patient's GP practice.
func TestPrintWithholds(t *testing.T) {
	opt, _ := withSources(t, nil, 3*time.Second)
	e := newEnv(t, opt)
	b := e.browser()
	b.signIn("/saml/login", "clinician")

	t.Run("ObjectingPatient", func(t *testing.T) {
		b.giveReason(objecting, "direct-care", "")
		// Every source's data is in the cache from before the objection.
		b.settled(t, "/patients/"+objecting)
		if err := e.db.SeedUpheldObjection(context.Background(), objecting, "test"); err != nil {
			t.Fatal(err)
		}
		p := b.get("/patients/" + objecting + "/print")
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		if find(p.doc, "p", "data-testid", "print-objection") == nil {
			t.Error("the print does not say the patient objected")
		}
		entries := findAll(p.doc, "li", "data-testid", "entry")
		if len(entries) == 0 {
			t.Fatal("nothing printed: the user's own organisation's data should be")
		}
		for _, en := range entries {
			if attr(en, "data-source") != synthetic.KingsODS || attr(en, "data-also") != "" {
				t.Fatalf("an entry of %s %s was printed", attr(en, "data-source"), attr(en, "data-also"))
			}
		}
		for _, never := range []string{"Guy's and St Thomas'", "Coldharbour"} {
			for _, en := range entries {
				if strings.Contains(text(en), never) {
					t.Fatalf("withheld data from %s printed", never)
				}
			}
		}
	})
	t.Run("RestrictedPatientsPracticeNotNamed", func(t *testing.T) {
		nhs := synthetic.RestrictedNHSNumber
		var forbidden []string
		for _, o := range synthetic.Orgs() {
			if o.Type == synthetic.Practice {
				forbidden = append(forbidden, o.Name, o.ODS)
				forbidden = append(forbidden, o.Sites...)
			}
		}
		b.giveReason(nhs, "direct-care", "")
		p := b.get("/patients/" + nhs + "/print")
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		for _, l := range leaks(p.doc, forbidden) {
			t.Errorf("the print names a GP practice: %s", l)
		}
		if find(p.doc, "dd", "data-testid", "patient-restricted") == nil {
			t.Error("the print does not say the record is restricted")
		}
		registered := connectors.RegisteredPractice()
		n := 0
		for _, en := range findAll(p.doc, "li", "data-testid", "entry") {
			if attr(en, "data-source") == registered.ODS {
				n++
				if src := text(find(en, "p", "data-testid", "entry-source")); !strings.HasPrefix(src, "Source: "+registered.Name) {
					t.Errorf("an entry of the registered practice printed as from %q", src)
				}
			}
		}
		if n == 0 {
			t.Error("no entry credited to the patient's registered GP practice: the practice's entries are missing or named")
		}
	})
}
