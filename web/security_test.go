package web_test

// The security suite: hostile content from a source is shown as inert
// text; sign-in refuses XML signature wrapping; every state-changing route
// refuses cross-site and tokenless requests; pages with patient or audit
// data are never stored by the browser.

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/base64"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/web"
	"github.com/carerecord/carerecord/web/devidp"
)

// hostileDeadline is how long the record page waits for each source in the
// hostile environment.
const hostileDeadline = 3 * time.Second

// withHostileSources connects the synthetic Trusts and GP practices (as
// withSources does) and, beside them, the hostile organisations.
func withHostileSources(t *testing.T) envOption {
	t.Helper()
	opt, cluster := withSources(t, nil, hostileDeadline)
	var hostile []connectors.Config
	for _, o := range synthetic.HostileOrgs() {
		if err := cluster.AddHostile(o); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cluster.Configs() {
		if c.ODS == synthetic.HostileODS || c.ODS == synthetic.NestingODS {
			hostile = append(hostile, c)
		}
	}
	if len(hostile) != 2 {
		t.Fatalf("%d hostile sources configured, want 2", len(hostile))
	}
	return func(s *envSetup) {
		opt(s)
		s.sources = append(s.sources, hostile...)
	}
}

// urlAttrs are the attributes a browser follows or fetches.
var urlAttrs = map[string]bool{"href": true, "src": true, "action": true, "formaction": true, "srcset": true,
	"poster": true, "data": true, "background": true, "cite": true, "ping": true, "xlink:href": true,
	"hx-get": true, "hx-post": true, "hx-put": true, "hx-patch": true, "hx-delete": true}

// dangerousScheme reports whether a URL attribute runs code or embeds
// content, ignoring the case, spaces and control characters browsers skip.
func dangerousScheme(v string) bool {
	v = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToLower(v))
	return strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") || strings.HasPrefix(v, "data:")
}

// assertInert fails if the page could run, load or style anything other
// than the product's own static files.
func assertInert(t *testing.T, what string, p *page) {
	t.Helper()
	if p.doc == nil {
		t.Fatalf("%s: not HTML (status %d, %s)", what, p.status, p.header.Get("Content-Type"))
	}
	if !utf8.ValidString(p.body) {
		t.Errorf("%s: the page is not valid UTF-8", what)
	}
	for _, n := range findAll(p.doc, "", "", "") {
		switch n.Data {
		case "script":
			if src := attr(n, "src"); !strings.HasPrefix(src, "/static/") || strings.TrimSpace(text(n)) != "" {
				t.Errorf("%s: a script that is not the layout's own: src %q, body %.80q", what, src, text(n))
			}
		case "style":
			t.Errorf("%s: a <style> element: %.80q", what, text(n))
		case "iframe", "frame", "object", "embed", "applet", "base", "link":
			if n.Data == "link" && strings.HasPrefix(attr(n, "href"), "/static/") {
				continue
			}
			t.Errorf("%s: a <%s> element", what, n.Data)
		case "img":
			if !strings.HasPrefix(attr(n, "src"), "/static/") {
				t.Errorf("%s: an image from %q", what, attr(n, "src"))
			}
		case "meta":
			if strings.EqualFold(attr(n, "http-equiv"), "refresh") {
				t.Errorf("%s: a meta refresh", what)
			}
		}
		for _, a := range n.Attr {
			k := strings.ToLower(a.Key)
			if strings.HasPrefix(k, "on") {
				t.Errorf("%s: event handler attribute %s=%.80q on <%s>", what, a.Key, a.Val, n.Data)
			}
			if urlAttrs[k] && dangerousScheme(a.Val) {
				t.Errorf("%s: %s=%.80q on <%s>", what, a.Key, a.Val, n.Data)
			}
			if k == "style" && strings.Contains(a.Val, "display:none") {
				t.Errorf("%s: source text became a style attribute: %.80q", what, a.Val)
			}
			if k == "autofocus" {
				t.Errorf("%s: an autofocus attribute on <%s>", what, n.Data)
			}
		}
	}
}

// bodyText is every text node in the page's body, unnormalised.
func bodyText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(find(n, "body", "", ""))
	return b.String()
}

// TestHostileSource opens the record of a patient whose only record is at
// organisations sending hostile content, beside the ordinary synthetic
// sources, and checks every page reached from it.
func TestHostileSource(t *testing.T) {
	e := newEnv(t, withHostileSources(t))
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	nhs := synthetic.HostileNHSNumber
	b.giveReason(nhs, "direct-care", "")

	start := time.Now()
	rec := b.get("/patients/" + nhs)
	took := time.Since(start)
	if rec.status != http.StatusOK {
		t.Fatalf("record page: status %d", rec.status)
	}
	if limit := hostileDeadline + 2*time.Second; took > limit {
		t.Errorf("record page took %v, want under the source deadline plus a margin (%v)", took, limit)
	}

	t.Run("RecordPageInert", func(t *testing.T) {
		assertInert(t, "record page", rec)
		if n := len(findAll(rec.doc, "li", "data-source", synthetic.HostileODS)); n == 0 {
			t.Fatal("no entries from the hostile source: nothing hostile was rendered, so this proves nothing")
		}
	})
	t.Run("TextShownEscaped", func(t *testing.T) {
		body := bodyText(rec.doc)
		for _, p := range []string{"<script>alert(1)</script>", `" onmouseover="alert(1)`, "</style><style>body{display:none}</style>",
			"<img src=x onerror=alert(1)>", synthetic.HostileScriptURL} {
			if !strings.Contains(body, p) {
				t.Errorf("the payload %q is not on the page as text", p)
			}
		}
		if !strings.Contains(rec.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Error("the page does not hold the escaped script tag")
		}
		name := text(find(rec.doc, "", "data-testid", "patient-name"))
		if !strings.HasPrefix(name, "TESTPATIENT<SCRIPT>") {
			t.Errorf("banner name %.80q, want the hostile family name as text", name)
		}
	})
	t.Run("OversizedTitleShown", func(t *testing.T) {
		if !strings.Contains(rec.body, strings.Repeat("W", synthetic.HostileTitleBytes)) {
			t.Fatal("the oversized title is not on the page in full (or the filter dropped its entry)")
		}
	})
	t.Run("UnreadableCounted", func(t *testing.T) {
		line := sourceLineFor(rec, synthetic.HostileODS)
		if attr(line, "data-state") != "live" {
			t.Fatalf("hostile source state %q, want live: %s", attr(line, "data-state"), text(line))
		}
		if n := unreadableCount(line); n != synthetic.HostileUnreadable || !hasAttr(line, "data-incomplete", "*") {
			t.Fatalf("hostile source line %q counts %d that could not be read, want %d and the source marked incomplete",
				text(line), n, synthetic.HostileUnreadable)
		}
	})
	t.Run("OtherSourcesUnaffected", func(t *testing.T) {
		for _, li := range findAll(rec.doc, "li", "data-testid", "source") {
			if strings.Contains(text(li), "("+synthetic.NestingODS+")") || strings.Contains(text(li), "("+synthetic.HostileODS+")") {
				continue
			}
			if st := attr(li, "data-state"); st != "no-record" {
				t.Errorf("ordinary source %q is %s, want no-record", text(li), st)
			}
		}
		// An ordinary patient's record, with the hostile sources connected.
		b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
		p := b.get("/patients/" + synthetic.RichNHSNumber)
		live := 0
		for _, li := range findAll(p.doc, "li", "data-testid", "source") {
			if attr(li, "data-state") == "live" {
				live++
			}
		}
		if p.status != http.StatusOK || live < 6 {
			t.Fatalf("rich patient beside the hostile sources: status %d, %d live sources, want 6", p.status, live)
		}
	})
	t.Run("DeepNestingSkippedAndCounted", func(t *testing.T) {
		line := sourceLineFor(rec, synthetic.NestingODS)
		if attr(line, "data-state") == "failed" {
			t.Fatalf("one resource nested %d levels deep failed the whole source; the source line says %q", synthetic.HostileNesting, text(line))
		}
		if attr(line, "data-state") != "live" || unreadableCount(line) != 1 {
			t.Fatalf("nesting source line %q (%s), want live with 1 item that could not be read", text(line), attr(line, "data-state"))
		}
		if n := len(findAll(rec.doc, "li", "data-source", synthetic.NestingODS)); n != synthetic.HostileNestingOK {
			t.Fatalf("%d entries from the nesting source, want its %d ordinary ones", n, synthetic.HostileNestingOK)
		}
	})
	t.Run("EveryLinkedPageInert", func(t *testing.T) {
		seen := map[string]bool{}
		queue := []string{"/patients/" + nhs, "/patients/" + nhs + "/results", "/patients/" + nhs + "/live"}
		for _, k := range connectors.Kinds {
			queue = append(queue, "/patients/"+nhs+"?kind="+string(k))
		}
		for len(queue) > 0 && len(seen) < 60 {
			u := queue[0]
			queue = queue[1:]
			if seen[u] {
				continue
			}
			seen[u] = true
			p := b.get(u)
			if p.status != http.StatusOK {
				t.Errorf("%s: status %d", u, p.status)
				continue
			}
			assertInert(t, u, p)
			for _, a := range findAll(p.doc, "a", "", "") {
				h := attr(a, "href")
				if l, err := url.Parse(h); err == nil && l.Host == "" && strings.HasPrefix(l.Path, "/patients/"+nhs) {
					queue = append(queue, l.String())
				}
			}
		}
		var docs int
		for u := range seen {
			if strings.Contains(u, "/document?") {
				docs++
			}
		}
		if docs < 3 {
			t.Fatalf("reached %d document pages, want the report, the study and the letters", docs)
		}
	})
	t.Run("SearchResultInert", func(t *testing.T) {
		p := b.get("/patients?nhs=" + nhs)
		assertInert(t, "search", p)
		if len(findAll(p.doc, "tr", "data-testid", "search-hit")) != 1 {
			t.Fatal("the hostile patient is not one search hit")
		}
		p = b.get("/patients")
		assertInert(t, "search page with recent patients", p)
	})
	t.Run("ControlCharactersRemoved", func(t *testing.T) {
		// NUL and other C0 controls are parse errors in HTML; a source's
		// text should reach the page without them.
		for _, r := range bodyText(rec.doc) {
			if r < ' ' && r != '\t' && r != '\n' && r != '\r' {
				t.Fatalf("control character U+%04X from a source reaches the page", r)
			}
		}
	})
	t.Run("BidiControlsContained", func(t *testing.T) {
		// A right-to-left override from a source must not reorder the
		// text after it (the dose, the date, the source's name): either it
		// is removed or it is isolated in an element of its own.
		for _, n := range findAll(rec.doc, "", "", "") {
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type != html.TextNode || !strings.ContainsAny(c.Data, "\u202a\u202b\u202d\u202e\u2066\u2067\u2068") {
					continue
				}
				if n.Data != "bdi" && attr(n, "dir") == "" {
					t.Fatalf("bidirectional override characters from a source reach the page unisolated, in <%s>: %.60q", n.Data, c.Data)
				}
			}
		}
	})
}

// unreadableCount adds up what a source line says could not be read
// ("2 allergy records could not be read", one note per kind).
func unreadableCount(line *html.Node) int {
	n := 0
	for _, li := range findAll(find(line, "ul", "", ""), "li", "", "") {
		words := strings.Fields(text(li))
		if len(words) > 0 && strings.HasSuffix(text(li), "could not be read.") {
			k, err := strconv.Atoi(strings.ReplaceAll(words[0], ",", ""))
			if err == nil {
				n += k
			}
		}
	}
	return n
}

// sourceLineFor returns the source status line for the ODS code.
func sourceLineFor(p *page, ods string) *html.Node {
	for _, li := range findAll(p.doc, "li", "data-testid", "source") {
		if strings.Contains(text(li), "("+ods+")") {
			return li
		}
	}
	return nil
}

// forgedUserID is the IG officer's user id: a wrapped assertion tries to
// sign the clinician's browser in as them.
const forgedUserID = "555000000004"

// xswParts are the pieces of a genuinely signed plaintext response that the
// wrapping variants rearrange.
type xswParts struct {
	doc       *etree.Document
	resp      *etree.Element // the Response, signed
	respSig   *etree.Element // its Signature (references the Response's ID)
	assertion *etree.Element // the Assertion, signed
	assertSig *etree.Element // its Signature (references the Assertion's ID)
}

func xswSplit(t *testing.T, doc *etree.Document) xswParts {
	t.Helper()
	p := xswParts{doc: doc, resp: doc.Root()}
	p.respSig = p.resp.SelectElement("Signature")
	p.assertion = p.resp.SelectElement("Assertion")
	if p.assertion != nil {
		p.assertSig = p.assertion.SelectElement("Signature")
	}
	if p.resp.Tag != "Response" || p.respSig == nil || p.assertion == nil || p.assertSig == nil {
		t.Fatal("the plaintext response is not a signed Response holding a signed Assertion")
	}
	return p
}

// forge copies the assertion as the attacker would: the same content with
// the user id replaced, without the signature, under the ID given ("" keeps
// the original ID).
func forge(t *testing.T, a *etree.Element, id string) *etree.Element {
	t.Helper()
	f := a.Copy()
	if s := f.SelectElement("Signature"); s != nil {
		f.RemoveChild(s)
	}
	if id != "" {
		f.CreateAttr("ID", id)
	}
	n := 0
	for _, v := range f.FindElements("//AttributeValue") {
		if v.Text() == "555000000001" {
			v.SetText(forgedUserID)
			n++
		}
	}
	for _, v := range f.FindElements("//NameID") {
		v.SetText(forgedUserID)
		n++
	}
	if n == 0 {
		t.Fatal("the forged assertion names nobody")
	}
	return f
}

// insertBefore puts child into parent just before ref (at the end if ref
// is not parent's child).
func insertBefore(parent, ref, child *etree.Element) {
	if ref != nil && ref.Parent() == parent {
		parent.InsertChildAt(ref.Index(), child)
		return
	}
	parent.AddChild(child)
}

func TestSignatureWrappingRefused(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name string
		// edit rearranges the signed response; variants that remove the
		// response's own signature stand for an IdP that signs assertions
		// alone (ControlOnlyAssertionSigned shows that is accepted).
		edit func(t *testing.T, p xswParts) int
	}{
		// XSW1: a new Response around the forged assertion carries the
		// original signature, with the original Response inside that
		// signature.
		{"XSW1ResponseInsideSignature", func(t *testing.T, p xswParts) int {
			evil := p.resp.Copy()
			evil.CreateAttr("ID", "_evil-response")
			evil.RemoveChild(evil.SelectElement("Signature"))
			evil.RemoveChild(evil.SelectElement("Assertion"))
			evil.AddChild(forge(t, p.assertion, "_evil-assertion"))
			sig := p.respSig.Copy()
			sig.AddChild(p.resp.Copy())
			insertBefore(evil, evil.SelectElement("Status"), sig)
			p.doc.SetRoot(evil)
			return 1
		}},
		// XSW2: as XSW1, the original Response beside the signature.
		{"XSW2ResponseBesideSignature", func(t *testing.T, p xswParts) int {
			evil := p.resp.Copy()
			evil.CreateAttr("ID", "_evil-response")
			evil.RemoveChild(evil.SelectElement("Signature"))
			evil.RemoveChild(evil.SelectElement("Assertion"))
			evil.AddChild(forge(t, p.assertion, "_evil-assertion"))
			insertBefore(evil, evil.SelectElement("Status"), p.resp.Copy())
			insertBefore(evil, evil.SelectElement("Status"), p.respSig.Copy())
			p.doc.SetRoot(evil)
			return 1
		}},
		// XSW3: the forged assertion first, the signed one after it.
		{"XSW3ForgedAssertionFirst", func(t *testing.T, p xswParts) int {
			p.resp.RemoveChild(p.respSig)
			insertBefore(p.resp, p.assertion, forge(t, p.assertion, "_evil-assertion"))
			return 1
		}},
		// XSW4: the forged assertion wraps the signed one.
		{"XSW4SignedAssertionInsideForged", func(t *testing.T, p xswParts) int {
			p.resp.RemoveChild(p.respSig)
			evil := forge(t, p.assertion, "_evil-assertion")
			p.resp.RemoveChild(p.assertion)
			evil.AddChild(p.assertion)
			p.resp.AddChild(evil)
			return 1
		}},
		// XSW5: the forged assertion carries the original signature (which
		// references the original ID); the original, unsigned, follows.
		{"XSW5SignatureMovedToForged", func(t *testing.T, p xswParts) int {
			p.resp.RemoveChild(p.respSig)
			evil := forge(t, p.assertion, "_evil-assertion")
			p.assertion.RemoveChild(p.assertSig)
			evil.InsertChildAt(p.assertion.SelectElement("Subject").Index(), p.assertSig)
			insertBefore(p.resp, p.assertion, evil)
			return 1
		}},
		// XSW6: the original assertion inside the signature the forged one
		// carries.
		{"XSW6SignedAssertionInsideForgedSignature", func(t *testing.T, p xswParts) int {
			p.resp.RemoveChild(p.respSig)
			evil := forge(t, p.assertion, "_evil-assertion")
			p.resp.RemoveChild(p.assertion)
			sig := p.assertSig.Copy()
			p.assertion.RemoveChild(p.assertSig)
			p.assertion.InsertChildAt(p.assertion.SelectElement("Subject").Index(), p.assertSig)
			sig.AddChild(p.assertion)
			evil.InsertChildAt(evil.SelectElement("Subject").Index(), sig)
			p.resp.AddChild(evil)
			return 1
		}},
		// XSW7: the signed assertion moved into an Extensions element, the
		// forged one in its place.
		{"XSW7SignedAssertionInExtensions", func(t *testing.T, p xswParts) int {
			p.resp.RemoveChild(p.respSig)
			ext := etree.NewElement("samlp:Extensions")
			p.resp.RemoveChild(p.assertion)
			ext.AddChild(p.assertion)
			insertBefore(p.resp, p.resp.SelectElement("Status"), ext)
			p.resp.AddChild(forge(t, p.assertion, "_evil-assertion"))
			return 1
		}},
		// XSW8: the forged assertion carries the original signature, with
		// the original assertion (unsigned) inside a ds:Object in it.
		{"XSW8SignedAssertionInSignatureObject", func(t *testing.T, p xswParts) int {
			p.resp.RemoveChild(p.respSig)
			evil := forge(t, p.assertion, "")
			p.resp.RemoveChild(p.assertion)
			p.assertion.RemoveChild(p.assertSig)
			obj := etree.NewElement("ds:Object")
			obj.AddChild(p.assertion)
			p.assertSig.AddChild(obj)
			evil.InsertChildAt(evil.SelectElement("Subject").Index(), p.assertSig)
			p.resp.AddChild(evil)
			return 1
		}},
		// Duplicated IDs: a forged assertion with the signed one's ID,
		// before it and after it.
		{"DuplicateIDForgedBefore", func(t *testing.T, p xswParts) int {
			p.resp.RemoveChild(p.respSig)
			insertBefore(p.resp, p.assertion, forge(t, p.assertion, ""))
			return 1
		}},
		{"DuplicateIDForgedAfter", func(t *testing.T, p xswParts) int {
			p.resp.RemoveChild(p.respSig)
			p.resp.AddChild(forge(t, p.assertion, ""))
			return 1
		}},
		// The response signature kept (its digest now fails) with a forged
		// assertion added as the Response's first child.
		{"ResponseSignedForgedFirstChild", func(t *testing.T, p xswParts) int {
			p.resp.InsertChildAt(0, forge(t, p.assertion, "_evil-assertion"))
			return 1
		}},
		// The forged assertion replaces the signed one, the response's
		// signature kept.
		{"ResponseSignedAssertionReplaced", func(t *testing.T, p xswParts) int {
			evil := forge(t, p.assertion, "")
			evil.InsertChildAt(evil.SelectElement("Subject").Index(), p.assertSig.Copy())
			insertBefore(p.resp, p.assertion, evil)
			p.resp.RemoveChild(p.assertion)
			return 1
		}},
	}
	plaintext := func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
		t.Helper()
		f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{Plaintext: true})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	refused := func(t *testing.T, b *browser, f saml.IdpAuthnRequestForm) {
		t.Helper()
		before := strings.Count(e.logs.String(), "sign-in refused")
		p := b.postResponse(f)
		if p.status == http.StatusSeeOther && b.cookie("carerecord_session") != "" {
			s, err := e.db.SessionByToken(context.Background(), sessionToken(t, e, b))
			if err != nil {
				t.Fatal(err)
			}
			if s.UserID != "555000000001" {
				t.Fatalf("signed in as %s through a wrapped assertion, want refused", s.UserID)
			}
			t.Fatal("a response holding a forged assertion beside the genuinely signed one was accepted as the signed one's user; it must be refused")
		}
		if p.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403 (Location %q)", p.status, p.header.Get("Location"))
		}
		if b.cookie("carerecord_session") != "" {
			t.Fatal("a refused sign-in set a session cookie")
		}
		if n := strings.Count(e.logs.String(), "sign-in refused"); n != before+1 {
			t.Fatalf("%d new sign-in refused log lines, want 1", n-before)
		}
		line := lastLine(e.logs.String(), "sign-in refused")
		// Every variant fails on a signature: missing, not covering the
		// element, or not matching.
		if !strings.Contains(line, `"reason":"The sign-in response from your identity provider could not be verified.`) ||
			!strings.Contains(strings.ToLower(line), "signature") {
			t.Fatalf("the log does not say why: %s", line)
		}
		if p := b.get("/patients"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/saml/login") {
			t.Fatalf("after refusal /patients: status %d, want a redirect to sign-in", p.status)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			refused(t, b, editResponse(t, plaintext(t, b), func(doc *etree.Document) int {
				return tc.edit(t, xswSplit(t, doc))
			}))
		})
	}
	t.Run("ForgedPlaintextBesideEncrypted", func(t *testing.T) {
		// The attacker cannot read an encrypted assertion but can add a
		// plaintext one beside it.
		b := e.browser()
		redirect := b.authnRedirect("/patients")
		enc, err := e.idp.Respond(redirect, "clinician", devidp.RespondOptions{})
		if err != nil {
			t.Fatal(err)
		}
		plain, err := e.idp.Respond(redirect, "clinician", devidp.RespondOptions{Plaintext: true})
		if err != nil {
			t.Fatal(err)
		}
		var evil *etree.Element
		editResponse(t, plain, func(doc *etree.Document) int {
			evil = forge(t, xswSplit(t, doc).assertion, "_evil-assertion")
			return 1
		})
		refused(t, b, editResponse(t, enc, func(doc *etree.Document) int {
			ea := doc.Root().SelectElement("EncryptedAssertion")
			if ea == nil {
				t.Fatal("the ordinary response has no EncryptedAssertion")
			}
			insertBefore(doc.Root(), ea, evil)
			return 1
		}))
	})
	t.Run("ControlOnlyAssertionSigned", func(t *testing.T) {
		// Without the response's signature the signed assertion alone is
		// enough, so the assertion-level variants above are real attacks.
		b := e.browser()
		f := editResponse(t, plaintext(t, b), func(doc *etree.Document) int {
			p := xswSplit(t, doc)
			p.resp.RemoveChild(p.respSig)
			return 1
		})
		p := b.postResponse(f)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/patients" {
			t.Skipf("a response signed only on its assertion is refused too (status %d): the assertion-level variants are refused for that reason alone", p.status)
		}
	})
	if strings.Contains(e.logs.String(), `"user":"`+forgedUserID+`"`) {
		t.Fatal("a request ran as the forged user")
	}
}

// canReach reports whether the actor's permissions let it through to the
// route's handler (the policy as routes_test.go writes it out).
func canReach(a actor, r web.Route) bool {
	switch {
	case r.Perm == web.PermPublic:
		return true
	case !a.signedIn():
		return false
	case a.patient || r.Perm == web.PermPatient:
		return slices.Contains(a.perms, r.Perm)
	case r.Perm == web.PermSignedIn:
		return true
	case !a.roleChosen():
		return false
	default:
		return r.Perm == web.PermAnyRole || slices.Contains(a.perms, r.Perm)
	}
}

// csrfRefusals are the titles of the two CSRF refusals: no or a wrong
// token, and a request from another site.
var csrfRefusals = []string{"This form has expired", "This request came from another website"}

// TestCSRFEveryRoute sends every state-changing route in the route table,
// as every actor that can reach it, a request with no token, a wrong
// token, and a valid token from another site, and expects each refused
// as a CSRF failure with nothing changed.
func TestCSRFEveryRoute(t *testing.T) {
	e := newEnv(t, withOIDC(), withTrustedEPR(), withNHSLogin())
	exempt := web.CSRFExempt()
	want := []string{"POST /saml/acs", "POST /saml/slo", "POST /oidc/backchannel-logout", "POST /devidp/oidc/oauth/token",
		"POST /devidp/nhslogin/oauth/token"}
	ok := len(exempt) == len(want)
	for _, k := range want {
		ok = ok && exempt[k] != ""
	}
	if !ok {
		t.Fatalf("the CSRF exemption list is %v, want exactly %v, each with its reason", exempt, want)
	}
	var routes []web.Route
	for _, r := range e.srv.Routes() {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			continue
		}
		if _, ok := exempt[r.Method+" "+r.Path]; !ok {
			routes = append(routes, r)
		}
	}
	if len(routes) < 5 {
		t.Fatalf("only %d state-changing routes: the route table was not read", len(routes))
	}
	checked := map[string]int{}
	for _, a := range actors {
		t.Run(a.name, func(t *testing.T) {
			b := e.browser()
			a.signInWith(t, e, b)
			tok := b.csrf()
			foreign := "https://evil.example"
			variants := []struct {
				name   string
				form   url.Values
				header http.Header
			}{
				{"NoToken", url.Values{}, nil},
				{"WrongToken", url.Values{"csrf_token": {otherFirst(tok)}}, nil},
				{"CrossSite", url.Values{"csrf_token": {tok}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
				{"ForeignOrigin", url.Values{"csrf_token": {tok}}, http.Header{"Origin": {foreign}}},
				{"CrossSiteTokenInHeader", url.Values{}, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {foreign}, "X-Csrf-Token": {tok}}},
			}
			for _, r := range routes {
				if !canReach(a, r) {
					continue
				}
				checked[r.Method+" "+r.Path]++
				for _, v := range variants {
					b.header = v.header
					p := b.post(samplePath(r.Path), v.form)
					b.header = http.Header{}
					if p.status != http.StatusForbidden || !slices.Contains(csrfRefusals, p.h1()) {
						t.Errorf("%s %s %s: status %d %q, want 403 with a CSRF refusal", v.name, r.Method, r.Path, p.status, p.h1())
					}
				}
			}
			// Nothing refused changed anything: still signed in, in the
			// same role.
			if a.roleChosen() {
				if p := b.get("/home"); p.status != http.StatusSeeOther || strings.HasPrefix(p.header.Get("Location"), "/saml/login") {
					t.Errorf("after the refused requests /home: status %d to %q, want the role's home", p.status, p.header.Get("Location"))
				}
			}
		})
	}
	for _, r := range routes {
		if checked[r.Method+" "+r.Path] == 0 {
			t.Errorf("%s %s: no actor reaches it, so its CSRF check went untested", r.Method, r.Path)
		}
	}
}

// TestNoStoreOnPatientAndAuditPages checks the security headers and
// Cache-Control: no-store where TestSecurityHeaders cannot reach: the
// record and its sub-pages once a reason is given, the IG pages with real
// audit data and exports, and error pages of every kind.
func TestNoStoreOnPatientAndAuditPages(t *testing.T) {
	opt, _ := withSources(t, nil, 3*time.Second)
	e := newEnv(t, opt)
	nhs := synthetic.RichNHSNumber
	clin := e.browser()
	clin.signIn("/saml/login", "clinician")
	clin.giveReason(nhs, "direct-care", "")

	get := func(t *testing.T, b *browser, path string, status int) *page {
		t.Helper()
		p := b.get(path)
		if p.status != status {
			t.Fatalf("GET %s: status %d, want %d", path, p.status, status)
		}
		checkHeaders(t, "GET "+path, p.header, false)
		return p
	}
	t.Run("RecordPagesWithReason", func(t *testing.T) {
		rec := get(t, clin, "/patients/"+nhs, http.StatusOK)
		if find(rec.doc, "li", "data-testid", "entry") == nil {
			t.Fatal("the record page shows no entries: not the page with patient data")
		}
		get(t, clin, "/patients/"+nhs+"/live", http.StatusOK)
		res := get(t, clin, "/patients/"+nhs+"/results", http.StatusOK)
		var trend, doc string
		for _, a := range findAll(res.doc, "a", "", "") {
			if h := attr(a, "href"); strings.Contains(h, "/trend?") && trend == "" {
				trend = h
			}
		}
		for _, a := range findAll(get(t, clin, "/patients/"+nhs+"?kind=document", http.StatusOK).doc, "a", "", "") {
			if h := attr(a, "href"); strings.Contains(h, "/document?") && doc == "" {
				doc = h
			}
		}
		if trend == "" || doc == "" {
			t.Fatalf("no trend (%q) or document (%q) link to check", trend, doc)
		}
		get(t, clin, trend, http.StatusOK)
		get(t, clin, doc, http.StatusOK)
		p := clin.post("/patients/"+nhs+"/refresh", url.Values{"csrf_token": {clin.csrf()}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("refresh: status %d, want 303 back to the record", p.status)
		}
		checkHeaders(t, "POST refresh", p.header, false)
		// A search by NHS number goes on to the record (a reason was
		// given); one by name lists the patient.
		get(t, clin, "/patients?nhs="+nhs, http.StatusSeeOther)
		get(t, clin, "/patients?family=smith&dob-day=12&dob-month=3&dob-year=1965", http.StatusOK)
	})
	t.Run("IGPages", func(t *testing.T) {
		ig := e.browser()
		ig.signIn("/saml/login", "igofficer")
		for _, path := range []string{"/ig", "/ig/audit", "/ig/audit?nhs=" + nhs,
			"/ig/patients/" + nhs, "/ig/users/555000000001", "/ig/alerts"} {
			p := get(t, ig, path, http.StatusOK)
			if path == "/ig/patients/"+nhs && !strings.Contains(p.body, "555000000001") {
				t.Fatal("the patient access page does not show the clinician's access: not the page with audit data")
			}
		}
		who := ig.get("/ig/who?nhs=" + nhs)
		checkHeaders(t, "GET /ig/who", who.header, false)
		if loc := who.header.Get("Location"); who.status != http.StatusSeeOther || loc != "/ig/patients/"+nhs {
			t.Errorf("/ig/who: status %d to %q, want 303 to the patient's access page", who.status, loc)
		}
		for _, format := range []string{"csv", "fhir"} {
			p := ig.get("/ig/audit/export/" + format)
			if p.status != http.StatusOK || !strings.Contains(p.body, nhs) {
				t.Fatalf("%s export: status %d, or it lacks the audited access", format, p.status)
			}
			checkHeaders(t, "export "+format, p.header, false)
			if !strings.HasPrefix(p.header.Get("Content-Disposition"), "attachment") {
				t.Errorf("%s export: Content-Disposition %q, want an attachment", format, p.header.Get("Content-Disposition"))
			}
		}
	})
	t.Run("ErrorPages", func(t *testing.T) {
		anon := e.browser()
		clerk := e.browser()
		clerk.signIn("/saml/login", "clerk")
		clerk.giveReason(nhs, "care-admin", "")
		cases := []struct {
			name   string
			b      *browser
			method string
			path   string
			status int
		}{
			{"BadRequest", clin, http.MethodGet, "/patients?nhs=9990000019", http.StatusBadRequest},
			{"BadNHSNumberInPath", clin, http.MethodGet, "/patients/9990000019", http.StatusNotFound},
			{"Forbidden", clin, http.MethodGet, "/ig/audit", http.StatusForbidden},
			{"ForbiddenClinicalToClerk", clerk, http.MethodGet, "/patients/" + nhs + "/results", http.StatusForbidden},
			{"NotFound", clin, http.MethodGet, "/patients/" + nhs + "/no-such-page", http.StatusNotFound},
			{"DocumentNotFound", clin, http.MethodGet, "/patients/" + nhs + "/document?entry=nothing", http.StatusNotFound},
			{"Unauthorized", anon, http.MethodPost, "/signout", http.StatusUnauthorized},
			{"CSRFRefused", clin, http.MethodPost, "/patients/" + nhs + "/refresh", http.StatusForbidden},
			{"TooLarge", anon, http.MethodPost, "/saml/acs", http.StatusRequestEntityTooLarge},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var form url.Values
				if tc.method == http.MethodPost {
					form = url.Values{"csrf_token": {tc.b.csrf()}}
					if tc.name == "CSRFRefused" {
						form = url.Values{}
					}
					if tc.name == "TooLarge" {
						form = url.Values{"SAMLResponse": {strings.Repeat("A", 2<<20)}}
					}
				}
				p := tc.b.do(tc.method, tc.path, form)
				if p.status != tc.status {
					t.Fatalf("status %d, want %d", p.status, tc.status)
				}
				checkHeaders(t, tc.name, p.header, false)
			})
		}
	})
}

// otherFirst returns tok with a different first character: a wrong token
// that is surely wrong (a fixed replacement letter would equal the real
// one whenever the token happens to start with it).
func otherFirst(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}

// resignAssertion re-signs the response's assertion after edit, with the
// development IdP's key and crewjam/saml's own signing settings, and drops
// the response's signature: the result is a response the IdP could have
// sent, signed on its assertion alone (ControlOnlyAssertionSigned in
// TestSignatureWrappingRefused shows that is accepted).
func resignAssertion(t *testing.T, doc *etree.Document, edit func(a *etree.Element) int) int {
	t.Helper()
	p := xswSplit(t, doc)
	p.resp.RemoveChild(p.respSig)
	p.assertion.RemoveChild(p.assertSig)
	n := edit(p.assertion)
	ks := dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{idpCert.Raw}, PrivateKey: idpKey, Leaf: idpCert})
	sc := dsig.NewDefaultSigningContext(ks)
	sc.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := sc.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		t.Fatal(err)
	}
	signed, err := sc.SignEnveloped(p.assertion)
	if err != nil {
		t.Fatal(err)
	}
	// goxmldsig appends the Signature (without setting its parent); the
	// schema puts it right after the Issuer, where there is one.
	sig := signed.Child[len(signed.Child)-1].(*etree.Element)
	signed.Child = signed.Child[:len(signed.Child)-1]
	at := 0
	if iss := signed.SelectElement("Issuer"); iss != nil {
		at = iss.Index() + 1
	}
	signed.InsertChildAt(at, sig)
	p.resp.RemoveChild(p.assertion)
	insertBefore(p.resp, nil, signed)
	return n + 1
}

// GO-2026-6909 (crewjam/saml v0.5.1, no fixed release): a signed assertion
// without an Issuer made the library panic after verifying the signature,
// and a NameID in a foreign namespace was read as the Subject's NameID.
// web refuses both before the library parses the response.
func TestSAMLGuard(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name    string
		respond func(t *testing.T, b *browser) saml.IdpAuthnRequestForm
		why     string // in the sign-in refused log line; "" for accepted
	}{
		{"EncryptedAssertionWithEmptyIssuerRefused", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{
				Mutate: func(a *saml.Assertion) { a.Issuer = saml.Issuer{} }})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(decodeResponse(t, f), "EncryptedAssertion") {
				t.Fatal("the response is not encrypted")
			}
			return f
		}, "Issuer is \\\"\\\""},
		{"AssertionWithoutIssuerRefused", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{Plaintext: true})
			if err != nil {
				t.Fatal(err)
			}
			return editResponse(t, f, func(doc *etree.Document) int {
				return resignAssertion(t, doc, func(a *etree.Element) int {
					a.RemoveChild(a.SelectElement("Issuer"))
					return 1
				})
			})
		}, "no saml:Issuer"},
		// v0.5.1 dereferences Subject and Conditions unchecked too: signed
		// assertions without them panicked the same way.
		{"EncryptedAssertionWithoutSubjectRefused", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{
				Mutate: func(a *saml.Assertion) { a.Subject = nil }})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, "no saml:Subject"},
		{"EncryptedAssertionWithoutConditionsRefused", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{
				Mutate: func(a *saml.Assertion) { a.Conditions = nil }})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, "no saml:Conditions"},
		{"IssuerOfAnotherEntityRefused", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{Plaintext: true,
				Mutate: func(a *saml.Assertion) { a.Issuer.Value = "https://evil.example/idp" }})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, "evil.example"},
		{"ForeignNamespaceNameIDRefused", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{Plaintext: true})
			if err != nil {
				t.Fatal(err)
			}
			return editResponse(t, f, func(doc *etree.Document) int {
				return resignAssertion(t, doc, func(a *etree.Element) int {
					subj := a.SelectElement("Subject")
					nid := subj.SelectElement("NameID")
					subj.RemoveChild(nid)
					evil := etree.NewElement("x:NameID")
					evil.CreateAttr("xmlns:x", "urn:example:not-saml")
					evil.SetText(forgedUserID)
					subj.InsertChildAt(0, evil)
					return 1
				})
			})
		}, "namespace"},
		{"NameIDWithForeignFormatRefused", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{Plaintext: true})
			if err != nil {
				t.Fatal(err)
			}
			return editResponse(t, f, func(doc *etree.Document) int {
				return resignAssertion(t, doc, func(a *etree.Element) int {
					a.SelectElement("Subject").SelectElement("NameID").CreateAttr("Format", "urn:example:evil-format")
					return 1
				})
			})
		}, "format"},
		// The control: re-signing alone is accepted, so the refusals above
		// are for what was changed.
		{"ControlResignedAccepted", func(t *testing.T, b *browser) saml.IdpAuthnRequestForm {
			f, err := e.idp.Respond(b.authnRedirect("/patients"), "clinician", devidp.RespondOptions{Plaintext: true})
			if err != nil {
				t.Fatal(err)
			}
			return editResponse(t, f, func(doc *etree.Document) int {
				return resignAssertion(t, doc, func(*etree.Element) int { return 0 })
			})
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			f := tc.respond(t, b)
			before := strings.Count(e.logs.String(), "sign-in refused")
			p := b.postResponse(f)
			if tc.why == "" {
				if p.status != http.StatusSeeOther || p.header.Get("Location") != "/patients" {
					t.Fatalf("status %d Location %q, want 303 to /patients: %s", p.status, p.header.Get("Location"), lastLine(e.logs.String(), "sign-in refused"))
				}
				return
			}
			if p.status != http.StatusForbidden {
				t.Fatalf("status %d, want 403 (a panic shows as 500)", p.status)
			}
			if b.cookie("carerecord_session") != "" {
				t.Fatal("a refused sign-in set a session cookie")
			}
			if n := strings.Count(e.logs.String(), "sign-in refused"); n != before+1 {
				t.Fatalf("%d new sign-in refused log lines, want 1", n-before)
			}
			if line := lastLine(e.logs.String(), "sign-in refused"); !strings.Contains(line, tc.why) {
				t.Fatalf("the log does not say %q: %s", tc.why, line)
			}
		})
	}
	if strings.Contains(e.logs.String(), "panic") {
		t.Fatal("a crafted response made the server panic")
	}
}

func decodeResponse(t *testing.T, f saml.IdpAuthnRequestForm) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(f.SAMLResponse)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestEchoMiddlewareNotAffected backs .ci/vuln-allow.txt: echo v4's
// GO-2026-6872 (middleware.RateLimiter's default identifier trusts
// X-Forwarded-For) and GO-2026-6875 (middleware.Proxy forwards X-Real-IP)
// have no fixed release and are allowed because carerecord uses neither.
// It fails when any program in the module starts using echo middleware
// beyond what was reviewed.
func TestEchoMiddlewareNotAffected(t *testing.T) {
	const mw = "github.com/labstack/echo/v4/middleware"
	reviewed := map[string]bool{"BodyLimit": true}
	used := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if strings.Trim(imp.Path.Value, `"`) != mw {
				continue
			}
			name := "middleware"
			if imp.Name != nil {
				name = imp.Name.Name
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == name {
						used[sel.Sel.Name] = true
						if !reviewed[sel.Sel.Name] {
							t.Errorf("%s uses %s.%s: check it against echo's advisories (GO-2026-6872, GO-2026-6875 affect Proxy and RateLimiter) and .ci/vuln-allow.txt", fset.Position(sel.Pos()), mw, sel.Sel.Name)
						}
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !used["BodyLimit"] {
		t.Fatal("found no use of middleware.BodyLimit: the walk missed web/server.go")
	}
}

// asHTTPS lets a client believe it speaks https to the loopback test
// server (so its cookie jar keeps and sends Secure cookies as a browser
// would) while the bytes go over plain http.
type asHTTPS struct{}

func (asHTTPS) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme = "http"
	return http.DefaultTransport.RoundTrip(r)
}

// The session cookie carries the __Host- prefix over https (Secure,
// Path=/, no Domain: what browsers demand of that prefix) and keeps its
// plain name on loopback http, where a __Host- cookie would be refused.
func TestSessionCookieName(t *testing.T) {
	tests := []struct {
		name   string
		https  bool
		cookie string
	}{
		{"HostPrefixOverHTTPS", true, "__Host-carerecord_session"},
		{"PlainNameOnLoopbackHTTP", false, "carerecord_session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base *url.URL
			e := newEnv(t, withConfig(func(c *web.Config) {
				u := *c.BaseURL
				if tt.https {
					u.Scheme = "https"
				}
				base = &u
				c.BaseURL = base
			}))
			e.base = base
			b := e.browser()
			b.c.Transport = asHTTPS{}
			posted := b.follow(b.get("/saml/login?return=/patients"))
			form := posted.form(t, "form[action='/devidp/sso']")
			form.Set("username", "clinician")
			form.Set("password", "demo")
			idp := b.post("/devidp/sso", form)
			acs := b.post(idp.formAction(t, "form[data-auto-submit]"), idp.form(t, "form[data-auto-submit]"))
			if acs.status != http.StatusSeeOther {
				t.Fatalf("sign-in: status %d", acs.status)
			}
			var got *http.Cookie
			for _, c := range (&http.Response{Header: acs.header}).Cookies() {
				if strings.HasSuffix(c.Name, "carerecord_session") {
					got = c
				}
			}
			if got == nil || got.Name != tt.cookie {
				t.Fatalf("session cookie %+v, want one named %s", got, tt.cookie)
			}
			if got.Path != "/" || got.Domain != "" || !got.HttpOnly || got.Secure != tt.https {
				t.Fatalf("session cookie Path=%q Domain=%q HttpOnly=%v Secure=%v, want Path=/, no Domain, HttpOnly, Secure=%v",
					got.Path, got.Domain, got.HttpOnly, got.Secure, tt.https)
			}
			if p := b.get("/patients"); p.status != http.StatusOK {
				t.Fatalf("/patients after sign-in: status %d, want 200 (the cookie is read back)", p.status)
			}
		})
	}
}

// Return addresses an attacker tried: each is taken as "/" (so the user's
// home) or as a path on this site, never another host and never a panic
// (GET /saml/login with the second one used to answer 500).
func TestReturnPathsStayOnSite(t *testing.T) {
	e := newEnv(t)
	for _, ret := range []string{"/%2Fevil.example/{", "%2F%252F%255Cevil.example%2F%7B", "/%2F%5Cevil.example/{", "/%5Cevil.example"} {
		t.Run(url.PathEscape(ret), func(t *testing.T) {
			b := e.browser()
			// The value as typed into the query string, undecoded, too.
			for _, q := range []string{"return=" + url.QueryEscape(ret), "return=" + ret} {
				if p := b.get("/saml/login?" + q); p.status != http.StatusFound {
					t.Fatalf("/saml/login?%s: status %d, want 302 to the IdP", q, p.status)
				}
			}
			p := b.signIn("/saml/login?return="+url.QueryEscape(ret), "clinician")
			if p.url.Host != e.base.Host || p.url.Path != "/patients" {
				t.Fatalf("landed on %s, want the clinician's home on this site", p.url)
			}
			roles := b.get("/roles?return=" + url.QueryEscape(ret))
			if v := attr(find(roles.doc, "input", "name", "return"), "value"); v != "/" {
				t.Fatalf("the role form carries return=%q, want \"/\"", v)
			}
		})
	}
}

// failWrites makes every write to the database file fail, as a failing
// disk would, from a connection of its own: a trigger on every table
// aborts every insert, update and delete. It returns the undo.
func failWrites(t *testing.T, path string) (undo func()) {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rows, err := conn.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var triggers []string
	for _, tb := range tables {
		for _, op := range []string{"INSERT", "UPDATE", "DELETE"} {
			name := "test_fail_" + strings.ToLower(op) + "_" + tb
			if _, err := conn.Exec(`CREATE TRIGGER "` + name + `" BEFORE ` + op + ` ON "` + tb + `" BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END`); err != nil {
				t.Fatal(err)
			}
			triggers = append(triggers, name)
		}
	}
	return func() {
		for _, n := range triggers {
			if _, err := conn.Exec(`DROP TRIGGER "` + n + `"`); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// When the database cannot be written, readiness fails, and the page a
// signed-in user gets is the clear 503 ("could not record this access,
// so it shows nothing"), even though the first write of the request is
// the session's last-seen time, not the audit log. Both recover when
// writes do.
func TestDatabaseCannotBeWritten(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if p := b.signIn("/patients", "clinician"); p.status != http.StatusOK {
		t.Fatalf("sign-in: status %d", p.status)
	}
	if p := b.get("/readyz"); p.status != http.StatusOK {
		t.Fatalf("/readyz before: status %d", p.status)
	}
	undo := failWrites(t, e.db.Path())

	t.Run("ReadyzFails", func(t *testing.T) {
		p := b.get("/readyz")
		if p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "cannot be written") {
			t.Fatalf("/readyz with writes failing: status %d %q, want 503 saying the database cannot be written", p.status, p.body)
		}
	})
	t.Run("SessionWriteFirstGivesNotRecordedPage", func(t *testing.T) {
		e.clock.Advance(time.Minute) // the session's last-seen time is due a write
		p := b.get("/patients")
		if p.status != http.StatusServiceUnavailable {
			t.Fatalf("/patients with writes failing: status %d, want 503", p.status)
		}
		if text := bodyText(p.doc); !strings.Contains(text, "could not record this access") || !strings.Contains(text, "shows nothing") {
			t.Fatalf("the page does not say the access cannot be recorded: %q", text)
		}
	})
	undo()
	t.Run("Recovers", func(t *testing.T) {
		if p := b.get("/readyz"); p.status != http.StatusOK {
			t.Fatalf("/readyz after: status %d", p.status)
		}
		if p := b.get("/patients"); p.status != http.StatusOK {
			t.Fatalf("/patients after: status %d", p.status)
		}
	})
}

// The objection form's global limit stops a flood from many addresses
// that the per-address limit alone lets through, and the IG objection
// queue says when it turned forms away, how many, and the limit.
func TestObjectionGlobalLimit(t *testing.T) {
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	e := newEnv(t, withConfig(func(c *web.Config) {
		c.ObjectionLimits = web.ObjectionLimits{PerAddress: 2, Global: 3, Window: time.Hour}
		c.TrustedProxies = []*net.IPNet{loopback} // so each browser below is its own address
	}))
	from := func(addr string) *browser {
		b := e.browser()
		b.header.Set("X-Forwarded-For", addr)
		return b
	}
	a, bb, c := from("192.0.2.1"), from("192.0.2.2"), from("192.0.2.3")
	a.submitObjection(a.objectionForm())
	a.submitObjection(a.objectionForm())
	if p := a.post("/objection/form", a.objectionForm()); p.status != http.StatusTooManyRequests || !strings.Contains(p.h1(), "too many") {
		t.Fatalf("third form from one address: status %d %q, want the per-address 429", p.status, p.h1())
	}
	bb.submitObjection(bb.objectionForm())
	for i, b := range []*browser{c, from("192.0.2.4")} {
		p := b.post("/objection/form", b.objectionForm())
		if p.status != http.StatusTooManyRequests || p.h1() != "We cannot accept more forms just now" {
			t.Fatalf("form %d from a new address past the global limit: status %d %q, want the global 429", i+1, p.status, p.h1())
		}
	}
	if n := countCases(t, e); n != 3 {
		t.Fatalf("%d cases stored, want 3 (the global limit)", n)
	}
	if !strings.Contains(e.logs.String(), `"why":"global rate limit"`) {
		t.Fatal("the global refusal is not logged")
	}

	ig := e.browser()
	p := ig.signIn("/ig/objections", "igofficer")
	notice := find(p.doc, "div", "data-testid", "form-flood")
	if notice == nil {
		t.Fatal("the objection queue does not say the global limit turned forms away")
	}
	got := text(notice)
	for _, want := range []string{"turned away 2 forms", "on 10-Mar-2026 from 10:00 to 10:00", "at most 3 forms an hour from everyone together"} {
		if !strings.Contains(got, want) {
			t.Errorf("the notice does not say %q: %q", want, got)
		}
	}

	e.clock.Advance(61 * time.Minute)
	c.submitObjection(c.objectionForm())
	if n := countCases(t, e); n != 4 {
		t.Fatalf("%d cases after the window, want 4", n)
	}
}
