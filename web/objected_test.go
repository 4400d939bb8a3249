package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
)

// The objecting patient is held by a GP practice, Guy's and St Thomas'
// and King's; the clinician works at King's (RJZ).
const objecting = synthetic.OrdinaryNHSNumber

func TestUpheldObjectionEnforced(t *testing.T) {
	opt, _ := withSources(t, nil, 3e9)
	e := newEnv(t, opt)
	ctx := context.Background()
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(objecting, "direct-care", "")
	// Data of every source is in the cache from before the objection; note
	// every link to another organisation's documents and results.
	if p := b.get("/patients/" + objecting); p.status != http.StatusOK || find(p.doc, "", "data-testid", "objection-banner") != nil {
		t.Fatalf("before the objection: %d", p.status)
	}
	var sharedLinks []string
	for page := b.get("/patients/" + objecting); ; {
		for _, en := range findAll(page.doc, "li", "data-testid", "entry") {
			if attr(en, "data-source") == "RJZ" {
				continue
			}
			for _, a := range findAll(en, "a", "", "") {
				sharedLinks = append(sharedLinks, attr(a, "href"))
			}
		}
		next := attr(find(page.doc, "a", "class", "nhsuk-pagination__link nhsuk-pagination__link--next"), "href")
		if next == "" {
			break
		}
		page = b.get(next)
	}
	if len(sharedLinks) == 0 {
		t.Fatal("no links to other organisations' items to try")
	}
	if err := e.db.SeedUpheldObjection(ctx, objecting, "test"); err != nil {
		t.Fatal(err)
	}

	t.Run("RecordShowsOnlyOwnOrganisation", func(t *testing.T) {
		p := b.get("/patients/" + objecting)
		if find(p.doc, "", "data-testid", "objection-banner") == nil {
			t.Fatal("no objection banner")
		}
		entries := findAll(p.doc, "li", "data-testid", "entry")
		if len(entries) == 0 {
			t.Fatal("no entries at all: the user's own organisation's data should still be shown")
		}
		for _, en := range entries {
			if attr(en, "data-source") != "RJZ" || attr(en, "data-also") != "" {
				t.Fatalf("an entry from %s %s was shown", attr(en, "data-source"), attr(en, "data-also"))
			}
		}
		for _, s := range findAll(p.doc, "li", "data-testid", "source") {
			if !strings.Contains(text(s), "(RJZ)") && attr(s, "data-state") != "withheld" {
				t.Fatalf("source %s is %s, want withheld", text(s), attr(s, "data-state"))
			}
		}
		for _, never := range []string{"Guy's and St Thomas'", "Coldharbour"} {
			for _, en := range findAll(p.doc, "li", "data-testid", "entry") {
				if strings.Contains(text(en), never) {
					t.Fatalf("shared data from %s in an entry", never)
				}
			}
		}
	})
	t.Run("EveryOtherPathToo", func(t *testing.T) {
		for _, path := range []string{"/patients/" + objecting + "/live", "/patients/" + objecting + "/results"} {
			p := b.get(path)
			if strings.Contains(p.body, `data-source="RJ1"`) || strings.Contains(p.body, `data-source="G85992"`) || strings.Contains(p.body, "Guy&#39;s and St Thomas&#39; NHS Foundation Trust</td>") {
				t.Fatalf("%s shows another organisation's data", path)
			}
		}
		// Every link that led to another organisation's document or trend
		// before the objection now shows none of it.
		for _, link := range sharedLinks {
			p := b.get(link)
			switch {
			case p.status == http.StatusNotFound:
			case p.status == http.StatusOK && strings.Contains(link, "/results"):
				// The results table opened at another organisation's
				// report: the report is not found, nor anything of theirs.
				if find(p.doc, "p", "data-testid", "cumulative-report-found") != nil || strings.Contains(p.body, "Guy&#39;s and St Thomas&#39;") {
					t.Fatalf("%s shows another organisation's report", link)
				}
			case p.status == http.StatusOK && strings.Contains(link, "/trend"):
				for _, row := range findAll(find(p.doc, "table", "data-testid", "trend-table"), "tr", "", "") {
					if cells := findAll(row, "td", "", ""); len(cells) > 0 && !strings.Contains(text(cells[len(cells)-1]), "King's") {
						t.Fatalf("%s shows a result from %s", link, text(cells[len(cells)-1]))
					}
				}
			default:
				t.Fatalf("%s: status %d, want nothing of another organisation", link, p.status)
			}
		}
		// A document link of another organisation, guessed, finds nothing.
		p := b.get("/patients/" + objecting + "/document?" + url.Values{"entry": {"RJ1/DocumentReference/x"}}.Encode())
		if p.status != http.StatusNotFound {
			t.Fatalf("guessed document: %d", p.status)
		}
		p = b.follow(b.post("/patients/"+objecting+"/refresh", url.Values{"csrf_token": {b.csrf()}}))
		if p.status != http.StatusOK || strings.Contains(p.body, `data-source="RJ1"`) {
			t.Fatal("refresh showed another organisation's data")
		}
	})
	t.Run("CacheHoldsNoSharedData", func(t *testing.T) {
		// The objection's uphold purges the cache (the case handler calls
		// Records.Purge); here the purge is done as that handler does, and
		// no path may fill it again with other organisations' data.
		if err := e.records.Purge(ctx, objecting); err != nil {
			t.Fatal(err)
		}
		b.get("/patients/" + objecting)
		b.post("/patients/"+objecting+"/refresh", url.Values{"csrf_token": {b.csrf()}})
		cached, err := e.db.CachedRecords(ctx, objecting)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cached {
			if c.Source != "RJZ" {
				t.Fatalf("the cache holds %s's data for an objecting patient", c.Source)
			}
		}
	})
	t.Run("SearchSaysSo", func(t *testing.T) {
		p := b.get("/patients?nhs=" + objecting)
		hits := findAll(p.doc, "tr", "data-testid", "search-hit")
		if len(hits) != 1 || find(hits[0], "strong", "data-testid", "objected") == nil {
			t.Fatalf("%d hits; objection not shown", len(hits))
		}
		if strings.Contains(text(hits[0]), "Coldharbour") || strings.Contains(text(hits[0]), "Guy's") {
			t.Fatal("the hit lists other organisations")
		}
		if n := text(find(p.doc, "div", "data-testid", "search-notice")); p.status != http.StatusOK || !strings.Contains(n, "objected") {
			t.Errorf("status %d, notice %q: an objecting patient is listed, saying why", p.status, n)
		}
		// Without PDS the banner's postcode is the user's own
		// organisation's copy; the search says the same.
		samePostcode(t, hits[0], b.get("/patients/"+objecting))
	})
	t.Run("NoOverrideByDefault", func(t *testing.T) {
		p := b.get("/patients/" + objecting)
		if find(p.doc, "form", "action", "/patients/"+objecting+"/override") != nil {
			t.Fatal("an override is offered although policy does not allow it")
		}
		r := b.post("/patients/"+objecting+"/override", url.Values{"csrf_token": {b.csrf()}, "override_reason": {"Unconscious, allergy history needed now"}})
		if r.status != http.StatusForbidden {
			t.Fatalf("override without policy: %d", r.status)
		}
	})
}

func TestObjectionOverride(t *testing.T) {
	opt, _ := withSources(t, nil, 3e9)
	e := newEnv(t, opt, withConfig(func(c *web.Config) { c.AllowObjectionOverride = true }))
	ctx := context.Background()
	if err := e.db.SeedUpheldObjection(ctx, objecting, "test"); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(objecting, "direct-care", "")
	p := b.get("/patients/" + objecting)
	if find(p.doc, "form", "action", "/patients/"+objecting+"/override") == nil {
		t.Fatal("no override offered where policy allows it")
	}
	if r := b.post("/patients/"+objecting+"/override", url.Values{"csrf_token": {b.csrf()}, "override_reason": {"short"}}); r.status != http.StatusBadRequest {
		t.Fatalf("override without a real reason: %d", r.status)
	}
	if r := b.post("/patients/"+objecting+"/override", url.Values{"csrf_token": {b.csrf()}, "override_reason": {"Unconscious in ED, allergy history needed now"}}); r.status != http.StatusSeeOther {
		t.Fatalf("override: %d", r.status)
	}
	p = b.get("/patients/" + objecting)
	shared := false
	for _, en := range findAll(p.doc, "li", "data-testid", "entry") {
		shared = shared || attr(en, "data-source") != "RJZ"
	}
	if !shared {
		t.Fatal("after the override, other organisations' data is still withheld")
	}
	evs, _, err := e.db.SearchAudit(ctx, store.AuditFilter{Actions: []store.Action{store.ActObjectionOverride}, Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].NHSNumber != objecting || !strings.Contains(evs[0].Detail, "Unconscious") {
		t.Fatalf("override audit: %v %+v", err, evs)
	}
	alerts, err := e.db.Alerts(ctx, store.AlertOpen, 10)
	if err != nil || len(alerts) == 0 || alerts[0].Kind != store.AlertObjectionOverride {
		t.Fatalf("no objection-override alert raised: %v %+v", err, alerts)
	}
}

func TestWithheldSourcesSaySo(t *testing.T) {
	opt, _ := withSources(t, nil, 3e9)
	e := newEnv(t, opt)
	if err := e.db.SeedUpheldObjection(context.Background(), objecting, "test"); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(objecting, "direct-care", "")
	p := b.get("/patients/" + objecting)
	summary := text(find(p.doc, "span", "class", "nhsuk-details__summary-text"))
	if !strings.Contains(summary, "1 of 1 answered") || !strings.Contains(summary, "7 not shown because the patient objected") {
		t.Fatalf("sources summary %q", summary)
	}
	for _, s := range findAll(p.doc, "li", "data-testid", "source") {
		if attr(s, "data-state") == "withheld" && !strings.Contains(text(s), "objected to sharing") {
			t.Fatalf("withheld source line %q does not say why", text(s))
		}
	}
	// The allergy box says what is true: what the patient's own Trust
	// holds, and that the others are withheld, not that they did not answer.
	box := find(p.doc, "div", "data-testid", "summary-allergies")
	if got := text(find(box, "", "data-testid", "allergies")); got != "No known allergies at King's College Hospital NHS Foundation Trust" {
		t.Errorf("allergies %q", got)
	}
	if got := text(find(box, "p", "data-testid", "allergies-withheld")); got != "Not shown: 7 other organisations' records, because the patient objected to sharing." {
		t.Errorf("withheld %q", got)
	}
	if strings.Contains(text(box), "did not answer") || strings.Contains(text(box), "unavailable") {
		t.Errorf("the allergy box calls withheld sources unanswered: %q", text(box))
	}
}
