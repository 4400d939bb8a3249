package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

const (
	hostileHTML = `<h1>Clinic letter</h1><style>body{display:none}</style><script>alert(1)</script>` +
		`<p style="color:red" onclick="alert(2)" class="x">Dear <b>Doctor</b>,</p>` +
		`<img src="https://tracker.invalid/pixel.png"><a href="javascript:alert(3)">see attached</a>` +
		`<table><tr><td colspan="2" style="width:9999px">Plan</td></tr></table><iframe src="https://evil.invalid"></iframe>`
	pdfBytes = "%PDF-1.4\n% a tiny synthetic test document\n%%EOF\n"
)

func documentsRecord() *connectors.Record {
	at := time.Date(2025, time.March, 3, 0, 0, 0, 0, time.UTC)
	doc := func(id, title string, d *connectors.Document) connectors.Entry {
		return connectors.Entry{Kind: connectors.KindDocument, ID: id, Date: at, Precision: connectors.PrecisionDay, Title: title, Document: d}
	}
	return &connectors.Record{
		Patient: fidelityPatient(),
		Entries: []connectors.Entry{
			doc("DocumentReference/html", "Cardiology letter", &connectors.Document{Type: "Clinic letter", ContentType: "text/html; charset=utf-8", Text: hostileHTML}),
			doc("DocumentReference/big", "Discharge summary", &connectors.Document{Type: "Discharge summary", ContentType: "application/pdf",
				URL: "https://fhir.example/Binary/big", Unavailable: "too large"}),
			doc("DiagnosticReport/fbc#form1", "Full blood count report", &connectors.Document{Type: "Report", ContentType: "application/pdf",
				Data: []byte(pdfBytes), Report: "DiagnosticReport/fbc"}),
			{Kind: connectors.KindResult, ID: "Observation/hb", Date: at.Add(9 * time.Hour), Title: "Haemoglobin",
				Result: &connectors.Result{Value: "131", Units: "g/L", Group: "DiagnosticReport/fbc", GroupTitle: "Full blood count"}},
			{Kind: connectors.KindResult, ID: "Observation/wcc", Date: at.Add(9 * time.Hour), Title: "White cell count",
				Result: &connectors.Result{Value: "6.2", Units: "10*9/L", Group: "DiagnosticReport/fbc", GroupTitle: "Full blood count"}},
			{Kind: connectors.KindResult, ID: "Observation/na", Date: at.Add(9 * time.Hour), Title: "Sodium",
				Result: &connectors.Result{Value: "139", Units: "mmol/L"}},
		},
	}
}

func TestDocuments(t *testing.T) {
	_, b := fidelityEnv(t, modelSource{src: kingsSrc, nhs: fidelityNHS, rec: documentsRecord})
	docURL := func(id string) string {
		return "/patients/" + fidelityNHS + "/document?" + url.Values{"entry": {"RJZ/" + id}}.Encode()
	}

	t.Run("HTMLShownOnlySanitised", func(t *testing.T) {
		p := b.get(docURL("DocumentReference/html"))
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		assertInert(t, "HTML letter", p)
		body := find(p.doc, "div", "data-testid", "document-text")
		if got := text(body); !strings.Contains(got, "Dear Doctor") || !strings.Contains(got, "see attached") || !strings.Contains(got, "Plan") {
			t.Fatalf("the letter's text is lost: %q", got)
		}
		if find(body, "b", "", "") == nil || find(body, "td", "colspan", "2") == nil {
			t.Fatal("the letter's structure (bold, a table cell's span) is lost")
		}
		if strings.Contains(text(body), "alert(") || strings.Contains(text(body), "display:none") {
			t.Fatalf("script or style content shown: %q", text(body))
		}
		for _, n := range findAll(body, "", "", "") {
			if n == body {
				continue
			}
			for _, a := range n.Attr {
				if a.Key != "colspan" {
					t.Errorf("<%s %s=%q> from the source's HTML kept", n.Data, a.Key, a.Val)
				}
			}
			switch n.Data {
			case "a", "img", "iframe", "h1", "style", "script":
				t.Errorf("<%s> from the source's HTML kept", n.Data)
			}
		}
		if strings.Contains(p.body, "&lt;p") {
			t.Fatal("the letter is shown as raw markup")
		}
	})
	t.Run("PDFInlineNeverStored", func(t *testing.T) {
		p := b.get(docURL("DiagnosticReport/fbc#form1"))
		link := attr(find(p.doc, "a", "data-testid", "document-pdf"), "href")
		if link == "" || hasAttr(find(p.doc, "a", "data-testid", "document-pdf"), "download", "*") {
			t.Fatalf("no link that opens the PDF in the browser: %q", link)
		}
		pdf := b.get(link)
		h := pdf.header
		if pdf.status != http.StatusOK || h.Get("Content-Type") != "application/pdf" || pdf.body != pdfBytes {
			t.Fatalf("status %d, %s, %d bytes", pdf.status, h.Get("Content-Type"), len(pdf.body))
		}
		if h.Get("Content-Disposition") != "inline" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("headers: disposition %q, cache %q, nosniff %q", h.Get("Content-Disposition"), h.Get("Cache-Control"), h.Get("X-Content-Type-Options"))
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("CSP %q", csp)
		}
		if p := b.get(docURL("DocumentReference/html") + "&format=pdf"); p.status != http.StatusNotFound {
			t.Fatalf("an HTML letter as PDF: status %d", p.status)
		}
	})
	t.Run("UnavailableSaysWhy", func(t *testing.T) {
		p := b.get("/patients/" + fidelityNHS + "?kind=document")
		var entry string
		for _, en := range findAll(p.doc, "li", "data-testid", "entry") {
			if strings.Contains(text(en), "Discharge summary") {
				entry = text(find(en, "p", "data-testid", "document-unavailable"))
			}
		}
		if entry != "Held at the source, could not be read: too large" {
			t.Fatalf("timeline says %q", entry)
		}
		d := b.get(docURL("DocumentReference/big"))
		if got := text(find(d.doc, "div", "data-testid", "document-unavailable")); !strings.Contains(got, "could not be read: too large") {
			t.Fatalf("document page says %q", got)
		}
	})
	t.Run("ReportAndItsPDFLinkedBothWays", func(t *testing.T) {
		p := b.get("/patients/" + fidelityNHS + "?kind=result")
		var toPDF string
		for _, en := range findAll(p.doc, "li", "data-testid", "entry") {
			l := find(en, "a", "data-testid", "report-link")
			switch {
			case strings.Contains(text(en), "Haemoglobin"):
				toPDF = attr(l, "href")
			case strings.Contains(text(en), "Sodium") && l != nil:
				t.Fatal("a result outside the report links to its PDF")
			}
		}
		if toPDF != docURL("DiagnosticReport/fbc#form1") {
			t.Fatalf("the result links to %q, want the report's PDF", toPDF)
		}
		d := b.get(toPDF)
		back := attr(find(d.doc, "a", "data-testid", "report-link"), "href")
		if !strings.Contains(text(find(d.doc, "a", "data-testid", "report-link")), "Full blood count") || back == "" {
			t.Fatalf("the PDF's page does not link to its report: %q", text(find(d.doc, "a", "data-testid", "report-link")))
		}
		r := b.get(back)
		var titles []string
		for _, en := range findAll(r.doc, "li", "data-testid", "entry") {
			titles = append(titles, text(find(en, "p", "class", "app-timeline__title")))
		}
		if len(titles) != 2 || find(r.doc, "p", "data-testid", "timeline-report") == nil {
			t.Fatalf("the report's results: %q", titles)
		}
	})
}
