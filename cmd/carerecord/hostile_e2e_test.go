package main

// A browser test of hostile content from a source: the product wired as
// the demo wires it, with a hostile organisation among the synthetic ones,
// and a clinician opening the record it holds in a real Chromium.

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/carerecord/carerecord/connectors/synthetic"
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
	tb.waitSettled()
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

// startHostileProduct runs the demo (serveDemo, as `carerecord demo` runs
// it) with the hostile organisation among the synthetic sources, on a free
// loopback port until the test ends. It returns the base URL.
func startHostileProduct(t *testing.T) string {
	t.Helper()
	cluster, err := synthetic.Start(synthetic.Orgs(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	if err := cluster.AddHostile(synthetic.HostileOrg()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	data, logs := t.TempDir(), &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveDemo(ctx, ln, data, cluster, nil, nil, io.Discard, newLogger(logs, "info")) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the product stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the product did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("product log:\n%s", logs)
		}
	})
	return "http://" + ln.Addr().String()
}
