package web

// Fuzz tests of the form parsers, which are unexported; and the one
// unexported value the external security tests need.

import (
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/views"
)

// CSRFExempt returns the documented CSRF exemption list, for the security
// tests in package web_test.
func CSRFExempt() map[string]string {
	return maps.Clone(csrfExempt)
}

// fuzzNow is a fixed "today" so that the corpus means the same every run.
var fuzzNow = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// FuzzParseSearch: the search form parser never panics; every error names
// a field and says something; an NHS number that fails its check never
// reaches a query; and an accepted form is a query the connectors accept.
func FuzzParseSearch(f *testing.F) {
	f.Add("999 000 0018", "", "", "", "", "", "", "")
	f.Add("9990000019", "", "", "", "", "", "", "")
	f.Add("", "Smith", "Jane", "12", "3", "1965", "female", "SE5 9ZZ")
	f.Add("", "Smith", "", "31", "2", "1965", "", "")
	f.Add("", "", "", "", "", "", "", "")
	f.Add(" ", "O'Brien-Smith", "", "1", "1", "3000", "other", "")
	f.Add("", "smith", "", "-1", "13", "99999999999999999999", "x", "SW1A 1AA EXTRA")
	f.Fuzz(func(t *testing.T, nhs, family, given, day, month, year, gender, postcode string) {
		// As showPatientSearch fills the form from the query string.
		form := &views.SearchForm{NHS: nhs, Family: strings.TrimSpace(family), Given: strings.TrimSpace(given),
			Day: day, Month: month, Year: year, Gender: gender, Postcode: strings.TrimSpace(postcode)}
		q, errs := parseSearch(form, fuzzNow)
		for _, e := range errs {
			if e.Field == "" || e.Message == "" {
				t.Fatalf("an error without a field or message: %+v", e)
			}
		}
		if q.NHSNumber != "" {
			n, err := connectors.ParseNHSNumber(q.NHSNumber)
			if err != nil || n != q.NHSNumber {
				t.Fatalf("query holds NHS number %q, which does not pass its check (%v)", q.NHSNumber, err)
			}
			if len(errs) > 0 {
				t.Fatalf("an NHS number query beside errors %v", errs)
			}
		}
		if _, err := connectors.ParseNHSNumber(nhs); strings.TrimSpace(nhs) != "" && err != nil && len(errs) == 0 {
			t.Fatalf("the NHS number %q fails its check (%v) but the form was accepted", nhs, err)
		}
		if len(errs) > 0 {
			return
		}
		// Accepted: a query every connector takes.
		if err := q.Validate(); err != nil {
			t.Fatalf("accepted form gives a query the connectors refuse: %v (%+v)", err, q)
		}
		if q.NHSNumber == "" {
			if q.BirthDate.Time().After(fuzzNow) {
				t.Fatalf("accepted a birth date after today: %v", q.BirthDate)
			}
			// Upper-casing turns each invalid UTF-8 byte into three
			// (TestSearchPostcodeLimitAppliesToQuery), so the postcode's
			// limit is checked here only for valid text.
			if len(q.Family) > 100 || len(q.Given) > 100 || (utf8.ValidString(postcode) && len(q.Postcode) > 10) {
				t.Fatalf("accepted an over-long field: %+v", q)
			}
		}
	})
}

// The postcode's 10-character limit is checked on what was typed, but the
// query carries it upper-cased, and strings.ToUpper turns each byte that
// is not UTF-8 into a three-byte U+FFFD.
func TestSearchPostcodeLimitAppliesToQuery(t *testing.T) {
	form := &views.SearchForm{Family: "Smith", Day: "1", Month: "1", Year: "1970", Postcode: "\xb2\xea00\xca"}
	q, errs := parseSearch(form, fuzzNow)
	if len(errs) == 0 && len(q.Postcode) > 10 {
		t.Fatalf("parseSearch accepts a postcode that is not UTF-8 and sends %d bytes (%q) to the sources, past its limit", len(q.Postcode), q.Postcode)
	}
	if len(errs) == 0 {
		t.Fatalf("accepted a postcode that is not text: %q", q.Postcode)
	}
}

// FuzzParseObjection: the public objection form's parser never panics;
// every error names a field; and a form it accepts is one the store will
// take (the same rules as store's own check), so a patient never meets a
// server error after a form the page called good.
func FuzzParseObjection(f *testing.F) {
	f.Add("object", "no", "", "", "", "Jane Smith", "12", "3", "1965", "999 000 0018", "12 Imaginary Road\r\nLondon", "se5 9zz", "jane@example.com", "I do not want my record shared", "yes")
	f.Add("withdraw", "yes", "John Smith", "Son", "Lasting power of attorney", "Jane Smith", "1", "1", "1940", "", "1 Example Street", "SW1A 2AA", "01632 960 001", "", "yes")
	f.Add("object", "no", "x", "y", "z", " ", "31", "2", "2020", "9990000019", " ", "SW1A2AA", "@", "", "")
	f.Add("", "", "", "", "", "", "", "", "", "", "", "", "", "", "")
	f.Add("object", "maybe", "", "", "", strings.Repeat("A", 201), "29", "2", "2024", "999-000-0018", "a", "A9 9AA", "+441632960001", strings.Repeat("é", 1001), "yes")
	f.Fuzz(func(t *testing.T, kind, onBehalf, submitter, relationship, authority, fullName, day, month, year, nhs, address, postcode, contact, reason, declaration string) {
		v := url.Values{"kind": {kind}, "on-behalf": {onBehalf}, "submitter-name": {submitter}, "relationship": {relationship},
			"authority": {authority}, "full-name": {fullName}, "dob-day": {day}, "dob-month": {month}, "dob-year": {year},
			"nhs": {nhs}, "address": {address}, "postcode": {postcode}, "contact": {contact}, "reason": {reason},
			"declaration": {declaration}}
		_, sf, errs := parseObjection(v, fuzzNow)
		for _, e := range errs {
			if e.Field == "" || e.Message == "" {
				t.Fatalf("an error without a field or message: %+v", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		if err := sf.Check(); err != nil {
			t.Fatalf("accepted a form the store refuses: %v (%+v)", err, sf)
		}
		if sf.BirthDate.Time().After(fuzzNow) {
			t.Fatalf("accepted a birth date after today: %v", sf.BirthDate)
		}
		if declaration != "yes" {
			t.Fatal("accepted a form without the declaration")
		}
	})
}

// localPathSeeds are return addresses an attacker tried, and ordinary ones.
var localPathSeeds = []string{
	"/%2Fevil.example/{", "%2F%252F%255Cevil.example%2F%7B", "/%2F%5Cevil.example/{", "/%5Cevil.example",
	"//evil.example/x", "/\\evil.example", "/\t/evil.example", "https://evil.example/", "javascript:alert(1)",
	"/%2F%2Fevil.example", "/./%2Fevil.example", "/patients?nhs=9990000018&kind=result", "/patients/9990000018#x",
	"/a%2Fb", "/?%zz", "", "/",
}

func TestLocalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/patients", "/patients"},
		{"/patients/9990000018/timeline?kind=result", "/patients/9990000018/timeline?kind=result"},
		{"/patients#frag", "/patients"},
		{"/a%2Fb", "/a%2Fb"},
		{"/%2Fevil.example/{", "/"},
		{"%2F%252F%255Cevil.example%2F%7B", "/"},
		{"/%2F%5Cevil.example/{", "/"},
		{"/%5Cevil.example", "/"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"", "/"},
	}
	for _, tt := range tests {
		if got := localPath(tt.in); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzLocalPath: whatever comes in, localPath gives a path on this site
// as a browser would read it: one leading "/", never "//" or "/\" (even
// once a browser turns "\" into "/"), no host when resolved against the
// site, no panic; and it is its own localPath.
func FuzzLocalPath(f *testing.F) {
	for _, s := range localPathSeeds {
		f.Add(s)
	}
	site, _ := url.Parse("https://care.example.nhs.uk/patients/")
	f.Fuzz(func(t *testing.T, in string) {
		out := localPath(in)
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("localPath(%q) = %q: not a path", in, out)
		}
		asBrowser := strings.ReplaceAll(out, "\\", "/")
		if strings.HasPrefix(asBrowser, "//") {
			t.Fatalf("localPath(%q) = %q: a browser reads another host", in, out)
		}
		u, err := site.Parse(out)
		if err != nil || u.Host != site.Host || u.Scheme != site.Scheme {
			t.Fatalf("localPath(%q) = %q resolves to %v (%v), off the site", in, out, u, err)
		}
		if again := localPath(out); again != out {
			t.Fatalf("localPath(%q) = %q, but localPath(%q) = %q", in, out, out, again)
		}
	})
}
