package devidp

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/url"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// Single logout messages as a real IdP (SimpleSAMLphp, ADFS) sends them:
// on HTTP-Redirect the signature is over the query string (SAML Bindings
// 3.4.4.1), on HTTP-POST inside the XML.

// SLOOptions change how a single logout message is built, so that tests
// can send what a real IdP must not (unsigned, signed by another key, from
// another issuer, stale).
type SLOOptions struct {
	Unsigned bool
	Key      *rsa.PrivateKey // signs instead of the IdP's key
	Issuer   string          // instead of the IdP's entity ID
	Issued   time.Time       // instead of now
	ID       string          // instead of a fresh one (a replay)
}

// LogoutRequestRedirect is an IdP-initiated LogoutRequest to dest (the
// SP's single logout endpoint) on the HTTP-Redirect binding.
func (d *IdP) LogoutRequestRedirect(dest, nameID, sessionIndex, relayState string, o SLOOptions) (*url.URL, error) {
	el := d.logoutRequest(dest, nameID, sessionIndex, o)
	return d.redirect(dest, "SAMLRequest", el, relayState, o)
}

// LogoutRequestPost is the same LogoutRequest on the HTTP-POST binding:
// the form values to post to dest.
func (d *IdP) LogoutRequestPost(dest, nameID, sessionIndex, relayState string, o SLOOptions) (url.Values, error) {
	el := d.logoutRequest(dest, nameID, sessionIndex, o)
	if !o.Unsigned {
		var err error
		if el, err = d.signEnveloped(el, o); err != nil {
			return nil, err
		}
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	v := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(b)}}
	if relayState != "" {
		v.Set("RelayState", relayState)
	}
	return v, nil
}

// LogoutResponseRedirect is a LogoutResponse to dest on the HTTP-Redirect
// binding, as the IdP answers the SP's LogoutRequest.
func (d *IdP) LogoutResponseRedirect(dest, inResponseTo, relayState string, o SLOOptions) (*url.URL, error) {
	resp := saml.LogoutResponse{
		ID: d.messageID(o), InResponseTo: inResponseTo, Version: "2.0", IssueInstant: d.issued(o), Destination: dest,
		Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: d.issuer(o)},
		Status: saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}},
	}
	return d.redirect(dest, "SAMLResponse", resp.Element(), relayState, o)
}

func (d *IdP) logoutRequest(dest, nameID, sessionIndex string, o SLOOptions) *etree.Element {
	lr := saml.LogoutRequest{
		ID: d.messageID(o), Version: "2.0", IssueInstant: d.issued(o), Destination: dest,
		Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: d.issuer(o)},
		NameID: &saml.NameID{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient", Value: nameID},
	}
	if sessionIndex != "" {
		lr.SessionIndex = &saml.SessionIndex{Value: sessionIndex}
	}
	return lr.Element()
}

func (d *IdP) messageID(o SLOOptions) string {
	if o.ID != "" {
		return o.ID
	}
	return randomID()
}

func (d *IdP) issued(o SLOOptions) time.Time {
	if !o.Issued.IsZero() {
		return o.Issued
	}
	return saml.TimeNow()
}

func (d *IdP) issuer(o SLOOptions) string {
	if o.Issuer != "" {
		return o.Issuer
	}
	return d.idp.MetadataURL.String()
}

func (d *IdP) key(o SLOOptions) *rsa.PrivateKey {
	if o.Key != nil {
		return o.Key
	}
	return d.opts.Key
}

func (d *IdP) signEnveloped(el *etree.Element, o SLOOptions) (*etree.Element, error) {
	ks := dsig.TLSCertKeyStore{PrivateKey: d.key(o), Certificate: [][]byte{d.opts.Cert.Raw}}
	ctx := dsig.NewDefaultSigningContext(ks)
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, err
	}
	return ctx.SignEnveloped(el)
}

// redirect deflates and encodes el into the query, then signs the query.
func (d *IdP) redirect(dest, param string, el *etree.Element, relayState string, o SLOOptions) (*url.URL, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := doc.WriteTo(fw); err != nil {
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if !o.Unsigned {
		q += "&SigAlg=" + url.QueryEscape(dsig.RSASHA256SignatureMethod)
		sum := sha256.Sum256([]byte(q))
		sig, err := rsa.SignPKCS1v15(rand.Reader, d.key(o), crypto.SHA256, sum[:])
		if err != nil {
			return nil, err
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	u, err := url.Parse(dest)
	if err != nil {
		return nil, err
	}
	u.RawQuery = q
	return u, nil
}

// Inflate undoes the HTTP-Redirect binding's DEFLATE (tests read the
// messages carerecord sends).
func Inflate(raw []byte) ([]byte, error) {
	return io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), 1<<20))
}

// MustReconfigure returns a copy of d asserting attributes by other names
// (tests of attribute mappings), trusting the same service providers.
func MustReconfigure(d *IdP, a Attributes) *IdP {
	o := d.opts
	o.Attributes = a
	n, err := New(o)
	if err != nil {
		panic(err)
	}
	d.mu.Lock()
	for _, sp := range d.sps {
		n.sps[sp.EntityID] = sp
	}
	d.mu.Unlock()
	return n
}
