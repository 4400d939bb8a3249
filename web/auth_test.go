package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/gorilla/securecookie"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/carerecord/carerecord/web"
	"github.com/carerecord/carerecord/web/devidp"
)

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		user, home, h1, role string
	}{
		{"clinician", "/patients", "Find a patient", "Clinical Practitioner, King's College Hospital NHS Foundation Trust (RJZ)"},
		{"clerk", "/patients", "Find a patient", "Clerical, King's College Hospital NHS Foundation Trust (RJZ)"},
		{"igofficer", "/ig", "Information governance", "Privacy Officer, King's College Hospital NHS Foundation Trust (RJZ)"},
		{"admin", "/admin/status", "Service status", "System Administrator, King's College Hospital NHS Foundation Trust (RJZ)"},
	}
	for _, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			b := e.browser()
			p := b.signIn("/saml/login", tc.user)
			if p.status != http.StatusOK || p.url.Path != tc.home || p.h1() != tc.h1 {
				t.Fatalf("landed on %s (status %d, h1 %q), want %s %q", p.url.Path, p.status, p.h1(), tc.home, tc.h1)
			}
			bar := text(find(p.doc, "li", "data-testid", "signed-in-user"))
			if !strings.Contains(bar, tc.role) {
				t.Fatalf("header shows %q, want the role %q", bar, tc.role)
			}
		})
	}
	t.Run("nurse chooses one of two role profiles", func(t *testing.T) {
		b := e.browser()
		p := b.signIn("/saml/login", "nurse")
		if p.url.Path != "/roles" || p.h1() != "Choose your role" {
			t.Fatalf("landed on %s %q, want the role choice", p.url.Path, p.h1())
		}
		if n := len(findAll(p.doc, "input", "name", "role")); n != 2 {
			t.Fatalf("%d role options, want 2", n)
		}
		// Submitting without a choice is an error on the same page.
		f := p.form(t, "form[action='/roles']")
		bad := b.post("/roles", f)
		if bad.status != http.StatusBadRequest || find(bad.doc, "div", "class", "nhsuk-error-summary") == nil {
			t.Fatalf("no choice: status %d, want 400 with an error summary", bad.status)
		}
		f.Set("role", "1")
		p = b.follow(b.post("/roles", f))
		if p.url.Path != "/patients" {
			t.Fatalf("after choosing: %s", p.url.Path)
		}
		if bar := text(find(p.doc, "li", "data-testid", "signed-in-user")); !strings.Contains(bar, "Lewisham and Greenwich NHS Trust (RJ2)") {
			t.Fatalf("header shows %q, want the chosen Lewisham role", bar)
		}
		// The switch link is offered, and switching works.
		if find(p.doc, "a", "href", "/roles") == nil {
			t.Fatal("no Change role link for a user with two profiles")
		}
		f = b.get("/roles").form(t, "form[action='/roles']")
		if f.Get("role") != "1" {
			t.Fatalf("current role not preselected: %q", f.Get("role"))
		}
		f.Set("role", "0")
		p = b.follow(b.post("/roles", f))
		if bar := text(find(p.doc, "li", "data-testid", "signed-in-user")); !strings.Contains(bar, "(RJ1)") {
			t.Fatalf("after switching header shows %q", bar)
		}
	})
	t.Run("returns to the page first asked for", func(t *testing.T) {
		b := e.browser()
		p := b.signIn("/admin/status?tab=1", "admin")
		if p.url.RequestURI() != "/admin/status?tab=1" {
			t.Fatalf("landed on %s", p.url.RequestURI())
		}
	})
	t.Run("wrong password stays at the IdP", func(t *testing.T) {
		b := e.browser()
		login := b.follow(b.get("/saml/login"))
		f := login.form(t, "form[action='/devidp/sso']")
		f.Set("username", "clinician")
		f.Set("password", "wrong")
		p := b.post("/devidp/sso", f)
		if p.status != http.StatusUnauthorized || find(p.doc, "div", "class", "nhsuk-error-summary") == nil {
			t.Fatalf("status %d, want 401 with an error summary", p.status)
		}
		if b.cookie("carerecord_session") != "" {
			t.Fatal("a session cookie was set")
		}
	})
}

// postResponse posts a SAML response to the ACS as the IdP's page would.
func (b *browser) postResponse(form saml.IdpAuthnRequestForm) *page {
	return b.post("/saml/acs", url.Values{"SAMLResponse": {form.SAMLResponse}, "RelayState": {form.RelayState}})
}

// editResponse edits the XML of a response; edit returns how many
// elements it changed, and the test fails if that is none (an edit that
// misses proves nothing).
func editResponse(t *testing.T, form saml.IdpAuthnRequestForm, edit func(doc *etree.Document) int) saml.IdpAuthnRequestForm {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(form.SAMLResponse)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	if n := edit(doc); n == 0 {
		t.Fatal("the edit changed nothing in the response")
	}
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	form.SAMLResponse = base64.StdEncoding.EncodeToString(out)
	return form
}

func TestSignInRefused(t *testing.T) {
	e := newEnv(t)
	other, err := devidp.New(devidp.Options{BaseURL: e.base.JoinPath("/devidp"), Key: otherKey, Cert: otherCert,
		Users: testUsers(), Password: "demo", Attributes: devidp.Attributes{UserID: "uid", DisplayName: "displayName",
			RoleProfile: "roleProfile", Separator: "|", Assurance: "assuranceLevel"}})
	if err != nil {
		t.Fatal(err)
	}
	other.AddServiceProvider(e.srv.SPMetadata())

	respond := func(t *testing.T, b *browser, user string, mutate func(*saml.Assertion)) saml.IdpAuthnRequestForm {
		t.Helper()
		f, err := e.idp.Respond(b.authnRedirect("/patients"), user, devidp.RespondOptions{Mutate: mutate})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	plaintext := func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
		t.Helper()
		f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{Plaintext: true})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	cases := []struct {
		name   string
		form   func(t *testing.T, b *browser) saml.IdpAuthnRequestForm
		reason string
		cause  string // what the log says was wrong: proves the refusal was for this reason
	}{
		{"Unsigned", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			return editResponse(t, plaintext(t, b), func(doc *etree.Document) int {
				sigs := doc.FindElements("//Signature")
				for _, sig := range sigs {
					sig.Parent().RemoveChild(sig)
				}
				return len(sigs) // the response's and the assertion's
			})
		}, "could not be verified", "signature element not present"},
		{"TamperedAfterSigning", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			// Make the clinician an IG officer by editing the signed user id.
			return editResponse(t, plaintext(t, b), func(doc *etree.Document) int {
				n := 0
				for _, v := range doc.FindElements("//AttributeValue") {
					if v.Text() == "555000000001" {
						v.SetText("555000000004")
						n++
					}
				}
				return n
			})
		}, "could not be verified", "Signature could not be verified"},
		{"SignedByAnotherKey", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			f, err := other.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, "could not be verified", "Could not verify certificate against trusted certs"},
		{"Expired", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			return respond(t, b, "clinician", func(a *saml.Assertion) {
				old := time.Now().Add(-2 * time.Hour)
				a.IssueInstant = old
				a.Conditions.NotBefore, a.Conditions.NotOnOrAfter = old, old.Add(90*time.Second)
				a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = old.Add(90 * time.Second)
			})
		}, "could not be verified", "expired on"},
		{"NotYetValid", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			return respond(t, b, "clinician", func(a *saml.Assertion) {
				a.Conditions.NotBefore = time.Now().Add(time.Hour)
			})
		}, "could not be verified", "not yet valid"},
		{"WrongAudience", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			return respond(t, b, "clinician", func(a *saml.Assertion) {
				a.Conditions.AudienceRestrictions[0].Audience.Value = "https://another-service.example/saml/metadata"
			})
		}, "could not be verified", "AudienceRestriction does not contain"},
		{"WrongRecipient", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			return respond(t, b, "clinician", func(a *saml.Assertion) {
				a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://another-service.example/saml/acs"
			})
		}, "could not be verified", "Recipient is not"},
		{"NoRoleProfile", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			return respond(t, b, "norole", nil)
		}, "no role profile", "no usable role profile"},
		{"UnmappedRoleProfile", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			return respond(t, b, "unmapped", nil)
		}, "None of your role profiles ([R9999])", "no usable role profile"},
		{"AssuranceBelowRequired", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			return respond(t, b, "lowaal", nil)
		}, "assurance level 3", "assurance 2 below 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			p := b.postResponse(tc.form(t, b))
			if p.status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", p.status)
			}
			if got := text(find(p.doc, "p", "data-testid", "refusal-reason")); !strings.Contains(got, tc.reason) {
				t.Fatalf("reason %q, want it to mention %q", got, tc.reason)
			}
			if b.cookie("carerecord_session") != "" {
				t.Fatal("a refused sign-in set a session cookie")
			}
			if got := lastLine(e.logs.String(), "sign-in refused"); !strings.Contains(got, tc.cause) {
				t.Fatalf("refused for another reason: %s; want %q", got, tc.cause)
			}
			if p := b.get("/patients"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/saml/login") {
				t.Fatalf("after refusal /patients: status %d to %q, want a redirect to sign-in", p.status, p.header.Get("Location"))
			}
		})
	}
	t.Run("Replayed", func(t *testing.T) {
		b := e.browser()
		f := respond(t, b, "clinician", nil)
		// Keep the tracking cookie so the second post differs only in
		// being a second use of the same assertion.
		acs, _ := e.base.Parse("/saml/acs")
		tracking := b.c.Jar.Cookies(acs)
		if len(tracking) == 0 {
			t.Fatal("no tracking cookie for /saml/acs")
		}
		if p := b.postResponse(f); p.status != http.StatusSeeOther {
			t.Fatalf("first use: status %d", p.status)
		}
		attacker := e.browser()
		attacker.c.Jar.SetCookies(acs, tracking)
		p := attacker.postResponse(f)
		if p.status != http.StatusForbidden || !strings.Contains(text(find(p.doc, "p", "data-testid", "refusal-reason")), "already been used") {
			t.Fatalf("replay: status %d %q, want 403 already used\n%s", p.status, text(find(p.doc, "p", "data-testid", "refusal-reason")), e.logs)
		}
		if attacker.cookie("carerecord_session") != "" {
			t.Fatal("the replay got a session")
		}
	})
	t.Run("LowerAssuranceAcceptedWhenNotRequired", func(t *testing.T) {
		e2 := newEnv(t, withConfig(func(c *webConfig) { c.MinAssurance = 2 }))
		b := e2.browser()
		if p := b.signIn("/saml/login", "lowaal"); p.url.Path != "/patients" {
			t.Fatalf("AAL2 with min 2: landed on %s (%d)", p.url.Path, p.status)
		}
	})
	t.Run("NotKeyedOnTransientNameID", func(t *testing.T) {
		// Two sign-ins of one user get different transient NameIDs from the
		// IdP; both sessions must belong to the same user id.
		var ids []string
		for range 2 {
			b := e.browser()
			b.signIn("/saml/login", "clinician")
			s, err := e.db.SessionByToken(context.Background(), sessionToken(t, e, b))
			if err != nil {
				t.Fatal(err)
			}
			if s.UserID != "555000000001" {
				t.Fatalf("session user %q, want the uid attribute", s.UserID)
			}
			ids = append(ids, s.NameID)
		}
		if ids[0] == ids[1] {
			t.Fatal("the IdP was expected to issue a new transient NameID each time")
		}
	})
}

func TestSPMetadata(t *testing.T) {
	e := newEnv(t)
	p := e.browser().get("/saml/metadata")
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal([]byte(p.body), &ed); err != nil {
		t.Fatal(err)
	}
	if len(ed.SPSSODescriptors) != 1 {
		t.Fatal("no SPSSODescriptor")
	}
	sp := ed.SPSSODescriptors[0]
	if sp.AssertionConsumerServices[0].Location != e.base.String()+"/saml/acs" {
		t.Fatalf("ACS %q", sp.AssertionConsumerServices[0].Location)
	}
	found := false
	for _, s := range sp.SingleLogoutServices {
		found = found || s.Location == e.base.String()+"/saml/slo"
	}
	if !found {
		t.Fatal("no /saml/slo in metadata")
	}
	if len(sp.KeyDescriptors) == 0 || !bytes.Contains([]byte(p.body), []byte(base64.StdEncoding.EncodeToString(spCert.Raw)[:40])) {
		t.Fatal("metadata does not carry the SP certificate")
	}
}

// sessionToken reads the session token out of the browser's cookie by
// looking up which live session the database holds for the user.
func sessionToken(t *testing.T, e *env, b *browser) string {
	t.Helper()
	values := map[any]any{}
	err := securecookie.DecodeMulti("carerecord_session", b.cookie("carerecord_session"), &values,
		securecookie.CodecsFromPairs(testSessionKeys...)...)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := values["t"].(string)
	if tok == "" {
		t.Fatal("no token in the session cookie")
	}
	return tok
}

func newJar() (http.CookieJar, error) { return cookiejar.New(nil) }

type webConfig = web.Config

// The untampered plaintext response is accepted: the refusals above are
// about what was changed, not about plaintext responses as such.
func TestPlaintextResponseAccepted(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	p := b.postResponse(f)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/patients" {
		t.Fatalf("status %d to %q, want 303 to /patients", p.status, p.header.Get("Location"))
	}
}

func lastLine(logs, containing string) string {
	lines := strings.Split(logs, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], containing) {
			return lines[i]
		}
	}
	return ""
}

func TestReturnAddressStaysOnSite(t *testing.T) {
	e := newEnv(t)
	for _, ret := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"} {
		b := e.browser()
		p := b.signIn("/saml/login?return="+url.QueryEscape(ret), "clinician")
		if p.url.Host != e.base.Host || p.url.Path != "/patients" {
			t.Errorf("return=%q: landed on %s, want the clinician's home on this site", ret, p.url)
		}
	}
}

func TestOversizedBodyRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.post("/saml/acs", url.Values{"SAMLResponse": {strings.Repeat("A", 2<<20)}})
	if p.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", p.status)
	}
}

// The XML signature library must be at or past the release that fixed
// the signature bypass (CVE-2026-33487); crewjam/saml alone pulls an
// older one. go.mod's requirement is a floor on the version built.
func TestXMLDSigVersion(t *testing.T) {
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mf.Require {
		if r.Mod.Path == "github.com/russellhaering/goxmldsig" {
			if semver.Compare(r.Mod.Version, "v1.6.1") < 0 {
				t.Fatalf("goxmldsig %s, need v1.6.1 or newer", r.Mod.Version)
			}
			return
		}
	}
	t.Fatal("go.mod does not require goxmldsig")
}
