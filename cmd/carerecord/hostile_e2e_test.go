package main

// A browser test of hostile content from a source: the product wired as
// the demo wires it, with a hostile organisation among the synthetic ones,
// and a clinician opening the record it holds in a real Chromium.

import (
	"bytes"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
	"github.com/carerecord/carerecord/web/devidp"
)

func TestHostileSourceInBrowser(t *testing.T) {
	needChromium(t)
	e := &e2e{base: startHostileProduct(t), browser: startBrowser(t)}

	var (
		mu      sync.Mutex
		dialogs []string
	)
	tb := e.openTab(t, e.browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			mu.Lock()
			dialogs = append(dialogs, string(d.Type)+": "+d.Message)
			mu.Unlock()
		}
	}))
	tb.signIn("clinician")
	tb.waitH1("Find a patient")

	nhs := synthetic.HostileNHSNumber
	tb.navigate(e.base+"/patients/"+nhs, http.StatusOK)
	tb.waitH1("Why are you opening this record?")
	tb.do(
		chromedp.Click(chromedp.CSS("#reason-direct-care")),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Open the record"]`)),
	)
	tb.wait(`[data-testid="patient-name"]`)
	tb.wait(`li[data-source="` + synthetic.HostileODS + `"]`)
	tb.assertNoProblems("hostile record page")

	t.Run("NoDialog", func(t *testing.T) {
		// Hover over and focus everything, as a user moving about the page
		// would, so that any handler that slipped through would fire.
		tb.do(chromedp.Evaluate[chromedp.Void](`(() => {
			for (const el of document.querySelectorAll('body *')) {
				for (const type of ['mouseover', 'mouseenter', 'focus', 'click']) {
					if (type === 'click' && el.closest('a, button, form')) continue;
					el.dispatchEvent(new Event(type, {bubbles: true}));
				}
			}
			return true;
		})()`))
		mu.Lock()
		defer mu.Unlock()
		if len(dialogs) > 0 {
			t.Fatalf("JavaScript dialogs opened: %q", dialogs)
		}
	})
	t.Run("NothingInjected", func(t *testing.T) {
		type pageFacts struct {
			Scripts  []string `json:"scripts"`
			Styles   int      `json:"styles"`
			Handlers []string `json:"handlers"`
			Visible  bool     `json:"visible"`
			Escaped  bool     `json:"escaped"`
		}
		facts := run1(tb, chromedp.Evaluate[pageFacts](`(() => ({
			scripts: Array.from(document.scripts).map(s => s.getAttribute('src') || 'inline: ' + s.textContent.slice(0, 60)),
			styles: document.querySelectorAll('style').length,
			handlers: Array.from(document.querySelectorAll('*')).flatMap(el => Array.from(el.attributes)
				.filter(a => a.name.startsWith('on')).map(a => el.tagName + ' ' + a.name)),
			visible: getComputedStyle(document.body).display !== 'none' && document.body.checkVisibility(),
			escaped: document.body.textContent.includes('<script>alert(1)</script>'),
		}))()`))
		for _, s := range facts.Scripts {
			if !strings.HasPrefix(s, "/static/") {
				t.Errorf("a script that is not the product's own: %s", s)
			}
		}
		if facts.Styles != 0 {
			t.Errorf("%d <style> elements on the page", facts.Styles)
		}
		if len(facts.Handlers) > 0 {
			t.Errorf("event handler attributes: %q", facts.Handlers)
		}
		if !facts.Visible {
			t.Error("document.body is hidden: injected CSS took effect")
		}
		if !facts.Escaped {
			t.Error("the script payload is not on the page as text: nothing hostile was rendered, so this proves nothing")
		}
	})
	t.Run("NoHorizontalOverflowAt1280", func(t *testing.T) {
		if !run1(tb, chromedp.Evaluate[bool](`document.body.textContent.includes('W'.repeat(1000))`)) {
			t.Fatal("the oversized title is not on the page: the overflow check proves nothing")
		}
		tb.do(chromedp.EmulateViewport(1280, 900))
		w := run1(tb, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		// The innermost elements that reach past the viewport, and whether
		// each is inside the patient banner.
		type wideElement struct {
			HTML   string `json:"html"`
			Banner bool   `json:"banner"`
		}
		wide := run1(tb, chromedp.Evaluate[[]wideElement](`Array.from(document.querySelectorAll('body *'))
			.filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
			.filter(el => !Array.from(el.children).some(c => c.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5))
			.map(el => ({html: el.outerHTML.slice(0, 120), banner: !!el.closest('.app-patient-banner')}))`))
		if w <= 1280 {
			return
		}
		for _, el := range wide {
			t.Logf("too wide (in the banner: %v): %s", el.Banner, el.HTML)
		}
		t.Errorf("the record page is %d px wide at 1280 px: oversized strings from a source overflow", w)
	})
	tb.assertNoProblems("hostile record page after the checks")
}

// startHostileProduct wires the product as runDemo does (store, synthetic
// sources read through the FHIR connector, development IdP, web server),
// with the hostile organisation among the sources, and serves it on a free
// loopback port until the test ends. It returns the base URL.
func startHostileProduct(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	logs := &syncBuffer{}
	log := newLogger(logs, "info")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("product log:\n%s", logs.String())
		}
	})

	spKey, spCert, err := devidp.GenerateKeyPair("hostile test sp")
	if err != nil {
		t.Fatal(err)
	}
	idpKey, idpCert, err := devidp.GenerateKeyPair("hostile test idp")
	if err != nil {
		t.Fatal(err)
	}
	attrs := web.DefaultAttributes()
	idp, err := devidp.New(devidp.Options{
		BaseURL: base.JoinPath("/devidp"), Key: idpKey, Cert: idpCert, Users: devidp.DemoUsers(), Password: demoPassword, Logger: log,
		Attributes: devIdPAttributes(attrs),
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "carerecord.db"), store.WithCacheKey(bytes.Repeat([]byte("k"), 32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cluster, err := synthetic.Start(synthetic.Orgs(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	if err := cluster.AddHostile(synthetic.HostileOrg()); err != nil {
		t.Fatal(err)
	}
	records, clients, err := buildRecords(db, cluster.Configs(), nil, 10*time.Minute, 24*time.Hour, 3*time.Second, false, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		records.Close()
		for _, c := range clients {
			c.Close()
		}
	})
	sessionKeys, csrfKey := deriveKeys(bytes.Repeat([]byte("m"), 48))
	srv, err := web.New(web.Config{
		BaseURL: base, SPKey: spKey, SPCert: spCert, IDPMetadata: idp.Metadata(),
		RequestWindow: 5 * time.Minute, Attributes: attrs, Roles: web.DefaultRoles(), MinAssurance: 3,
		IdleTimeout: 15 * time.Minute, MaxLifetime: 12 * time.Hour,
		SessionKeys: sessionKeys, CSRFKey: csrfKey, DevIdP: idp, Logger: log, Version: "test", Records: records,
	}, db)
	if err != nil {
		t.Fatal(err)
	}
	idp.AddServiceProvider(srv.SPMetadata())
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return base.String()
}
