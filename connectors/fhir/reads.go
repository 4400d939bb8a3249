package fhir

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/carerecord/carerecord/connectors"
)

// After the searches the client reads what the record refers to but the
// searches did not bring: Medications named by reference (read by id), and
// documents whose content is held at a URL. Both are read only from the
// source itself, because every request carries its credentials.

const (
	// maxReads bounds the resources read by id for one record.
	maxReads = 200
	// maxDocuments bounds the documents fetched from URLs for one record,
	// newest first; the others say they were not fetched.
	maxDocuments = 50
)

var (
	typePattern = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)
	// idPattern is FHIR R4's id: up to 64 letters, digits, '-' and '.'.
	idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
)

// sameOrigin reports whether u is on the source's scheme, host and port.
func (c *Client) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, c.base.Scheme) && strings.EqualFold(u.Host, c.base.Host)
}

// underBase resolves ref against the base URL and returns it if it is on
// the source and under the base path.
func (c *Client) underBase(ref string) (*url.URL, bool) {
	r, err := url.Parse(ref)
	if err != nil {
		return nil, false
	}
	base := *c.base
	base.Path += "/"
	u := base.ResolveReference(r)
	if !c.sameOrigin(u) || !strings.HasPrefix(u.Path, base.Path) || u.User != nil {
		return nil, false
	}
	u.Fragment = ""
	return u, true
}

// refKeyOnSource turns a literal reference ("Medication/12", or an absolute
// URL under the base, with or without _history) into "Type/id", or reports
// that it is not a reference to a resource on this source (a contained
// "#id", another server, a logical identifier).
func (c *Client) refKeyOnSource(ref string) (string, bool) {
	if ref == "" || strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "/") {
		return "", false
	}
	u, ok := c.underBase(ref)
	if !ok || u.RawQuery != "" {
		return "", false
	}
	rest := strings.TrimPrefix(u.Path, c.base.Path+"/")
	parts := strings.Split(rest, "/")
	if len(parts) == 4 && parts[2] == "_history" {
		parts = parts[:2]
	}
	if len(parts) != 2 || !typePattern.MatchString(parts[0]) || !idPattern.MatchString(parts[1]) {
		return "", false
	}
	return parts[0] + "/" + parts[1], true
}

// referrer is the mapper's side of resolving references.
type referrer interface {
	unresolved() []string
	include(raw json.RawMessage)
}

// resolve reads the resources the mapper names as unresolved and gives
// them to it, each at most once per fetch, at most maxReads in all. A
// resource read may itself name another (a Medication's ingredient), so
// this goes round twice. A read that fails leaves the reference as it is:
// the mapping names what it can without it.
func (c *Client) resolve(ctx context.Context, m referrer) {
	tried := map[string]bool{}
	for range 2 {
		var keys []string
		for _, ref := range m.unresolved() {
			key, ok := c.refKeyOnSource(ref)
			if !ok || tried[key] || len(tried) >= maxReads {
				continue
			}
			tried[key] = true
			keys = append(keys, key)
		}
		if len(keys) == 0 {
			return
		}
		read := make([]json.RawMessage, len(keys))
		c.parallel(ctx, len(keys), func(i int) { read[i] = c.read(ctx, keys[i]) })
		for _, raw := range read {
			if raw != nil {
				m.include(raw)
			}
		}
	}
}

// read gets one resource by "Type/id", or nil when it cannot be read or is
// not the resource asked for.
func (c *Client) read(ctx context.Context, key string) json.RawMessage {
	body, err := c.get(ctx, c.base.String()+"/"+key)
	if err != nil {
		return nil
	}
	var r struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if json.Unmarshal(body, &r) != nil || r.ResourceType+"/"+r.ID != key {
		return nil
	}
	return body
}

// parallel calls f(0..n-1), at most maxParallel at a time, and returns
// when all have returned; calls not yet started when ctx ends are not made.
func (c *Client) parallel(ctx context.Context, n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallel)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// Content types a document fetched from a URL may have: what a page can
// show (plain text, HTML through the sanitiser, PDF).
var documentTypes = map[string]bool{"text/plain": true, "text/html": true, "application/pdf": true}

const documentAccept = "application/fhir+json, application/pdf;q=0.9, text/plain;q=0.9, text/html;q=0.9"

// Reasons a document's content is not there (Document.Unavailable): short,
// never the source's words.
const (
	docElsewhere = "held outside the source, not fetched"
	docTooMany   = "not fetched: too many documents held at addresses"
	docTooLarge  = "too large to fetch"
	docType      = "of a type that cannot be shown"
	docMismatch  = "not of the type the source declared"
	docBroken    = "content could not be read"
)

// fetchDocuments fetches the content of every document held at a URL (a
// DocumentReference's attachment, a report's presentedForm), newest first:
// only from the source itself (relative, or absolute under the base URL),
// with its credentials, each at most cfg.MaxDocumentBytes and of a type a
// page can show, at most maxDocuments of them, maxParallel at a time. A
// document that cannot be fetched keeps its URL and says why in
// Unavailable; it never fails the record.
func (c *Client) fetchDocuments(ctx context.Context, entries []connectors.Entry) {
	type job struct {
		doc *connectors.Document
		u   string
	}
	var jobs []job
	for i := range entries {
		d := entries[i].Document
		if d == nil || d.URL == "" || d.Text != "" || len(d.Data) > 0 {
			continue
		}
		if ct := mediaTypeOf(d.ContentType); ct != "" && !documentTypes[ct] {
			d.Unavailable = docType
			continue
		}
		u, ok := c.underBase(d.URL)
		if !ok {
			d.Unavailable = docElsewhere
			continue
		}
		if len(jobs) == maxDocuments {
			d.Unavailable = docTooMany
			continue
		}
		jobs = append(jobs, job{d, u.String()})
	}
	c.parallel(ctx, len(jobs), func(i int) { c.fetchDocument(ctx, jobs[i].doc, jobs[i].u) })
	for _, j := range jobs {
		if j.doc.Text == "" && len(j.doc.Data) == 0 && j.doc.Unavailable == "" {
			// Never started: the caller gave up first.
			j.doc.Unavailable = "not fetched in time"
		}
	}
}

// fetchDocument reads one document's content into d, or says in
// d.Unavailable why not.
func (c *Client) fetchDocument(ctx context.Context, d *connectors.Document, u string) {
	// A Binary answered as JSON carries its content base64-encoded, a
	// third larger than the document.
	body, ct, err := c.fetchURL(ctx, u, documentAccept, c.cfg.MaxDocumentBytes*4/3+4096)
	if err != nil {
		d.Unavailable = documentFailure(err)
		return
	}
	content, ctype, reason := c.documentContent(body, mediaTypeOf(ct), mediaTypeOf(d.ContentType))
	if reason != "" {
		d.Unavailable = reason
		return
	}
	d.ContentType, d.Unavailable = ctype, ""
	if strings.HasPrefix(ctype, "text/") {
		d.Text = textOf(content)
	} else {
		d.Data = content
	}
}

// documentContent checks a fetched document: a FHIR Binary is decoded from
// its data; the content must be of a type a page can show, agree with the
// type the source declared (declared), fit the size cap, and a PDF must
// look like one.
func (c *Client) documentContent(body []byte, got, declared string) (content []byte, ctype, reason string) {
	switch got {
	case "application/fhir+json", "application/json":
		var bin struct {
			ResourceType string `json:"resourceType"`
			ContentType  string `json:"contentType"`
			Data         string `json:"data"`
		}
		if json.Unmarshal(body, &bin) != nil || bin.ResourceType != "Binary" {
			return nil, "", docBroken
		}
		b, err := base64.StdEncoding.DecodeString(bin.Data)
		if err != nil || len(b) == 0 {
			return nil, "", docBroken
		}
		content, got = b, mediaTypeOf(bin.ContentType)
	default:
		content = body
	}
	if got == "" || got == "application/octet-stream" {
		got = declared
	}
	switch {
	case int64(len(content)) > c.cfg.MaxDocumentBytes:
		return nil, "", docTooLarge
	case !documentTypes[got]:
		return nil, "", docType
	case declared != "" && got != declared:
		// An HTML sign-in or error page where a PDF letter was expected
		// is not the letter.
		return nil, "", docMismatch
	case got == "application/pdf" && !strings.HasPrefix(string(content[:min(len(content), 5)]), "%PDF-"):
		return nil, "", docBroken
	}
	return content, got, ""
}

// textOf reads text as UTF-8, or, when it is not, as ISO-8859-1 (which
// older systems still send and in which every byte is a character).
func textOf(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// documentFailure words a failed document fetch.
func documentFailure(err error) string {
	se, ok := errors.AsType[*connectors.SourceError](err)
	switch {
	case !ok:
		return "could not be fetched"
	case errors.Is(err, errTooLarge):
		return docTooLarge
	case se.Kind == connectors.ErrStatus:
		return fmt.Sprintf("could not be fetched (HTTP %d)", se.Status)
	}
	return "could not be fetched: " + se.Category()
}

// mediaTypeOf is a Content-Type without its parameters, in lower case; ""
// when it cannot be parsed.
func mediaTypeOf(s string) string {
	if s == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(s)
	if err != nil {
		return ""
	}
	return mt
}
