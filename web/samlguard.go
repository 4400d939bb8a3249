package web

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
)

// SAML namespaces the guard checks elements against.
const (
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsXMLEnc    = "http://www.w3.org/2001/04/xmlenc#"
)

// checkSAMLResponse looks at a base64 SAML response before crewjam/saml
// parses it, and refuses the shapes that library mishandles
// (GO-2026-6909, no fixed release of github.com/crewjam/saml):
//
//   - exactly one Assertion or EncryptedAssertion anywhere: a second one
//     beside a signed one is the shape of a signature-wrapping attack;
//   - the assertion (decrypted with the service provider's key when it is
//     encrypted, as the library will) has a saml:Issuer naming the IdP:
//     the library dereferences a missing Issuer after verifying the
//     signature and panics;
//   - the assertion has a saml:Subject and saml:Conditions: v0.5.1's
//     validateAssertion dereferences both without a nil check, so a
//     signed assertion without either panics the same way;
//   - every NameID in the assertion's Subject is in the SAML assertion
//     namespace, with a SAML name identifier format if it has one: the
//     library fills Subject.NameID from a NameID element in any namespace.
//
// It only refuses: the signature and every condition are still checked
// by the library afterwards.
func checkSAMLResponse(b64 string, key *rsa.PrivateKey, idpEntityID string) error {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("SAMLResponse is not base64: %w", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return fmt.Errorf("SAMLResponse is not XML: %w", err)
	}
	root := doc.Root()
	if root == nil {
		return errors.New("SAMLResponse is empty")
	}
	var found []*etree.Element
	var walk func(*etree.Element)
	walk = func(el *etree.Element) {
		if el.Tag == "Assertion" || el.Tag == "EncryptedAssertion" {
			found = append(found, el)
		}
		for _, ch := range el.ChildElements() {
			walk(ch)
		}
	}
	walk(root)
	if len(found) != 1 {
		return fmt.Errorf("possible signature wrapping: the response holds %d assertions, want exactly one", len(found))
	}
	a := found[0]
	if a.Tag == "EncryptedAssertion" {
		if a, err = decryptAssertion(a, key); err != nil {
			return err
		}
	}
	if a.Tag != "Assertion" || a.NamespaceURI() != nsAssertion {
		return fmt.Errorf("the assertion is <%s> in namespace %q, want a SAML 2.0 Assertion", a.Tag, a.NamespaceURI())
	}
	issuer := child(a, nsAssertion, "Issuer")
	if issuer == nil {
		return errors.New("the assertion has no saml:Issuer (GO-2026-6909)")
	}
	if got := strings.TrimSpace(issuer.Text()); got != idpEntityID {
		return fmt.Errorf("the assertion's Issuer is %q, want the identity provider %q", got, idpEntityID)
	}
	subj := child(a, nsAssertion, "Subject")
	if subj == nil {
		return errors.New("the assertion has no saml:Subject")
	}
	if child(a, nsAssertion, "Conditions") == nil {
		return errors.New("the assertion has no saml:Conditions")
	}
	{
		for _, el := range subj.ChildElements() {
			if el.Tag != "NameID" {
				continue
			}
			if el.NamespaceURI() != nsAssertion {
				return fmt.Errorf("the assertion's Subject holds a NameID in namespace %q, not the SAML assertion namespace (GO-2026-6909)", el.NamespaceURI())
			}
			if f := el.SelectAttrValue("Format", ""); f != "" && !strings.HasPrefix(f, "urn:oasis:names:tc:SAML:") {
				return fmt.Errorf("the assertion's NameID has format %q, not a SAML name identifier format", f)
			}
		}
	}
	return nil
}

// child returns el's first child element with the namespace and local name.
func child(el *etree.Element, ns, tag string) *etree.Element {
	for _, ch := range el.ChildElements() {
		if ch.Tag == tag && ch.NamespaceURI() == ns {
			return ch
		}
	}
	return nil
}

// decryptAssertion decrypts an EncryptedAssertion the way crewjam/saml's
// ServiceProvider does (an EncryptedKey beside the EncryptedData, or one
// inside its KeyInfo), so the guard sees the assertion the library will.
func decryptAssertion(ea *etree.Element, key *rsa.PrivateKey) (*etree.Element, error) {
	data := child(ea, nsXMLEnc, "EncryptedData")
	if data == nil {
		return nil, errors.New("EncryptedAssertion has no EncryptedData")
	}
	var k any = key
	if ek := ea.FindElement("./EncryptedKey"); ek != nil {
		var err error
		if k, err = xmlenc.Decrypt(key, ek); err != nil {
			return nil, fmt.Errorf("cannot decrypt the assertion's key: %w", err)
		}
	}
	plain, err := xmlenc.Decrypt(k, data)
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt the assertion: %w", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(plain); err != nil {
		return nil, fmt.Errorf("the decrypted assertion is not XML: %w", err)
	}
	if doc.Root() == nil {
		return nil, errors.New("the decrypted assertion is empty")
	}
	return doc.Root(), nil
}
