package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestTrendCharts checks the trend page over the synthetic sources: one
// chart per test whichever laboratories measured it, units written two
// ways drawn together (creatinine in µmol/L and umol/L), units that are
// not the same drawn apart and said so (ALT in U/L and IU/L), each
// laboratory a series with its own marker, and a per-laboratory view.
func TestTrendCharts(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	b.settled(t, "/patients/"+synthetic.RichNHSNumber)
	trend := func(code string, extra ...string) *page {
		q := url.Values{"code": {"http://loinc.org|" + code}}
		if len(extra) == 2 {
			q.Set(extra[0], extra[1])
		}
		p := b.get("/patients/" + synthetic.RichNHSNumber + "/trend?" + q.Encode())
		if p.status != http.StatusOK {
			t.Fatalf("trend %s: status %d", code, p.status)
		}
		return p
	}
	t.Run("EquivalentUnitsOneChart", func(t *testing.T) {
		p := trend("14682-9") // creatinine
		charts := findAll(p.doc, "figure", "data-testid", "trend-chart")
		if len(charts) != 1 {
			t.Fatalf("creatinine draws %d charts, want one (µmol/L and umol/L are one unit)", len(charts))
		}
		series := findAll(charts[0], "li", "data-testid", "trend-series")
		sources := map[string]bool{}
		shapes := map[string]bool{}
		for _, s := range series {
			sources[attr(s, "data-source")] = true
		}
		for _, pt := range findAll(charts[0], "path", "data-shape", "*") {
			shapes[attr(pt, "data-shape")] = true
		}
		if len(sources) < 2 || len(sources) != len(series) {
			t.Errorf("series %d from sources %v, want one per laboratory, two or more", len(series), sources)
		}
		if len(shapes) != len(series) {
			t.Errorf("marker shapes %v for %d series: each laboratory needs its own", shapes, len(series))
		}
		if find(p.doc, "", "data-testid", "trend-units-apart") != nil {
			t.Error("the page says the units are not the same")
		}
		label := attr(find(charts[0], "svg", "role", "img"), "aria-label")
		if !strings.Contains(label, "µmol/L") || !strings.Contains(label, "reference range") {
			t.Errorf("chart label %q", label)
		}
	})
	t.Run("DifferentUnitsApartAndSaid", func(t *testing.T) {
		p := trend("1742-6") // ALT: U/L at most, IU/L at Lewisham
		charts := findAll(p.doc, "figure", "data-testid", "trend-chart")
		note := text(find(p.doc, "div", "data-testid", "trend-units-apart"))
		units := map[bool]bool{}
		for _, r := range findAll(find(p.doc, "table", "data-testid", "trend-table"), "tr", "data-testid", "trend-row") {
			units[strings.Contains(text(r), "IU/L")] = true
		}
		if !units[true] || !units[false] {
			t.Skipf("the demo record holds ALT in one unit only this time: %v", units)
		}
		if len(charts) != 2 || !strings.Contains(note, "U/L") || !strings.Contains(note, "IU/L") {
			t.Errorf("ALT in U/L and IU/L: %d charts, note %q; want two charts and the units named", len(charts), note)
		}
	})
	t.Run("PerLabView", func(t *testing.T) {
		p := trend("14682-9")
		labs := findAll(p.doc, "a", "data-testid", "trend-lab")
		if len(labs) < 2 {
			t.Fatalf("%d per-laboratory links", len(labs))
		}
		one := b.get(attr(labs[0], "href"))
		if one.status != http.StatusOK {
			t.Fatalf("status %d", one.status)
		}
		series := findAll(one.doc, "li", "data-testid", "trend-series")
		if len(series) != 1 || text(find(one.doc, "strong", "aria-current", "true")) != text(labs[0]) {
			t.Errorf("one laboratory's view shows %d series, current %q, want 1 and %q", len(series), text(find(one.doc, "strong", "aria-current", "true")), text(labs[0]))
		}
		for _, r := range findAll(find(one.doc, "table", "data-testid", "trend-table"), "tr", "data-testid", "trend-row") {
			if !strings.Contains(text(r), text(labs[0])) {
				t.Errorf("a row from another laboratory: %s", text(r))
			}
		}
		if find(one.doc, "a", "data-testid", "trend-all-labs") == nil {
			t.Error("no way back to every laboratory")
		}
	})
}
