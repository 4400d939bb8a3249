package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/gpconnect"
	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestRecordThroughGPConnect reads the GP practices through GP Connect in
// the real fan-out: the practice's record on the page, its own outcomes
// per source, and the restricted patient's practice never saying it holds
// no record.
func TestRecordThroughGPConnect(t *testing.T) {
	src, _ := withSources(t, nil, 3*time.Second)
	gpc, g := withGPConnect(t)
	national, _ := withPDS(t)
	e := newEnv(t, src, gpc, national)
	g.SetDissent(synthetic.LongHistoryNHSNumber, true)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	for _, n := range []string{synthetic.RichNHSNumber, synthetic.RestrictedNHSNumber, synthetic.LongHistoryNHSNumber} {
		b.giveReason(n, "direct-care", "")
	}
	line := func(p *page, name string) string {
		for _, n := range findAll(p.doc, "li", "data-testid", "source") {
			if strings.Contains(text(n), name) {
				return text(n)
			}
		}
		return ""
	}
	t.Run("ThePracticesRecordWithItsWithheldItemsSaid", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber)
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		l := line(p, "Peckham Lantern Medical Practice")
		if !strings.Contains(l, "confidential items withheld by the practice") {
			t.Errorf("the practice's line %q does not say confidential items were withheld", l)
		}
		if !strings.Contains(p.body, "Telephone encounter") {
			t.Error("no consultation from the practice on the page")
		}
		if g.Last().Claims["sub"] == nil || g.Last().Header.Get("Ssp-From") != synthetic.ConsumerASID {
			t.Error("the request did not carry the JWT and SSP headers")
		}
	})
	t.Run("AnotherPracticeSaysNotRegisteredThere", func(t *testing.T) {
		// PDS names Peckham Lantern as the patient's practice; the other
		// practices answer PATIENT_NOT_FOUND, which PDS lets the page
		// read as "not registered here" rather than "no record".
		p := b.get("/patients/" + synthetic.RichNHSNumber)
		others := 0
		for _, n := range findAll(p.doc, "li", "data-testid", "source") {
			l := text(n)
			if strings.Contains(l, "Peckham Lantern") {
				if strings.Contains(l, "Not registered") {
					t.Errorf("the registered practice's line %q says the patient is not registered there", l)
				}
				continue
			}
			for _, o := range g.Practices() {
				if strings.Contains(l, o.Name) {
					others++
					if !strings.Contains(l, "Not registered at this practice") || strings.Contains(l, "No record held") {
						t.Errorf("another practice's line %q, want 'Not registered at this practice'", l)
					}
				}
			}
		}
		if others == 0 {
			t.Fatal("no other GP practice on the page")
		}
	})
	t.Run("ProblemsShowWhatThePracticeLinksToThem", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber + "?kind=problem")
		found := false
		for _, n := range findAll(p.doc, "span", "data-testid", "problem-linked") {
			if strings.Contains(text(n), "Metformin 500mg tablets") {
				found = true
			}
		}
		if !found {
			t.Error("the diabetes problem does not show the metformin the practice links to it")
		}
	})
	t.Run("ConsultationsShowWhatWasRecordedInThem", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RichNHSNumber + "?kind=encounter")
		if len(findAll(p.doc, "span", "data-testid", "encounter-recorded")) == 0 {
			t.Error("no consultation on the page names what was recorded in it")
		}
	})
	t.Run("SensitivePatientsGPRecordNotSharedNeverNoRecord", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.RestrictedNHSNumber)
		if !strings.Contains(p.body, "GP record not shared for this patient") {
			t.Error("the page does not say the GP record is not shared")
		}
		if strings.Contains(p.body, "Peckham Lantern") {
			t.Error("the restricted patient's practice is named")
		}
	})
	t.Run("DissentSaidPerSource", func(t *testing.T) {
		p := b.get("/patients/" + synthetic.LongHistoryNHSNumber)
		if !strings.Contains(p.body, "the patient has dissented from sharing their GP record") {
			t.Error("the page does not say the patient dissented from sharing their GP record")
		}
	})
}

// TestGPConnectNamesTheRoleProfileSignedIn: a clinician signed in through
// CIS2 (OpenID Connect) is named to the practice by their SDS user id and
// the SDS role profile id (person_roleid) of the role they work in, as
// GP Connect's requesting_practitioner asks; a SAML sign-in, which gives
// no role profile id, names the user id alone.
func TestGPConnectNamesTheRoleProfileSignedIn(t *testing.T) {
	src, _ := withSources(t, nil, 3*time.Second)
	gpc, g := withGPConnect(t)
	e := newEnv(t, src, gpc, withOIDC())
	practitionerIDs := func() map[string]string {
		pr, _ := g.Last().Claims["requesting_practitioner"].(map[string]any)
		ids := map[string]string{}
		list, _ := pr["identifier"].([]any)
		for _, v := range list {
			m, _ := v.(map[string]any)
			sys, _ := m["system"].(string)
			val, _ := m["value"].(string)
			ids[sys] = val
		}
		return ids
	}
	t.Run("CIS2", func(t *testing.T) {
		b := e.browser()
		b.signInOIDC("/oidc/login", "clinician")
		b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
		if p := b.get("/patients/" + synthetic.RichNHSNumber); p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		ids := practitionerIDs()
		// The development provider's person_roleid is the user id and the
		// profile's number.
		if ids[gpconnect.SystemSDSUser] != "555000000001" || ids[gpconnect.SystemSDSRole] != "55500000000101" {
			t.Fatalf("requesting_practitioner identifiers %v, want SDS user 555000000001 and role profile 55500000000101", ids)
		}
	})
	t.Run("SAML", func(t *testing.T) {
		b := e.browser()
		b.signIn("/saml/login", "clinician")
		b.giveReason(synthetic.LongHistoryNHSNumber, "direct-care", "")
		if p := b.get("/patients/" + synthetic.LongHistoryNHSNumber); p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		ids := practitionerIDs()
		if ids[gpconnect.SystemSDSUser] != "555000000001" {
			t.Fatalf("requesting_practitioner identifiers %v, want SDS user 555000000001", ids)
		}
		if v, ok := ids[gpconnect.SystemSDSRole]; ok {
			t.Fatalf("a SAML sign-in gave no role profile id, yet the JWT names %q", v)
		}
	})
}
