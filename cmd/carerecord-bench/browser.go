package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/html"
)

// browser is one signed-in person: a cookie jar and a connection of its
// own, as a clinician's browser has. It does not follow redirects itself,
// so that every hop of the SAML flow is a request the server really
// answers.
type browser struct {
	base *url.URL
	c    *http.Client
}

func newBrowser(base *url.URL) *browser {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &browser{base: base, c: &http.Client{Jar: jar, Transport: tr, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) close() { b.c.CloseIdleConnections() }

type page struct {
	status int
	header http.Header
	body   []byte
	url    *url.URL
}

func (b *browser) do(method, target string, form url.Values) (*page, error) {
	u, err := b.base.Parse(target)
	if err != nil {
		return nil, err
	}
	if u.Host != b.base.Host {
		return nil, fmt.Errorf("refusing to leave %s for %s", b.base.Host, u.Host)
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &page{status: resp.StatusCode, header: resp.Header, body: raw, url: u}, nil
}

// get fetches a page and reads all of it, as a browser would before
// showing it.
func (b *browser) get(target string) (*page, error) { return b.do(http.MethodGet, target, nil) }

// follow GETs each redirect until a page that is not one.
func (b *browser) follow(p *page) (*page, error) {
	for i := 0; p.status >= 300 && p.status < 400; i++ {
		if i > 10 {
			return nil, errors.New("too many redirects")
		}
		loc, err := p.url.Parse(p.header.Get("Location"))
		if err != nil {
			return nil, err
		}
		if p, err = b.get(loc.String()); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// signIn goes through the SAML flow from a protected page, as a browser
// would: the portal's redirect to the IdP, the IdP's form, and the POST of
// the signed assertion back to the portal.
func (b *browser) signIn(start, username, password string) error {
	p, err := b.get(start)
	if err != nil {
		return err
	}
	if p, err = b.follow(p); err != nil {
		return err
	}
	doc, err := html.Parse(bytes.NewReader(p.body))
	if err != nil {
		return err
	}
	if findForm(doc, "data-auto-submit") == nil {
		login := findForm(doc, "")
		if login == nil {
			return fmt.Errorf("sign-in for %s: no form on the IdP page (status %d)", username, p.status)
		}
		action, values := formValues(login)
		values.Set("username", username)
		values.Set("password", password)
		if p, err = b.do(http.MethodPost, action, values); err != nil {
			return err
		}
		if p.status != http.StatusOK {
			return fmt.Errorf("sign-in for %s at the IdP: status %d", username, p.status)
		}
		if doc, err = html.Parse(bytes.NewReader(p.body)); err != nil {
			return err
		}
	}
	acs := findForm(doc, "data-auto-submit")
	if acs == nil {
		return fmt.Errorf("sign-in for %s: the IdP sent no assertion form", username)
	}
	action, values := formValues(acs)
	if p, err = b.do(http.MethodPost, action, values); err != nil {
		return err
	}
	if p, err = b.follow(p); err != nil {
		return err
	}
	if p.status != http.StatusOK {
		return fmt.Errorf("sign-in for %s: landed on status %d", username, p.status)
	}
	return nil
}

// csrf reads the page's CSRF token, as the page's forms carry it.
func (b *browser) csrf() (string, error) {
	p, err := b.get("/patients")
	if err != nil {
		return "", err
	}
	doc, err := html.Parse(bytes.NewReader(p.body))
	if err != nil {
		return "", err
	}
	var tok string
	walk(doc, func(n *html.Node) bool {
		if n.Type == html.ElementNode && n.Data == "meta" && attr(n, "name") == "csrf-token" {
			tok = attr(n, "content")
			return false
		}
		return true
	})
	if tok == "" {
		return "", fmt.Errorf("no CSRF token on /patients (status %d)", p.status)
	}
	return tok, nil
}

// giveReason states a legitimate-relationship reason for the patient, as
// the reason page posts it.
func (b *browser) giveReason(nhs, reason string) error {
	tok, err := b.csrf()
	if err != nil {
		return err
	}
	p, err := b.do(http.MethodPost, "/patients/"+nhs+"/access", url.Values{"csrf_token": {tok}, "reason": {reason}})
	if err != nil {
		return err
	}
	if p.status != http.StatusSeeOther {
		return fmt.Errorf("reason for %s: status %d", nhs, p.status)
	}
	return nil
}

// findForm returns the first form with the attribute (any form if "").
func findForm(doc *html.Node, withAttr string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) bool {
		if n.Type != html.ElementNode || n.Data != "form" {
			return true
		}
		if withAttr == "" || hasAttr(n, withAttr) {
			found = n
			return false
		}
		return true
	})
	return found
}

// formValues returns a form's action and the values it would submit.
func formValues(form *html.Node) (string, url.Values) {
	v := url.Values{}
	walk(form, func(n *html.Node) bool {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			switch attr(n, "type") {
			case "checkbox", "radio":
				if !hasAttr(n, "checked") {
					return true
				}
			case "submit":
				return true
			}
			v.Add(attr(n, "name"), attr(n, "value"))
		}
		return true
	})
	return attr(form, "action"), v
}

// walk visits n and its descendants in document order until visit
// returns false.
func walk(n *html.Node, visit func(*html.Node) bool) bool {
	if !visit(n) {
		return false
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if !walk(c, visit) {
			return false
		}
	}
	return true
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}
