package web_test

import (
	"net/http"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/views"
)

// TestKeyboardShortcuts checks that the help page lists every shortcut
// (without sign-in), and that each page the help page names carries an
// element for its keys, so that a shortcut listed is one that works.
func TestKeyboardShortcuts(t *testing.T) {
	e := sourcesEnv(t)
	t.Run("HelpPageListsEveryShortcut", func(t *testing.T) {
		p := e.browser().get("/help/keyboard")
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		rows := findAll(p.doc, "tr", "data-testid", "shortcut")
		if len(rows) != len(views.Shortcuts) {
			t.Errorf("%d shortcuts listed, want %d", len(rows), len(views.Shortcuts))
		}
		if find(p.doc, "button", "id", "shortcuts-toggle") == nil {
			t.Error("no way to turn the shortcuts off")
		}
	})
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.LongHistoryNHSNumber, "direct-care", "")
	record := "/patients/" + synthetic.LongHistoryNHSNumber
	b.settled(t, record)
	pages := map[string][]string{
		"/patients":         {"/", "?"},
		record:              {"/", "?", "r", "d", "s", "t", "f", "n"},
		record + "?page=2":  {"n", "p"},
		record + "/results": {"a", "n", "?"},
	}
	for path, keys := range pages {
		p := b.get(path)
		have := map[string]bool{}
		for _, el := range findAll(p.doc, "", "data-shortcut", "*") {
			have[attr(el, "data-shortcut")] = true
			if attr(el, "aria-keyshortcuts") != attr(el, "data-shortcut") {
				t.Errorf("%s: the %q shortcut's element does not announce it (aria-keyshortcuts %q)", path, attr(el, "data-shortcut"), attr(el, "aria-keyshortcuts"))
			}
		}
		for _, k := range keys {
			if !have[k] {
				t.Errorf("%s: nothing answers the %q key", path, k)
			}
		}
	}
}
