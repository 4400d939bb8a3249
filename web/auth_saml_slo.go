package web

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/labstack/echo/v4"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// SAML single logout at /saml/slo, in both directions and on both
// bindings (SAML 2.0 Bindings, sections 3.4 and 3.5):
//
//   - a LogoutResponse answering carerecord's own LogoutRequest: the local
//     session has already ended; the page says whether the IdP confirmed,
//     and says plainly when its answer was unsigned;
//   - a LogoutRequest the IdP starts (the user signed out elsewhere): it is
//     verified, the sessions it names end at once, and a LogoutResponse
//     goes back.
//
// crewjam/saml v0.5.1 verifies only a signature inside the XML, which the
// HTTP-Redirect binding does not carry (the signature is over the query
// string), and has no LogoutRequest handling at all, so both are here.

// sloMessage is one decoded, checked single logout message.
type sloMessage struct {
	root    *etree.Element // the verified element
	signed  bool           // signed by the IdP (query string or XML)
	binding string
	relay   string
}

// maxSLOMessage bounds a decoded message (an IdP's is a few kilobytes).
const maxSLOMessage = 256 << 10

// handleSingleLogout is /saml/slo (GET: HTTP-Redirect, POST: HTTP-POST).
func (s *Server) handleSingleLogout(c echo.Context) error {
	r := c.Request()
	var values url.Values
	binding := saml.HTTPRedirectBinding
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return Errorf(EINVALID, "No sign-out message was received", "This address receives sign-out messages from your identity provider.")
		}
		values, binding = r.PostForm, saml.HTTPPostBinding
	} else {
		values = r.URL.Query()
	}
	switch {
	case values.Get("SAMLRequest") != "":
		return s.receiveLogoutRequest(c, binding)
	case values.Get("SAMLResponse") != "":
		return s.finishSignOut(c, binding)
	}
	return Errorf(EINVALID, "No sign-out message was received",
		"This address receives sign-out messages from your identity provider. To sign out of carerecord, use Sign out at the top of any page.")
}

// finishSignOut reads the IdP's LogoutResponse. The local session ended
// before the user was sent to the IdP; this only says what the IdP did.
func (s *Server) finishSignOut(c echo.Context, binding string) error {
	again := s.signInPath("", false)
	m, err := s.readSLOMessage(c.Request(), binding, "SAMLResponse", "LogoutResponse")
	if err == nil {
		err = s.checkLogoutResponse(m)
	}
	switch {
	case err != nil:
		s.log.Warn("logout response not verified", "binding", binding, "error", err.Error())
		return render(c, http.StatusOK, views.SignedOut(s.page(c, "You have signed out"), views.SignedOutUnconfirmed, again))
	case !m.signed:
		s.log.Info("logout response unsigned", "binding", binding)
		return render(c, http.StatusOK, views.SignedOut(s.page(c, "You have signed out"), views.SignedOutUnsigned, again))
	}
	return c.Redirect(http.StatusSeeOther, "/signed-out")
}

func (s *Server) checkLogoutResponse(m *sloMessage) error {
	var resp saml.LogoutResponse
	if err := unmarshalElement(m.root, &resp); err != nil {
		return err
	}
	if err := s.checkSLOHeader(resp.Issuer, resp.Destination, resp.IssueInstant); err != nil {
		return err
	}
	if resp.Status.StatusCode.Value != saml.StatusSuccess {
		return fmt.Errorf("status %q, not success", resp.Status.StatusCode.Value)
	}
	return nil
}

// receiveLogoutRequest handles an IdP-initiated LogoutRequest: only a
// signed one, from the configured IdP, addressed here and fresh, used once,
// ends sessions; the answer is a LogoutResponse to the IdP.
func (s *Server) receiveLogoutRequest(c echo.Context, binding string) error {
	r := c.Request()
	refuse := func(cause error) error {
		s.log.Warn("logout request refused", "binding", binding, "error", cause.Error())
		return Errorf(EINVALID, "This sign-out request could not be verified",
			"carerecord received a sign-out request that did not come, verifiably, from your identity provider, so it changed nothing. If you meant to sign out, use Sign out at the top of any page.")
	}
	m, err := s.readSLOMessage(r, binding, "SAMLRequest", "LogoutRequest")
	if err != nil {
		return refuse(err)
	}
	if !m.signed {
		return refuse(errors.New("the LogoutRequest is not signed"))
	}
	var lr saml.LogoutRequest
	if err := unmarshalElement(m.root, &lr); err != nil {
		return refuse(err)
	}
	if err := s.checkSLOHeader(lr.Issuer, lr.Destination, lr.IssueInstant); err != nil {
		return refuse(err)
	}
	now := saml.TimeNow()
	if lr.NotOnOrAfter != nil && !now.Before(lr.NotOnOrAfter.Add(saml.MaxClockSkew)) {
		return refuse(fmt.Errorf("the LogoutRequest expired at %s", lr.NotOnOrAfter))
	}
	if lr.ID == "" || lr.NameID == nil || lr.NameID.Value == "" {
		return refuse(errors.New("the LogoutRequest has no ID or NameID"))
	}
	if err := s.db.UseAssertion(r.Context(), "saml-logout:"+lr.ID, now.Add(saml.MaxIssueDelay+2*saml.MaxClockSkew)); err != nil {
		if errors.Is(err, store.ErrReplay) {
			return refuse(errors.New("the LogoutRequest was replayed"))
		}
		return err
	}
	index := ""
	if lr.SessionIndex != nil {
		index = lr.SessionIndex.Value
	}
	ended, err := s.db.EndSessionsFor(r.Context(), store.ProtocolSAML, lr.NameID.Value, index, endIdPLogout)
	if err != nil {
		return err
	}
	for _, h := range ended {
		sess, err := s.db.SessionByHash(r.Context(), h)
		if err != nil {
			return err
		}
		ev := store.AuditEvent{Action: store.ActSignOut, UserID: sess.UserID, UserName: sess.DisplayName, SessionHash: h,
			Detail: "ended by the identity provider (SAML single logout, " + bindingName(binding) + ")"}
		if role, ok := sess.Role(); ok {
			ev.RoleCode, ev.ODS = role.Code, role.ODS
		}
		if err := s.audit(c, ev); err != nil {
			return err
		}
	}
	s.log.Info("identity provider logout", "binding", binding, "sessions_ended", len(ended))
	// The browser's own cookie, if it named one of them, is now useless;
	// clear it so that the next page asks to sign in at once.
	gs, _ := s.cookies.Get(r, sessionCookie)
	if tok, _ := gs.Values[sessionToken].(string); tok != "" {
		gs.Options.MaxAge = -1
		_ = gs.Save(r, c.Response())
	}
	c.Response().Header().Set("Clear-Site-Data", `"cache"`)
	to, err := s.sp.MakeRedirectLogoutResponse(lr.ID, m.relay)
	if err != nil || s.sp.GetSLOBindingLocation(saml.HTTPRedirectBinding) == "" {
		// The IdP offers no HTTP-Redirect endpoint for the answer: the
		// sessions have ended all the same.
		return render(c, http.StatusOK, views.SignedOut(s.page(c, "You have signed out"), views.SignedOutEverywhere, s.signInPath("", false)))
	}
	return c.Redirect(http.StatusFound, to.String())
}

func bindingName(b string) string {
	if b == saml.HTTPPostBinding {
		return "HTTP-POST"
	}
	return "HTTP-Redirect"
}

// checkSLOHeader checks what every single logout message carries: the
// configured IdP as issuer, this endpoint as destination (when given),
// and an issue instant within the allowed delay and clock skew.
func (s *Server) checkSLOHeader(iss *saml.Issuer, dest string, issued time.Time) error {
	if iss == nil || iss.Value != s.cfg.IDPMetadata.EntityID {
		return errors.New("the issuer is not the configured identity provider")
	}
	if dest != "" && dest != s.sp.SloURL.String() {
		return fmt.Errorf("the destination %q is not this service's single logout address", dest)
	}
	now := saml.TimeNow()
	if issued.Add(saml.MaxIssueDelay + saml.MaxClockSkew).Before(now) {
		return fmt.Errorf("issued at %s, too long ago", issued.UTC().Format(time.RFC3339))
	}
	if issued.Add(-saml.MaxClockSkew).After(now) {
		return fmt.Errorf("issued at %s, in the future", issued.UTC().Format(time.RFC3339))
	}
	return nil
}

// readSLOMessage decodes param on the binding and verifies its signature:
// on HTTP-Redirect the signature over the query string (SAML Bindings
// 3.4.4.1), or else one inside the XML; on HTTP-POST the XML signature.
// An unsigned message is returned with signed false; a signature that does
// not verify is an error.
func (s *Server) readSLOMessage(r *http.Request, binding, param, tag string) (*sloMessage, error) {
	m := &sloMessage{binding: binding}
	var raw []byte
	var err error
	if binding == saml.HTTPRedirectBinding {
		q := r.URL.Query()
		m.relay = q.Get("RelayState")
		raw, err = base64.StdEncoding.DecodeString(q.Get(param))
		if err != nil {
			return nil, fmt.Errorf("%s: not base64", param)
		}
		raw, err = io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), maxSLOMessage+1))
		if err != nil {
			return nil, fmt.Errorf("%s: not deflated: %w", param, err)
		}
	} else {
		m.relay = r.PostForm.Get("RelayState")
		raw, err = base64.StdEncoding.DecodeString(r.PostForm.Get(param))
		if err != nil {
			return nil, fmt.Errorf("%s: not base64", param)
		}
	}
	if len(raw) > maxSLOMessage {
		return nil, fmt.Errorf("%s: larger than %d bytes", param, maxSLOMessage)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return nil, fmt.Errorf("%s: not XML", param)
	}
	root := doc.Root()
	if root.Tag != tag || root.NamespaceURI() != "urn:oasis:names:tc:SAML:2.0:protocol" {
		return nil, fmt.Errorf("%s: a %s, want a %s", param, root.Tag, tag)
	}
	certs, err := s.idpSigningCerts()
	if err != nil {
		return nil, err
	}
	if binding == saml.HTTPRedirectBinding && r.URL.Query().Get("Signature") != "" {
		if err := verifyRedirectSignature(r.URL.RawQuery, param, certs); err != nil {
			return nil, err
		}
		m.root, m.signed = root, true
		return m, nil
	}
	if root.FindElement("./Signature") == nil {
		m.root = root
		return m, nil
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: certs})
	verified, err := ctx.Validate(root)
	if err != nil {
		return nil, fmt.Errorf("%s: XML signature: %w", param, err)
	}
	// Only what the signature covers is read (no wrapping).
	m.root, m.signed = verified, true
	return m, nil
}

// verifyRedirectSignature checks the HTTP-Redirect binding's signature:
// "the signature value MUST be computed over the octet string
// SAMLRequest=value&RelayState=value&SigAlg=value" (or SAMLResponse),
// with the values URL-encoded as they appear in the query (Bindings
// 3.4.4.1). RSA with SHA-256 or SHA-512 is accepted; SHA-1 is not.
func verifyRedirectSignature(rawQuery, param string, certs []*x509.Certificate) error {
	rawValue := func(name string) (string, bool) {
		for _, kv := range strings.Split(rawQuery, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if k == name {
				return v, true
			}
		}
		return "", false
	}
	msg, _ := rawValue(param)
	signed := param + "=" + msg
	if rs, ok := rawValue("RelayState"); ok {
		signed += "&RelayState=" + rs
	}
	algRaw, ok := rawValue("SigAlg")
	if !ok {
		return errors.New("signature without SigAlg")
	}
	signed += "&SigAlg=" + algRaw
	alg, _ := url.QueryUnescape(algRaw)
	sigRaw, _ := rawValue("Signature")
	sigText, err := url.QueryUnescape(sigRaw)
	if err != nil {
		return errors.New("signature: bad encoding")
	}
	sig, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil {
		return errors.New("signature: not base64")
	}
	var h crypto.Hash
	var digest []byte
	switch alg {
	case dsig.RSASHA256SignatureMethod:
		sum := sha256.Sum256([]byte(signed))
		h, digest = crypto.SHA256, sum[:]
	case dsig.RSASHA512SignatureMethod:
		sum := sha512.Sum512([]byte(signed))
		h, digest = crypto.SHA512, sum[:]
	default:
		return fmt.Errorf("signature algorithm %q is not accepted", alg)
	}
	for _, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil {
			return nil
		}
	}
	return errors.New("the query string signature does not verify with the identity provider's certificates")
}

// idpSigningCerts are the certificates in the IdP's metadata for signing.
func (s *Server) idpSigningCerts() ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, d := range s.cfg.IDPMetadata.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
				b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
				if err != nil {
					continue
				}
				if c, err := x509.ParseCertificate(b); err == nil {
					certs = append(certs, c)
				}
			}
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("the identity provider's metadata has no signing certificate")
	}
	return certs, nil
}

// unmarshalElement reads a verified element into v.
func unmarshalElement(el *etree.Element, v any) error {
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	b, err := doc.WriteToBytes()
	if err != nil {
		return err
	}
	return xml.Unmarshal(b, v)
}
