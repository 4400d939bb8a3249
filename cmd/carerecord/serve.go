package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/crewjam/saml"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/pds"
	"github.com/carerecord/carerecord/metrics"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/witness"
	"github.com/carerecord/carerecord/web"
	"github.com/carerecord/carerecord/web/devidp"
)

// runServe runs the portal from a configuration file.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "", "configuration file (TOML)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *path == "" {
		return usageError{fmt.Errorf("serve: --config FILE is required")}
	}
	fc, err := loadConfig(*path, getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, fc.Log.Level)
	base := fc.base
	sessionKeys, csrfKey := deriveKeys(fc.sessionMaster)
	a := fc.SAML.Attributes
	attrs := web.AttributeMap{UserID: a.UserID, DisplayName: a.DisplayName, RoleProfile: a.RoleProfile,
		RoleProfileSeparator: a.RoleProfileSeparator, RoleCode: a.RoleCode, RoleOrgCode: a.RoleOrgCode, RoleOrgName: a.RoleOrgName,
		Assurance: a.Assurance, UserNHSNumber: a.UserNHSNumber}
	if len(fc.SAML.AuthnContext) > 0 {
		attrs.AuthnContext = fc.SAML.AuthnContext
	}
	cfg := web.Config{
		BaseURL: base, RequestWindow: fc.SAML.RequestWindow.Duration, SAMLClockSkew: fc.SAML.ClockSkew.Duration, Attributes: attrs, Roles: fc.roles,
		MinAssurance: *fc.SAML.MinAssurance, IdleTimeout: fc.Session.IdleTimeout.Duration, MaxLifetime: fc.Session.Lifetime.Duration,
		SessionKeys: sessionKeys, CSRFKey: csrfKey, Logger: log, Version: version, TrustedProxies: fc.proxies,
		AccessReasons: fc.accessReasons(), BreakGlassGroups: groups(fc.Access.BreakGlassGroups), GrantLifetime: fc.Access.ReasonLifetime.Duration,
		BreakGlassLifetime: fc.Access.BreakGlassLifetime.Duration, AllowObjectionOverride: fc.Access.AllowObjectionOverride,
		ObjectionLimits: fc.objectionLimits(),
	}

	if fc.SAML.SPKeyFile != "" {
		if cfg.SPKey, cfg.SPCert, err = devidp.LoadKeyPair(fc.SAML.SPKeyFile, fc.SAML.SPCertFile); err != nil {
			return fmt.Errorf("configuration: saml.sp_key_file/sp_cert_file: %w", err)
		}
	}

	var idp *devidp.IdP
	switch {
	case !fc.samlEnabled():
	case fc.SAML.DevIdP:
		// Explicitly enabled: ephemeral keys, demo users, and a warning on
		// every page (web shows it whenever DevIdP is set).
		log.Warn("DEVELOPMENT SIGN-IN ENABLED: saml.dev_idp = true; never use this with real patient data")
		if fc.SAML.SPKeyFile == "" {
			if cfg.SPKey, cfg.SPCert, err = devidp.GenerateKeyPair("carerecord service provider"); err != nil {
				return err
			}
		}
		ik, ic, err := devidp.GenerateKeyPair("carerecord development IdP")
		if err != nil {
			return err
		}
		idp, err = devidp.New(devidp.Options{BaseURL: base.JoinPath("/devidp"), Key: ik, Cert: ic, Users: devidp.DemoUsers(),
			Password: demoPassword, Logger: log, Attributes: devIdPAttributes(attrs)})
		if err != nil {
			return err
		}
		cfg.IDPMetadata, cfg.DevIdP = idp.Metadata(), idp
	default:
		if cfg.IDPMetadata, err = loadIDPMetadata(ctx, fc); err != nil {
			return err
		}
	}
	if cfg.SPKey == nil {
		// The session tracker signs with the SP key even with SAML off.
		if cfg.SPKey, cfg.SPCert, err = devidp.GenerateKeyPair("carerecord service provider"); err != nil {
			return err
		}
	}
	switch {
	case fc.OIDC.DevOP:
		log.Warn("DEVELOPMENT SIGN-IN ENABLED: oidc.dev_op = true; never use this with real patient data")
		opKey, _, err := devidp.GenerateKeyPair("carerecord development OpenID provider")
		if err != nil {
			return err
		}
		op, rp, err := startDevOP(base, opKey, cfg.SPKey, fc.OIDC.claimMap(), log)
		if err != nil {
			return err
		}
		cfg.OIDC, cfg.DevOP = rp, op
	case fc.OIDC.enabled():
		if cfg.OIDC, err = oidcClient(fc, getenv); err != nil {
			return err
		}
	}
	cfg.OIDCLabel = fc.OIDC.Label
	switch {
	case fc.NHSLogin.DevNHSLogin:
		log.Warn("DEVELOPMENT SIGN-IN ENABLED: nhs_login.dev_nhs_login = true; never use this with real patient data")
		opKey, _, err := devidp.GenerateKeyPair("carerecord development NHS login")
		if err != nil {
			return err
		}
		op, rp, err := startDevNHSLogin(base, opKey, cfg.SPKey, log)
		if err != nil {
			return err
		}
		cfg.NHSLogin, cfg.DevNHSLogin = rp, op
	case fc.NHSLogin.Issuer != "":
		if cfg.NHSLogin, err = nhsLoginClient(fc); err != nil {
			return err
		}
	}
	cfg.Patients = web.PatientPages{ShowStaffNames: fc.Patients.ShowStaffNames, AutoUphold: fc.Patients.AutoUphold}
	if cfg.SMART, err = smartClient(fc, getenv); err != nil {
		return err
	}

	opts := []store.Option{store.WithAlertRules(fc.alertRules), store.WithAuditKey(fc.auditKey),
		store.WithCheckpointEvery(fc.Audit.CheckpointEvery.Duration), store.WithLogger(log)}
	if fc.recordsKey != nil {
		opts = append(opts, store.WithCacheKey(fc.recordsKey))
	}
	witnesses, closeWitnesses, err := openWitnesses(fc.Audit.WitnessFile, fc.Audit.WitnessSyslog, fc.Audit.WitnessURL)
	if err != nil {
		return fmt.Errorf("configuration: audit: %w", err)
	}
	defer closeWitnesses()
	db, err := store.Open(fc.Database, append(opts, store.WithWitnesses(witnesses...))...)
	if err != nil {
		return fmt.Errorf("configuration: database: %w", err)
	}
	var national connectors.Demographics
	if fc.PDS.Enabled() {
		c, err := pds.New(fc.PDS, getenv)
		if err != nil {
			db.Close()
			return fmt.Errorf("configuration: %w", err)
		}
		defer c.Close()
		national = c
	}
	records, clients, err := buildRecords(db, fc.Sources, national, fc.gpConnectSettings(), getenv, fc.Records.Fresh.Duration, fc.Records.MaxAge.Duration, fc.Records.Deadline.Duration, true, log)
	if err != nil {
		db.Close()
		return fmt.Errorf("configuration: %w", err)
	}
	closeSources := func() {
		if records != nil {
			records.Close()
		}
		for _, c := range clients {
			c.Close()
		}
	}
	if records != nil {
		cfg.Records = records
		cfg.GPPractices = gpPractices(fc.Sources)
		go records.RunPurger(ctx, 10*time.Minute)
	}
	go db.RunAuditVerifier(ctx, fc.Audit.VerifyEvery.Duration)
	cfg.ClinicalPagesWhenAuditRefused = fc.Audit.ClinicalPagesWhenRefused
	srv, err := web.New(cfg, db)
	if err != nil {
		closeSources()
		db.Close()
		return err
	}
	if idp != nil {
		idp.AddServiceProvider(srv.SPMetadata())
	}
	ln, err := net.Listen("tcp", fc.Listen)
	if err != nil {
		closeSources()
		db.Close()
		return fmt.Errorf("configuration: listen: %w", err)
	}
	if fc.MetricsListen != "" {
		stopMetrics, err := serveMetrics(fc.MetricsListen, log)
		if err != nil {
			ln.Close()
			closeSources()
			db.Close()
			return fmt.Errorf("configuration: metrics_listen: %w", err)
		}
		fmt.Fprintf(stdout, "carerecord metrics on http://%s/metrics\n", stopMetrics.addr)
		closeSources = func(close func()) func() {
			return func() { stopMetrics.close(); close() }
		}(closeSources)
	}
	fmt.Fprintf(stdout, "carerecord serving %s on %s\n", base, ln.Addr())
	log.Info("carerecord started", "url", base.String(), "listen", ln.Addr().String(), "tls", fc.TLS.CertFile != "")
	return serveUntilDone(ctx, ln, srv, db, fc.TLS.CertFile, fc.TLS.KeyFile, fc.httpLimits(), log, closeSources)
}

// metricsServer is /metrics on the operator's own listen address.
type metricsServer struct {
	addr  string
	close func()
}

// serveMetrics serves /metrics (and nothing else) on addr, apart from the
// portal: it needs no sign-in, so it belongs on an address only the
// operator's monitoring can reach.
func serveMetrics(addr string, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = hs.Serve(ln) }()
	log.Info("metrics served", "listen", ln.Addr().String())
	return &metricsServer{addr: ln.Addr().String(), close: func() { _ = hs.Close() }}, nil
}

// openWitnesses opens the audit checkpoints' witnesses: the file always,
// syslog and a remote endpoint when configured. The closer runs after the
// database has closed (its last checkpoint is written then).
func openWitnesses(file string, useSyslog bool, remote string) ([]store.Witness, func(), error) {
	f, err := witness.OpenFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("witness_file: %w", err)
	}
	ws := []store.Witness{f}
	closers := []func() error{f.Close}
	closeAll := func() {
		for _, c := range closers {
			_ = c()
		}
	}
	if useSyslog {
		s, err := witness.DialSyslog()
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("witness_syslog: %w", err)
		}
		ws, closers = append(ws, s), append(closers, s.Close)
	}
	if remote != "" {
		ws = append(ws, witness.NewHTTP(remote))
	}
	return ws, closeAll, nil
}

func loadIDPMetadata(ctx context.Context, fc *fileConfig) (*saml.EntityDescriptor, error) {
	if fc.SAML.IDPMetadataFile != "" {
		b, err := os.ReadFile(fc.SAML.IDPMetadataFile)
		if err != nil {
			return nil, fmt.Errorf("configuration: saml.idp_metadata_file: %w", err)
		}
		ed, err := web.ParseIDPMetadata(b)
		if err != nil {
			return nil, fmt.Errorf("configuration: saml.idp_metadata_file: %w", err)
		}
		return ed, nil
	}
	u, _ := url.Parse(fc.SAML.IDPMetadataURL)
	ed, err := web.FetchIDPMetadata(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("configuration: saml.idp_metadata_url: %w", err)
	}
	return ed, nil
}
