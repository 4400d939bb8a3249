package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestRefreshPostRedirectGet: "Refresh from every source" posts, then
// comes back to the record with its filter and page (a reload does not
// post again), and that page says what each source did on the refresh.
func TestRefreshPostRedirectGet(t *testing.T) {
	opt, cluster := withSources(t, nil, 2*time.Second)
	e := newEnv(t, opt)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	nhs := synthetic.RichNHSNumber
	b.giveReason(nhs, "direct-care", "")
	filtered := b.get("/patients/" + nhs + "?kind=result&page=2")
	action := attr(find(filtered.doc, "form", "class", "app-inline-form"), "action")
	if action != "/patients/"+nhs+"/refresh?kind=result&page=2" {
		t.Fatalf("the refresh form posts to %q, not back to this filter and page", action)
	}
	cluster.SetFaults(synthetic.KingsODS, synthetic.Faults{Unavailable: true})
	posted := b.post(action, url.Values{"csrf_token": {b.csrf()}})
	if posted.status != http.StatusSeeOther {
		t.Fatalf("refresh: status %d, want 303", posted.status)
	}
	loc, _ := url.Parse(posted.header.Get("Location"))
	q := loc.Query()
	if loc.Path != "/patients/"+nhs || q.Get("kind") != "result" || q.Get("page") != "2" || q.Get("refreshed") == "" {
		t.Fatalf("refresh redirects to %q, want the record with kind=result, page 2 and the refresh's outcome", loc)
	}
	t.Run("ThePageSaysWhatTheRefreshFound", func(t *testing.T) {
		for _, reload := range []string{"first", "reload"} {
			p := b.get(loc.String())
			if p.status != http.StatusOK {
				t.Fatalf("%s: status %d", reload, p.status)
			}
			if got := text(find(p.doc, "p", "data-testid", "timeline-count")); !strings.HasPrefix(got, "Showing 51 to ") {
				t.Errorf("%s: the filter's page 2 is lost: %q", reload, got)
			}
			for _, it := range findAll(p.doc, "li", "data-testid", "entry") {
				if attr(it, "data-kind") != "result" {
					t.Fatalf("%s: the kind filter is lost", reload)
				}
			}
			if got := text(find(p.doc, "p", "data-testid", "sources-attention")); !strings.Contains(got, "(RJZ): not answering") {
				t.Errorf("%s: the page does not say King's failed the refresh: %q", reload, got)
			}
		}
	})
	t.Run("TheOutcomeIsThisSessionsOnly", func(t *testing.T) {
		other := e.browser()
		other.signIn("/saml/login", "clinician")
		other.giveReason(nhs, "direct-care", "")
		cluster.SetFaults(synthetic.KingsODS, synthetic.Faults{})
		p := other.get(loc.String())
		if got := text(find(p.doc, "p", "data-testid", "sources-attention")); strings.Contains(got, "(RJZ)") {
			t.Errorf("another session's page shows this session's refresh outcome: %q", got)
		}
	})
}
