package web_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
	"github.com/carerecord/carerecord/connectors/gpconnect"
	"github.com/carerecord/carerecord/connectors/pds"
	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
	"github.com/carerecord/carerecord/web/devidp"
	"github.com/carerecord/carerecord/web/nhslogin"
	"github.com/carerecord/carerecord/web/oidc"
	"github.com/carerecord/carerecord/web/smart"
)

// Keys are slow to make; every test in the package shares one set.
var (
	keysOnce        sync.Once
	spKey, idpKey   *rsa.PrivateKey
	spCert, idpCert *x509.Certificate
	otherKey        *rsa.PrivateKey
	otherCert       *x509.Certificate
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if spKey, spCert, err = devidp.GenerateKeyPair("test sp"); err != nil {
			panic(err)
		}
		if idpKey, idpCert, err = devidp.GenerateKeyPair("test idp"); err != nil {
			panic(err)
		}
		if otherKey, otherCert, err = devidp.GenerateKeyPair("another idp"); err != nil {
			panic(err)
		}
	})
}

// testUsers are the demo users plus the ones sign-in must refuse.
func testUsers() []devidp.User {
	return append(devidp.DemoUsers(),
		devidp.User{Username: "norole", UserID: "555000000091", DisplayName: "No Role", Assurance: "AAL3"},
		devidp.User{Username: "unmapped", UserID: "555000000092", DisplayName: "Unmapped Role", Assurance: "AAL3",
			Profiles: []devidp.Profile{{Code: "R9999", ODS: "RJZ", OrgName: "King's"}}},
		devidp.User{Username: "patientstaff", UserID: "555000000094", DisplayName: "Jane Smith", Assurance: "AAL3", NHSNumber: "9990000018",
			Profiles: []devidp.Profile{{Code: "R8001", ODS: "RJ1", OrgName: "Guy's"}}},
		devidp.User{Username: "wrongselection", UserID: "555000000095", DisplayName: "Wrong Selection", Assurance: "AAL3", SelectedRoleID: "999999999999",
			Profiles: []devidp.Profile{{Code: "R8000", ODS: "RJZ", OrgName: "King's"}}},
		devidp.User{Username: "lowaal", UserID: "555000000093", DisplayName: "Password Only", Assurance: "AAL2",
			Profiles: []devidp.Profile{{Code: "R8000", ODS: "RJZ", OrgName: "King's"}}},
	)
}

var testSessionKeys = [][]byte{bytes.Repeat([]byte("h"), 32), bytes.Repeat([]byte("b"), 32)}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is one running carerecord: real SQLite file, real HTTP server on
// loopback, the development IdP mounted as in the demo.
type env struct {
	t       *testing.T
	ts      *httptest.Server
	srv     *web.Server
	db      *store.DB
	records *records.Records
	idp     *devidp.IdP
	clock   *clock
	logs    *syncBuffer
	base    *url.URL
	// op is the development OpenID provider, with withOIDC.
	op *devidp.OP
	// epr is the synthetic EPR that launches carerecord, with withSMART.
	epr *devidp.EPR
	// nhsOP is the development NHS login, with withNHSLogin.
	nhsOP *devidp.OP
	// tamper, when set, rewrites the ID token in the provider's token
	// responses on their way to carerecord (see oidcTransport).
	tamperMu sync.Mutex
	tamperFn func(claims map[string]any) *rsa.PrivateKey
}

// envSetup is what options change before the server is built.
type envSetup struct {
	cfg      web.Config
	sources  []connectors.Config
	conns    []connectors.Connector // in-process sources, beside the FHIR ones
	deadline time.Duration
	oidc     bool // offer OpenID Connect, through the development provider
	noSAML   bool // and no SAML
	smart    bool // a synthetic EPR may launch carerecord (SMART App Launch)
	// trust, with smart, makes the EPR's own sign-in carerecord's.
	trust    *smart.Trust
	national connectors.Demographics
	// nhsLogin offers patients their own pages through the development
	// NHS login.
	nhsLogin bool
}

type envOption func(*envSetup)

// withConfig changes the server configuration.
func withConfig(f func(*web.Config)) envOption { return func(s *envSetup) { f(&s.cfg) } }

// withOIDC offers sign-in over OpenID Connect beside SAML, through the
// development OpenID provider mounted at /devidp/oidc as in the demo.
func withOIDC() envOption { return func(s *envSetup) { s.oidc = true } }

// withSMART lets a synthetic EPR, on its own loopback server, launch
// carerecord in patient context.
func withSMART() envOption { return func(s *envSetup) { s.smart = true } }

// withTrustedEPR is withSMART with the deployment trusting the EPR's
// fhirUser identity: its users are Clinical Practitioners at King's.
func withTrustedEPR() envOption {
	return func(s *envSetup) {
		s.smart = true
		s.trust = &smart.Trust{RoleCode: "R8000", ODS: "RJZ", OrgName: "King's College Hospital NHS Foundation Trust", Assurance: 3}
	}
}

// testEPRUsers are the synthetic EPR's users in tests: the demo user and
// the ones a trusted sign-in must refuse.
func testEPRUsers(iss string) []devidp.EPRUser {
	return append(devidp.DemoEPRUsers(),
		devidp.EPRUser{Username: "practitioner", PractitionerID: "prac-502", SDSUserID: "555000000007", Given: "Lena", Family: "Berg", RoleCode: "R8001", ODS: "RJZ"},
		devidp.EPRUser{Username: "patient", PractitionerID: "prac-503", SDSUserID: "555000000008", Given: "Jane", Family: "Smith",
			FHIRUser: iss + "/Patient/epr-1001"},
		devidp.EPRUser{Username: "elsewhere", PractitionerID: "prac-504", SDSUserID: "555000000009", Given: "Ann", Family: "Other",
			FHIRUser: "https://epr.other-trust.example/fhir/Practitioner/prac-504"},
		devidp.EPRUser{Username: "nosds", PractitionerID: "prac-505", Given: "Locum", Family: "Doctor", RoleCode: "R8000", ODS: "RJZ"},
		devidp.EPRUser{Username: "otherorg", PractitionerID: "prac-506", PractitionerRoleID: "role-506", SDSUserID: "555000000010",
			Given: "Guy", Family: "Visiting", RoleCode: "R8000", ODS: "RJ1"},
	)
}

// withNHSLogin offers patients their own pages, signed in through the
// development NHS login mounted at /devidp/nhslogin as in the demo.
func withNHSLogin() envOption { return func(s *envSetup) { s.nhsLogin = true } }

// testPatients are the development NHS login's demo patients plus one
// whose identity is checked only to P5, whom the pages must refuse.
func testPatients() []devidp.User {
	return append(devidp.DemoPatients(),
		devidp.User{Username: "lowlevel", UserID: "nhslogin-0042", DisplayName: "Reginald Thistlewood",
			Patient: &devidp.PatientIdentity{NHSNumber: "9990000042", GivenName: "Reginald", FamilyName: "Thistlewood", BirthDate: "1944-02-29", ProofingLevel: "P5"}})
}

// withOIDCOnly offers OpenID Connect and no SAML.
func withOIDCOnly() envOption { return func(s *envSetup) { s.oidc, s.noSAML = true, true } }

// withSources connects the synthetic Trusts and GP practices (real FHIR
// servers on loopback, read by the real FHIR connector) through the real
// fan-out and encrypted cache.
func withSources(t *testing.T, faults map[string]synthetic.Faults, deadline time.Duration) (envOption, *synthetic.Cluster) {
	t.Helper()
	cluster, err := synthetic.Start(synthetic.Orgs(), faults)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	// A counting proxy in front of every source, so tests can prove that
	// a request did (or did not) reach the sources.
	cfgs := cluster.Configs()
	for i := range cfgs {
		target, _ := url.Parse(cfgs[i].BaseURL)
		proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
		ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			upstreamRequests.Add(1)
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(ps.Close)
		cfgs[i].BaseURL = ps.URL + target.Path
	}
	return func(s *envSetup) { s.sources, s.deadline = cfgs, deadline }, cluster
}

// withPDS asks a synthetic PDS (real loopback server, real PDS connector
// with its signed-JWT token exchange) for who the patient is.
func withPDS(t *testing.T) (envOption, *synthetic.PDS) {
	t.Helper()
	srv, err := synthetic.StartPDS(synthetic.PDSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := pds.New(srv.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return func(s *envSetup) { s.national = c }, srv
}

// withGPConnect reads the GP practices through GP Connect (the synthetic
// providers, through the real gpconnect connector) instead of as FHIR R4
// servers: give it after withSources.
func withGPConnect(t *testing.T) (envOption, *synthetic.GPConnect) {
	t.Helper()
	g, err := synthetic.StartGPConnect(synthetic.GPConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	var conns []connectors.Connector
	for _, o := range g.Practices() {
		c, err := gpconnect.New(g.Config(o), g.Settings(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		conns = append(conns, c)
	}
	return func(s *envSetup) {
		s.sources = slices.DeleteFunc(s.sources, func(c connectors.Config) bool { return c.IsGPPractice() })
		s.conns = append(s.conns, conns...)
	}, g
}

// upstreamRequests counts requests that reached any synthetic source.
var upstreamRequests atomic.Int64

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvOn(t, "", opts...)
}

// newEnvOn is newEnv with the store in the database dsn names (a
// postgres:// URL; "" for a new SQLite file).
func newEnvOn(t *testing.T, dsn string, opts ...envOption) *env {
	t.Helper()
	keys(t)
	// The clock starts on a Tuesday at 10:00 in London, within working
	// hours, so that time-of-day alert rules behave the same whenever the
	// tests run.
	e := &env{t: t, clock: &clock{t: time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	var handler http.Handler = http.NotFoundHandler()
	var hmu sync.RWMutex
	e.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hmu.RLock()
		h := handler
		hmu.RUnlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.ts.Close)
	e.base, _ = url.Parse(e.ts.URL)

	var err error
	if dsn == "" {
		dsn = filepath.Join(t.TempDir(), "carerecord.db")
	}
	e.db, err = store.Open(dsn, store.WithClock(e.clock.Now),
		store.WithCacheKey(bytes.Repeat([]byte("k"), 32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	log := slog.New(slog.NewJSONHandler(e.logs, nil))
	attrs := web.DefaultAttributes()
	e.idp, err = devidp.New(devidp.Options{
		BaseURL: e.base.JoinPath("/devidp"), Key: idpKey, Cert: idpCert, Users: testUsers(), Password: "demo", Logger: log,
		Attributes: devidp.Attributes{UserID: attrs.UserID, DisplayName: attrs.DisplayName, RoleProfile: attrs.RoleProfile,
			Separator: attrs.RoleProfileSeparator, Assurance: attrs.Assurance, UserNHSNumber: attrs.UserNHSNumber},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := web.Config{
		BaseURL: e.base, SPKey: spKey, SPCert: spCert, IDPMetadata: e.idp.Metadata(),
		RequestWindow: 5 * time.Minute, Attributes: attrs, Roles: web.DefaultRoles(), MinAssurance: 3,
		IdleTimeout: 15 * time.Minute, MaxLifetime: 12 * time.Hour,
		SessionKeys: testSessionKeys,
		CSRFKey:     bytes.Repeat([]byte("c"), 32), DevIdP: e.idp, Logger: log, Version: "test", Now: e.clock.Now,
	}
	setup := &envSetup{cfg: cfg}
	for _, o := range opts {
		o(setup)
	}
	cfg = setup.cfg
	if setup.noSAML {
		cfg.IDPMetadata, cfg.DevIdP = nil, nil
	}
	if setup.oidc {
		e.op, err = devidp.NewOP(devidp.OPOptions{Issuer: e.base.JoinPath("/devidp/oidc"), Key: idpKey, Users: testUsers(),
			Password: "demo", Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		cfg.OIDC, err = oidc.New(oidc.Config{Issuer: e.op.Issuer(), ClientID: "carerecord-test", ClientKey: spKey,
			AssertionAudience: "issuer", RedirectURL: e.base.String() + "/oidc/callback", Claims: oidc.DefaultClaims(),
			HTTPClient: &http.Client{Transport: oidcTransport{e}, Timeout: 10 * time.Second}, Now: e.clock.Now, ClockSkew: 2 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		cfg.DevOP = e.op
		e.op.AddClient(devidp.OIDCClient{ID: "carerecord-test", RedirectURIs: []string{e.base.String() + "/oidc/callback"},
			PostLogoutRedirectURIs: []string{e.base.String() + "/signed-out"},
			BackChannelLogoutURI:   e.base.String() + "/oidc/backchannel-logout", Keys: cfg.OIDC.JWKS()})
	}
	if setup.nhsLogin {
		e.nhsOP, err = devidp.NewOP(devidp.OPOptions{Issuer: e.base.JoinPath("/devidp/nhslogin"), Key: idpKey, Users: testPatients(),
			Password: "demo", Logger: log, NHSLogin: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg.NHSLogin, err = nhslogin.New(nhslogin.Config{Issuer: e.nhsOP.Issuer(), ClientID: "carerecord-patients", ClientKey: spKey,
			RedirectURL: e.base.String() + "/my-record/callback",
			HTTPClient:  &http.Client{Transport: oidcTransport{e}, Timeout: 10 * time.Second}, Now: e.clock.Now, ClockSkew: 2 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		cfg.DevNHSLogin = e.nhsOP
		e.nhsOP.AddClient(devidp.OIDCClient{ID: "carerecord-patients", RedirectURIs: []string{e.base.String() + "/my-record/callback"},
			PostLogoutRedirectURIs: []string{e.base.String() + "/my-record/signed-out"}, Keys: cfg.NHSLogin.JWKS()})
	}
	if setup.smart {
		var eprHandler http.Handler = http.NotFoundHandler()
		es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { eprHandler.ServeHTTP(w, r) }))
		t.Cleanup(es.Close)
		eb, _ := url.Parse(es.URL)
		e.epr = devidp.NewEPR(devidp.EPROptions{Name: "Test EPR", Base: eb, Launch: e.base.String() + "/launch",
			ClientID: "carerecord", RedirectURI: e.base.String() + "/launch/callback", Key: idpKey, Users: testEPRUsers(es.URL + "/fhir"),
			Patients: append(devidp.DemoEPRPatients(), devidp.EPRPatient{ID: "epr-2001", Name: "THISTLEWOOD, Reginald (Mr)", NHSNumber: "9990000042"})})
		eprHandler = e.epr
		cfg.SMART, err = smart.New(smart.Config{EPRs: []smart.EPR{{Name: "Test EPR", ISS: e.epr.ISS(), ClientID: "carerecord", Trust: setup.trust}},
			RedirectURL: e.base.String() + "/launch/callback", Now: e.clock.Now, ClockSkew: 2 * time.Minute,
			HTTPClient: &http.Client{Transport: oidcTransport{e}, Timeout: 10 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if setup.sources != nil || setup.conns != nil {
		conns := setup.conns
		for _, sc := range setup.sources {
			c, err := fhir.New(sc, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			conns = append(conns, c)
		}
		e.records = records.NewRecords(e.db, conns, records.RecordOptions{Deadline: setup.deadline, Logger: log, PDS: setup.national})
		t.Cleanup(e.records.Close)
		cfg.Records = e.records
	}
	e.srv, err = web.New(cfg, e.db)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IDPMetadata != nil {
		e.idp.AddServiceProvider(e.srv.SPMetadata())
	}
	hmu.Lock()
	handler = e.srv.Handler()
	hmu.Unlock()
	return e
}

// browser is a cookie-keeping client that does not follow redirects, so
// that every hop of the SAML flow is seen and checked.
type browser struct {
	e      *env
	c      *http.Client
	header http.Header // added to every request
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, header: http.Header{}, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
	url    *url.URL
}

func (b *browser) do(method, target string, form url.Values) *page {
	b.e.t.Helper()
	u, err := b.e.base.Parse(target)
	if err != nil {
		b.e.t.Fatal(err)
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u.String(), body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	p := &page{status: resp.StatusCode, header: resp.Header, body: string(raw), url: u}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		p.doc, err = html.Parse(bytes.NewReader(raw))
		if err != nil {
			b.e.t.Fatalf("%s %s: HTML does not parse: %v", method, target, err)
		}
	}
	return p
}

func (b *browser) get(target string) *page { return b.do(http.MethodGet, target, nil) }
func (b *browser) post(target string, form url.Values) *page {
	return b.do(http.MethodPost, target, form)
}

// follow GETs each redirect until a page that is not a redirect.
func (b *browser) follow(p *page) *page {
	b.e.t.Helper()
	for i := 0; p.status >= 300 && p.status < 400; i++ {
		if i > 10 {
			b.e.t.Fatal("too many redirects")
		}
		loc, err := p.url.Parse(p.header.Get("Location"))
		if err != nil {
			b.e.t.Fatal(err)
		}
		p = b.get(loc.String())
	}
	return p
}

// signIn goes through the whole SAML flow from start, as a browser
// would: the portal's redirect, the IdP's form, the POST back to the
// ACS. It returns the first page after sign-in.
func (b *browser) signIn(start, username string) *page {
	b.e.t.Helper()
	posted := b.follow(b.get(start))
	if find(posted.doc, "form", "data-auto-submit", "*") == nil {
		// No IdP session yet: the IdP asks for the username and password.
		form := posted.form(b.e.t, "form[action='/devidp/sso']")
		form.Set("username", username)
		form.Set("password", "demo")
		posted = b.post("/devidp/sso", form)
		if posted.status != http.StatusOK {
			b.e.t.Fatalf("IdP sign-in for %s: status %d", username, posted.status)
		}
	}
	acs := posted.form(b.e.t, "form[data-auto-submit]")
	return b.follow(b.post(posted.formAction(b.e.t, "form[data-auto-submit]"), acs))
}

// signInOIDC goes through the whole OpenID Connect flow from start, as a
// browser would: the portal's redirect to the provider, its sign-in form
// (unless it already has a session), the code back to the callback. It
// returns the first page after sign-in.
func (b *browser) signInOIDC(start, username string) *page {
	b.e.t.Helper()
	p := b.follow(b.get(start))
	if p.doc != nil && find(p.doc, "input", "name", "authRequestID") != nil {
		form := p.form(b.e.t, "form[action='/devidp/oidc/login']")
		form.Set("username", username)
		form.Set("password", "demo")
		p = b.follow(b.post("/devidp/oidc/login", form))
	}
	if p.doc != nil && find(p.doc, "form", "action", "/devidp/oidc/role") != nil {
		// Several role profiles: the provider asks which; the first.
		p = b.chooseRoleAtOP(p, "0")
	}
	return p
}

// chooseRoleAtOP answers the development provider's role choice.
func (b *browser) chooseRoleAtOP(p *page, role string) *page {
	b.e.t.Helper()
	f := p.form(b.e.t, "form[action='/devidp/oidc/role']")
	f.Set("role", role)
	return b.follow(b.post("/devidp/oidc/role", f))
}

// signInNHSLogin signs a patient in through the development NHS login
// from /my-record/sign-in, as a browser would, and returns the first page
// after it.
func (b *browser) signInNHSLogin(username string) *page {
	b.e.t.Helper()
	p := b.follow(b.get("/my-record/sign-in"))
	if p.doc != nil && find(p.doc, "input", "name", "authRequestID") != nil {
		form := p.form(b.e.t, "form[action='/devidp/nhslogin/login']")
		form.Set("username", username)
		form.Set("password", "demo")
		p = b.follow(b.post("/devidp/nhslogin/login", form))
	}
	return p
}

// authnRedirect starts a sign-in and returns the IdP URL carrying the
// signed AuthnRequest (the tracking cookie stays in the jar).
func (b *browser) authnRedirect(ret string) *url.URL {
	b.e.t.Helper()
	p := b.get("/saml/login?return=" + url.QueryEscape(ret))
	if p.status != http.StatusFound {
		b.e.t.Fatalf("/saml/login: status %d", p.status)
	}
	u, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		b.e.t.Fatal(err)
	}
	return u
}

func (b *browser) csrf() string {
	b.e.t.Helper()
	p := b.follow(b.get("/"))
	tok := attr(find(p.doc, "meta", "name", "csrf-token"), "content")
	if tok == "" {
		b.e.t.Fatal("no csrf-token meta on the page")
	}
	return tok
}

func (b *browser) cookie(name string) string {
	for _, c := range b.c.Jar.Cookies(b.e.base) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// giveReason states a reason for access to the patient, as the reason page
// would post it.
func (b *browser) giveReason(nhs, reason, detail string) *page {
	b.e.t.Helper()
	p := b.post("/patients/"+nhs+"/access", url.Values{"csrf_token": {b.csrf()}, "reason": {reason}, "detail": {detail}})
	if p.status != http.StatusSeeOther {
		b.e.t.Fatalf("reason for %s: status %d", nhs, p.status)
	}
	return p
}
