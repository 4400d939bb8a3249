package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
	"github.com/carerecord/carerecord/web/devidp"
)

// benchPassword is the development IdP's password for every bench user.
const benchPassword = "demo"

// keyPair is a signing key and its certificate. Keys are made once per run,
// before any clock starts: a server loads its keys from files, it does not
// generate them at start-up.
type keyPair struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func newKeyPair(name string) (keyPair, error) {
	k, c, err := devidp.GenerateKeyPair(name)
	return keyPair{k, c}, err
}

// productConfig is what the driver varies between runs; everything else is
// wired as `carerecord demo` wires it.
type productConfig struct {
	dbPath   string // a SQLite file or a postgres:// URL
	cacheKey []byte
	// master holds the session and CSRF keys (96 bytes); nodes of one
	// service share them. Random if nil.
	master   []byte
	sources  []connectors.Config
	deadline time.Duration // how long a page waits for each source
	fresh    time.Duration
	users    []devidp.User
	sp, idp  keyPair
	log      *slog.Logger
}

// product is one running carerecord, in this process, on loopback.
type product struct {
	db      *store.DB
	records *records.Records
	clients []*fhir.Client
	hs      *http.Server
	base    *url.URL
	errc    chan error
}

// startProduct wires the product as the demo command does (store with a
// cache key, one FHIR connector per source, the fan-out, the development
// IdP and the web server) and serves it on 127.0.0.1 on a free port.
func startProduct(cfg productConfig) (*product, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &product{base: &url.URL{Scheme: "http", Host: ln.Addr().String()}, errc: make(chan error, 1)}
	fail := func(err error) (*product, error) {
		ln.Close()
		p.closeParts()
		return nil, err
	}
	attrs := web.DefaultAttributes()
	idp, err := devidp.New(devidp.Options{
		BaseURL: p.base.JoinPath("/devidp"), Key: cfg.idp.key, Cert: cfg.idp.cert,
		Users: cfg.users, Password: benchPassword, Logger: cfg.log,
		Attributes: devidp.Attributes{UserID: attrs.UserID, DisplayName: attrs.DisplayName, RoleProfile: attrs.RoleProfile,
			Separator: attrs.RoleProfileSeparator, Assurance: attrs.Assurance},
	})
	if err != nil {
		return fail(err)
	}
	if p.db, err = store.Open(cfg.dbPath, store.WithCacheKey(slices.Clone(cfg.cacheKey))); err != nil {
		return fail(err)
	}
	var conns []connectors.Connector
	for _, sc := range cfg.sources {
		c, err := fhir.New(sc, func(string) string { return "" })
		if err != nil {
			return fail(err)
		}
		p.clients = append(p.clients, c)
		conns = append(conns, c)
	}
	p.records = records.NewRecords(p.db, conns, records.RecordOptions{
		Fresh: cfg.fresh, MaxAge: 24 * time.Hour, Deadline: cfg.deadline, Logger: cfg.log,
	})
	master := cfg.master
	if master == nil {
		master = make([]byte, 96)
		if _, err := rand.Read(master); err != nil {
			return fail(err)
		}
	}
	srv, err := web.New(web.Config{
		BaseURL: p.base, SPKey: cfg.sp.key, SPCert: cfg.sp.cert, IDPMetadata: idp.Metadata(),
		RequestWindow: 5 * time.Minute, Attributes: attrs, Roles: web.DefaultRoles(), MinAssurance: 3,
		IdleTimeout: 15 * time.Minute, MaxLifetime: 12 * time.Hour,
		SessionKeys: [][]byte{master[:32], master[32:64]}, CSRFKey: master[64:],
		DevIdP: idp, Logger: cfg.log, Version: "bench", Records: p.records,
	}, p.db)
	if err != nil {
		return fail(err)
	}
	idp.AddServiceProvider(srv.SPMetadata())
	// The same limits as `carerecord serve`.
	p.hs = &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.log.Handler(), slog.LevelWarn),
	}
	go func() { p.errc <- p.hs.Serve(ln) }()
	return p, nil
}

// waitReady polls /readyz until it answers 200, for at most limit.
func (p *product) waitReady(limit time.Duration) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	for {
		resp, err := c.Get(p.base.JoinPath("/readyz").String())
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz not 200 within %s (last error %v)", limit, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop shuts the server down as serve does: requests in flight finish,
// then the fan-out, the connectors and the database close.
func (p *product) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := p.hs.Shutdown(ctx)
	if serr := <-p.errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, p.closeParts())
}

func (p *product) closeParts() error {
	if p.records != nil {
		p.records.Close()
	}
	for _, c := range p.clients {
		c.Close()
	}
	if p.db != nil {
		return p.db.Close()
	}
	return nil
}
