package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/gpconnect"
	"github.com/carerecord/carerecord/connectors/pds"
	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
	"github.com/carerecord/carerecord/web/devidp"
	"github.com/carerecord/carerecord/web/oidc"
)

// demoPassword is the development IdP's password for every demo user.
const demoPassword = "demo"

// runDemo starts the whole product on this machine with no configuration:
// the portal, the development IdP and the database under --data.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dataDir := fs.String("data", "./var", "directory for the database and the demo's keys")
	gpKind := fs.String("gp", "gpconnect", `how the demo's GP practices are read: "gpconnect" (GP Connect Access Record: Structured) or "fhir" (FHIR R4 servers, with the practice's alerts, which GP Connect does not carry)`)
	faultSpec := fs.String("faults", "default", `faults in the synthetic sources: "default" (Lewisham slow, Milton Keynes failing now and then), "none", or e.g. RJ2=latency:2s,RD8=errors:0.1,RV5=down`)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))}
	}
	if *gpKind != "gpconnect" && *gpKind != "fhir" {
		return usageError{fmt.Errorf("demo: --gp must be gpconnect or fhir, got %q", *gpKind)}
	}
	faults, err := parseFaults(*faultSpec)
	if err != nil {
		return usageError{err}
	}
	log := newLogger(stderr, "info")
	if err := store.EnsurePrivateDir(*dataDir); err != nil {
		return fmt.Errorf("demo: data directory: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("demo: listen on %s: %w", *addr, err)
	}
	// The synthetic Trusts and GP practices: real FHIR servers on
	// loopback, read through the real connector code. One is slow and one
	// fails now and then, so the per-source status can be seen at work.
	cluster, err := synthetic.Start(synthetic.Orgs(), faults)
	if err != nil {
		ln.Close()
		return fmt.Errorf("demo: synthetic sources: %w", err)
	}
	defer cluster.Close()
	// A synthetic PDS holding every demo patient, asked for who they are
	// through the real PDS connector and its token exchange.
	national, err := synthetic.StartPDS(synthetic.PDSOptions{})
	if err != nil {
		ln.Close()
		return fmt.Errorf("demo: synthetic PDS: %w", err)
	}
	defer national.Close()
	// The GP practices as GP Connect providers (behind a synthetic SSP),
	// read through the real GP Connect connector.
	var practices *synthetic.GPConnect
	if *gpKind == "gpconnect" {
		if practices, err = synthetic.StartGPConnect(synthetic.GPConnectOptions{}); err != nil {
			ln.Close()
			return fmt.Errorf("demo: synthetic GP Connect: %w", err)
		}
		defer practices.Close()
	}
	return serveDemo(ctx, ln, *dataDir, cluster, national, practices, stdout, log)
}

// serveDemo serves the demo on ln until ctx is cancelled, with its keys
// and database in dataDir, cluster as its sources and national (if not
// nil) as PDS. It closes ln.
func serveDemo(ctx context.Context, ln net.Listener, dataDir string, cluster *synthetic.Cluster, national *synthetic.PDS,
	practices *synthetic.GPConnect, stdout io.Writer, log *slog.Logger) error {
	host := ln.Addr().(*net.TCPAddr)
	shown := host.String()
	if host.IP.IsUnspecified() {
		shown = fmt.Sprintf("127.0.0.1:%d", host.Port)
	}
	base := &url.URL{Scheme: "http", Host: shown}
	// The server closes ln when it stops; this is for the errors before.
	defer ln.Close()

	spKey, spCert, err := devidp.LoadOrCreateKeyPair(filepath.Join(dataDir, "sp.key"), filepath.Join(dataDir, "sp.crt"), "carerecord demo service provider")
	if err != nil {
		return fmt.Errorf("demo: service provider key: %w", err)
	}
	idpKey, idpCert, err := devidp.LoadOrCreateKeyPair(filepath.Join(dataDir, "idp.key"), filepath.Join(dataDir, "idp.crt"), "carerecord development IdP")
	if err != nil {
		return fmt.Errorf("demo: development IdP key: %w", err)
	}
	master, err := loadOrCreateSecret(filepath.Join(dataDir, "session.key"))
	if err != nil {
		return fmt.Errorf("demo: session key: %w", err)
	}
	attrs := web.DefaultAttributes()
	idp, err := devidp.New(devidp.Options{
		BaseURL: base.JoinPath("/devidp"), Key: idpKey, Cert: idpCert,
		Users: devidp.DemoUsers(), Password: demoPassword, Logger: log, Attributes: devIdPAttributes(attrs),
	})
	if err != nil {
		return err
	}
	cacheKey, err := store.LoadOrCreateCacheKey(filepath.Join(dataDir, "cache.key"))
	if err != nil {
		return fmt.Errorf("demo: cache key: %w", err)
	}
	auditKey, err := store.LoadOrCreateAuditKey(filepath.Join(dataDir, "audit.key"))
	if err != nil {
		return fmt.Errorf("demo: audit key: %w", err)
	}
	// The keys are created 0600; one found open to others is refused.
	for _, k := range []string{"sp.key", "idp.key", "session.key", "cache.key", "audit.key"} {
		if err := store.CheckKeyFile(filepath.Join(dataDir, k)); err != nil {
			return fmt.Errorf("demo: key file: %w", err)
		}
	}
	dbPath := filepath.Join(dataDir, "carerecord.db")
	witnesses, closeWitnesses, err := openWitnesses(defaultWitnessPath(dbPath), false, "")
	if err != nil {
		return fmt.Errorf("demo: audit witness: %w", err)
	}
	defer closeWitnesses()
	db, err := store.Open(dbPath, store.WithCacheKey(cacheKey), store.WithAuditKey(auditKey),
		store.WithWitnesses(witnesses...), store.WithLogger(log))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	// The page waits 1.5 s for each source (3 s in production by
	// default), so the slow demo source is seen filling in after the page.
	srcCfgs, gpc := demoSources(cluster, practices, base.String())
	var demographics connectors.Demographics
	if national != nil {
		c, err := pds.New(national.Config(), nil)
		if err != nil {
			db.Close()
			return fmt.Errorf("demo: PDS: %w", err)
		}
		defer c.Close()
		demographics = c
	}
	records, clients, err := buildRecords(db, srcCfgs, demographics, gpc, nil, 10*time.Minute, 24*time.Hour, 1500*time.Millisecond, false, log)
	if err != nil {
		db.Close()
		return err
	}
	closeSources := func() {
		records.Close()
		for _, c := range clients {
			c.Close()
		}
	}
	// The demo's objecting patient, so the enforcement can be seen at once.
	if err := db.SeedUpheldObjectionNamed(ctx, "9990000026", "Oliver James Brackenbury", "Demo: the patient asked not to share their record"); err != nil {
		closeSources()
		db.Close()
		return fmt.Errorf("demo: seed objection: %w", err)
	}
	go records.RunPurger(ctx, 10*time.Minute)
	go db.RunAuditVerifier(ctx, time.Hour)
	sessionKeys, csrfKey := deriveKeys(master)
	// The development OpenID provider beside the SAML IdP, with the same
	// users: it signs with the IdP's key, and carerecord authenticates to it
	// with its SP key (private_key_jwt), so no more keys are made.
	op, rp, err := startDevOP(base, idpKey, spKey, oidc.DefaultClaims(), log)
	if err != nil {
		closeSources()
		db.Close()
		return err
	}
	// The development NHS login, for the patients' own pages.
	nhsOP, nhsRP, err := startDevNHSLogin(base, idpKey, spKey, log)
	if err != nil {
		closeSources()
		db.Close()
		return err
	}
	// A synthetic EPR that launches carerecord in patient context.
	epr, launcher, stopEPR, err := startDemoEPR(base, log)
	if err != nil {
		closeSources()
		db.Close()
		return err
	}
	closeAll := closeSources
	closeSources = func() { stopEPR(); closeAll() }
	srv, err := web.New(web.Config{
		BaseURL: base, SPKey: spKey, SPCert: spCert, IDPMetadata: idp.Metadata(), OIDC: rp, DevOP: op, SMART: launcher,
		NHSLogin: nhsRP, DevNHSLogin: nhsOP,
		RequestWindow: 5 * time.Minute, Attributes: attrs, Roles: web.DefaultRoles(), MinAssurance: 3,
		IdleTimeout: 15 * time.Minute, MaxLifetime: 12 * time.Hour,
		SessionKeys: sessionKeys, CSRFKey: csrfKey, DevIdP: idp, Logger: log, Version: version, Records: records,
		GPPractices: gpPractices(srcCfgs),
	}, db)
	if err != nil {
		closeSources()
		db.Close()
		return err
	}
	idp.AddServiceProvider(srv.SPMetadata())
	// The EPR's address first: the line after it is the one tests wait for.
	fmt.Fprintf(stdout, "synthetic EPR (launches carerecord in patient context): %s/\n", strings.TrimSuffix(epr.ISS(), "/fhir"))
	printDemoBanner(stdout, base.String(), dataDir)
	log.Info("carerecord demo started", "url", base.String(), "data", dataDir)
	return serveUntilDone(ctx, ln, srv, db, "", "", defaultHTTPLimits(), log, closeSources)
}

// demoSources are the demo's sources: the synthetic organisations' FHIR
// servers, with each GP practice read through GP Connect instead when
// practices is not nil, and the GP Connect consumer settings for them.
func demoSources(cluster *synthetic.Cluster, practices *synthetic.GPConnect, base string) ([]connectors.Config, gpconnect.Settings) {
	cfgs := cluster.Configs()
	var gpc gpconnect.Settings
	if practices == nil {
		return cfgs, gpc
	}
	for i, c := range cfgs {
		if o, ok := synthetic.OrgByODS(c.ODS); ok && o.Type == synthetic.Practice {
			cfgs[i] = practices.Config(o)
		}
	}
	gpc = practices.Settings()
	gpc.Issuer, gpc.Version = base, version
	return cfgs, gpc
}

func printDemoBanner(w io.Writer, base, dataDir string) {
	fmt.Fprintf(w, "carerecord demo running at %s\n", base)
	fmt.Fprintf(w, "data in %s; development sign-in (password %q for everyone):\n", dataDir, demoPassword)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, u := range devidp.DemoUsers() {
		var roles []string
		for _, p := range u.Profiles {
			roles = append(roles, fmt.Sprintf("%s at %s (%s)", web.DefaultRoles()[p.Code].Name, p.OrgName, p.ODS))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", u.Username, u.DisplayName, strings.Join(roles, "; "))
	}
	tw.Flush()
	fmt.Fprintln(w, "demo patients: 9990000018 (records at six sources), 9990000026 (objected to sharing), 9990000034 (restricted),")
	fmt.Fprintln(w, "  9990000042 (long history), 9990000050 (deceased), 9990000611 (superseded in PDS by 9990000018),")
	fmt.Fprintln(w, "  or search by name and date of birth, e.g. SMITH 12-Mar-1965")
	fmt.Fprintf(w, "patients' own pages at %s/my-record (development NHS login, P9): patient (999 000 0018), restricted (999 000 0034), objector (999 000 0026)\n", base)
	fmt.Fprintln(w, "press Ctrl-C to stop")
}

// devIdPAttributes has the development IdP send the attributes the portal
// reads.
func devIdPAttributes(a web.AttributeMap) devidp.Attributes {
	return devidp.Attributes{UserID: a.UserID, DisplayName: a.DisplayName, RoleProfile: a.RoleProfile,
		Separator: a.RoleProfileSeparator, Assurance: a.Assurance, UserNHSNumber: a.UserNHSNumber,
		RoleCode: a.RoleCode, RoleOrgCode: a.RoleOrgCode, RoleOrgName: a.RoleOrgName}
}

// loadOrCreateSecret reads a base64 secret from path, creating a random
// 48-byte one the first time.
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var k [48]byte
		if _, err := rand.Read(k[:]); err != nil {
			return nil, err
		}
		enc := base64.StdEncoding.EncodeToString(k[:])
		if err := os.WriteFile(path, []byte(enc+"\n"), 0o600); err != nil {
			return nil, err
		}
		return k[:], nil
	}
	if err != nil {
		return nil, err
	}
	return sessionKey(string(b))
}
