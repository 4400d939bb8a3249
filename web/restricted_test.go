package web_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/synthetic"
)

// leaks lists every text and attribute value of the document that names
// one of the forbidden strings (case-insensitive), with where it was.
func leaks(doc *html.Node, forbidden []string) []string {
	var out []string
	check := func(where, s string) {
		for _, f := range forbidden {
			if strings.Contains(strings.ToLower(s), strings.ToLower(f)) {
				out = append(out, where+": "+strings.TrimSpace(s))
			}
		}
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			check("text", n.Data)
		case html.ElementNode:
			for _, a := range n.Attr {
				check("<"+n.Data+" "+a.Key+">", a.Val)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// TestRestrictedPracticeNeverNamed: for a restricted patient, the GP
// practices are never named (the registered one would say where the
// patient lives; naming the others would name it by elimination), on any
// page of the record, in search, or in what the IG pages and exports say
// of the accesses.
func TestRestrictedPracticeNeverNamed(t *testing.T) {
	e := sourcesEnv(t)
	nhs := synthetic.RestrictedNHSNumber
	var forbidden []string
	for _, o := range synthetic.Orgs() {
		if o.Type == synthetic.Practice {
			forbidden = append(forbidden, o.Name, o.ODS)
			forbidden = append(forbidden, o.Sites...)
		}
	}
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(nhs, "direct-care", "")

	record := b.get("/patients/" + nhs)
	if record.status != http.StatusOK {
		t.Fatalf("record: status %d", record.status)
	}
	pages := map[string]*page{"record": record}
	t.Run("EntriesCreditedToTheRegisteredPractice", func(t *testing.T) {
		registered := connectors.RegisteredPractice()
		n := 0
		for _, it := range findAll(record.doc, "li", "data-testid", "entry") {
			if attr(it, "data-source") != registered.ODS {
				continue
			}
			n++
			if src := text(find(it, "p", "class", "app-meta app-timeline__source")); !strings.HasPrefix(src, registered.Name+". ") {
				t.Errorf("an entry of the registered practice is credited as %q", src)
			}
		}
		if n == 0 {
			t.Fatal("no entry credited to the patient's registered GP practice: the practice's entries are missing or still named")
		}
	})

	// Every page of the record the timeline links to, and a filter by
	// the stand-in source.
	for _, it := range findAll(record.doc, "a", "", "") {
		href := attr(it, "href")
		u, err := url.Parse(href)
		if err != nil || !strings.HasPrefix(u.Path, "/patients/"+nhs+"/") || strings.HasSuffix(u.Path, "/access") {
			continue
		}
		if _, seen := pages[href]; !seen && len(pages) < 40 {
			pages[href] = b.get(href)
		}
	}
	pages["results"] = b.get("/patients/" + nhs + "/results")
	pages["filtered"] = b.get("/patients/" + nhs + "?" + url.Values{"source": {connectors.RegisteredPractice().ODS}}.Encode())
	pages["live"] = b.get("/patients/" + nhs + "/live")
	refreshed := b.post("/patients/"+nhs+"/refresh", url.Values{"csrf_token": {b.csrf()}})
	pages["refresh"] = b.follow(refreshed)
	kinds := map[string]bool{}
	for href := range pages {
		switch {
		case strings.Contains(href, "/trend"):
			kinds["trend"] = true
		case strings.Contains(href, "/document"):
			kinds["document"] = true
		}
	}
	for _, k := range []string{"trend", "document"} {
		if !kinds[k] {
			t.Errorf("the restricted patient's record links to no %s page: the test covers less than it says", k)
		}
	}
	pages["search by NHS number"] = b.get("/patients?nhs=" + nhs)
	pages["search by name"] = b.get("/patients?" + url.Values{"family": {"Ashdown"}, "dob-day": {"4"}, "dob-month": {"12"}, "dob-year": {"1991"}}.Encode())

	t.Run("NoPageNamesAPractice", func(t *testing.T) {
		for name, p := range pages {
			if p.status != http.StatusOK {
				t.Errorf("%s: status %d", name, p.status)
				continue
			}
			for _, l := range leaks(p.doc, forbidden) {
				t.Errorf("%s names a GP practice: %s", name, l)
			}
		}
	})
	t.Run("SearchCreditsTheRegisteredPractice", func(t *testing.T) {
		if !strings.Contains(text(pages["search by NHS number"].doc), connectors.RegisteredPractice().Name) {
			t.Error("search does not say the patient's registered GP practice holds records")
		}
	})
	t.Run("IGPagesAndExportsNameNoPractice", func(t *testing.T) {
		ig := e.browser()
		ig.signIn("/saml/login", "igofficer")
		for _, path := range []string{"/ig/audit?nhs=" + nhs, "/ig/patients/" + nhs} {
			p := ig.get(path)
			if p.status != http.StatusOK {
				t.Fatalf("%s: status %d", path, p.status)
			}
			for _, l := range leaks(p.doc, forbidden) {
				t.Errorf("%s names a GP practice: %s", path, l)
			}
		}
		csvPage := ig.get("/ig/audit/export/csv?nhs=" + nhs)
		rows, err := csv.NewReader(strings.NewReader(csvPage.body)).ReadAll()
		if err != nil || len(rows) < 2 {
			t.Fatalf("csv export: %d rows, %v", len(rows), err)
		}
		fhirPage := ig.get("/ig/audit/export/fhir?nhs=" + nhs)
		if fhirPage.status != http.StatusOK {
			t.Fatalf("fhir export: status %d", fhirPage.status)
		}
		for _, f := range forbidden {
			for _, row := range rows {
				for _, cell := range row {
					if strings.Contains(strings.ToLower(cell), strings.ToLower(f)) {
						t.Errorf("the CSV export names a GP practice (%s): %q", f, cell)
					}
				}
			}
			if strings.Contains(strings.ToLower(fhirPage.body), strings.ToLower(f)) {
				t.Errorf("the FHIR AuditEvent export names a GP practice (%s)", f)
			}
		}
	})
}
