package fhir_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
)

type testPKI struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	serial int64
}

func newPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testPKI{caCert: cert, caKey: key, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), serial: 1}
}

// issue returns a leaf certificate and key in PEM, for a server (with the
// loopback address) or a client.
func (p *testPKI) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA := newPKI(t, "Test Trust server CA")
	clientCA := newPKI(t, "Test NHS client CA")
	otherCA := newPKI(t, "Untrusted CA")

	srvCert, srvKey := serverCA.issue(t, "fhir.test-trust", true)
	pair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	clientPool := x509.NewCertPool()
	clientPool.AddCert(clientCA.caCert)

	f, _ := newFake(t)
	var seenCN atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenCN.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		f.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientPool}
	// The server logs failed handshakes; they are expected here.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	caFile := writeFile(t, dir, "server-ca.pem", serverCA.caPEM)
	goodCert, goodKey := clientCA.issue(t, "carerecord.test", false)
	badCert, badKey := otherCA.issue(t, "intruder", false)

	tests := []struct {
		name string
		cfg  func(*connectors.Config)
		ok   bool
	}{
		{"OK", func(c *connectors.Config) {
			c.CAFile = caFile
			c.Auth = connectors.Auth{Type: "mtls", CertFile: writeFile(t, dir, "good.pem", goodCert), KeyFile: writeFile(t, dir, "good.key", goodKey)}
		}, true},
		{"ErrNoClientCertificate", func(c *connectors.Config) { c.CAFile = caFile }, false},
		{"ErrUntrustedClientCertificate", func(c *connectors.Config) {
			c.CAFile = caFile
			c.Auth = connectors.Auth{Type: "mtls", CertFile: writeFile(t, dir, "bad.pem", badCert), KeyFile: writeFile(t, dir, "bad.key", badKey)}
		}, false},
		{"ErrUnknownServerCA", func(c *connectors.Config) {
			c.Auth = connectors.Auth{Type: "mtls", CertFile: writeFile(t, dir, "good2.pem", goodCert), KeyFile: writeFile(t, dir, "good2.key", goodKey)}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seenCN.Store("")
			cfg := testConfig(srv.URL)
			tt.cfg(&cfg)
			c := newClient(t, cfg)
			rec, err := c.FetchRecord(t.Context(), testNHS)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if seenCN.Load() != "carerecord.test" || len(rec.Entries) == 0 {
					t.Errorf("server saw client %q; %d entries", seenCN, len(rec.Entries))
				}
				return
			}
			if k := connectors.KindOf(err); k != connectors.ErrUnavailable {
				t.Fatalf("err = %v (kind %q), want unavailable", err, k)
			}
		})
	}

	t.Run("ErrBadFiles", func(t *testing.T) {
		cfg := testConfig(srv.URL)
		cfg.CAFile = writeFile(t, dir, "empty.pem", []byte("not a certificate"))
		if _, err := fhir.New(cfg, os.Getenv); err == nil || !strings.Contains(err.Error(), "ca_file") {
			t.Errorf("bad CA file: err = %v", err)
		}
		cfg = testConfig(srv.URL)
		cfg.Auth = connectors.Auth{Type: "mtls", CertFile: filepath.Join(dir, "missing.pem"), KeyFile: filepath.Join(dir, "missing.key")}
		if _, err := fhir.New(cfg, os.Getenv); err == nil || !strings.Contains(err.Error(), "cert_file") {
			t.Errorf("missing cert: err = %v", err)
		}
	})
}
