package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"

	"github.com/carerecord/carerecord/web/devidp"
	"github.com/carerecord/carerecord/web/oidc"
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

// loadPrivateKey reads an RSA private key (PEM, PKCS #8 or PKCS #1).
func loadPrivateKey(path string) (*rsa.PrivateKey, error) {
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
