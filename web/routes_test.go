package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/static"
	"github.com/carerecord/carerecord/web"
)

// actor is someone making requests: anonymous, or signed in as a demo user
// (with the nurse before and after choosing a role).
type actor struct {
	name  string
	user  string // "" for anonymous
	role  string // for the nurse: the role index to choose, "" to leave unchosen
	perms []web.Permission
	// epr: signed in by the synthetic EPR's launch (the deployment trusts
	// its fhirUser identity), not by SAML.
	epr bool
	// patient: signed in with NHS login, a patient session.
	patient bool
}

// The expected policy, written out independently of the code under test.
var actors = []actor{
	{name: "anonymous"},
	{name: "clinician", user: "clinician", perms: []web.Permission{web.PermSearch, web.PermDemog, web.PermClinical}},
	{name: "epr-practitioner", user: "okafor", epr: true, perms: []web.Permission{web.PermSearch, web.PermDemog, web.PermClinical}},
	{name: "nurse-before-choosing", user: "nurse"},
	{name: "nurse", user: "nurse", role: "0", perms: []web.Permission{web.PermSearch, web.PermDemog, web.PermClinical}},
	{name: "clerk", user: "clerk", perms: []web.Permission{web.PermSearch, web.PermDemog}},
	{name: "igofficer", user: "igofficer", perms: []web.Permission{web.PermAudit, web.PermObjection}},
	{name: "admin", user: "admin", perms: []web.Permission{web.PermStatus}},
	{name: "patient", user: "patient", patient: true, perms: []web.Permission{web.PermPatient}},
}

// signInWith signs the actor in on b (SAML, or the trusted EPR's launch),
// choosing the role where the actor says so; anonymous actors stay so.
func (a actor) signInWith(t *testing.T, e *env, b *browser) {
	t.Helper()
	switch {
	case a.patient:
		if e.nhsOP == nil {
			t.Skip("no NHS login in this environment")
		}
		if p := b.signInNHSLogin(a.user); p.url.Path != "/my-record" {
			t.Fatalf("NHS login: %d %s", p.status, p.url.Path)
		}
	case a.epr:
		if e.epr == nil {
			t.Skip("no EPR in this environment")
		}
		if p := b.follow(b.get(e.epr.LaunchURLAs("epr-1001", a.user))); p.status != http.StatusOK {
			t.Fatalf("EPR sign-in: %d %s", p.status, p.url.Path)
		}
	case a.signedIn():
		p := b.signIn("/saml/login", a.user)
		if a.role != "" {
			f := p.form(t, "form[action='/roles']")
			f.Set("role", a.role)
			b.follow(b.post("/roles", f))
		}
	}
}

func (a actor) signedIn() bool { return a.user != "" }
func (a actor) roleChosen() bool {
	return a.user != "" && !a.patient && (a.user != "nurse" || a.role != "")
}

// samplePath turns a route pattern into a concrete path.
func samplePath(p string) string {
	if p == "/static/*" {
		return static.Path("css/app.css")
	}
	return strings.NewReplacer(":nhs", "9990000018", ":id", "1").Replace(p)
}

// TestRouteRoleMatrix drives every route in the route table as every
// actor and checks that the permission layer lets exactly the right
// ones through, with the right kind of refusal for the rest.
func TestRouteRoleMatrix(t *testing.T) {
	// Both sign-ins offered, so that the OpenID Connect routes and the
	// development provider's are in the table too, and the EPR's sign-in
	// trusted.
	e := newEnv(t, withOIDC(), withTrustedEPR(), withNHSLogin())
	routes := e.srv.Routes()
	for _, a := range actors {
		t.Run(a.name, func(t *testing.T) {
			// Sign-out ends the session: the actor's own runs last, the
			// other kind's (refused) just before.
			order := map[string]int{"/my-record/sign-out": 1, "/signout": 2}
			if a.patient {
				order = map[string]int{"/signout": 1, "/my-record/sign-out": 2}
			}
			routes := slices.Clone(routes)
			slices.SortStableFunc(routes, func(x, y web.Route) int { return order[x.Path] - order[y.Path] })
			b := e.browser()
			a.signInWith(t, e, b)
			token := b.csrf()
			for _, r := range routes {
				path := samplePath(r.Path)
				var p *page
				if r.Method == http.MethodGet {
					p = b.get(path)
				} else {
					p = b.post(path, url.Values{"csrf_token": {token}})
				}
				loc := p.header.Get("Location")
				// With both sign-ins offered, the landing page lets the user choose.
				toSignIn := p.status == http.StatusSeeOther && (strings.HasPrefix(loc, "/?return=") || strings.HasPrefix(loc, "/my-record/sign-in?return="))
				toRoles := p.status == http.StatusSeeOther && strings.HasPrefix(loc, "/roles?return=")

				var want string
				switch {
				case r.Perm == web.PermPublic:
					want = "allowed"
				case !a.signedIn():
					want = map[string]string{http.MethodGet: "to sign-in", http.MethodPost: "401"}[r.Method]
				case a.patient || r.Perm == web.PermPatient:
					// A patient reaches their own pages and nothing else;
					// staff never reach them, with or without a role.
					want = "403"
					if slices.Contains(a.perms, r.Perm) {
						want = "allowed"
					}
				case r.Perm == web.PermSignedIn:
					want = "allowed"
				case !a.roleChosen():
					want = map[string]string{http.MethodGet: "to role choice", http.MethodPost: "403"}[r.Method]
				case r.Perm == web.PermAnyRole || slices.Contains(a.perms, r.Perm):
					want = "allowed"
				default:
					want = "403"
				}
				var got string
				switch {
				case toSignIn:
					got = "to sign-in"
				case toRoles:
					got = "to role choice"
				case p.status == http.StatusUnauthorized && r.Name != "devOP" && r.Name != "devNHSLogin":
					// (The development OpenID provider's userinfo answers 401
					// to a request without its own bearer token.)
					got = "401"
				case p.status == http.StatusForbidden && deniedByPermission(p):
					got = "403"
				default:
					got = "allowed"
				}
				if got != want {
					t.Errorf("%s %s (%s): got %s (status %d, Location %q), want %s", r.Method, r.Path, r.Perm, got, p.status, loc, want)
				}
				if want == "403" && r.Method == http.MethodGet && (a.roleChosen() || a.patient) {
					msg := text(find(p.doc, "p", "data-testid", "error-message"))
					if !strings.Contains(msg, r.Perm.Describe()) {
						t.Errorf("%s %s: the 403 page says %q; it should name the missing permission %q", r.Method, r.Path, msg, r.Perm.Describe())
					}
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRouteTable checks that the table itself is whole: every route
// declares a known permission, and the role homes are routes.
func TestRouteTable(t *testing.T) {
	e := newEnv(t, withOIDC(), withSMART(), withNHSLogin())
	known := []web.Permission{web.PermPublic, web.PermSignedIn, web.PermAnyRole, web.PermSearch, web.PermDemog,
		web.PermClinical, web.PermAudit, web.PermObjection, web.PermStatus, web.PermPatient}
	paths := map[string]bool{}
	for _, r := range e.srv.Routes() {
		if !slices.Contains(known, r.Perm) {
			t.Errorf("%s %s: unknown permission %q", r.Method, r.Path, r.Perm)
		}
		if r.Name == "" {
			t.Errorf("%s %s: no handler name", r.Method, r.Path)
		}
		paths[r.Method+" "+r.Path] = true
	}
	for _, g := range web.Groups() {
		if !paths["GET "+g.Home()] {
			t.Errorf("group %s: home %s is not a route", g, g.Home())
		}
	}
	for _, want := range []string{"GET /healthz", "GET /readyz", "GET /saml/metadata", "POST /saml/acs", "GET /saml/slo",
		"GET /oidc/login", "GET /oidc/callback", "GET /oidc/jwks", "POST /oidc/backchannel-logout",
		"GET /launch", "GET /launch/callback", "GET /launch/open",
		"GET /my-record", "GET /my-record/sign-in", "GET /my-record/callback", "POST /my-record/concerns", "POST /my-record/objection"} {
		if !paths[want] {
			t.Errorf("missing route %s", want)
		}
	}
}

// deniedByPermission tells the permission layer's 403 (it names the
// missing permission, or asks for a role first) from a handler's own
// refusal of an allowed request (a policy, a missing reason for access).
func deniedByPermission(p *page) bool {
	msg := text(find(p.doc, "p", "data-testid", "error-message"))
	return strings.Contains(msg, "needs permission to") || strings.Contains(msg, "Choose the role you are working in")
}
