package web_test

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
	"github.com/carerecord/carerecord/web/devidp"
)

// The SAML fixes found against a real IdP (SimpleSAMLphp), each tested
// against the development IdP sending what that IdP sends.

// TestSAMLMetadataPublishesOnlyWhatIsImplemented: an HTTP-POST assertion
// consumer only (no HTTP-Artifact), the transient NameID format (never
// "unspecified", which SimpleSAMLphp cannot answer), single logout on
// both bindings; and the AuthnRequest asks for what the metadata says.
func TestSAMLMetadataPublishesOnlyWhatIsImplemented(t *testing.T) {
	e := newEnv(t)
	p := e.browser().get("/saml/metadata")
	var md saml.EntityDescriptor
	if err := xml.Unmarshal([]byte(p.body), &md); err != nil || len(md.SPSSODescriptors) != 1 {
		t.Fatalf("metadata does not parse: %v", err)
	}
	d := md.SPSSODescriptors[0]
	var acs, slo, formats []string
	for _, a := range d.AssertionConsumerServices {
		acs = append(acs, a.Binding)
	}
	for _, s := range d.SingleLogoutServices {
		slo = append(slo, s.Binding)
	}
	for _, f := range d.NameIDFormats {
		formats = append(formats, string(f))
	}
	if !slices.Equal(acs, []string{saml.HTTPPostBinding}) {
		t.Errorf("assertion consumer bindings %v, want HTTP-POST only", acs)
	}
	if !slices.Equal(formats, []string{string(saml.TransientNameIDFormat)}) {
		t.Errorf("NameID formats %v, want transient only", formats)
	}
	slices.Sort(slo)
	if want := []string{saml.HTTPPostBinding, saml.HTTPRedirectBinding}; !slices.Equal(slo, want) {
		t.Errorf("single logout bindings %v, want %v", slo, want)
	}
	// The AuthnRequest asks for the transient format too.
	u := e.browser().authnRedirect("/patients")
	req := inflate(t, u.Query().Get("SAMLRequest"))
	var ar saml.AuthnRequest
	if err := xml.Unmarshal(req, &ar); err != nil {
		t.Fatal(err)
	}
	if ar.NameIDPolicy == nil || ar.NameIDPolicy.Format == nil || *ar.NameIDPolicy.Format != string(saml.TransientNameIDFormat) {
		t.Errorf("AuthnRequest NameIDPolicy %+v, want transient", ar.NameIDPolicy)
	}
}

// samlSession signs the clinician in over SAML and returns the browser
// and the session's NameID and SessionIndex, as the IdP knows them.
func samlSession(t *testing.T, e *env, user string) (*browser, *store.Session) {
	t.Helper()
	b := e.browser()
	b.signIn("/saml/login", user)
	s, err := e.db.SessionByToken(context.Background(), sessionToken(t, e, b))
	if err != nil || s.NameID == "" || s.SessionIndex == "" {
		t.Fatalf("session %+v (%v), want a NameID and SessionIndex", s, err)
	}
	return b, s
}

func live(t *testing.T, b *browser) bool {
	t.Helper()
	return b.get("/patients").status == http.StatusOK
}

// TestSAMLIdPInitiatedLogout: a LogoutRequest from the IdP, on either
// binding, ends the sessions it names only when it is signed by the IdP
// (over the query string on HTTP-Redirect, in the XML on HTTP-POST), from
// the IdP, fresh and not seen before; and is answered with a
// LogoutResponse.
func TestSAMLIdPInitiatedLogout(t *testing.T) {
	e := newEnv(t)
	slo := e.base.String() + "/saml/slo"
	send := func(t *testing.T, binding string, s *store.Session, o devidp.SLOOptions) *page {
		t.Helper()
		client := e.browser() // the IdP's redirect or form reaches carerecord in some browser
		if binding == saml.HTTPPostBinding {
			v, err := e.idp.LogoutRequestPost(slo, s.NameID, s.SessionIndex, "relay-1", o)
			if err != nil {
				t.Fatal(err)
			}
			return client.post("/saml/slo", v)
		}
		u, err := e.idp.LogoutRequestRedirect(slo, s.NameID, s.SessionIndex, "relay-1", o)
		if err != nil {
			t.Fatal(err)
		}
		return client.get(u.String())
	}
	for _, binding := range []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding} {
		name := map[string]string{saml.HTTPRedirectBinding: "Redirect", saml.HTTPPostBinding: "POST"}[binding]
		t.Run(name+"/OK", func(t *testing.T) {
			b, s := samlSession(t, e, "clinician")
			other, _ := samlSession(t, e, "clerk")
			p := send(t, binding, s, devidp.SLOOptions{})
			loc, _ := url.Parse(p.header.Get("Location"))
			if p.status != http.StatusFound || loc == nil || loc.Path != "/devidp/slo" || loc.Query().Get("SAMLResponse") == "" {
				t.Fatalf("status %d to %q, want a LogoutResponse to the IdP", p.status, p.header.Get("Location"))
			}
			if loc.Query().Get("RelayState") != "relay-1" {
				t.Errorf("RelayState %q not returned", loc.Query().Get("RelayState"))
			}
			var resp saml.LogoutResponse
			if err := xml.Unmarshal(inflate(t, loc.Query().Get("SAMLResponse")), &resp); err != nil || resp.Status.StatusCode.Value != saml.StatusSuccess {
				t.Fatalf("LogoutResponse %+v (%v), want success", resp, err)
			}
			if live(t, b) {
				t.Fatal("the session the IdP named is still live")
			}
			if !live(t, other) {
				t.Fatal("another user's session ended")
			}
			evs := events(t, e, store.AuditFilter{UserID: s.UserID, Actions: []store.Action{store.ActSignOut}})
			if len(evs) == 0 || !strings.Contains(evs[0].Detail, "SAML single logout") || evs[0].SessionHash != s.IDHash {
				t.Fatalf("audit %+v, want the IdP's sign-out of this session", evs)
			}
		})
		refusals := []struct {
			name string
			opts func() devidp.SLOOptions
		}{
			{"ErrUnsigned", func() devidp.SLOOptions { return devidp.SLOOptions{Unsigned: true} }},
			{"ErrBadSignature", func() devidp.SLOOptions { return devidp.SLOOptions{Key: otherKey} }},
			{"ErrWrongIssuer", func() devidp.SLOOptions { return devidp.SLOOptions{Issuer: "https://other-idp.example/metadata"} }},
			{"ErrStale", func() devidp.SLOOptions { return devidp.SLOOptions{Issued: time.Now().Add(-time.Hour)} }},
		}
		for _, tc := range refusals {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				b, s := samlSession(t, e, "clinician")
				p := send(t, binding, s, tc.opts())
				if p.status != http.StatusBadRequest || p.h1() != "This sign-out request could not be verified" {
					t.Fatalf("status %d %q, want 400 and the refusal page", p.status, p.h1())
				}
				if !live(t, b) {
					t.Fatal("a refused LogoutRequest ended the session")
				}
			})
		}
		t.Run(name+"/ErrReplayed", func(t *testing.T) {
			_, s := samlSession(t, e, "clinician")
			o := devidp.SLOOptions{ID: "id-replayed-" + name}
			if p := send(t, binding, s, o); p.status != http.StatusFound {
				t.Fatalf("first: status %d", p.status)
			}
			// The same message ID again, now naming a live session.
			b2, s2 := samlSession(t, e, "clinician")
			if p := send(t, binding, s2, o); p.status != http.StatusBadRequest {
				t.Fatalf("replayed: status %d, want 400", p.status)
			}
			if !live(t, b2) {
				t.Fatal("a replayed LogoutRequest ended a session")
			}
		})
	}
	t.Run("ErrNoMessage", func(t *testing.T) {
		// Once a panic (500): now a page that says what the address is for.
		b := e.browser()
		for _, p := range []*page{b.get("/saml/slo"), b.post("/saml/slo", url.Values{"RelayState": {"x"}})} {
			if p.status != http.StatusBadRequest || p.h1() != "No sign-out message was received" {
				t.Errorf("%s: status %d %q, want 400", p.url, p.status, p.h1())
			}
		}
	})
}

// TestSAMLLogoutResponse: the IdP's answer to carerecord's own sign-out.
// A signed HTTP-Redirect response is verified (the signature over the
// query string), an unsigned one is said to be unsigned, a forged one is
// said not to be confirmed.
func TestSAMLLogoutResponse(t *testing.T) {
	e := newEnv(t)
	slo := e.base.String() + "/saml/slo"
	cases := []struct {
		name string
		opts devidp.SLOOptions
		want string // the signed-out page's wording, or "" for the redirect to /signed-out
	}{
		{"OK", devidp.SLOOptions{}, ""},
		{"Unsigned", devidp.SLOOptions{Unsigned: true}, "did not sign its answer"},
		{"BadSignature", devidp.SLOOptions{Key: otherKey}, "did not confirm"},
		{"WrongIssuer", devidp.SLOOptions{Issuer: "https://other-idp.example/metadata"}, "did not confirm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := e.idp.LogoutResponseRedirect(slo, "id-request", "", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			p := e.browser().get(u.String())
			if tc.want == "" {
				if p.status != http.StatusSeeOther || p.header.Get("Location") != "/signed-out" {
					t.Fatalf("status %d to %q, want /signed-out", p.status, p.header.Get("Location"))
				}
				return
			}
			if got := text(find(p.doc, "p", "data-testid", "signed-out")); p.status != http.StatusOK || !strings.Contains(got, tc.want) {
				t.Fatalf("status %d, page says %q, want %q", p.status, got, tc.want)
			}
		})
	}
}

// TestSAMLClockSkew: an IdP whose clock is 100 s behind is accepted with
// the default allowance (3 minutes) and refused with 30 s; the skew seen
// is logged either way.
func TestSAMLClockSkew(t *testing.T) {
	behind := func(t *testing.T, e *env, b *browser) saml.IdpAuthnRequestForm {
		t.Helper()
		u := b.authnRedirect("/patients")
		saml.TimeNow = func() time.Time { return time.Now().UTC().Add(-100 * time.Second) }
		defer func() { saml.TimeNow = func() time.Time { return time.Now().UTC() } }()
		f, err := e.idp.Respond(u, "clinician", devidp.RespondOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	t.Run("OK within the default allowance", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		if p := b.postResponse(behind(t, e, b)); p.status != http.StatusSeeOther {
			t.Fatalf("status %d, want signed in\n%s", p.status, lastLine(e.logs.String(), "sign-in refused"))
		}
		if got := lastLine(e.logs.String(), "SAML response verified"); !strings.Contains(got, `"idp_clock_skew":"-1m40s"`) {
			t.Fatalf("log %q, want the skew seen (-1m40s)", got)
		}
	})
	t.Run("ErrBeyondAConfiguredAllowance", func(t *testing.T) {
		e := newEnv(t, withConfig(func(c *webConfig) { c.SAMLClockSkew = 5 * time.Second }))
		b := e.browser()
		if p := b.postResponse(behind(t, e, b)); p.status != http.StatusForbidden {
			t.Fatalf("status %d, want refused", p.status)
		}
		if got := lastLine(e.logs.String(), "sign-in refused"); !strings.Contains(got, "IdP clock skew about -1m40s") {
			t.Fatalf("log %q, want the skew seen", got)
		}
	})
	// Later tests build servers with the default again.
	newEnv(t)
}

// TestSAMLTookTooLong: a response to a request this server sent, arriving
// after the browser's tracking cookie has gone, gets a page that says the
// sign-in took too long and offers to start again.
func TestSAMLTookTooLong(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.c.Jar, _ = newJar() // the tracking cookie has expired
	p := b.postResponse(f)
	if p.status != http.StatusBadRequest || p.h1() != "Your sign-in took too long" {
		t.Fatalf("status %d %q, want the took-too-long page", p.status, p.h1())
	}
	if a := find(p.doc, "a", "href", "/saml/login"); a == nil || text(a) != "Start again" {
		t.Fatal("no Start again link to /saml/login")
	}
	evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActSignInRefused}})
	if len(evs) == 0 || !strings.Contains(evs[0].OutcomeWhy, "took longer") {
		t.Fatalf("audit %+v, want the late sign-in recorded", evs)
	}
}

// TestSAMLSeparateRoleAttributes: role code and organisation released as
// separate multi-valued attributes, read in step.
func TestSAMLSeparateRoleAttributes(t *testing.T) {
	attrs := web.AttributeMap{UserID: "uid", DisplayName: "displayName", RoleCode: "roleCode", RoleOrgCode: "orgCode",
		RoleOrgName: "orgName", Assurance: "assuranceLevel"}
	e := newEnv(t, withConfig(func(c *webConfig) { c.Attributes = attrs }))
	// The IdP releasing them so (the mounted one keeps the combined shape).
	idp := devidp.MustReconfigure(e.idp, devidp.Attributes{UserID: "uid", DisplayName: "displayName", RoleCode: "roleCode",
		RoleOrgCode: "orgCode", RoleOrgName: "orgName", Assurance: "assuranceLevel"})
	b := e.browser()
	f, err := idp.Respond(b.authnRedirect("/patients"), "nurse", devidp.RespondOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := b.follow(b.postResponse(f))
	if p.url.Path != "/roles" {
		t.Fatalf("landed on %s, want the role choice", p.url.Path)
	}
	var labels []string
	for _, l := range findAll(p.doc, "label", "class", "nhsuk-label nhsuk-radios__label") {
		labels = append(labels, strings.Join(strings.Fields(text(l)), " "))
	}
	want := []string{"Nurse (R8001), Guy's and St Thomas' NHS Foundation Trust (RJ1)", "Nurse (R8001), Lewisham and Greenwich NHS Trust (RJ2)"}
	if !slices.Equal(labels, want) {
		t.Fatalf("role options %q, want %q", labels, want)
	}
}

// TestSAMLAuthnContextClassRef: with no assurance attribute, the
// assertion's AuthnContextClassRef gives the level, mapped by
// configuration.
func TestSAMLAuthnContextClassRef(t *testing.T) {
	e := newEnv(t)
	const c = "urn:oasis:names:tc:SAML:2.0:ac:classes:"
	cases := []struct {
		class  string
		status int
	}{
		{c + "SmartcardPKI", http.StatusSeeOther},
		{c + "PasswordProtectedTransport", http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(strings.TrimPrefix(tc.class, c), func(t *testing.T) {
			b := e.browser()
			f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{Mutate: func(a *saml.Assertion) {
				for i := range a.AttributeStatements {
					st := &a.AttributeStatements[i]
					st.Attributes = slices.DeleteFunc(st.Attributes, func(at saml.Attribute) bool { return at.Name == "assuranceLevel" })
				}
				a.AuthnStatements[0].AuthnContext.AuthnContextClassRef = &saml.AuthnContextClassRef{Value: tc.class}
			}})
			if err != nil {
				t.Fatal(err)
			}
			if p := b.postResponse(f); p.status != tc.status {
				t.Fatalf("status %d, want %d\n%s", p.status, tc.status, lastLine(e.logs.String(), "sign-in refused"))
			}
		})
	}
}

func inflate(t *testing.T, b64 string) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	out, err := devidp.Inflate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
