package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// GenerateKeyPair makes an RSA-2048 key and a self-signed certificate for
// SAML signing, valid for ten years. SAML metadata pins the certificate
// itself, so self-signed is the norm for signing keys.
func GenerateKeyPair(commonName string) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

// LoadOrCreateKeyPair reads keyFile and certFile (PEM); if neither exists
// it generates a pair and writes them (the key readable by the owner only).
func LoadOrCreateKeyPair(keyFile, certFile, commonName string) (*rsa.PrivateKey, *x509.Certificate, error) {
	_, kerr := os.Stat(keyFile)
	_, cerr := os.Stat(certFile)
	if errors.Is(kerr, os.ErrNotExist) && errors.Is(cerr, os.ErrNotExist) {
		key, cert, err := GenerateKeyPair(commonName)
		if err != nil {
			return nil, nil, err
		}
		kb := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKCS8(key)})
		cb := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
		if err := os.WriteFile(keyFile, kb, 0o600); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(certFile, cb, 0o644); err != nil {
			return nil, nil, err
		}
		return key, cert, nil
	}
	return LoadKeyPair(keyFile, certFile)
}

func mustPKCS8(key *rsa.PrivateKey) []byte {
	b, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // an RSA key always marshals
	}
	return b
}

// LoadKeyPair reads an RSA private key (PKCS#8 or PKCS#1 PEM) and its
// certificate (PEM) from files.
func LoadKeyPair(keyFile, certFile string) (*rsa.PrivateKey, *x509.Certificate, error) {
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	return ParseKeyPair(kb, cb)
}

// ParseKeyPair parses PEM key and certificate bytes and checks that they
// belong together.
func ParseKeyPair(keyPEM, certPEM []byte) (*rsa.PrivateKey, *x509.Certificate, error) {
	kblock, _ := pem.Decode(keyPEM)
	if kblock == nil {
		return nil, nil, errors.New("private key: no PEM block")
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(kblock.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, nil, errors.New("private key: not an RSA key")
		}
		key = rk
	} else if k, err2 := x509.ParsePKCS1PrivateKey(kblock.Bytes); err2 == nil {
		key = k
	} else {
		return nil, nil, fmt.Errorf("private key: %w", err)
	}
	cblock, _ := pem.Decode(certPEM)
	if cblock == nil {
		return nil, nil, errors.New("certificate: no PEM block")
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, errors.New("certificate does not match the private key")
	}
	return key, cert, nil
}
