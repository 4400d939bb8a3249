package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/pgtest"
	"github.com/carerecord/carerecord/web"
	"github.com/carerecord/carerecord/web/devidp"
)

// nodeConfigEnv, set in a child process of the test binary, makes it run
// `carerecord serve` with that configuration instead of the tests: the
// failover test's nodes are real processes, so that one can be killed.
const nodeConfigEnv = "CARERECORD_TEST_NODE_CONFIG"

func runNodeIfAsked() {
	cfg := os.Getenv(nodeConfigEnv)
	if cfg == "" {
		return
	}
	err := run(context.Background(), []string{"serve", "--config", cfg}, os.Getenv, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// cluster is several serve nodes on one PostgreSQL database behind a
// round-robin proxy, with an IdP and a synthetic Trust they share.
type cluster struct {
	t     *testing.T
	dsn   string
	proxy *httptest.Server
	rr    *roundRobin
	idp   *devidp.IdP
	nodes []*exec.Cmd
}

func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{t: t, dsn: pgtest.DSN(t), rr: &roundRobin{}}
	c.proxy = httptest.NewServer(c.rr)
	t.Cleanup(c.proxy.Close)
	base := c.proxy.URL

	// One service provider key for every node, and one IdP whose
	// metadata every node reads from a file, as in production.
	kp, cp := filepath.Join(dir, "sp.key"), filepath.Join(dir, "sp.crt")
	if _, _, err := devidp.LoadOrCreateKeyPair(kp, cp, "sp"); err != nil {
		t.Fatal(err)
	}
	ik, ic, err := devidp.GenerateKeyPair("idp")
	if err != nil {
		t.Fatal(err)
	}
	c.idp, err = devidp.New(devidp.Options{BaseURL: mustURL("https://idp.example.nhs.uk/saml"), Key: ik, Cert: ic,
		Users: devidp.DemoUsers(), Password: "demo", Attributes: devIdPAttributes(web.DefaultAttributes())})
	if err != nil {
		t.Fatal(err)
	}
	md, _ := xml.Marshal(c.idp.Metadata())
	mdPath := writeFile(t, dir, "idp.xml", string(md))

	trusts, err := synthetic.Start(synthetic.Orgs()[:1], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trusts.Close() })
	src := trusts.Configs()[0]

	for i := range n {
		addr := freePort(t)
		cfg := writeFile(t, dir, fmt.Sprintf("node%d.toml", i), `
base_url = "`+base+`"
listen = "`+addr+`"
database = "`+c.dsn+`"
[saml]
idp_metadata_file = "`+mdPath+`"
sp_cert_file = "`+cp+`"
sp_key_file = "`+kp+`"
[audit]
witness_file = "`+filepath.Join(dir, fmt.Sprintf("node%d.witness", i))+`"
[[sources]]
name = "`+src.Name+`"
ods = "`+src.ODS+`"
kind = "fhir"
base_url = "`+src.BaseURL+`"
`)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), nodeConfigEnv+"="+cfg,
			"CARERECORD_SESSION_KEY="+testKey, "CARERECORD_AUDIT_KEY="+testCacheKey, "CARERECORD_CACHE_KEY="+testCacheKey)
		logs := &syncBuffer{}
		cmd.Stderr = logs
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("log of node %d:\n%s", i, logs)
			}
		})
		serving := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			said := false
			for sc.Scan() {
				if !said && strings.Contains(sc.Text(), "carerecord serving") {
					said = true
					serving <- true
				}
			}
			if !said {
				serving <- false
			}
		}()
		select {
		case ok := <-serving:
			if !ok {
				t.Fatalf("node %d ended before serving:\n%s", i, logs)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("node %d not serving within a minute:\n%s", i, logs)
		}
		c.rr.add(mustURL("http://" + addr))
		c.nodes = append(c.nodes, cmd)
	}
	// The IdP learns the service provider (the same on every node).
	resp, err := http.Get(base + "/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ed saml.EntityDescriptor
	if err := xml.NewDecoder(resp.Body).Decode(&ed); err != nil {
		t.Fatal(err)
	}
	c.idp.AddServiceProvider(&ed)
	return c
}

// roundRobin sends each request to the next node, and to the one after
// when a node cannot be reached at all (the request never left), as a
// load balancer does; a request a node dropped half way is answered 502.
type roundRobin struct {
	mu    sync.Mutex
	nodes []*url.URL
	next  int
	tr    http.Transport
}

func (rr *roundRobin) add(u *url.URL) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.nodes = append(rr.nodes, u)
}

func (rr *roundRobin) pick() (*url.URL, int) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	u := rr.nodes[rr.next%len(rr.nodes)]
	rr.next++
	return u, len(rr.nodes)
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	_, n := rr.pick()
	for range n {
		node, _ := rr.pick()
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = node.Scheme, node.Host
		out.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := rr.tr.RoundTrip(out)
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			continue
		}
		if err != nil {
			http.Error(w, "node dropped the request", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	http.Error(w, "no node reachable", http.StatusBadGateway)
}

// clinician is one signed-in user's browser, as far as the test needs.
type clinician struct {
	c    *http.Client
	base string
	csrf string
}

func (cl *clinician) do(method, path string, form url.Values) (int, string, http.Header, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, cl.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := cl.c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// signIn goes through SAML sign-in once: the portal's AuthnRequest, the
// IdP's signed response for the user, the POST back to the portal.
func (c *cluster) signIn(user string) *clinician {
	t := c.t
	t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &clinician{base: c.proxy.URL, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	code, _, h, err := cl.do(http.MethodGet, "/saml/login?return=/patients", nil)
	if err != nil || code != http.StatusFound {
		t.Fatalf("sign-in start: %d, %v", code, err)
	}
	loc, err := url.Parse(h.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	form, err := c.idp.Respond(loc, user, devidp.RespondOptions{})
	if err != nil {
		t.Fatal(err)
	}
	acs, _ := url.Parse(form.URL)
	code, _, _, err = cl.do(http.MethodPost, acs.Path, url.Values{"SAMLResponse": {form.SAMLResponse}, "RelayState": {form.RelayState}})
	if err != nil || code >= 400 {
		t.Fatalf("sign-in response: %d, %v", code, err)
	}
	code, page, _, err := cl.do(http.MethodGet, "/patients", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("patient search after sign-in: %d, %v", code, err)
	}
	if cl.csrf = csrfToken(page); cl.csrf == "" {
		t.Fatal("no CSRF token on the patient search page")
	}
	return cl
}

// h1Text is the text of the page's first h1.
func h1Text(page string) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return ""
	}
	var text func(*html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			b.WriteString(text(ch))
		}
		return b.String()
	}
	var find func(*html.Node) *html.Node
	find = func(n *html.Node) *html.Node {
		if n.Type == html.ElementNode && n.Data == "h1" {
			return n
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			if f := find(ch); f != nil {
				return f
			}
		}
		return nil
	}
	if h := find(doc); h != nil {
		return strings.TrimSpace(text(h))
	}
	return ""
}

func csrfToken(page string) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return ""
	}
	var tok string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "meta" {
			var name, content string
			for _, a := range n.Attr {
				switch a.Key {
				case "name":
					name = a.Val
				case "content":
					content = a.Val
				}
			}
			if name == "csrf-token" {
				tok = content
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	return tok
}

// viewRecord states a reason and opens the patient's record. It reports
// whether the record was shown (200 on the record itself), whether the
// user was sent to sign in again, and any other answer.
type viewResult int

const (
	viewShown viewResult = iota
	viewRefused
	viewSignedOut
)

func (cl *clinician) viewRecord(nhs string) (viewResult, error) {
	code, _, h, err := cl.do(http.MethodPost, "/patients/"+nhs+"/access", url.Values{"csrf_token": {cl.csrf}, "reason": {"direct-care"}})
	switch {
	case err != nil || code >= 500:
		return viewRefused, err
	case code != http.StatusSeeOther:
		return signedOutOr(code, h)
	}
	code, _, h, err = cl.do(http.MethodGet, "/patients/"+nhs, nil)
	switch {
	case err != nil || code >= 500:
		return viewRefused, err
	case code == http.StatusOK:
		return viewShown, nil
	}
	return signedOutOr(code, h)
}

func signedOutOr(code int, h http.Header) (viewResult, error) {
	if loc := h.Get("Location"); code/100 == 3 && (strings.Contains(loc, "login") || loc == "/") {
		return viewSignedOut, nil
	}
	return viewRefused, fmt.Errorf("unexpected answer %d", code)
}

// auditedOpens counts the record openings the shared audit log holds.
func (c *cluster) auditedOpens(nhs string) int64 {
	c.t.Helper()
	db, err := store.Open(c.dsn, store.WithAuditKey(mustAuditKey(c.t)))
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	var n int64
	var before int64
	for {
		evs, next, err := db.SearchAudit(context.Background(), store.AuditFilter{NHSNumber: nhs, Actions: []store.Action{store.ActRecordOpen},
			Outcome: store.OutcomeAllowed, BeforeSeq: before, Limit: 500})
		if err != nil {
			c.t.Fatal(err)
		}
		n += int64(len(evs))
		if next == 0 {
			return n
		}
		before = next
	}
}

func mustAuditKey(t *testing.T) []byte {
	k, err := store.ParseAuditKey(testCacheKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// load runs clients viewing records until each has seen perClient
// records; midway (after `at` views in all) it calls event once. With
// exclusive, the other clients wait while event runs (so that they do
// not spin on refusals for as long as it takes); without, they go on.
func load(t *testing.T, cls []*clinician, nhs string, perClient, at int, exclusive bool, event func()) (shown, refused, signedOut int64) {
	var (
		total atomic.Int64
		once  sync.Once
		wg    sync.WaitGroup
		s, r  atomic.Int64
		so    atomic.Int64
		pause sync.RWMutex
	)
	run := func() {
		if exclusive {
			pause.Lock()
			defer pause.Unlock()
		}
		event()
	}
	for _, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := 0
			for tries := 0; seen < perClient && tries < perClient*20; tries++ {
				pause.RLock()
				res, _ := cl.viewRecord(nhs)
				pause.RUnlock()
				switch res {
				case viewShown:
					seen++
					s.Add(1)
					if total.Add(1) == int64(at) {
						once.Do(run)
					}
				case viewRefused:
					r.Add(1)
				case viewSignedOut:
					so.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	once.Do(func() { t.Errorf("the load ended before the event (%d views)", total.Load()) })
	return s.Load(), r.Load(), so.Load()
}

// TestFailover: two nodes on one PostgreSQL behind a round-robin proxy;
// clinicians sign in once and keep opening records; one node is killed
// (SIGKILL) mid-load. Every clinician carries on through the other node
// without signing in again, every record a clinician saw has its audit
// event, and the chain verifies.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	c := startCluster(t, 2)
	const nhs = "9990000018"
	var cls []*clinician
	for range 4 {
		cls = append(cls, c.signIn("clinician"))
	}
	killed := false
	shown, refused, signedOut := load(t, cls, nhs, 8, 12, false, func() {
		if err := c.nodes[0].Process.Kill(); err == nil {
			killed = true
		}
	})
	t.Logf("%d records shown, %d requests refused while the node went", shown, refused)
	if !killed {
		t.Fatal("the node was not killed")
	}
	t.Run("NobodySignedInAgain", func(t *testing.T) {
		if signedOut != 0 {
			t.Fatalf("%d clinicians were sent to sign in again", signedOut)
		}
		if shown != int64(len(cls))*8 {
			t.Fatalf("%d records shown, want %d", shown, len(cls)*8)
		}
	})
	t.Run("EveryViewAudited", func(t *testing.T) {
		if n := c.auditedOpens(nhs); n < shown {
			t.Fatalf("%d record openings audited, %d shown", n, shown)
		}
	})
	t.Run("ChainVerifies", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"audit", "verify", "--db", c.dsn}, env(map[string]string{"CARERECORD_AUDIT_KEY": testCacheKey}), &out, io.Discard); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
	})
}

// TestDatabaseRestartUnderLoad: PostgreSQL stops and starts again while
// clinicians open records; requests fail cleanly meanwhile (no record is
// shown that the log does not hold) and service resumes by itself.
func TestDatabaseRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	c := startCluster(t, 1)
	pg := pgtest.Shared(t)
	const nhs = "9990000018"
	cls := []*clinician{c.signIn("clinician"), c.signIn("clinician")}
	var restartErr error
	var refusedWhileDown atomic.Int64
	shown, refused, signedOut := load(t, cls, nhs, 6, 4, true, func() {
		if err := pg.Stop(); err != nil {
			restartErr = err
			return
		}
		// Clinicians' requests while the database is away are refused.
		for _, cl := range cls {
			res, err := cl.viewRecord(nhs)
			if res != viewRefused {
				t.Errorf("while the database was down a view ended %v (%v), want refused", res, err)
			}
			refusedWhileDown.Add(1)
			// The record page itself says plainly that it cannot be had,
			// and asks the client to come back later, uncached.
			code, page, h, _ := cl.do(http.MethodGet, "/patients/"+nhs, nil)
			if h1 := h1Text(page); code != http.StatusServiceUnavailable || h1 != "carerecord cannot reach its database just now" {
				t.Errorf("record while the database was down: %d %q", code, h1)
			}
			if h.Get("Retry-After") == "" || h.Get("Cache-Control") != "no-store" {
				t.Errorf("record while the database was down: Retry-After %q, Cache-Control %q", h.Get("Retry-After"), h.Get("Cache-Control"))
			}
		}
		restartErr = pg.Restart()
	})
	if restartErr != nil {
		t.Fatal(restartErr)
	}
	t.Logf("%d records shown, %d requests refused", shown, refused)
	if signedOut != 0 || shown != int64(len(cls))*6 {
		t.Fatalf("%d shown (want %d), %d sent to sign in again: service did not resume", shown, len(cls)*6, signedOut)
	}
	if refusedWhileDown.Load() == 0 {
		t.Error("no request was made while the database was down")
	}
	if n := c.auditedOpens(nhs); n < shown {
		t.Fatalf("%d record openings audited, %d shown", n, shown)
	}
}

// TestObjectionUpheldOnOneNodeHoldsOnEvery: an objection upheld through
// one node (here a third process on the same database, as the IG
// officer's node) is in force on every node at the clinician's next view,
// whichever node serves it.
func TestObjectionUpheldOnOneNodeHoldsOnEvery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	c := startCluster(t, 2)
	const nhs = "9990000018"
	cl := c.signIn("clinician")
	banner := func() (bool, error) {
		if res, err := cl.viewRecord(nhs); res != viewShown {
			return false, fmt.Errorf("record not shown: %v", err)
		}
		code, page, _, err := cl.do(http.MethodGet, "/patients/"+nhs, nil)
		if err != nil || code != http.StatusOK {
			return false, fmt.Errorf("record: %d %v", code, err)
		}
		return hasTestID(page, "objection-banner"), nil
	}
	for range 2 { // one view on each node
		if b, err := banner(); err != nil || b {
			t.Fatalf("before the objection: banner %v, %v", b, err)
		}
	}
	cacheKey, err := store.ParseCacheKey(testCacheKey)
	if err != nil {
		t.Fatal(err)
	}
	ig, err := store.Open(c.dsn, store.WithAuditKey(mustAuditKey(t)), store.WithCacheKey(cacheKey))
	if err != nil {
		t.Fatal(err)
	}
	defer ig.Close()
	if err := ig.SeedUpheldObjection(context.Background(), nhs, "upheld by the privacy officer"); err != nil {
		t.Fatal(err)
	}
	if _, err := ig.PurgeCachedRecords(context.Background(), nhs); err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // two views on each node
		if b, err := banner(); err != nil || !b {
			t.Fatalf("view %d after the objection: banner %v, %v", i, b, err)
		}
	}
}

// hasTestID reports whether the page has an element with that data-testid.
func hasTestID(page, id string) bool {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return false
	}
	var walk func(*html.Node) bool
	walk = func(n *html.Node) bool {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == "data-testid" && a.Val == id {
					return true
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			if walk(ch) {
				return true
			}
		}
		return false
	}
	return walk(doc)
}
