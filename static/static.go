// Package static holds the portal's front-end files (NHS.UK frontend, htmx
// and the product's own CSS and JavaScript), embeds them in the binary and
// serves them under fingerprinted names, so that browsers may cache each
// file for a year and still see a new version the moment it changes.
//
// Pages never write an asset URL by hand; they ask for it by its name in
// this directory:
//
//	<link rel="stylesheet" href={ static.Path("nhsuk/nhsuk-frontend.min.css") }>
//	<link rel="stylesheet" href={ static.Path("css/app.css") }>
//	<script type="module" src={ static.Path("js/app.js") }></script>
//
// Path returns "/static/css/app.<hash>.css", where <hash> is the first ten
// hex digits of the SHA-256 of the bytes served. Handler serves exactly those
// URLs and nothing else; a name without its hash, or with a stale one, is 404.
//
// nhsuk-frontend's JavaScript bundle is an ES module: it exports initAll
// and initialises nothing by itself. js/app.js imports it, adds the
// nhsuk-frontend-supported class to <body> that the bundle checks for
// (nhsuk-frontend's own page template does that with an inline script, which
// the Content-Security-Policy forbids) and calls initAll, so it must be
// loaded with type="module". Pages work without JavaScript.
//
// The vendored files are kept byte for byte as published (see VENDORED.md
// and vendor.sh). References between files are rewritten in memory when the
// package is initialised, before hashing, so that a file's hash covers the
// hashes of the files it points to:
//
//   - url(...) in CSS: relative URLs, and nhsuk-frontend's root-relative
//     /assets/ URLs, become the fingerprinted URL of the embedded file;
//   - static import and export-from statements in JavaScript whose specifier
//     starts with ./ or ../ become the fingerprinted URL of the module;
//   - icon "src" entries in a web app manifest become fingerprinted URLs;
//   - trailing sourceMappingURL comments are removed, as source maps are not
//     shipped.
//
// The precompiled nhsuk-frontend CSS declares the Frutiger web font with
// @font-face rules that load it from assets.nhs.uk. Those rules are removed:
// the portal makes no requests to other sites (the CSP allows fonts only
// from 'self'), and the font stack falls back to Arial.
//
// This package must never serve a file that is not embedded, never reach the
// network, and never let a reference it cannot resolve pass silently: any
// such reference stops the program at start-up, and the tests fail first.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// Prefix is the URL path under which Handler serves every asset. Mount the
// handler there without stripping the prefix.
const Prefix = "/static/"

// files holds the assets only: not the Go sources, the licence files,
// VENDORED.md or vendor.sh.
//
//go:embed css/*.css js/*.js nhsuk/*.css nhsuk/*.js nhsuk/assets
var files embed.FS

// assets is built once, when the package is initialised, so that a broken
// reference stops the server at start-up rather than on some later page.
var assets = mustBuild(files)

// Path returns the URL path at which Handler serves the named asset, for
// example Path("css/app.css") == "/static/css/app.0123456789.css". The name
// is the file's path inside this directory. Path panics on a name that is not
// embedded, so a typo in a template fails the first test that renders it.
func Path(name string) string {
	return assets.path(name)
}

// Handler returns the handler for every URL Path returns, and only those.
// It answers GET and HEAD with the file, Cache-Control "public,
// max-age=31536000, immutable", its Content-Type, an ETag taken from the hash
// and X-Content-Type-Options "nosniff"; any other path under Prefix is 404,
// any other method 405.
func Handler() http.Handler {
	return assets
}

// hashLen is the number of hex digits of the SHA-256 kept in a URL: 40 bits,
// ample to tell the versions of one file apart.
const hashLen = 10

// contentHash returns the fingerprint of an asset's served bytes.
func contentHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:hashLen]
}

// fingerprint inserts the hash before the file's last extension:
// "nhsuk/nhsuk-frontend.min.css" becomes "nhsuk/nhsuk-frontend.min.<hash>.css".
func fingerprint(name, hash string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hash + ext
}

// contentTypes lists every kind of file the package may embed; embedding any
// other kind is an error at start-up, so each new kind gets a deliberate,
// explicit type rather than a guess from the system's MIME tables.
var contentTypes = map[string]string{
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".woff2":       "font/woff2",
	".json":        "application/manifest+json",
	".webmanifest": "application/manifest+json",
}

// rootAliases maps root-relative URL prefixes found in vendored CSS to the
// embedded directory that holds those files. nhsuk-frontend's precompiled CSS
// is built with $nhsuk-assets-path "/assets/".
var rootAliases = map[string]string{
	"/assets/": "nhsuk/assets/",
}

type asset struct {
	name        string // path in the embedded tree, e.g. "css/app.css"
	url         string // e.g. "/static/css/app.0123456789.css"
	hash        string
	contentType string
	body        []byte // as served, after rewriting
}

// index holds every asset by name and by the URL path it is served at.
type index struct {
	byName map[string]*asset
	byURL  map[string]*asset
}

func mustBuild(fsys fs.FS) *index {
	ix, err := build(fsys)
	if err != nil {
		panic(err)
	}
	return ix
}

// build reads every file in fsys, rewrites the references between them and
// fingerprints each one. Files are resolved depth first, so a file is hashed
// only after everything it refers to has its final URL.
func build(fsys fs.FS) (*index, error) {
	b := &builder{
		fsys:    fsys,
		done:    map[string]*asset{},
		pending: map[string]bool{},
	}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		_, err = b.resolve(name)
		return err
	})
	if err != nil {
		return nil, err
	}
	ix := &index{byName: b.done, byURL: make(map[string]*asset, len(b.done))}
	for _, a := range b.done {
		ix.byURL[a.url] = a
	}
	return ix, nil
}

type builder struct {
	fsys    fs.FS
	done    map[string]*asset
	pending map[string]bool // being resolved, to detect reference cycles
}

func (b *builder) resolve(name string) (*asset, error) {
	if a, ok := b.done[name]; ok {
		return a, nil
	}
	if b.pending[name] {
		return nil, fmt.Errorf("static: %s: reference cycle", name)
	}
	b.pending[name] = true
	defer delete(b.pending, name)

	ext := path.Ext(name)
	ctype, ok := contentTypes[ext]
	if !ok {
		return nil, fmt.Errorf("static: %s: no content type for %q files", name, ext)
	}
	body, err := fs.ReadFile(b.fsys, name)
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	switch ext {
	case ".css":
		body, err = b.rewriteCSS(name, body)
	case ".js":
		body, err = b.rewriteJS(name, body)
	case ".json", ".webmanifest":
		body, err = b.rewriteManifest(name, body)
	}
	if err != nil {
		return nil, fmt.Errorf("static: %s: %w", name, err)
	}
	hash := contentHash(body)
	a := &asset{
		name:        name,
		url:         Prefix + fingerprint(name, hash),
		hash:        hash,
		contentType: ctype,
		body:        body,
	}
	b.done[name] = a
	return a, nil
}

// ref returns the fingerprinted URL for a reference found in the file from.
// It accepts only references to embedded files: relative paths, or
// root-relative paths under one of rootAliases. A fragment is kept.
func (b *builder) ref(from, ref string) (string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("reference %q: %w", ref, err)
	}
	if u.Scheme != "" || u.Host != "" {
		return "", fmt.Errorf("reference %q: not an embedded file", ref)
	}
	var target string
	if strings.HasPrefix(u.Path, "/") {
		for prefix, dir := range rootAliases {
			if rest, ok := strings.CutPrefix(u.Path, prefix); ok {
				target = dir + rest
				break
			}
		}
		if target == "" {
			return "", fmt.Errorf("reference %q: root-relative path outside %v", ref, rootAliases)
		}
	} else {
		target = path.Join(path.Dir(from), u.Path)
	}
	if !fs.ValidPath(target) {
		return "", fmt.Errorf("reference %q: outside the embedded files", ref)
	}
	if _, err := fs.Stat(b.fsys, target); err != nil {
		return "", fmt.Errorf("reference %q: %w", ref, err)
	}
	a, err := b.resolve(target)
	if err != nil {
		return "", err
	}
	if u.Fragment != "" {
		return a.url + "#" + u.Fragment, nil
	}
	return a.url, nil
}

var (
	// cssURL matches url(...) with the URL quoted or bare.
	cssURL = regexp.MustCompile(`url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)`)
	// cssFontFace matches an @font-face rule, which holds no nested braces.
	cssFontFace = regexp.MustCompile(`@font-face\s*\{[^}]*\}`)
	// cssSourceMap and jsSourceMap match a trailing source map comment.
	cssSourceMap = regexp.MustCompile(`/\*# sourceMappingURL=[^*]*\*/\s*$`)
	jsSourceMap  = regexp.MustCompile(`//# sourceMappingURL=\S*\s*$`)
	// jsImport matches a static import or export-from statement at the
	// start of a line with a relative specifier; submatches: the text before
	// the specifier, the quote, the specifier.
	jsImport = regexp.MustCompile(`(?m)^(\s*(?:(?:import|export)\b[^'"]*?\bfrom\s*|import\s*))(['"])(\.{1,2}/[^'"\n]+)['"]`)
)

// cssURLValue returns the URL inside one cssURL match.
func cssURLValue(m [][]byte) string {
	for _, g := range m[1:] {
		if g != nil {
			return string(g)
		}
	}
	return ""
}

func isExternal(ref string) bool {
	u, err := url.Parse(ref)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https" || u.Host != "")
}

func (b *builder) rewriteCSS(name string, body []byte) ([]byte, error) {
	if bytes.Contains(body, []byte("@import")) {
		return nil, errors.New("@import is not supported; link each stylesheet from the page")
	}
	body = cssFontFace.ReplaceAllFunc(body, func(rule []byte) []byte {
		for _, m := range cssURL.FindAllSubmatch(rule, -1) {
			if isExternal(cssURLValue(m)) {
				return nil
			}
		}
		return rule
	})
	body = cssSourceMap.ReplaceAll(body, nil)
	var err error
	body = cssURL.ReplaceAllFunc(body, func(match []byte) []byte {
		ref := cssURLValue(cssURL.FindSubmatch(match))
		if strings.HasPrefix(ref, "data:") || err != nil {
			return match
		}
		var u string
		u, err = b.ref(name, ref)
		return []byte(`url("` + u + `")`)
	})
	return body, err
}

func (b *builder) rewriteJS(name string, body []byte) ([]byte, error) {
	body = jsSourceMap.ReplaceAll(body, nil)
	var err error
	body = jsImport.ReplaceAllFunc(body, func(match []byte) []byte {
		m := jsImport.FindSubmatch(match)
		if err != nil {
			return match
		}
		var u string
		u, err = b.ref(name, string(m[3]))
		q := string(m[2])
		return []byte(string(m[1]) + q + u + q)
	})
	return body, err
}

// rewriteManifest rewrites the icons' src entries of a web app manifest.
func (b *builder) rewriteManifest(name string, body []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	icons, _ := doc["icons"].([]any)
	for _, v := range icons {
		icon, _ := v.(map[string]any)
		src, _ := icon["src"].(string)
		if src == "" {
			return nil, errors.New("manifest icon without src")
		}
		u, err := b.ref(name, src)
		if err != nil {
			return nil, err
		}
		icon["src"] = u
	}
	return json.MarshalIndent(doc, "", "  ")
}

func (ix *index) path(name string) string {
	a, ok := ix.byName[name]
	if !ok {
		panic(fmt.Sprintf("static: no embedded asset named %q", name))
	}
	return a.url
}

func (ix *index) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	a, ok := ix.byURL[r.URL.Path]
	if !ok {
		// A stale fingerprint may be fixed by the next deployment: keep
		// the 404 out of caches.
		h.Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+a.hash+`"`)
	// ServeContent answers HEAD, Range and If-None-Match; the zero time
	// leaves out Last-Modified, which the ETag makes redundant.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
