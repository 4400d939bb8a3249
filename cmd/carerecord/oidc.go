package main

import (
	"cmp"
	"net"
	"net/http"
	"time"

	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web/devidp"
	"github.com/carerecord/carerecord/web/nhslogin"
	"github.com/carerecord/carerecord/web/oidc"
	"github.com/carerecord/carerecord/web/smart"
)

// devOPClientID is carerecord's client id at the development OpenID provider.
const devOPClientID = "carerecord"

// startDevOP builds the development OpenID provider at {base}/devidp/oidc
// and the relying party that uses it, registered with it by its public key
// (private_key_jwt, as with CIS2) and its back-channel logout address.
func startDevOP(base *url.URL, opKey, clientKey *rsa.PrivateKey, claims oidc.ClaimMap, log *slog.Logger) (*devidp.OP, *oidc.Client, error) {
	op, err := devidp.NewOP(devidp.OPOptions{Issuer: base.JoinPath("/devidp/oidc"), Key: opKey, Users: devidp.DemoUsers(),
		Password: demoPassword, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	rp, err := oidc.New(oidc.Config{Issuer: op.Issuer(), ClientID: devOPClientID, ClientKey: clientKey,
		AssertionAudience: "issuer", RedirectURL: base.String() + "/oidc/callback", Claims: claims})
	if err != nil {
		return nil, nil, err
	}
	op.AddClient(devidp.OIDCClient{ID: devOPClientID, RedirectURIs: []string{base.String() + "/oidc/callback"},
		PostLogoutRedirectURIs: []string{base.String() + "/signed-out"},
		BackChannelLogoutURI:   base.String() + "/oidc/backchannel-logout", Keys: rp.JWKS()})
	return op, rp, nil
}

// devNHSLoginClientID is carerecord's client id at the development NHS login.
const devNHSLoginClientID = "carerecord-patients"

// startDevNHSLogin builds the development NHS login at
// {base}/devidp/nhslogin, with the demo patients, and the relying party
// that uses it (private_key_jwt signed RS512, as NHS login asks).
func startDevNHSLogin(base *url.URL, opKey, clientKey *rsa.PrivateKey, log *slog.Logger) (*devidp.OP, *nhslogin.Client, error) {
	op, err := devidp.NewOP(devidp.OPOptions{Issuer: base.JoinPath("/devidp/nhslogin"), Key: opKey, Users: devidp.DemoPatients(),
		Password: demoPassword, Logger: log, NHSLogin: true})
	if err != nil {
		return nil, nil, err
	}
	rp, err := nhslogin.New(nhslogin.Config{Issuer: op.Issuer(), ClientID: devNHSLoginClientID, ClientKey: clientKey,
		RedirectURL: base.String() + "/my-record/callback"})
	if err != nil {
		return nil, nil, err
	}
	op.AddClient(devidp.OIDCClient{ID: devNHSLoginClientID, RedirectURIs: []string{base.String() + "/my-record/callback"},
		PostLogoutRedirectURIs: []string{base.String() + "/my-record/signed-out"}, Keys: rp.JWKS()})
	return op, rp, nil
}

// nhsLoginClient builds the relying party from [nhs_login] for NHS login.
func nhsLoginClient(fc *fileConfig) (*nhslogin.Client, error) {
	n := &fc.NHSLogin
	k, err := loadPrivateKey(n.ClientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("configuration: nhs_login.client_key_file: %w", err)
	}
	c, err := nhslogin.New(nhslogin.Config{Issuer: n.Issuer, ClientID: n.ClientID, ClientKey: k,
		RedirectURL: fc.base.String() + "/my-record/callback", Scopes: n.Scopes, VTR: n.VTR, MinLevel: n.MinLevel,
		ClockSkew: cmp.Or(fc.OIDC.ClockSkew.Duration, 2*time.Minute)})
	if err != nil {
		return nil, fmt.Errorf("configuration: nhs_login: %w", err)
	}
	return c, nil
}

// loadPrivateKey reads an RSA private key (PEM, PKCS #8 or PKCS #1).
func loadPrivateKey(path string) (*rsa.PrivateKey, error) {
	if err := store.CheckKeyFile(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an RSA private key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA private key")
	}
	return rk, nil
}

// oidcClient builds the relying party from [oidc] for a real provider.
func oidcClient(fc *fileConfig, getenv func(string) string) (*oidc.Client, error) {
	o := &fc.OIDC
	cfg := oidc.Config{Issuer: o.Issuer, ClientID: o.ClientID, AssertionAudience: o.AssertionAudience,
		RedirectURL: fc.base.String() + "/oidc/callback", Scopes: o.Scopes, Claims: o.claimMap(), ClockSkew: o.ClockSkew.Duration}
	if o.ClientKeyFile != "" {
		k, err := loadPrivateKey(o.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("configuration: oidc.client_key_file: %w", err)
		}
		cfg.ClientKey = k
	} else {
		cfg.ClientSecret = getenv(o.ClientSecretEnv)
	}
	c, err := oidc.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("configuration: oidc: %w", err)
	}
	return c, nil
}

// smartClient builds the EPR launch client from [smart], or nil when no
// EPR is configured.
func smartClient(fc *fileConfig, getenv func(string) string) (*smart.Client, error) {
	if len(fc.SMART.EPRs) == 0 {
		return nil, nil
	}
	// An EPR's id_token (when its sign-in is trusted) gets the clock skew
	// allowed to the OpenID provider.
	cfg := smart.Config{RedirectURL: fc.base.String() + "/launch/callback", Scopes: fc.SMART.Scopes,
		ClockSkew: cmp.Or(fc.OIDC.ClockSkew.Duration, 2*time.Minute)}
	for _, e := range fc.SMART.EPRs {
		epr := smart.EPR{Name: e.Name, ISS: e.ISS, ClientID: e.ClientID}
		if e.TrustFHIRUser {
			epr.Trust = &smart.Trust{RoleCode: e.Role, ODS: e.ODS, OrgName: e.OrgName, Assurance: 3}
			if e.Assurance != nil {
				epr.Trust.Assurance = *e.Assurance
			}
		}
		if e.ClientSecretEnv != "" {
			epr.ClientSecret = getenv(e.ClientSecretEnv)
		}
		cfg.EPRs = append(cfg.EPRs, epr)
	}
	c, err := smart.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("configuration: smart: %w", err)
	}
	return c, nil
}

// startDemoEPR serves the synthetic EPR on its own loopback listener (it
// is another system, at another origin) and returns the launch client
// that trusts it.
func startDemoEPR(base *url.URL, log *slog.Logger) (*devidp.EPR, *smart.Client, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo: synthetic EPR: %w", err)
	}
	eb := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	epr := devidp.NewEPR(devidp.EPROptions{Name: "King's EPR (synthetic)", Base: eb, Launch: base.String() + "/launch",
		ClientID: "carerecord", RedirectURI: base.String() + "/launch/callback", Patients: devidp.DemoEPRPatients()})
	hs := &http.Server{Handler: epr, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Warn("synthetic EPR stopped", "error", err.Error())
		}
	}()
	c, err := smart.New(smart.Config{EPRs: []smart.EPR{{Name: "King's EPR (synthetic)", ISS: epr.ISS(), ClientID: "carerecord"}},
		RedirectURL: base.String() + "/launch/callback"})
	if err != nil {
		hs.Close()
		return nil, nil, nil, err
	}
	return epr, c, func() { hs.Close() }, nil
}
