// Package web is carerecord's HTTP server: every route (routes.go), the
// handlers as methods on Server, SAML sign-in, sessions, role checks, CSRF
// and security headers.
//
// Handlers must never write clinical content to logs, and every route must
// declare the permission it needs: Server refuses to start otherwise.
package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/carerecord/carerecord/metrics"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// Server holds every dependency the handlers use.
type Server struct {
	cfg Config
	// reasonLabels words reason-for-access codes on the IG pages.
	reasonLabels map[string]string
	db           *store.DB
	sp           *saml.ServiceProvider
	tracker      samlsp.CookieRequestTracker
	cookies      *sessions.CookieStore
	csrf         *csrfGuard
	log          *slog.Logger
	echo         *echo.Echo
	started      time.Time
	routes       []Route
	// timelines caches folded timelines of recently viewed records.
	timelines *timelineCache
	// objections limits the public objection form (per address and in all).
	objections *objectionLimiter
	// refreshes keeps each refresh's per-source outcome for its page.
	refreshes *refreshOutcomes
	// found keeps who a search by NHS number found, for its reason page.
	found *foundPatients
	// patientSteps limits what one patient may store from their own
	// pages (concerns, objection requests), per NHS number.
	patientSteps *rateLimiter
	// patientPosts limits what patients' own pages store per client
	// address and in all, as the public form does (its own counts).
	patientPosts *objectionLimiter
}

// New checks cfg and builds the server. The database stays owned by the
// caller, who closes it after the server has shut down.
func New(cfg Config, db *store.DB) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("web: configuration: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, db: db, log: cfg.Logger, started: cfg.Now(), timelines: newTimelineCache(50000), refreshes: newRefreshOutcomes(), found: newFoundPatients(),
		reasonLabels: map[string]string{BreakGlass: "Emergency access (break glass)"}}
	for _, r := range cfg.AccessReasons {
		s.reasonLabels[r.Code] = r.Label
	}
	// Another node upheld an objection (PostgreSQL): this node's timelines
	// of the patient go too.
	db.OnPurge(s.timelines.forget)
	// /metrics reads the live sessions when scraped.
	metrics.CountSessionsWith(func() (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return db.CountLiveSessions(ctx)
	})
	// crewjam/saml keeps its time allowances in package variables: the
	// clock skew allowed, and the delay after IssueInstant, which gains
	// the same skew (an IdP 100 s behind would otherwise lock everyone
	// out at the library's 90 s).
	saml.MaxClockSkew = cfg.SAMLClockSkew
	saml.MaxIssueDelay = 90*time.Second + cfg.SAMLClockSkew

	base := *cfg.BaseURL
	base.Path, base.RawQuery, base.Fragment = "", "", ""
	s.sp = &saml.ServiceProvider{
		EntityID:    base.String() + "/saml/metadata",
		Key:         cfg.SPKey,
		Certificate: cfg.SPCert,
		MetadataURL: *at(&base, "/saml/metadata"),
		AcsURL:      *at(&base, "/saml/acs"),
		SloURL:      *at(&base, "/saml/slo"),
		IDPMetadata: cfg.IDPMetadata,
		// Transient, as the national IdP issues and every IdP can make:
		// asking for "unspecified" leaves some (SimpleSAMLphp) unable to
		// make a NameID at all. Users are keyed on the user-id attribute.
		AuthnNameIDFormat: saml.TransientNameIDFormat,
		SignatureMethod:   dsig.RSASHA256SignatureMethod,
		AllowIDPInitiated: false,
		LogoutBindings:    []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding},
	}
	sameSite := http.SameSiteLaxMode
	if s.secure() {
		// The IdP posts the response from its own site: the tracking
		// cookie must travel on that cross-site POST.
		sameSite = http.SameSiteNoneMode
	}
	s.tracker = samlsp.CookieRequestTracker{
		ServiceProvider: s.sp,
		NamePrefix:      "saml_",
		Codec: samlsp.JWTTrackedRequestCodec{
			SigningMethod: samlsp.DefaultTrackedRequestCodec(samlsp.Options{Key: cfg.SPKey}).SigningMethod,
			Audience:      s.sp.EntityID,
			Issuer:        s.sp.EntityID,
			MaxAge:        cfg.RequestWindow,
			Key:           cfg.SPKey,
		},
		MaxAge:   cfg.RequestWindow,
		SameSite: sameSite,
	}
	s.cookies = sessions.NewCookieStore(cfg.SessionKeys...)
	s.cookies.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(cfg.MaxLifetime.Seconds()),
		HttpOnly: true,
		Secure:   s.secure(),
		SameSite: http.SameSiteLaxMode,
	}
	var err error
	s.csrf, err = newCSRFGuard(cfg.CSRFKey, &base, s.secure())
	if err != nil {
		return nil, err
	}
	s.objections = newObjectionLimiter(cfg.ObjectionLimits)
	s.patientSteps = newRateLimiter(patientStepsPerHour, time.Hour)
	s.patientPosts = newObjectionLimiter(cfg.ObjectionLimits)
	s.routes = s.routeTable()
	if err := checkRoutes(s.routes); err != nil {
		return nil, err
	}
	s.echo = s.buildEcho()
	return s, nil
}

// at returns base with the absolute path p. (url.JoinPath on a URL with
// an empty path yields a relative path, which breaks cookie paths.)
func at(base *url.URL, p string) *url.URL {
	u := *base
	u.Path, u.RawPath = p, ""
	return &u
}

// Handler is the whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes returns the route table (tests walk it).
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// SPMetadata is this service provider's SAML metadata, for the IdP: only
// what carerecord implements. crewjam/saml also advertises an
// HTTP-Artifact assertion consumer, which carerecord does not accept.
func (s *Server) SPMetadata() *saml.EntityDescriptor {
	md := s.sp.Metadata()
	for i := range md.SPSSODescriptors {
		d := &md.SPSSODescriptors[i]
		var acs []saml.IndexedEndpoint
		for _, e := range d.AssertionConsumerServices {
			if e.Binding == saml.HTTPPostBinding {
				acs = append(acs, e)
			}
		}
		d.AssertionConsumerServices = acs
		d.NameIDFormats = []saml.NameIDFormat{saml.TransientNameIDFormat}
	}
	return md
}

func (s *Server) secure() bool { return s.cfg.BaseURL.Scheme == "https" }

func (s *Server) now() time.Time { return s.cfg.Now() }

func (s *Server) buildEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = echo.ExtractIPDirect()
	if len(s.cfg.TrustedProxies) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range s.cfg.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}
	e.Pre(s.securityHeaders)
	// The largest legitimate body is a SAML response (tens of kilobytes).
	e.Use(s.logRequests, s.recoverPanics, middleware.BodyLimit("1M"), readBody, s.loadSession, s.csrf.middleware)
	for _, r := range s.routes {
		e.Add(r.Method, r.Path, r.Handler, s.require(r.Perm))
	}
	return e
}

// render writes a templ component with the status and the no-store,
// HTML headers every page gets.
func render(c echo.Context, status int, t templ.Component) error {
	// Rendered into a pooled buffer and written once: a page is one
	// write, not a dozen chunks, and a failed render sends no half page.
	buf := renderBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			renderBufs.Put(buf)
		}
	}()
	if err := t.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	h.Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(buf.Bytes())
	return err
}

var renderBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// page is the layout data every page needs.
func (s *Server) page(c echo.Context, title string) views.Page {
	p := views.Page{Title: title, DevSignIn: s.cfg.DevIdP != nil || s.cfg.DevOP != nil || s.cfg.DevNHSLogin != nil, ReasonLabels: s.reasonLabels}
	if u := UserFrom(c.Request().Context()); u != nil && u.Patient {
		p.User = &views.UserBar{Name: u.Name, Home: myRecordPath, SignOut: myRecordPath + "/sign-out"}
	} else if u != nil {
		bar := &views.UserBar{Name: u.Name, CanSwitch: len(u.Profiles) > 1}
		if u.Role != nil {
			bar.RoleName = u.RoleDef.Name
			bar.OrgName = u.Role.OrgName
			bar.ODS = u.Role.ODS
			bar.Home = u.Home()
		}
		p.User = bar
	}
	return p
}

// Shutdown stops accepting requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.echo.Shutdown(ctx) }

// ParseIDPMetadata reads IdP metadata XML.
func ParseIDPMetadata(data []byte) (*saml.EntityDescriptor, error) {
	ed, err := samlsp.ParseMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("identity provider metadata: %w", err)
	}
	if len(ed.IDPSSODescriptors) == 0 {
		return nil, errors.New("identity provider metadata: no IDPSSODescriptor")
	}
	return ed, nil
}

// FetchIDPMetadata downloads IdP metadata from its URL.
func FetchIDPMetadata(ctx context.Context, u *url.URL) (*saml.EntityDescriptor, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ed, err := samlsp.FetchMetadata(ctx, http.DefaultClient, *u)
	if err != nil {
		return nil, fmt.Errorf("identity provider metadata from %s: %w", u, err)
	}
	return ed, nil
}
