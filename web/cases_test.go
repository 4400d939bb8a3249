package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
)

// caseLink finds the case's link in the queue.
func caseLink(t *testing.T, p *page, ref string) string {
	t.Helper()
	row := find(p.doc, "tr", "data-ref", ref)
	if row == nil {
		t.Fatalf("case %s is not listed", ref)
	}
	return attr(find(row, "a", "", ""), "href")
}

func TestObjectionCaseJourney(t *testing.T) {
	e := sourcesEnv(t)
	ctx := context.Background()
	public := e.browser()
	v := public.objectionForm()
	v.Set("postcode", "SE5 9ZZ") // not the postcode the sources hold
	ref, _ := public.submitObjection(v)

	ig := e.browser()
	ig.signIn("/saml/login", "igofficer")
	queue := ig.get("/ig/objections")
	if queue.status != http.StatusOK {
		t.Fatalf("queue: status %d", queue.status)
	}
	if age := text(find(find(queue.doc, "tr", "data-ref", ref), "td", "data-testid", "case-age")); age != "Today" {
		t.Fatalf("age %q, want Today", age)
	}
	at := caseLink(t, queue, ref)

	// The identity check: the submitted details beside the candidate the
	// sources hold, differences said in words.
	p := ig.get(at)
	if p.status != http.StatusOK || !strings.Contains(p.h1(), ref) {
		t.Fatalf("case page: %d %q", p.status, p.h1())
	}
	cand := find(p.doc, "table", "data-nhs", synthetic.OrdinaryNHSNumber)
	if cand == nil {
		t.Fatalf("the matching patient is not a candidate: %s", text(find(p.doc, "p", "data-testid", "search-note")))
	}
	verdicts := map[string]string{}
	for _, tr := range findAll(cand, "tr", "data-verdict", "*") {
		verdicts[text(find(tr, "th", "", ""))] = attr(tr, "data-verdict")
		if attr(tr, "data-verdict") == "differs" && !strings.Contains(text(tr), "Different") {
			t.Errorf("a difference is shown without the word: %s", text(tr))
		}
	}
	want := map[string]string{"Name": "match", "Date of birth": "match", "NHS number": "match", "Address": "match", "Postcode": "differs"}
	for k, w := range want {
		if verdicts[k] != w {
			t.Errorf("%s: verdict %q, want %q", k, verdicts[k], w)
		}
	}
	form := p.form(t, "form[action='"+at+"/identity']")
	form.Set("matched", synthetic.OrdinaryNHSNumber)
	form.Set("identity-note", "Called the patient; postcode changed when they moved.")
	if r := ig.post(at+"/identity", form); r.status != http.StatusSeeOther {
		t.Fatalf("identity: status %d", r.status)
	}
	if up, _ := e.db.HasUpheldObjection(ctx, synthetic.OrdinaryNHSNumber); up {
		t.Fatal("in force before it was decided")
	}

	// Decide: the reason is required.
	p = ig.get(at)
	if got := text(find(p.doc, "dd", "data-testid", "case-status")); got != "Identity checked" {
		t.Fatalf("status %q", got)
	}
	form = p.form(t, "form[action='"+at+"/decide']")
	form.Set("decision", "upheld")
	r := ig.post(at+"/decide", form)
	if r.status != http.StatusBadRequest || find(r.doc, "a", "href", "#decision-note") == nil {
		t.Fatalf("decision without a reason: status %d", r.status)
	}
	form.Set("decision-note", "Objection is valid.")
	// Shared data in the cache from an earlier view is purged at once.
	if _, err := e.records.Open(ctx, synthetic.OrdinaryNHSNumber, false); err != nil {
		t.Fatal(err)
	}
	// The answers reach the cache just after Open returns (the page never
	// waits for the write), later still on a busy machine: wait for them.
	warm := time.Now().Add(20 * time.Second)
	for {
		if cached, _ := e.db.CachedRecords(ctx, synthetic.OrdinaryNHSNumber); len(cached) > 0 {
			break
		}
		if time.Now().After(warm) {
			t.Fatal("the cache was not warmed")
		}
		<-time.After(20 * time.Millisecond)
	}
	if r := ig.post(at+"/decide", form); r.status != http.StatusSeeOther {
		t.Fatalf("decide: status %d", r.status)
	}
	if cached, _ := e.db.CachedRecords(ctx, synthetic.OrdinaryNHSNumber); len(cached) != 0 {
		t.Fatalf("%d cached records remain after the objection was upheld", len(cached))
	}
	if up, err := e.db.HasUpheldObjection(ctx, synthetic.OrdinaryNHSNumber); !up || err != nil {
		t.Fatalf("upheld objection not in force: %v %v", up, err)
	}
	queue = ig.get("/ig/objections")
	if find(find(queue.doc, "table", "data-testid", "upheld"), "tr", "data-ref", ref) == nil {
		t.Fatal("the upheld objection is not in the upheld list")
	}
	if find(find(queue.doc, "table", "data-testid", "open"), "tr", "data-ref", ref) != nil {
		t.Fatal("a decided case is still open")
	}
	for _, q := range []string{ref, strings.ToLower(ref), "999 000 0026", "brackenbury"} {
		s := ig.get("/ig/objections?q=" + urlQuery(q))
		if find(find(s.doc, "table", "data-testid", "results"), "tr", "data-ref", ref) == nil {
			t.Errorf("search %q does not find the case", q)
		}
	}

	// Withdraw at the patient's request.
	p = ig.get(at)
	form = p.form(t, "form[action='"+at+"/withdraw']")
	form.Set("withdraw-note", "Letter from the patient dated 3 March.")
	if r := ig.post(at+"/withdraw", form); r.status != http.StatusSeeOther {
		t.Fatalf("withdraw: status %d", r.status)
	}
	if up, _ := e.db.HasUpheldObjection(ctx, synthetic.OrdinaryNHSNumber); up {
		t.Fatal("withdrawn objection still in force")
	}
	p = ig.get(at)
	steps := findAll(p.doc, "tr", "data-testid", "case-step")
	if len(steps) != 4 {
		t.Fatalf("%d steps in the history, want 4", len(steps))
	}
	if s := text(steps[2]); !strings.Contains(s, "Identity checked to Upheld") || !strings.Contains(s, "Objection is valid.") {
		t.Fatalf("decision step %q", s)
	}

	// Every step is in the audit log, with the patient and no personal data.
	events, _, err := e.db.SearchAudit(ctx, store.AuditFilter{Actions: []store.Action{store.ActObjectionStep}})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, ev := range events {
		details = append(details, ev.Detail)
		if strings.Contains(ev.Detail, "Brackenbury") || strings.Contains(ev.Detail, "Example") {
			t.Errorf("audit detail holds personal data: %q", ev.Detail)
		}
	}
	for _, w := range []string{"received -> identity-checked", "identity-checked -> upheld", "upheld -> withdrawn", "-> received"} {
		if !strings.Contains(strings.Join(details, "\n"), "case "+ref+": "+w) {
			t.Errorf("no audit event for %q in %q", w, details)
		}
	}
	views, _, _ := e.db.SearchAudit(ctx, store.AuditFilter{Actions: []store.Action{store.ActAuditView}, NHSNumber: synthetic.OrdinaryNHSNumber})
	if len(views) == 0 {
		t.Error("viewing the case was not audited")
	}
}

func urlQuery(s string) string { return url.QueryEscape(s) }

func TestObjectionCaseIllegalAndConcurrentSteps(t *testing.T) {
	e := newEnv(t) // no sources: the officer enters the NHS number
	ctx := context.Background()
	public := e.browser()
	ref, _ := public.submitObjection(public.objectionForm())
	oc, _ := e.db.CaseByRef(ctx, ref)

	one, two := e.browser(), e.browser()
	one.signIn("/saml/login", "igofficer")
	two.signIn("/saml/login", "igofficer")
	at := caseLink(t, one.get("/ig/objections"), ref)
	p := one.get(at)
	if !strings.Contains(text(find(p.doc, "p", "data-testid", "search-note")), "No sources are connected") {
		t.Fatal("no explanation that no sources are connected")
	}

	t.Run("ErrDecideBeforeIdentity", func(t *testing.T) {
		r := one.post(at+"/decide", url2(one, "decision", "upheld", "decision-note", "x"))
		if r.status != http.StatusConflict || find(r.doc, "div", "data-testid", "case-conflict") == nil {
			t.Fatalf("status %d, want 409 with an explanation", r.status)
		}
		refused, _, _ := e.db.SearchAudit(ctx, store.AuditFilter{Actions: []store.Action{store.ActObjectionStep}, Outcome: store.OutcomeRefused})
		if len(refused) != 1 {
			t.Fatalf("%d refused steps audited, want 1", len(refused))
		}
	})
	t.Run("ErrInvalidNHSNumber", func(t *testing.T) {
		r := one.post(at+"/identity", url2(one, "matched", "other", "matched-nhs", "9990000019"))
		if r.status != http.StatusBadRequest || find(find(r.doc, "div", "class", "nhsuk-error-summary"), "a", "href", "#matched-nhs") == nil {
			t.Fatalf("status %d, want 400 linking to the NHS number", r.status)
		}
	})
	t.Run("ErrNothingChosen", func(t *testing.T) {
		r := one.post(at+"/identity", url2(one))
		if r.status != http.StatusBadRequest || find(r.doc, "a", "href", "#matched-other") == nil {
			t.Fatalf("status %d, want 400 linking to the first choice", r.status)
		}
	})
	if r := one.post(at+"/identity", url2(one, "matched", "other", "matched-nhs", "999 000 0026")); r.status != http.StatusSeeOther {
		t.Fatalf("identity: status %d", r.status)
	}

	t.Run("ConcurrentDecideOneWins", func(t *testing.T) {
		forms := []url.Values{url2(one, "decision", "upheld", "decision-note", "yes"), url2(two, "decision", "not-upheld", "decision-note", "no")}
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		for i, b := range []*browser{one, two} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = b.post(at+"/decide", forms[i]).status
			}()
		}
		wg.Wait()
		won, lost := 0, 0
		for _, s := range statuses {
			switch s {
			case http.StatusSeeOther:
				won++
			case http.StatusConflict:
				lost++
			}
		}
		if won != 1 || lost != 1 {
			t.Fatalf("statuses %v: want one 303 and one 409", statuses)
		}
		oc, _ = e.db.Case(ctx, oc.ID)
		if len(oc.Steps) != 3 {
			t.Fatalf("%d steps, want 3", len(oc.Steps))
		}
	})
	t.Run("ErrCaseNotFound", func(t *testing.T) {
		if r := one.get("/ig/objections/999999"); r.status != http.StatusNotFound {
			t.Fatalf("status %d", r.status)
		}
		if r := one.get("/ig/objections/abc"); r.status != http.StatusNotFound {
			t.Fatalf("status %d", r.status)
		}
	})
	t.Run("ClinicianRefused", func(t *testing.T) {
		c := e.browser()
		c.signIn("/saml/login", "clinician")
		if r := c.get(at); r.status != http.StatusForbidden {
			t.Fatalf("clinician reached a case: status %d", r.status)
		}
	})
}

// url2 builds a form with the browser's CSRF token and key-value pairs.
func url2(b *browser, kv ...string) url.Values {
	v := url.Values{"csrf_token": {b.csrf()}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// An officer who cannot match the sender to a patient closes the case as
// not upheld with what they tried: a note is required, the step is
// audited, nothing is in force, and the case offers no further step.
func TestObjectionCaseClosedUnconfirmed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	public := e.browser()
	form := public.objectionForm()
	ref, _ := public.submitObjection(form)
	ig := e.browser()
	ig.signIn("/saml/login", "igofficer")
	at := caseLink(t, ig.get("/ig/objections"), ref)
	p := ig.get(at)
	if p.formAction(t, "form[action='"+at+"/close']") != at+"/close" {
		t.Fatal("a received case offers no way to close it unconfirmed")
	}

	t.Run("ErrNoNote", func(t *testing.T) {
		r := ig.post(at+"/close", url2(ig, "close-note", "  "))
		if r.status != http.StatusBadRequest || find(find(r.doc, "div", "class", "nhsuk-error-summary"), "a", "href", "#close-note") == nil {
			t.Fatalf("status %d, want 400 with the error summary linking to the note", r.status)
		}
		if oc, _ := e.db.CaseByRef(ctx, ref); oc.Status != store.StatusReceived {
			t.Fatalf("a refused close moved the case to %s", oc.Status)
		}
	})

	r := ig.post(at+"/close", url2(ig, "close-note", "No patient matched the name and date of birth; letter returned."))
	if r.status != http.StatusSeeOther {
		t.Fatalf("close: status %d", r.status)
	}
	oc, _ := e.db.CaseByRef(ctx, ref)
	if oc.Status != store.StatusNotUpheld || oc.Steps[len(oc.Steps)-1].Note != "No patient matched the name and date of birth; letter returned." {
		t.Fatalf("case %s, steps %+v", oc.Status, oc.Steps)
	}
	// The form names synthetic.OrdinaryNHSNumber.
	if in, err := e.db.HasUpheldObjection(ctx, synthetic.OrdinaryNHSNumber); in || err != nil {
		t.Fatalf("an objection is in force after closing unconfirmed (%v)", err)
	}
	evs, _, _ := e.db.SearchAudit(ctx, store.AuditFilter{Actions: []store.Action{store.ActObjectionStep}, Outcome: store.OutcomeAllowed})
	if len(evs) == 0 || !strings.Contains(evs[0].Detail, "received -> not-upheld") {
		t.Fatalf("the close was not audited: %+v", evs)
	}
	p = ig.get(at)
	if got := text(find(p.doc, "dd", "data-testid", "case-status")); got != "Not upheld" {
		t.Fatalf("status shown %q", got)
	}
	for _, f := range findAll(p.doc, "form", "method", "post") {
		if strings.HasPrefix(attr(f, "action"), at+"/") {
			t.Fatalf("a closed case still offers a step: %s", attr(f, "action"))
		}
	}
	if r := ig.post(at+"/close", url2(ig, "close-note", "again")); r.status != http.StatusConflict {
		t.Fatalf("closing twice: status %d, want 409", r.status)
	}
}
