package fhir_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
)

func TestDocumentsHeldAtURLs(t *testing.T) {
	const pdf = "%PDF-1.4 a letter"
	var elsewhere sync.Map
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Store(r.URL.Path, r.Header.Get("Authorization"))
	}))
	t.Cleanup(other.Close)

	f, srv := newFake(t)
	base := srv.URL + "/R4"
	var seen sync.Map // path -> Authorization header
	binaries := map[string]func(w http.ResponseWriter){
		"text-as-binary": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/fhir+json")
			fmt.Fprintf(w, `{"resourceType":"Binary","id":"text-as-binary","contentType":"text/plain; charset=utf-8","data":%q}`,
				b64("Seen in clinic. Plan: review in 6 weeks."))
		},
		"raw-pdf": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/pdf")
			fmt.Fprint(w, pdf)
		},
		"raw-html": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<p>Discharged <b>home</b></p>")
		},
		"big-pdf": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/pdf")
			fmt.Fprint(w, pdf+strings.Repeat("x", 5000))
		},
		"sign-in-page": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<form>Sign in</form>")
		},
		"gone": func(w http.ResponseWriter) { http.Error(w, "java.io.FileNotFoundException", http.StatusNotFound) },
		"not-a-pdf": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/octet-stream")
			fmt.Fprint(w, "MZ\x90\x00 not a pdf")
		},
	}
	f.override["Binary"] = nil // no searches of Binary
	for name, answer := range binaries {
		f.override[name] = func(w http.ResponseWriter, r *http.Request) {
			seen.Store(r.URL.Path, r.Header.Get("Authorization"))
			answer(w)
		}
	}
	doc := func(id, contentType, url string) string {
		return fmt.Sprintf(`{"resourceType":"DocumentReference","id":%q,"status":"current","type":{"text":"Clinic letter"},`+
			`"date":"2024-06-01","content":[{"attachment":{"contentType":%q,"url":%q}}]}`, id, contentType, url)
	}
	f.resources = map[string][]string{"DocumentReference": {
		doc("relative", "text/plain", "Binary/text-as-binary"),
		doc("absolute", "application/pdf", base+"/Binary/raw-pdf"),
		doc("html", "text/html", "Binary/raw-html"),
		doc("other-server", "application/pdf", other.URL+"/R4/Binary/raw-pdf"),
		doc("outside-base", "application/pdf", "../Binary/raw-pdf"),
		doc("too-large", "application/pdf", "Binary/big-pdf"),
		doc("mismatch", "application/pdf", "Binary/sign-in-page"),
		doc("gone", "application/pdf", "Binary/gone"),
		doc("word", "application/msword", "Binary/raw-pdf"),
		doc("not-a-pdf", "application/pdf", "Binary/not-a-pdf"),
	}, "DiagnosticReport": {
		// A report sent only as a PDF held at a URL: its form is fetched
		// like any document.
		`{"resourceType":"DiagnosticReport","id":"pdf-only","status":"final","code":{"text":"Echocardiogram"},` +
			`"effectiveDateTime":"2024-05-01","presentedForm":[{"contentType":"application/pdf","url":"Binary/raw-pdf"}]}`,
	}}
	cfg := testConfig(srv.URL)
	cfg.MaxDocumentBytes = 1024
	cfg.Auth = connectors.Auth{Type: "bearer", TokenEnv: "RXX_TOKEN"}
	c, err := fhir.New(cfg, func(string) string { return "s3cret" })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rec, err := c.FetchRecord(t.Context(), testNHS)
	if err != nil {
		t.Fatalf("a document that could not be fetched failed the record: %v", err)
	}
	got := map[string]connectors.Document{}
	for _, e := range rec.Entries {
		if e.Document != nil {
			d := *e.Document
			d.Report = ""
			got[strings.TrimPrefix(e.ID, "DocumentReference/")] = d
		}
	}
	tests := []struct {
		id   string
		want connectors.Document
	}{
		{"relative", connectors.Document{ContentType: "text/plain", Text: "Seen in clinic. Plan: review in 6 weeks."}},
		{"absolute", connectors.Document{ContentType: "application/pdf", Data: []byte(pdf)}},
		{"html", connectors.Document{ContentType: "text/html", Text: "<p>Discharged <b>home</b></p>"}},
		{"other-server", connectors.Document{ContentType: "application/pdf", Unavailable: "held outside the source, not fetched"}},
		{"outside-base", connectors.Document{ContentType: "application/pdf", Unavailable: "held outside the source, not fetched"}},
		{"too-large", connectors.Document{ContentType: "application/pdf", Unavailable: "too large to fetch"}},
		{"mismatch", connectors.Document{ContentType: "application/pdf", Unavailable: "not of the type the source declared"}},
		{"gone", connectors.Document{ContentType: "application/pdf", Unavailable: "could not be fetched (HTTP 404)"}},
		{"word", connectors.Document{ContentType: "application/msword", Unavailable: "of a type that cannot be shown"}},
		{"not-a-pdf", connectors.Document{ContentType: "application/pdf", Unavailable: "content could not be read"}},
		{"DiagnosticReport/pdf-only#form1", connectors.Document{ContentType: "application/pdf", Data: []byte(pdf)}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			d, ok := got[tt.id]
			if !ok {
				t.Fatal("no entry")
			}
			if d.URL == "" {
				t.Error("the document lost the address it is held at")
			}
			d.URL, d.Type = "", ""
			if !reflect.DeepEqual(d, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", d, tt.want)
			}
		})
	}
	seen.Range(func(p, auth any) bool {
		if auth != "Bearer s3cret" {
			t.Errorf("%s fetched with Authorization %q, want the source's credentials", p, auth)
		}
		return true
	})
	if _, ok := seen.Load("/R4/Binary/raw-pdf"); !ok {
		t.Error("the document at an absolute address under the base was not fetched")
	}
	elsewhere.Range(func(p, _ any) bool {
		t.Errorf("%s fetched from another server: the source's credentials went elsewhere", p)
		return true
	})
}
