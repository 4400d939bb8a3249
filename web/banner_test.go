package web_test

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// recordPages opens a record and the pages it links to that have a
// banner: the results list, a trend and a document, where the record
// holds them.
func recordPages(t *testing.T, b *browser, nhs string) map[string]*page {
	t.Helper()
	record := b.get("/patients/" + nhs)
	out := map[string]*page{"record": record, "results": b.get("/patients/" + nhs + "/results")}
	for _, a := range findAll(record.doc, "a", "", "") {
		href := attr(a, "href")
		for _, kind := range []string{"trend", "document"} {
			if _, ok := out[kind]; !ok && strings.HasPrefix(href, "/patients/"+nhs+"/"+kind+"?") && !strings.Contains(href, "format=pdf") {
				out[kind] = b.get(href)
			}
		}
	}
	for name, p := range out {
		if p.status != http.StatusOK {
			t.Fatalf("%s of %s: status %d", name, nhs, p.status)
		}
	}
	return out
}

func hasClass(n *html.Node, class string) bool {
	return n != nil && strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")
}

func TestBanner(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	for _, n := range []string{synthetic.RichNHSNumber, synthetic.RestrictedNHSNumber, synthetic.DeceasedNHSNumber, synthetic.OrdinaryNHSNumber} {
		b.giveReason(n, "direct-care", "")
	}

	t.Run("DeceasedBannerIsDistinctAndSaysWhen", func(t *testing.T) {
		for name, p := range recordPages(t, b, synthetic.DeceasedNHSNumber) {
			banner := find(p.doc, "section", "data-testid", "patient-banner")
			if !hasClass(banner, "app-patient-banner--deceased") {
				t.Errorf("%s: the deceased patient's banner is not the deceased banner: class %q", name, attr(banner, "class"))
			}
			if got := text(find(banner, "p", "data-testid", "patient-deceased")); got != "Deceased: died 14-Jan-2025 (aged 92y)" {
				t.Errorf("%s: deceased line %q", name, got)
			}
		}
		p := b.get("/patients/" + synthetic.RichNHSNumber)
		banner := find(p.doc, "section", "data-testid", "patient-banner")
		if hasClass(banner, "app-patient-banner--deceased") || find(banner, "", "data-testid", "patient-deceased") != nil {
			t.Error("a living patient's banner says deceased")
		}
	})
	t.Run("AllergiesAndAlertsOnEveryPage", func(t *testing.T) {
		for name, p := range recordPages(t, b, synthetic.RichNHSNumber) {
			banner := find(p.doc, "section", "data-testid", "patient-banner")
			if got := text(find(banner, "div", "data-testid", "banner-allergies")); !strings.Contains(got, "Penicillin") || !strings.Contains(got, "(high risk)") {
				t.Errorf("%s: banner allergies %q, want penicillin, high risk", name, got)
			}
			alerts := text(find(banner, "div", "data-testid", "banner-alerts"))
			if !strings.Contains(alerts, "Safeguarding") || !strings.Contains(alerts, "Reasonable adjustment") {
				t.Errorf("%s: banner alerts %q, want the safeguarding alert and the reasonable adjustment", name, alerts)
			}
			if a := find(banner, "a", "data-testid", "find-another-patient"); attr(a, "href") != "/patients" {
				t.Errorf("%s: no 'Find another patient' link in the banner", name)
			}
		}
		p := b.get("/patients/" + synthetic.DeceasedNHSNumber)
		if got := text(find(find(p.doc, "div", "data-testid", "banner-allergies"), "dd", "", "")); got != "No known allergies" {
			t.Errorf("a patient with no known allergies at every source: banner says %q", got)
		}
	})
	t.Run("ClerkBannerHoldsNoClinicalData", func(t *testing.T) {
		c := e.browser()
		c.signIn("/saml/login", "clerk")
		c.giveReason(synthetic.RichNHSNumber, "care-admin", "")
		p := c.get("/patients/" + synthetic.RichNHSNumber)
		if find(p.doc, "", "data-testid", "banner-allergies") != nil || find(p.doc, "", "data-testid", "banner-alerts") != nil {
			t.Error("a clerk's banner shows allergies or alerts")
		}
		if find(p.doc, "a", "data-testid", "find-another-patient") == nil {
			t.Error("a clerk's banner has no 'Find another patient' link")
		}
	})
	t.Run("NextOfKinAndPhone", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber)
		if got := text(find(p.doc, "dd", "data-testid", "patient-contacts")); got != "Mr David Smith (Next-of-Kin, Husband): 020 7946 0118" {
			t.Errorf("next of kin %q", got)
		}
		if got := text(find(p.doc, "dd", "data-testid", "patient-phone")); got != "020 7946 0018" {
			t.Errorf("phone %q", got)
		}
	})
	t.Run("RestrictedShowsNoNextOfKinOrPhone", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RestrictedNHSNumber)
		if find(p.doc, "", "data-testid", "patient-contacts") != nil || find(p.doc, "", "data-testid", "patient-phone") != nil {
			t.Fatal("a restricted patient's next of kin or phone is shown")
		}
		for _, l := range leaks(p.doc, []string{"Briony", "020 7946 0134", "020 7946 0034"}) {
			t.Errorf("the restricted patient's page holds a contact: %s", l)
		}
	})
	t.Run("SummaryLinesSpaceTheirSources", func(t *testing.T) {
		// "since 30-Aug-2019 (Peckham Lantern Medical Practice)", never
		// "2019(Peckham": the sources are a word apart from the line.
		p := b.get("/patients/" + synthetic.OrdinaryNHSNumber)
		lines := 0
		for _, box := range findAll(p.doc, "div", "", "") {
			if !strings.HasPrefix(attr(box, "data-testid"), "summary-") {
				continue
			}
			for _, li := range findAll(box, "li", "", "") {
				lines++
				if l := text(li); strings.Contains(l, "(") && !strings.Contains(l, " (") {
					t.Errorf("summary line %q runs its sources into the text", l)
				}
			}
		}
		if lines == 0 {
			t.Fatal("no summary lines on the ordinary patient's record")
		}
	})
	t.Run("CarePlansLiftedToTheTop", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.DeceasedNHSNumber)
		panel := find(p.doc, "section", "data-testid", "care-plans")
		if panel == nil {
			t.Fatal("the ReSPECT form King's holds is not lifted to the top of the record")
		}
		plan := find(panel, "li", "data-testid", "care-plan")
		if a := find(plan, "a", "", ""); !strings.Contains(text(a), "ReSPECT") || !strings.HasPrefix(attr(a, "href"), "/patients/"+synthetic.DeceasedNHSNumber+"/document?") {
			t.Errorf("care plan line %q links to %q", text(plan), attr(a, "href"))
		}
		// Before the summary and the timeline.
		order := map[string]int{}
		i := 0
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				i++
				if id := attr(n, "data-testid"); id != "" {
					if _, ok := order[id]; !ok {
						order[id] = i
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(p.doc)
		if order["care-plans"] > order["summary-allergies"] || order["care-plans"] > order["entry"] {
			t.Errorf("the care plans come after the summary or the timeline: %v", order)
		}
		if r := b.get("/patients/" + synthetic.OrdinaryNHSNumber); find(r.doc, "section", "data-testid", "care-plans") != nil {
			t.Error("a care plans panel for a patient whose sources hold none")
		}
	})
	t.Run("EmergencyAccessSaysWhenItEndsOnEveryPage", func(t *testing.T) {
		for name, p := range recordPages(t, b, synthetic.OrdinaryNHSNumber) {
			if n := find(p.doc, "", "data-testid", "emergency-access"); n != nil {
				t.Errorf("%s: direct care access says %q", name, text(n))
			}
		}
		g := e.browser()
		g.signIn("/saml/login", "clinician")
		g.giveReason(synthetic.RichNHSNumber, "break-glass", "Unconscious in ED, no history available")
		// The test clock is 10:00 UTC on 10-Mar-2026 (10:00 in London);
		// emergency access lasts 30 minutes by default.
		for name, p := range recordPages(t, g, synthetic.RichNHSNumber) {
			if got := text(find(p.doc, "p", "data-testid", "emergency-access")); got != "Emergency access: expires at 10:30" {
				t.Errorf("%s: emergency line %q", name, got)
			}
		}
	})
}
