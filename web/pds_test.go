package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// pdsEnv is carerecord with the synthetic sources and a synthetic PDS.
func pdsEnv(t *testing.T) (*env, *synthetic.PDS) {
	t.Helper()
	src, _ := withSources(t, nil, 3*time.Second)
	national, srv := withPDS(t)
	return newEnv(t, src, national), srv
}

func TestBannerFromPDS(t *testing.T) {
	e, srv := pdsEnv(t)
	// PDS knows Jane Smith by another family name (changed since the
	// sources recorded her), and Oliver Brackenbury as restricted,
	// which no source says.
	srv.Override(synthetic.RichNHSNumber, func(p map[string]any) {
		p["name"] = []any{map[string]any{"use": "usual", "family": "Smith-Okafor", "given": []string{"Jane"}, "prefix": []string{"Mrs"}}}
	})
	srv.Override(synthetic.OrdinaryNHSNumber, func(p map[string]any) {
		p["meta"] = map[string]any{"security": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}}}
		delete(p, "address")
		delete(p, "telecom")
		delete(p, "generalPractitioner")
	})
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	for _, n := range []string{synthetic.RichNHSNumber, synthetic.OrdinaryNHSNumber, synthetic.DeceasedNHSNumber} {
		b.giveReason(n, "direct-care", "")
	}

	t.Run("DetailsArePDSsAndSourcesDisagreeingAreNamed", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber)
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		if got := text(find(p.doc, "", "data-testid", "patient-name")); got != "SMITH-OKAFOR, Jane (Mrs)" {
			t.Errorf("name %q, want PDS's", got)
		}
		if find(p.doc, "", "data-testid", "banner-from-pds") == nil {
			t.Error("the banner does not say its details are PDS's")
		}
		if got := text(find(p.doc, "dd", "data-testid", "patient-address")); !strings.Contains(got, "SE5 9ZZ") {
			t.Errorf("address %q, want PDS's home address", got)
		}
		box := find(p.doc, "div", "data-testid", "demographics-disagree")
		if box == nil {
			t.Fatal("no disagreement shown")
		}
		var lines []string
		for _, li := range findAll(box, "li", "", "") {
			lines = append(lines, text(li))
		}
		for _, src := range []string{"King's College Hospital", "Guy's and St Thomas'"} {
			found := false
			for _, l := range lines {
				if strings.HasPrefix(l, "Name at "+src) && strings.Contains(l, "SMITH, Jane (Mrs)") && strings.HasSuffix(l, "(PDS: SMITH-OKAFOR, Jane (Mrs))") {
					found = true
				}
			}
			if !found {
				t.Errorf("no line naming %s against PDS in %q", src, lines)
			}
		}
		if !strings.Contains(text(box), "disagree with PDS") {
			t.Errorf("heading %q does not say the sources disagree with PDS", text(box))
		}
	})
	t.Run("RestrictedInPDSHidesAddressEverywhere", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.OrdinaryNHSNumber)
		if find(p.doc, "dd", "data-testid", "patient-restricted") == nil {
			t.Fatal("the banner is not restricted")
		}
		if find(p.doc, "", "data-testid", "banner-from-pds") == nil {
			t.Error("the restricted patient's banner lost PDS's answer")
		}
		if strings.Contains(p.body, "SW9 4ZZ") || strings.Contains(p.body, "Example Street") || strings.Contains(p.body, "020 7946 0026") {
			t.Error("a source's address or phone is in the page of a patient PDS restricts")
		}
		s := b.get("/patients?" + url.Values{"family": {"Brackenbury"}, "dob-day": {"23"}, "dob-month": {"8"}, "dob-year": {"1978"}}.Encode())
		if s.status != http.StatusOK || len(findAll(s.doc, "tr", "data-testid", "search-hit")) != 1 {
			t.Fatalf("search: status %d", s.status)
		}
		if strings.Contains(s.body, "SW9") {
			t.Error("the search shows the postcode of a patient PDS restricts")
		}
	})
	t.Run("DeathFromPDS", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.DeceasedNHSNumber)
		if got := text(find(p.doc, "dd", "data-testid", "patient-died")); !strings.Contains(got, "14-Jan-2025") {
			t.Errorf("died %q", got)
		}
	})
	t.Run("SupersededNumberFollowedAndSaid", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.SupersededNHSNumber)
		if p.status != http.StatusSeeOther {
			t.Fatalf("status %d, want a redirect to the current number", p.status)
		}
		loc, _ := url.Parse(p.header.Get("Location"))
		if loc.Path != "/patients/"+synthetic.RichNHSNumber || loc.Query().Get("superseded") != synthetic.SupersededNHSNumber {
			t.Fatalf("redirected to %s", loc)
		}
		p = b.follow(p)
		note := text(find(p.doc, "div", "data-testid", "nhs-superseded"))
		if !strings.Contains(note, "999 000 0611 has been replaced by 999 000 0018") {
			t.Errorf("note %q", note)
		}
	})
	t.Run("SupersededNoteNotTakenFromTheAddress", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.DeceasedNHSNumber + "?superseded=" + synthetic.RichNHSNumber)
		if find(p.doc, "div", "data-testid", "nhs-superseded") != nil {
			t.Error("a made-up superseded note is shown")
		}
	})
	t.Run("SearchAsksPDSFirstAndFollowsSupersededNumber", func(t *testing.T) {
		s := b.get("/patients?nhs=" + synthetic.SupersededNHSNumber)
		hits := findAll(s.doc, "tr", "data-testid", "search-hit")
		if len(hits) != 1 {
			t.Fatalf("%d hits, want 1", len(hits))
		}
		if !strings.Contains(text(hits[0]), "999 000 0018") || find(hits[0], "", "data-testid", "hit-superseded") == nil {
			t.Errorf("hit %q does not give the current number and say the old was replaced", text(hits[0]))
		}
		if !strings.Contains(text(hits[0]), "King's College Hospital") {
			t.Errorf("hit %q does not list the sources holding the current number", text(hits[0]))
		}
		// Listed, not opened at once: the user sees that the number was
		// replaced before opening the record under the current one.
		if n := text(find(s.doc, "div", "data-testid", "search-notice")); s.status != http.StatusOK || !strings.Contains(n, "replaced") {
			t.Errorf("status %d, notice %q: want the list saying the number was replaced", s.status, n)
		}
	})
}

func TestBannerWhenPDSDown(t *testing.T) {
	e, srv := pdsEnv(t)
	srv.SetDown(true)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	p := b.get("/patients/" + synthetic.RichNHSNumber)
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	if got := text(find(p.doc, "", "data-testid", "patient-name")); got != "SMITH, Jane (Mrs)" {
		t.Errorf("name %q, want the sources'", got)
	}
	note := text(find(p.doc, "", "data-testid", "banner-pds-note"))
	if !strings.HasPrefix(note, "Could not check PDS") {
		t.Errorf("note %q, want it to say PDS could not be checked", note)
	}
	if find(p.doc, "", "data-testid", "banner-from-pds") != nil {
		t.Error("the banner claims PDS's details")
	}
	s := b.get("/patients?family=smith&given=jane&dob-day=12&dob-month=3&dob-year=1965")
	if len(findAll(s.doc, "tr", "data-testid", "search-hit")) != 1 || !strings.Contains(s.body, "PDS") {
		t.Error("the search, PDS down, should still find the patient at the sources and say PDS did not answer")
	}
	// By NHS number, the sources' one patient opens: the record's banner
	// says PDS could not be checked.
	if s := b.get("/patients?nhs=" + synthetic.RichNHSNumber); s.status != http.StatusSeeOther || s.header.Get("Location") != "/patients/"+synthetic.RichNHSNumber {
		t.Errorf("search by NHS number, PDS down: status %d to %q, want the record (a reason was given)", s.status, s.header.Get("Location"))
	}
}
