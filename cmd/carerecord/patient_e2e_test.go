package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// The demo patient whose record is restricted, signed in to the
// development NHS login as "restricted".
const (
	restrictedNHS  = synthetic.RestrictedNHSNumber
	restrictedName = "ASHDOWN, Rowan (Ms)"
)

// Journey: a patient signs in through the development NHS login and sees
// the clinician's earlier access to her record with its reason, raises a
// concern about it, and objects online; the privacy officer sees the
// concern and the case, its identity already checked by NHS login, and
// upholds it; the clinician then sees the objection banner. The patient's
// pages are used by keyboard, and none of them names a person.
func (e *e2e) patientSeesAccessAndObjects(t *testing.T) {
	doc := e.newTab(t)
	doc.signIn("clinician")
	doc.waitH1("Find a patient")
	doc.navigate(e.base+"/patients/"+restrictedNHS+"/access", http.StatusOK)
	doc.waitH1("Why are you opening this record?")
	doc.giveReason(directCare)
	doc.waitH1(restrictedName)
	doc.waitSettled()

	pt := e.newTab(t)
	pt.navigate(e.base+"/my-record", http.StatusOK)
	pt.wait("#username")
	pt.do(
		chromedp.SendKeys(chromedp.CSS("#username"), "restricted"),
		chromedp.SendKeys(chromedp.CSS("#password"), demoPassword),
		chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)),
	)
	pt.waitH1("Who has looked at your shared care record")
	pt.checkPage("patient's accesses", "Who has looked at your shared care record", http.StatusOK, "my-record")
	if got := pt.text(`[data-testid="my-nhs-number"]`); got != "999 000 0034" {
		t.Fatalf("the patient's page is for %q, want 999 000 0034", got)
	}
	first := pt.text(`li[data-testid="access"]`)
	for _, want := range []string{"Opened your record", "King's College Hospital", "Clinical Practitioner", directCare} {
		if !strings.Contains(first, want) {
			t.Errorf("the newest access reads %q, want %q in it", first, want)
		}
	}
	if strings.Contains(first, clinicianName) {
		t.Errorf("the access names the clinician (%q) though names are not configured to show", first)
	}

	// A concern about it, by keyboard.
	pt.tabTo(`li[data-testid="access"] button[data-testid="raise-concern"]`)
	pt.followKeys(kb.Enter)
	pt.wait(`[data-testid="concern-raised"]`)
	pt.checkPage("concern raised", "Who has looked at your shared care record", http.StatusOK, "")
	if got := pt.text(`[data-testid="concern-status"]`); !strings.HasPrefix(got, "Received") {
		t.Errorf("the concern's status reads %q, want Received", got)
	}

	// The objection, online.
	pt.tabTo(`a[href="/my-record/objection"]`)
	pt.followKeys(kb.Enter)
	pt.waitH1("Your objection to sharing your record")
	pt.checkPage("patient's objection", "Your objection to sharing your record", http.StatusOK, "my-objection")
	pt.tabTo(`#reason`)
	pt.do(chromedp.KeyEvent("I would rather only my GP held it."))
	pt.tabTo(`button[data-testid="submit-objection"]`)
	pt.followKeys(kb.Enter)
	pt.wait(`[data-testid="case-ref"]`)
	pt.checkPage("objection sent", "Your objection to sharing your record", http.StatusOK, "")
	ref := pt.text(`[data-testid="case-ref"]`)
	if got := pt.text(`[data-testid="case-state"]`); got != "waiting for a privacy officer's decision" {
		t.Errorf("the new case reads %q", got)
	}

	// The privacy officer: the concern, then the case.
	ig := e.newTab(t)
	ig.signIn("igofficer")
	ig.waitH1("Information governance")
	ig.navigate(e.base+"/ig/alerts", http.StatusOK)
	concern := `li[data-testid="alert"][data-kind="patient-concern"] a`
	ig.wait(concern)
	ig.followClick(concern)
	ig.waitH1("Alert: patient-concern")
	if got := ig.text(`main`); !strings.Contains(got, clinicianName) || !strings.Contains(got, "999 000 0034") {
		t.Errorf("the concern alert does not name the access and the patient: %q", got)
	}
	// Its review form asks for a message to the patient, apart from the
	// internal finding; the officer has opened it, so the patient reads it
	// as being reviewed.
	ig.wait(`textarea#message`)
	ig.checkPage("concern alert", "Alert: patient-concern", http.StatusOK, "")
	pt.navigate(e.base+"/my-record", http.StatusOK)
	if got := pt.text(`[data-testid="concern-status"]`); !strings.HasPrefix(got, "Being reviewed") {
		t.Errorf("once the officer opened it the concern's status reads %q, want Being reviewed", got)
	}
	ig.navigate(e.base+"/ig/objections", http.StatusOK)
	row := fmt.Sprintf(`[data-testid="open"] tr[data-ref=%q] a`, ref)
	ig.wait(row)
	ig.followClick(row)
	ig.waitH1("Case " + ref)
	if got := ig.text(`[data-testid="case-status"]`); got != "Identity checked" {
		t.Errorf("the online case arrives as %q, want Identity checked", got)
	}
	if got := ig.text(`main`); !strings.Contains(got, "identity checked: NHS login P9") {
		t.Error("the case history does not show the identity check by NHS login")
	}
	ig.click(`label[for="decision-upheld"]`)
	ig.do(chromedp.SendKeys(chromedp.CSS(`#decision-note`), "Identity verified by NHS login (P9); the patient asked us to stop sharing"))
	ig.followClick(`//button[normalize-space()="Record decision"]`)
	ig.waitH1("Case " + ref)
	if got := ig.text(`[data-testid="case-status"]`); got != "Upheld" {
		t.Errorf("after upholding, the case status is %q", got)
	}

	// The patient sees it in force; the clinician sees the banner.
	pt.navigate(e.base+"/my-record/objection", http.StatusOK)
	if got := pt.text(`[data-testid="in-force"]`); !strings.HasPrefix(got, "Your objection is in force") {
		t.Errorf("after the decision the patient reads %q", got)
	}
	doc.navigate(e.base+"/patients/"+restrictedNHS, http.StatusOK)
	doc.waitH1(restrictedName)
	doc.wait(`[data-testid="objection-banner"]`)

	// A patient's session never reaches a staff page.
	pt.navigate(e.base+"/patients", http.StatusForbidden)
	pt.waitH1("This page is for health and care staff")
	pt.checkPage("a staff page refused to a patient", "This page is for health and care staff", http.StatusForbidden, "")
}
