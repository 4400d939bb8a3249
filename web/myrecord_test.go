package web_test

import (
	"crypto/rsa"
	"encoding/csv"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
)

// TestNHSLoginSignIn: a patient signs in through the development NHS login
// (a real OpenID provider on loopback: P9 asked for in vtr, the client
// authenticated by an RS512 assertion, the ID token checked) into a patient
// session, and lands on their own page.
func TestNHSLoginSignIn(t *testing.T) {
	e := newEnv(t, withNHSLogin())
	b := e.browser()
	start := b.get("/my-record/sign-in")
	authz, _ := url.Parse(start.header.Get("Location"))
	if got := authz.Query().Get("vtr"); got != `["P9.Cp.Cd","P9.Cp.Ck","P9.Cm"]` {
		t.Fatalf("vtr asked for %q, want the P9 vectors", got)
	}
	p := b.signInNHSLogin("patient")
	if p.url.Path != "/my-record" || p.status != http.StatusOK {
		t.Fatalf("after NHS login: %d %s", p.status, p.url.Path)
	}
	if got := text(find(p.doc, "span", "data-testid", "my-nhs-number")); got != "999 000 0018" {
		t.Fatalf("page for NHS number %q, want 999 000 0018", got)
	}
	sess := sessionOf(t, e, b)
	if sess.Protocol != store.ProtocolNHSLogin || sess.UserNHS != "9990000018" || len(sess.Profiles) != 0 || sess.UserID != "nhslogin:nhslogin-0018" {
		t.Fatalf("session %+v, want a patient session for 9990000018 with no role profile", sess)
	}
	evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActSignIn}})
	if len(evs) != 1 || evs[0].NHSNumber != "9990000018" || !strings.Contains(evs[0].Detail, "identity proofing level P9") {
		t.Fatalf("sign-in audit %+v", evs)
	}
	t.Run("SignOut", func(t *testing.T) {
		p := b.follow(b.post("/my-record/sign-out", url.Values{"csrf_token": {b.csrf()}}))
		if p.url.Path != "/my-record/signed-out" {
			t.Fatalf("sign-out ended on %s", p.url.Path)
		}
		if p := b.get("/my-record"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/my-record/sign-in") {
			t.Fatalf("after sign-out /my-record: %d %q", p.status, p.header.Get("Location"))
		}
	})
}

// TestNHSLoginRefused drives each refusal through the real flow, with the
// ID token rewritten in flight where NHS login would never send it.
func TestNHSLoginRefused(t *testing.T) {
	e := newEnv(t, withNHSLogin())
	cases := []struct {
		name   string
		user   string
		tamper func(map[string]any) *rsa.PrivateKey
		reason string
		cause  string
	}{
		{name: "ErrBelowP9", user: "lowlevel", reason: "needs the highest level of identity checks", cause: "P5 granted, P9 required"},
		{name: "ErrVOTBelowP9", user: "patient", tamper: func(c map[string]any) *rsa.PrivateKey {
			c["vot"], c["identity_proofing_level"] = "P5.Cp.Cd", "P5"
			return nil
		}, reason: "needs the highest level of identity checks", cause: "P5 granted, P9 required"},
		{name: "ErrWrongAudience", user: "patient", tamper: func(c map[string]any) *rsa.PrivateKey { c["aud"] = "another-service"; return nil },
			reason: "could not be checked", cause: "wrong audience"},
		{name: "ErrBadSignature", user: "patient", tamper: func(map[string]any) *rsa.PrivateKey { return otherKey },
			reason: "could not be checked", cause: "bad signature"},
		{name: "ErrNonceMismatch", user: "patient", tamper: func(c map[string]any) *rsa.PrivateKey { c["nonce"] = "x"; return nil },
			reason: "could not be checked", cause: "nonce mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.tamper(tc.tamper)
			defer e.tamper(nil)
			b := e.browser()
			p := b.signInNHSLogin(tc.user)
			assertPatientRefused(t, e, b, p, tc.reason, tc.cause, true)
		})
	}
	t.Run("ErrReplayedCode", func(t *testing.T) {
		b := e.browser()
		cbURL := nhsLoginFlow.answer(t, b, "patient")
		callback := cbURL.String()
		pending := b.c.Jar.Cookies(cbURL)
		if p := b.follow(b.get(callback)); p.url.Path != "/my-record" {
			t.Fatalf("first use of the code: %s", p.url.Path)
		}
		// The same callback again, with this browser's sign-in put back as
		// it was: the state matches, and NHS login must refuse the code.
		b.c.Jar.SetCookies(cbURL, pending)
		p := b.get(callback)
		// (The browser keeps the session the first use began.)
		assertPatientRefused(t, e, b, p, "could not be checked", "code exchange refused", false)
	})
	// The pending sign-in (state, nonce, verifier in a cookie) must be this
	// browser's, live, matching, and used once.
	const tooLong = "took too long, or was started in another window"
	t.Run("ErrTookTooLong", func(t *testing.T) {
		b := e.browser()
		cb := nhsLoginFlow.answer(t, b, "patient")
		e.clock.Advance(6 * time.Minute) // the request window is 5 minutes
		defer e.clock.Advance(-6 * time.Minute)
		assertPatientRefused(t, e, b, b.get(cb.String()), tooLong, "no live sign-in", true)
	})
	t.Run("ErrStartedInAnotherWindow", func(t *testing.T) {
		cb := nhsLoginFlow.answer(t, e.browser(), "patient")
		b := e.browser()
		assertPatientRefused(t, e, b, b.get(cb.String()), tooLong, "no live sign-in", true)
	})
	t.Run("ErrStateMismatchThenUsedOnce", func(t *testing.T) {
		b := e.browser()
		cb := nhsLoginFlow.answer(t, b, "patient")
		forged := *cb
		q := forged.Query()
		q.Set("state", "not-this-browsers")
		forged.RawQuery = q.Encode()
		assertPatientRefused(t, e, b, b.get(forged.String()), "could not be checked", "state mismatch", true)
		// The refusal spent the pending sign-in: the genuine answer is too late.
		assertPatientRefused(t, e, b, b.get(cb.String()), tooLong, "no live sign-in", true)
	})
}

func assertPatientRefused(t *testing.T, e *env, b *browser, p *page, reason, cause string, signedOut bool) {
	t.Helper()
	if p.status != http.StatusForbidden {
		t.Fatalf("status %d (%s), want 403", p.status, p.url)
	}
	if got := text(find(p.doc, "p", "data-testid", "refusal-reason")); !strings.Contains(got, reason) {
		t.Fatalf("refusal says %q, want %q", got, reason)
	}
	evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActSignInRefused}})
	if len(evs) == 0 || !strings.Contains(evs[0].Detail, cause) || !strings.HasPrefix(evs[0].Detail, "NHS login") {
		t.Fatalf("refusal audit %+v, want one naming %q", evs[:min(1, len(evs))], cause)
	}
	if p := b.get("/my-record"); signedOut && p.status != http.StatusSeeOther {
		t.Fatalf("after a refusal /my-record: %d, want sign-in asked", p.status)
	}
}

// openedBy writes to the audit log the clinician's opening of each
// patient's record, as the record page writes it.
func openedBy(t *testing.T, e *env, patients ...string) {
	t.Helper()
	for _, nhs := range patients {
		if _, err := e.db.Audit(t.Context(), store.AuditEvent{Action: store.ActRecordOpen, NHSNumber: nhs, Reason: "direct-care",
			UserID: "555000000001", UserName: "Dr Amara Okafor", RoleCode: "R8000", ODS: "RJZ", Outcome: store.OutcomeAllowed}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPatientAccessesCSV: the patient's download says of each access
// whether it was emergency (break-glass) access.
func TestPatientAccessesCSV(t *testing.T) {
	e := newEnv(t, withNHSLogin())
	seq := map[store.Action]string{}
	for _, ev := range []store.AuditEvent{
		{Action: store.ActRecordOpen, NHSNumber: "9990000018", Reason: "direct-care",
			UserID: "555000000001", UserName: "Dr Amara Okafor", RoleCode: "R8000", ODS: "RJZ", Outcome: store.OutcomeAllowed},
		{Action: store.ActBreakGlass, NHSNumber: "9990000018", Reason: "emergency", Detail: "unconscious in ED",
			UserID: "555000000001", UserName: "Dr Amara Okafor", RoleCode: "R8000", ODS: "RJZ", Outcome: store.OutcomeAllowed},
	} {
		got, err := e.db.Audit(t.Context(), ev)
		if err != nil {
			t.Fatal(err)
		}
		seq[ev.Action] = strconv.FormatInt(got.Seq, 10)
	}
	b := e.browser()
	b.signInNHSLogin("patient")
	rows, err := csv.NewReader(strings.NewReader(b.get("/my-record/accesses.csv").body)).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("CSV: %d rows, %v", len(rows), err)
	}
	col := slices.Index(rows[0], "Emergency access")
	if col < 0 {
		t.Fatalf("no Emergency access column in %q", rows[0])
	}
	emergency := map[string]string{}
	for _, r := range rows[1:] {
		emergency[r[0]] = r[col]
	}
	for _, tc := range []struct {
		name   string
		action store.Action
		want   string
	}{{"RecordOpenedIsNot", store.ActRecordOpen, "No"}, {"BreakGlassIs", store.ActBreakGlass, "Yes"}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := emergency[seq[tc.action]]; got != tc.want {
				t.Errorf("access %s (%s): emergency %q, want %q", seq[tc.action], tc.action, got, tc.want)
			}
		})
	}
}

// TestPatientSeesOwnAccessesOnly: a patient sees every access to their own
// record (and no other patient's, whatever the URL or form says), each
// view audited; a concern about an access opens an IG alert whose review
// the patient then sees; an access an IG officer hid is not shown.
func TestPatientSeesOwnAccessesOnly(t *testing.T) {
	e := newEnv(t, withNHSLogin())
	openedBy(t, e, "9990000018", "9990000026", "9990000018", "9990000018")
	mine := events(t, e, store.AuditFilter{NHSNumber: "9990000018", Actions: []store.Action{store.ActRecordOpen}})
	theirs := events(t, e, store.AuditFilter{NHSNumber: "9990000026", Actions: []store.Action{store.ActRecordOpen}})
	if len(mine) == 0 || len(theirs) == 0 {
		t.Fatalf("the record opens were not audited: %d, %d", len(mine), len(theirs))
	}
	b := e.browser()
	b.signInNHSLogin("patient")
	seqs := func(p *page) []int64 {
		var out []int64
		for _, n := range findAll(p.doc, "li", "data-testid", "access") {
			v, _ := strconv.ParseInt(attr(n, "data-seq"), 10, 64)
			out = append(out, v)
		}
		return out
	}
	p := b.get("/my-record?nhs=9990000026&before=0")
	got := seqs(p)
	if len(got) != len(mine) || got[0] != mine[0].Seq {
		t.Fatalf("accesses shown %v, want this patient's %d record opens, newest first", got, len(mine))
	}
	for _, s := range got {
		if s == theirs[0].Seq {
			t.Fatal("another patient's access is shown")
		}
	}
	card := find(p.doc, "li", "data-seq", strconv.FormatInt(mine[0].Seq, 10))
	if txt := text(card); !strings.Contains(txt, "Clinical Practitioner") || !strings.Contains(txt, "RJZ") ||
		!strings.Contains(txt, "I am providing direct care") || strings.Contains(txt, "Okafor") {
		t.Fatalf("access card reads %q: want role, organisation and reason, and no staff name by default", txt)
	}
	// Two views: the page after sign-in, and this one.
	if evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActPatientViewedAccess}}); len(evs) != 2 ||
		evs[0].NHSNumber != "9990000018" || evs[0].UserID != "nhslogin:nhslogin-0018" || evs[1].NHSNumber != "9990000018" {
		t.Fatalf("view audit %+v, want one per view, for this patient", evs)
	}

	t.Run("ErrConcernAboutAnotherPatientsAccess", func(t *testing.T) {
		p := b.post("/my-record/concerns", url.Values{"csrf_token": {b.csrf()}, "access": {strconv.FormatInt(theirs[0].Seq, 10)}})
		if p.status != http.StatusNotFound {
			t.Fatalf("status %d, want 404", p.status)
		}
		if as, _ := e.db.Alerts(t.Context(), "", 50); slices.ContainsFunc(as, func(a store.Alert) bool { return a.Kind == store.AlertPatientConcern }) {
			t.Fatal("a concern about another patient's access raised an alert")
		}
		evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActPatientConcern}, Outcome: store.OutcomeRefused})
		if len(evs) != 1 {
			t.Fatalf("the refused concern was not audited: %+v", evs)
		}
	})
	t.Run("ConcernToAlertAndBack", func(t *testing.T) {
		p := b.follow(b.post("/my-record/concerns", url.Values{"csrf_token": {b.csrf()}, "access": {strconv.FormatInt(mine[0].Seq, 10)}}))
		if find(p.doc, "div", "data-testid", "concern-raised") == nil {
			t.Fatalf("no confirmation after raising a concern (%d %s)", p.status, p.url)
		}
		as, _ := e.db.Alerts(t.Context(), store.AlertOpen, 50)
		i := slices.IndexFunc(as, func(a store.Alert) bool { return a.Kind == store.AlertPatientConcern })
		if i < 0 || as[i].NHSNumber != "9990000018" || !strings.Contains(as[i].Why, "access #"+strconv.FormatInt(mine[0].Seq, 10)) ||
			!strings.Contains(as[i].Why, "Dr Amara Okafor") {
			t.Fatalf("alerts %+v, want a patient-concern alert naming the access and who made it", as)
		}
		ig := e.browser()
		ig.signIn("/saml/login", "igofficer")
		id := strconv.FormatInt(as[i].ID, 10)
		status := func() string {
			t.Helper()
			return text(find(b.get("/my-record").doc, "strong", "data-testid", "concern-status"))
		}
		if got := status(); !strings.HasPrefix(got, "Received") {
			t.Fatalf("before any officer opened it the concern reads %q, want Received", got)
		}
		if p := ig.get("/ig/alerts/" + id); p.status != http.StatusOK || find(p.doc, "textarea", "id", "message") == nil {
			t.Fatalf("the concern's review page (%d) has no message to the patient", p.status)
		}
		if got := status(); !strings.HasPrefix(got, "Being reviewed") {
			t.Fatalf("once an officer opened it the concern reads %q, want Being reviewed", got)
		}
		// Closing needs a message to the patient; the finding alone is refused.
		p = ig.post("/ig/alerts/"+id+"/review", url.Values{"csrf_token": {ig.csrf()}, "outcome": {store.AlertReviewed},
			"note": {"Rota checked: Okafor in clinic 3."}})
		if p.status != http.StatusBadRequest || find(p.doc, "span", "id", "message-error") == nil {
			t.Fatalf("closing without a message to the patient: %d, want 400 naming the message", p.status)
		}
		if got := status(); !strings.HasPrefix(got, "Being reviewed") {
			t.Fatalf("a refused review changed the concern to %q", got)
		}
		if p := ig.post("/ig/alerts/"+id+"/review", url.Values{"csrf_token": {ig.csrf()}, "outcome": {store.AlertReviewed},
			"note": {"Rota checked: Okafor in clinic 3."}, "message": {"Dr Okafor was treating you in clinic that day."}}); p.status != http.StatusSeeOther {
			t.Fatalf("review: %d", p.status)
		}
		p = b.get("/my-record")
		if got := text(find(p.doc, "strong", "data-testid", "concern-status")); got != "Closed" {
			t.Fatalf("concern status %q, want Closed", got)
		}
		if got := text(find(p.doc, "span", "data-testid", "concern-message")); got != "Dr Okafor was treating you in clinic that day." {
			t.Fatalf("concern message %q", got)
		}
		if strings.Contains(text(p.doc), "Rota checked") {
			t.Fatal("the officer's internal finding is shown to the patient")
		}
		if p := ig.get("/ig/alerts/" + id); !strings.Contains(text(p.doc), "Dr Okafor was treating you in clinic that day.") {
			t.Fatal("the closed alert does not show the message the patient was sent")
		}
	})
	t.Run("HiddenAccessNotShown", func(t *testing.T) {
		ig := e.browser()
		ig.signIn("/saml/login", "igofficer")
		hide := mine[len(mine)-1].Seq
		p := ig.post("/ig/patients/9990000018/hide", url.Values{"csrf_token": {ig.csrf()}, "access": {strconv.FormatInt(hide, 10)}})
		if p.status != http.StatusBadRequest {
			t.Fatalf("hiding without a reason: %d, want 400", p.status)
		}
		p = ig.post("/ig/patients/9990000018/hide", url.Values{"csrf_token": {ig.csrf()}, "access": {strconv.FormatInt(hide, 10)},
			"reason": {"Safeguarding investigation under way"}})
		if p.status != http.StatusOK || find(p.doc, "p", "data-testid", "hidden-done") == nil {
			t.Fatalf("hiding: %d", p.status)
		}
		if got := text(find(p.doc, "ul", "data-testid", "hidden")); !strings.Contains(got, "Safeguarding investigation under way") {
			t.Fatalf("the IG view lists hidden accesses as %q", got)
		}
		report := ig.get("/ig/hidden")
		if row := find(report.doc, "tr", "data-seq", strconv.FormatInt(hide, 10)); row == nil ||
			!strings.Contains(text(row), "999 000 0018") || !strings.Contains(text(row), "Safeguarding investigation under way") {
			t.Fatalf("the IG report of hidden accesses does not list access %d with its patient and reason", hide)
		}
		if evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActAccessHidden}}); len(evs) != 1 || evs[0].UserID != "555000000004" {
			t.Fatalf("hiding audit %+v", evs)
		}
		if slices.Contains(seqs(b.get("/my-record")), hide) {
			t.Fatal("the hidden access is still shown to the patient")
		}
		rows, err := csv.NewReader(strings.NewReader(b.get("/my-record/accesses.csv").body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows[1:] {
			if r[0] == strconv.FormatInt(hide, 10) {
				t.Fatal("the hidden access is in the patient's CSV")
			}
		}
		if len(rows) != len(mine) { // the header, and every access but the hidden one
			t.Fatalf("CSV has %d rows, want %d", len(rows), len(mine))
		}
	})
	t.Run("UnhiddenShownAgain", func(t *testing.T) {
		ig := e.browser()
		ig.signIn("/saml/login", "igofficer")
		hidden := mine[len(mine)-1].Seq
		access := url.Values{"csrf_token": {ig.csrf()}, "access": {strconv.FormatInt(hidden, 10)}}
		if p := ig.post("/ig/patients/9990000018/unhide", access); p.status != http.StatusBadRequest {
			t.Fatalf("unhiding without a reason: %d, want 400", p.status)
		}
		notHidden := url.Values{"csrf_token": {ig.csrf()}, "access": {strconv.FormatInt(mine[0].Seq, 10)}, "reason": {"Investigation closed"}}
		if p := ig.post("/ig/patients/9990000018/unhide", notHidden); p.status != http.StatusBadRequest {
			t.Fatalf("unhiding an access never hidden: %d, want 400", p.status)
		}
		// Another patient's page cannot unhide this patient's access.
		other := url.Values{"csrf_token": {ig.csrf()}, "access": {strconv.FormatInt(hidden, 10)}, "reason": {"Investigation closed"}}
		if p := ig.post("/ig/patients/9990000026/unhide", other); p.status != http.StatusBadRequest {
			t.Fatalf("unhiding through another patient: %d, want 400", p.status)
		}
		if evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActAccessUnhidden}}); len(evs) != 0 {
			t.Fatalf("refused unhidings were audited as done: %+v", evs)
		}
		access.Set("reason", "Safeguarding investigation closed")
		p := ig.post("/ig/patients/9990000018/unhide", access)
		if p.status != http.StatusOK || find(p.doc, "p", "data-testid", "unhidden-done") == nil {
			t.Fatalf("unhiding: %d", p.status)
		}
		if got := text(find(p.doc, "ul", "data-testid", "unhidden")); !strings.Contains(got, "Safeguarding investigation under way") ||
			!strings.Contains(got, "Safeguarding investigation closed") {
			t.Fatalf("the IG view lists the unhiding as %q, want the hiding's reason and the unhiding's", got)
		}
		if find(p.doc, "li", "data-seq", strconv.FormatInt(hidden, 10)) == nil || find(find(p.doc, "ul", "data-testid", "hidden"), "li", "data-seq", strconv.FormatInt(hidden, 10)) != nil {
			t.Fatal("the access is still listed as hidden")
		}
		if evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActAccessUnhidden}}); len(evs) != 1 ||
			evs[0].UserID != "555000000004" || evs[0].NHSNumber != "9990000018" {
			t.Fatalf("unhiding audit %+v", evs)
		}
		if !slices.Contains(seqs(b.get("/my-record")), hidden) {
			t.Fatal("the unhidden access is not shown to the patient again")
		}
		if p := ig.post("/ig/patients/9990000018/unhide", access); p.status != http.StatusBadRequest {
			t.Fatalf("unhiding twice: %d, want 400", p.status)
		}
	})
}

// TestPatientObjectsOnline: an objection made with NHS login arrives at IG
// identity-checked by NHS login (an audited step), the patient sees its
// progress, and the IG decision puts it in force.
func TestPatientObjectsOnline(t *testing.T) {
	e := newEnv(t, withNHSLogin())
	b := e.browser()
	b.signInNHSLogin("patient")
	p := b.follow(b.post("/my-record/objection", url.Values{"csrf_token": {b.csrf()}, "kind": {"object"}, "reason": {"I prefer my GP to hold it."}}))
	ref := text(find(p.doc, "strong", "data-testid", "case-ref"))
	if ref == "" {
		t.Fatalf("no reference after objecting (%d %s)\n%s", p.status, p.url, lastLine(e.logs.String(), "error"))
	}
	if got := text(find(p.doc, "span", "data-testid", "case-state")); got != "waiting for a privacy officer's decision" {
		t.Fatalf("case state %q", got)
	}
	oc, err := e.db.CaseByRef(t.Context(), ref)
	if err != nil || oc.Status != store.StatusIdentityChecked || oc.MatchedNHS != "9990000018" ||
		oc.Steps[len(oc.Steps)-1].Note != "identity checked: NHS login P9" {
		t.Fatalf("case %+v %v", oc, err)
	}
	if evs := events(t, e, store.AuditFilter{Actions: []store.Action{store.ActObjectionStep}, NHSNumber: "9990000018"}); len(evs) != 1 ||
		!strings.Contains(evs[0].Detail, "identity checked: NHS login P9") {
		t.Fatalf("step audit %+v", evs)
	}
	if p := b.post("/my-record/objection", url.Values{"csrf_token": {b.csrf()}, "kind": {"object"}}); p.status != http.StatusBadRequest {
		t.Fatalf("a second request while one waits: %d, want 400", p.status)
	}
	ig := e.browser()
	ig.signIn("/saml/login", "igofficer")
	if p := ig.post("/ig/objections/"+strconv.FormatInt(oc.ID, 10)+"/decide", url.Values{"csrf_token": {ig.csrf()}, "decision": {"upheld"},
		"decision-note": {"Upheld: identity verified by NHS login."}}); p.status != http.StatusSeeOther {
		t.Fatalf("decide: %d %s", p.status, text(find(p.doc, "p", "data-testid", "error-message")))
	}
	p = b.get("/my-record/objection")
	if got := text(find(p.doc, "p", "data-testid", "in-force")); !strings.HasPrefix(got, "Your objection is in force") {
		t.Fatalf("after the decision the patient reads %q", got)
	}
	if ok, _ := e.db.HasUpheldObjection(t.Context(), "9990000018"); !ok {
		t.Fatal("the objection is not in force")
	}
}

// TestPatientObjectionUpheldAutomatically: with patients.auto_uphold, a
// P9 patient's objection is in force at once.
func TestPatientObjectionUpheldAutomatically(t *testing.T) {
	e := newEnv(t, withNHSLogin(), withConfig(func(c *web.Config) { c.Patients.AutoUphold = true }))
	b := e.browser()
	b.signInNHSLogin("restricted")
	p := b.follow(b.post("/my-record/objection", url.Values{"csrf_token": {b.csrf()}, "kind": {"object"}}))
	if got := text(find(p.doc, "p", "data-testid", "in-force")); !strings.HasPrefix(got, "Your objection is in force") {
		t.Fatalf("after objecting the patient reads %q", got)
	}
	if ok, _ := e.db.HasUpheldObjection(t.Context(), "9990000034"); !ok {
		t.Fatal("the objection is not in force")
	}
}

// TestPatientPostsRateLimited: what patients' own pages store (concerns,
// online objections) is limited as on the public objection form, per
// client address and in all, besides the limit per patient; a refusal
// stores nothing and the limits lift once the window has passed.
func TestPatientPostsRateLimited(t *testing.T) {
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	e := newEnv(t, withNHSLogin(), withConfig(func(c *web.Config) {
		c.ObjectionLimits = web.ObjectionLimits{PerAddress: 2, Global: 3, Window: time.Hour}
		c.TrustedProxies = []*net.IPNet{loopback}
	}))
	openedBy(t, e, "9990000018", "9990000018", "9990000018", "9990000034", "9990000026")
	from := func(addr, user string) *browser {
		b := e.browser()
		b.header.Set("X-Forwarded-For", addr)
		b.signInNHSLogin(user)
		return b
	}
	concern := func(b *browser, nhs string) *page {
		t.Helper()
		evs := events(t, e, store.AuditFilter{NHSNumber: nhs, Actions: []store.Action{store.ActRecordOpen}})
		return b.post("/my-record/concerns", url.Values{"csrf_token": {b.csrf()}, "access": {strconv.FormatInt(evs[0].Seq, 10)}})
	}
	concerns := func() int {
		as, _ := e.db.Alerts(t.Context(), "", 100)
		n := 0
		for _, a := range as {
			if a.Kind == store.AlertPatientConcern {
				n++
			}
		}
		return n
	}

	jane := from("192.0.2.10", "patient")
	for i := range 2 {
		if p := concern(jane, "9990000018"); p.status != http.StatusSeeOther {
			t.Fatalf("concern %d from one address: %d, want 303", i+1, p.status)
		}
	}
	t.Run("ErrPerAddress", func(t *testing.T) {
		// Another patient from the same address is held by the same limit.
		rowan := from("192.0.2.10", "restricted")
		if p := concern(rowan, "9990000034"); p.status != http.StatusTooManyRequests {
			t.Fatalf("third concern from one address: %d, want 429", p.status)
		}
		if n := concerns(); n != 2 {
			t.Fatalf("%d concerns stored, want 2", n)
		}
	})
	t.Run("ErrGlobal", func(t *testing.T) {
		if p := concern(from("192.0.2.20", "restricted"), "9990000034"); p.status != http.StatusSeeOther {
			t.Fatalf("a concern from a new address under the global cap: %d, want 303", p.status)
		}
		// The cap of three is reached: a new address is refused, for an
		// online objection as for a concern.
		oliver := from("192.0.2.30", "objector")
		if p := concern(oliver, "9990000026"); p.status != http.StatusTooManyRequests {
			t.Fatalf("a concern over the global cap: %d, want 429", p.status)
		}
		if p := oliver.post("/my-record/objection", url.Values{"csrf_token": {oliver.csrf()}, "kind": {"object"}}); p.status != http.StatusTooManyRequests {
			t.Fatalf("an online objection over the global cap: %d, want 429", p.status)
		}
		if cs, _ := e.db.PatientCases(t.Context(), "9990000026"); len(cs) != 0 || concerns() != 3 {
			t.Fatalf("refused requests were stored: %d cases, %d concerns", len(cs), concerns())
		}
		if !strings.Contains(e.logs.String(), `"why":"global rate limit"`) || strings.Contains(e.logs.String(), "192.0.2.30") {
			t.Fatal("the refusal is not logged by its limit alone")
		}
	})
	t.Run("WindowPasses", func(t *testing.T) {
		e.clock.Advance(61 * time.Minute)
		oliver := from("192.0.2.30", "objector")
		if p := oliver.post("/my-record/objection", url.Values{"csrf_token": {oliver.csrf()}, "kind": {"object"}}); p.status != http.StatusSeeOther {
			t.Fatalf("an online objection after the window: %d, want 303", p.status)
		}
	})
}

// TestRestrictedPatientPages: a restricted patient's own pages reveal no
// other person (no member of staff by name unless the configuration says
// so, not her next of kin, nothing about another patient), and no
// patient's pages reveal anything of a restricted patient's address, her
// practice, or her, to anyone else.
func TestRestrictedPatientPages(t *testing.T) {
	restricted := synthetic.RestrictedNHSNumber
	// Who and what must never reach a page other than one's own: the
	// restricted patient's address, telephone, practice and next of kin,
	// and (for her) the other patients.
	herAddress := []string{"SE22 1ZZ", "SE22", "Address withheld", "020 7946 0034", "Briony", synthetic.PeckhamGPODS, "Peckham Lantern"}
	herself := []string{"Ashdown", "Rowan", restricted, "999 000 0034"}
	others := []string{"Jane Smith", "Brackenbury", "9990000018", "999 000 0018", "9990000026", "999 000 0026", "Briony"}
	staff := []string{"Okafor", "555000000001"}

	for _, tc := range []struct {
		name  string
		names bool
	}{{"StaffNamesHidden", false}, {"StaffNamesConfigured", true}} {
		names := tc.names
		t.Run(tc.name, func(t *testing.T) {
			srcs, _ := withSources(t, nil, 3*time.Second)
			e := newEnv(t, srcs, withNHSLogin(), withConfig(func(c *web.Config) { c.Patients.ShowStaffNames = names }))
			// Staff open all three records; her practice opens hers
			// alone, and another patient's record is opened in an
			// emergency.
			openedBy(t, e, restricted, "9990000018", "9990000026", restricted)
			for _, ev := range []store.AuditEvent{
				{Action: store.ActRecordOpen, NHSNumber: restricted, Reason: "direct-care", PatientRestricted: true,
					UserID: "555000000009", UserName: "Dr Lena Marsh", RoleCode: "R8000", ODS: synthetic.PeckhamGPODS, Outcome: store.OutcomeAllowed},
				{Action: store.ActBreakGlass, NHSNumber: "9990000018", Reason: "emergency", Detail: "unconscious in ED",
					UserID: "555000000001", UserName: "Dr Amara Okafor", RoleCode: "R8000", ODS: "RJZ", Outcome: store.OutcomeAllowed},
			} {
				if _, err := e.db.Audit(t.Context(), ev); err != nil {
					t.Fatal(err)
				}
			}
			// Each patient raises a concern, answered by the privacy officer.
			ig := e.browser()
			ig.signIn("/saml/login", "igofficer")
			browsers := map[string]*browser{}
			for user, nhs := range map[string]string{"restricted": restricted, "patient": "9990000018", "objector": "9990000026"} {
				b := e.browser()
				b.signInNHSLogin(user)
				browsers[nhs] = b
				evs := events(t, e, store.AuditFilter{NHSNumber: nhs, Actions: []store.Action{store.ActRecordOpen}})
				if p := b.post("/my-record/concerns", url.Values{"csrf_token": {b.csrf()}, "access": {strconv.FormatInt(evs[0].Seq, 10)}}); p.status != http.StatusSeeOther {
					t.Fatalf("%s's concern: %d", user, p.status)
				}
			}
			as, _ := e.db.Alerts(t.Context(), store.AlertOpen, 50)
			for _, a := range as {
				if a.Kind != store.AlertPatientConcern {
					continue
				}
				id := strconv.FormatInt(a.ID, 10)
				ig.get("/ig/alerts/" + id)
				if p := ig.post("/ig/alerts/"+id+"/review", url.Values{"csrf_token": {ig.csrf()}, "outcome": {store.AlertReviewed},
					"note": {"Checked against the rota and the patient's address."}, "message": {"The access was for your care."}}); p.status != http.StatusSeeOther {
					t.Fatalf("closing the concern: %d", p.status)
				}
			}

			// Every page a patient has, as each patient sees it.
			pages := func(nhs string) map[string]string {
				b := browsers[nhs]
				out := map[string]string{}
				for _, path := range []string{"/my-record", "/my-record/objection"} {
					p := b.get(path)
					if p.status != http.StatusOK || p.doc == nil {
						t.Fatalf("%s for %s: %d", path, nhs, p.status)
					}
					out[path] = text(p.doc) + " " + p.body
				}
				csv := b.get("/my-record/accesses.csv")
				if csv.status != http.StatusOK {
					t.Fatalf("CSV for %s: %d", nhs, csv.status)
				}
				out["/my-record/accesses.csv"] = csv.body
				return out
			}
			mustNot := func(who, path, body string, words []string) {
				t.Helper()
				for _, w := range words {
					if strings.Contains(body, w) {
						t.Errorf("%s's %s reveals %q", who, path, w)
					}
				}
			}

			own := pages(restricted)
			if !strings.Contains(own["/my-record"], "Peckham Lantern") {
				t.Fatal("the restricted patient's list does not show her own practice's access: the test covers less than it says")
			}
			for path, body := range own {
				mustNot("the restricted patient", path, body, others)
				if names {
					if path != "/my-record/objection" && !strings.Contains(body, "Okafor") {
						t.Errorf("with staff names configured, her %s does not name the member of staff", path)
					}
				} else {
					mustNot("the restricted patient", path, body, append(staff, "Lena Marsh"))
				}
			}
			for _, nhs := range []string{"9990000018", "9990000026"} {
				for path, body := range pages(nhs) {
					mustNot(nhs, path, body, append(herAddress, herself...))
				}
			}
		})
	}
}
