package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
)

var refRE = regexp.MustCompile(`CR-[34679ACDEFGHJKMNPQRTUVWXY]{4}-[34679ACDEFGHJKMNPQRTUVWXY]{4}`)

// objectionForm is a complete, valid form for the synthetic patient
// Oliver Brackenbury, as the form page would post it.
func (b *browser) objectionForm() url.Values {
	b.e.t.Helper()
	p := b.get("/objection/form")
	if p.status != http.StatusOK {
		b.e.t.Fatalf("form: status %d", p.status)
	}
	v := p.form(b.e.t, "form[action='/objection/form']")
	v.Set("kind", "object")
	v.Set("on-behalf", "no")
	v.Set("full-name", "Oliver James Brackenbury")
	v.Set("dob-day", "23")
	v.Set("dob-month", "8")
	v.Set("dob-year", "1978")
	v.Set("nhs", "999 000 0026")
	v.Set("address", "7 Example Street\r\nLondon")
	v.Set("postcode", "sw94zz")
	v.Set("contact", "oliver@example.com")
	v.Set("reason", "I would rather my records stayed with my GP.")
	v.Set("declaration", "yes")
	return v
}

// submit posts the form and returns the reference from the confirmation.
func (b *browser) submitObjection(v url.Values) (string, *page) {
	b.e.t.Helper()
	p := b.post("/objection/form", v)
	if p.status != http.StatusSeeOther {
		b.e.t.Fatalf("submit: status %d, want 303: %s %s", p.status, p.h1(), text(find(p.doc, "div", "class", "nhsuk-error-summary")))
	}
	done := b.follow(p)
	ref := text(find(done.doc, "strong", "data-testid", "objection-ref"))
	if !refRE.MatchString(ref) || len(ref) != 12 {
		b.e.t.Fatalf("reference %q is not CR-XXXX-XXXX", ref)
	}
	return ref, done
}

func countCases(t *testing.T, e *env) int {
	t.Helper()
	open, err := e.db.OpenCases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(open)
}

func TestObjectionPublicPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	start := b.get("/objection")
	if start.status != http.StatusOK || start.h1() != "Object to sharing your care record" {
		t.Fatalf("start page: %d %q", start.status, start.h1())
	}
	body := text(start.doc)
	for _, want := range []string{"carerecord", "may affect your care", "talk to your GP", "What happens next", "reference number"} {
		if !strings.Contains(body, want) {
			t.Errorf("start page does not say %q", want)
		}
	}
	if attr(find(start.doc, "a", "role", "button"), "href") != "/objection/form" {
		t.Error("no Start now button to the form")
	}
	// What the page promises about emergencies follows the configuration:
	// override is off by default, so staff cannot see the record even then.
	if got := text(find(start.doc, "p", "data-testid", "emergency-override")); !strings.Contains(got, "even to keep you safe") || strings.Contains(got, "may still be able") {
		t.Errorf("with emergency override off, the start page says %q", got)
	}
	on := newEnv(t, withConfig(func(c *web.Config) { c.AllowObjectionOverride = true })).browser().get("/objection")
	if got := text(find(on.doc, "p", "data-testid", "emergency-override")); !strings.Contains(got, "may still be able to see your record") {
		t.Errorf("with emergency override on, the start page says %q", got)
	}
	form := b.get("/objection/form")
	if n := len(findAll(form.doc, "h1", "", "")); n != 1 {
		t.Errorf("form page has %d h1, want 1", n)
	}
	// Every visible input has a label; the honeypot is hidden from people.
	for _, in := range findAll(form.doc, "input", "", "") {
		id, typ := attr(in, "id"), attr(in, "type")
		if typ == "hidden" {
			continue
		}
		if find(form.doc, "label", "for", id) == nil {
			t.Errorf("input %q has no label", id)
		}
	}
	hp := find(form.doc, "input", "name", "website")
	if hp == nil || attr(hp, "tabindex") != "-1" || attr(hp, "autocomplete") != "off" ||
		attr(hp.Parent, "aria-hidden") != "true" || attr(hp.Parent, "class") != "app-honeypot" {
		t.Fatal("honeypot field missing or not hidden from keyboards and screen readers")
	}
	if find(form.doc, "input", "name", "csrf_token") == nil {
		t.Fatal("the public form carries no CSRF token")
	}
}

func TestObjectionValidation(t *testing.T) {
	e := newEnv(t)
	b := e.browser()

	t.Run("ErrEverythingMissing", func(t *testing.T) {
		p := b.post("/objection/form", url.Values{"csrf_token": {b.csrf()}})
		if p.status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", p.status)
		}
		var hrefs []string
		for _, a := range findAll(find(p.doc, "div", "class", "nhsuk-error-summary"), "a", "", "") {
			hrefs = append(hrefs, attr(a, "href"))
		}
		want := []string{"#kind-object", "#on-behalf-yes", "#full-name", "#dob-day", "#address", "#postcode", "#contact", "#declaration"}
		if strings.Join(hrefs, " ") != strings.Join(want, " ") {
			t.Fatalf("error summary links %v, want %v in page order", hrefs, want)
		}
		for _, h := range hrefs {
			if find(p.doc, "", "id", h[1:]) == nil {
				t.Errorf("summary links to %s, which is not on the page", h)
			}
		}
		if !strings.HasPrefix(text(find(p.doc, "title", "", "")), "Error: ") {
			t.Error("page title does not start with Error:")
		}
	})

	tests := []struct {
		name  string
		edit  func(url.Values)
		field string
		msg   string
	}{
		{"ErrNHSNumberCheckDigit", func(v url.Values) { v.Set("nhs", "999 000 0019") }, "nhs", "not a valid NHS number"},
		{"ErrNHSNumberShort", func(v url.Values) { v.Set("nhs", "99900") }, "nhs", "10 digits"},
		{"ErrImpossibleDate", func(v url.Values) { v.Set("dob-day", "31"); v.Set("dob-month", "2") }, "dob-day", "real date"},
		{"ErrFutureDate", func(v url.Values) { v.Set("dob-year", "2999") }, "dob-day", "in the past"},
		{"ErrPostcode", func(v url.Values) { v.Set("postcode", "not a postcode") }, "postcode", "real postcode"},
		{"ErrEmail", func(v url.Values) { v.Set("contact", "oliver@example") }, "contact", "correct format"},
		{"ErrPhone", func(v url.Values) { v.Set("contact", "123") }, "contact", "phone number"},
		{"ErrNameTooLong", func(v url.Values) { v.Set("full-name", strings.Repeat("a", 201)) }, "full-name", "200 characters or fewer"},
		{"ErrReasonTooLong", func(v url.Values) { v.Set("reason", strings.Repeat("a", 1001)) }, "reason", "1,000 characters or fewer"},
		{"ErrNoDeclaration", func(v url.Values) { v.Del("declaration") }, "declaration", "Confirm"},
		{"ErrKind", func(v url.Values) { v.Set("kind", "maybe") }, "kind-object", "Select whether"},
		{"ErrOnBehalfWithoutDetails", func(v url.Values) { v.Set("on-behalf", "yes") }, "submitter-name", "Enter your full name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := b.objectionForm()
			tt.edit(v)
			p := b.post("/objection/form", v)
			if p.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", p.status)
			}
			summary := find(p.doc, "div", "class", "nhsuk-error-summary")
			link := find(summary, "a", "href", "#"+tt.field)
			if link == nil || !strings.Contains(text(link), tt.msg) {
				t.Fatalf("summary %q has no link to #%s saying %q", text(summary), tt.field, tt.msg)
			}
			errID := tt.field + "-error"
			switch tt.field {
			case "kind-object":
				errID = "kind-error"
			case "dob-day":
				errID = "dob-error"
			}
			if own := find(p.doc, "span", "id", errID); own == nil || !strings.HasPrefix(text(own), "Error:") {
				t.Fatalf("no message at the field (%s) with a hidden Error: prefix", errID)
			}
			// What was typed is kept.
			if got := attr(find(p.doc, "input", "id", "contact"), "value"); got != v.Get("contact") {
				t.Fatalf("contact field lost its value: %q", got)
			}
		})
	}
	t.Run("OnBehalfNeedsAllThree", func(t *testing.T) {
		v := b.objectionForm()
		v.Set("on-behalf", "yes")
		p := b.post("/objection/form", v)
		for _, f := range []string{"submitter-name", "relationship", "authority"} {
			if find(find(p.doc, "div", "class", "nhsuk-error-summary"), "a", "href", "#"+f) == nil {
				t.Errorf("no error for %s", f)
			}
		}
		if c := attr(find(p.doc, "div", "id", "conditional-on-behalf-yes"), "class"); strings.Contains(c, "hidden") {
			t.Error("the on-behalf questions are hidden while they hold errors")
		}
	})
	if n := countCases(t, e); n != 0 {
		t.Fatalf("%d cases stored from forms with errors, want 0", n)
	}
	t.Run("OKOnBehalf", func(t *testing.T) {
		v := b.objectionForm()
		v.Set("on-behalf", "yes")
		v.Set("submitter-name", "Ada Brackenbury")
		v.Set("relationship", "Sister")
		v.Set("authority", "Lasting power of attorney for health and welfare")
		v.Set("nhs", "")
		v.Set("contact", "020 7946 0999")
		ref, _ := b.submitObjection(v)
		oc, err := e.db.CaseByRef(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		f := oc.Form
		if !f.OnBehalf || f.SubmitterName != "Ada Brackenbury" || f.Postcode != "SW9 4ZZ" || f.NHSNumber != "" ||
			f.Address != "7 Example Street\nLondon" || f.Kind != store.KindObject {
			t.Fatalf("stored form %+v", f)
		}
	})
}

func TestObjectionRefusals(t *testing.T) {
	t.Run("Honeypot", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		v := b.objectionForm()
		v.Set("website", "http://spam.example")
		p := b.post("/objection/form", v)
		if p.status != http.StatusBadRequest || p.h1() != "Sorry, we could not accept your form" {
			t.Fatalf("status %d %q", p.status, p.h1())
		}
		if n := countCases(t, e); n != 0 {
			t.Fatalf("%d cases stored from a bot", n)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, `"why":"honeypot"`) {
			t.Fatal("refusal not logged")
		}
		for _, pd := range []string{"Brackenbury", "Example Street", "oliver@example.com", "9990000026", "999 000 0026"} {
			if strings.Contains(logs, pd) {
				t.Fatalf("log holds personal data %q", pd)
			}
		}
	})
	t.Run("RateLimit", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		for range 5 {
			b.submitObjection(b.objectionForm())
		}
		p := b.post("/objection/form", b.objectionForm())
		if p.status != http.StatusTooManyRequests || !strings.Contains(p.h1(), "too many") {
			t.Fatalf("sixth form in the hour: status %d %q, want 429", p.status, p.h1())
		}
		if n := countCases(t, e); n != 5 {
			t.Fatalf("%d cases, want 5", n)
		}
		if !strings.Contains(e.logs.String(), `"why":"rate limit"`) {
			t.Fatal("refusal not logged")
		}
		// Forms with errors never count: a person correcting them is
		// told what is wrong, not that they have sent too many.
		if p := b.post("/objection/form", url.Values{"csrf_token": {b.csrf()}}); p.status != http.StatusBadRequest {
			t.Fatalf("form with errors after the limit: status %d, want 400", p.status)
		}
		e.clock.Advance(61 * time.Minute)
		b.submitObjection(b.objectionForm())
	})
	t.Run("TooLarge", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		v := b.objectionForm()
		v.Set("reason", strings.Repeat("a", 20<<10))
		p := b.post("/objection/form", v)
		if p.status != http.StatusRequestEntityTooLarge || p.h1() != "Sorry, we could not accept your form" {
			t.Fatalf("status %d %q, want 413 with a page", p.status, p.h1())
		}
		if n := countCases(t, e); n != 0 {
			t.Fatalf("%d cases stored from an oversized form", n)
		}
	})
	t.Run("NoCSRFToken", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		v := b.objectionForm()
		v.Del("csrf_token")
		if p := b.post("/objection/form", v); p.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", p.status)
		}
		if n := countCases(t, e); n != 0 {
			t.Fatalf("%d cases stored without a CSRF token", n)
		}
	})
}

// TestObjectionConfirmationDoesNotEnumerate: the confirmation says the
// same whoever the form was about, whether the patient exists, and
// whether they have objected before; and a reference is never looked up.
func TestObjectionConfirmationDoesNotEnumerate(t *testing.T) {
	opt, _ := withSources(t, nil, 3*time.Second)
	e := newEnv(t, opt)
	if err := e.db.SeedUpheldObjection(context.Background(), "9990000026", "demo"); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	known := b.objectionForm() // a patient the sources hold, with an objection in force
	unknown := b.objectionForm()
	unknown.Set("full-name", "Nobody Atall")
	unknown.Set("nhs", "")
	unknown.Set("kind", "withdraw")
	refA, pa := b.submitObjection(known)
	refB, pb := b.submitObjection(unknown)
	if refA == refB {
		t.Fatal("two submissions share a reference")
	}
	strip := func(p *page, ref string) string { return strings.ReplaceAll(p.body, ref, "REF") }
	if strip(pa, refA) != strip(pb, refB) {
		t.Fatal("confirmation pages differ between a known and an unknown patient")
	}
	never := b.get("/objection/done?ref=CR-3333-3333")
	if strip(never, "CR-3333-3333") != strip(pa, refA) {
		t.Fatal("a reference never issued gets a different page: references can be probed")
	}
	if p := b.get("/objection/done?ref=" + url.QueryEscape("<script>")); p.status != http.StatusNotFound {
		t.Fatalf("malformed reference: status %d, want 404", p.status)
	}
}

// TestObjectionEncryptedAtRest reads the database files' bytes after a
// submission through the web: the personal details are not there.
func TestObjectionEncryptedAtRest(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	v := b.objectionForm()
	v.Set("full-name", "Oliver Quillfeather Brackenbury")
	b.submitObjection(v)
	var raw []byte
	for _, suffix := range []string{"", "-wal"} {
		data, _ := os.ReadFile(e.db.Path() + suffix)
		raw = append(raw, data...)
	}
	if len(raw) == 0 {
		t.Fatal("no database bytes read")
	}
	for _, pd := range []string{"Quillfeather", "Example Street", "oliver@example.com", "9990000026", "rather my records"} {
		if strings.Contains(string(raw), pd) {
			t.Errorf("%q is in the database file in the clear", pd)
		}
	}
}
