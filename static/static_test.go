package static

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// get sends one request through Handler.
func get(t *testing.T, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func names() []string {
	var out []string
	for name := range assets.byName {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// served returns the body Handler serves for an embedded name.
func served(t *testing.T, name string) []byte {
	t.Helper()
	rec := get(t, http.MethodGet, Path(name), nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s (%s): status %d", Path(name), name, rec.Code)
	}
	return rec.Body.Bytes()
}

func TestPath(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for name, want := range map[string]string{
			"css/app.css":                             `^/static/css/app\.[0-9a-f]{10}\.css$`,
			"js/app.js":                               `^/static/js/app\.[0-9a-f]{10}\.js$`,
			"js/htmx.min.js":                          `^/static/js/htmx\.min\.[0-9a-f]{10}\.js$`,
			"nhsuk/nhsuk-frontend.min.css":            `^/static/nhsuk/nhsuk-frontend\.min\.[0-9a-f]{10}\.css$`,
			"nhsuk/assets/images/favicon.ico":         `^/static/nhsuk/assets/images/favicon\.[0-9a-f]{10}\.ico$`,
			"nhsuk/assets/images/nhsuk-icon-180.png":  `^/static/nhsuk/assets/images/nhsuk-icon-180\.[0-9a-f]{10}\.png$`,
			"nhsuk/assets/manifest.json":              `^/static/nhsuk/assets/manifest\.[0-9a-f]{10}\.json$`,
			"nhsuk/assets/images/nhsuk-icon-mask.svg": `^/static/nhsuk/assets/images/nhsuk-icon-mask\.[0-9a-f]{10}\.svg$`,
		} {
			if got := Path(name); !regexp.MustCompile(want).MatchString(got) {
				t.Errorf("Path(%q) = %q, want match for %s", name, got, want)
			}
		}
	})

	t.Run("PanicsOnUnknownName", func(t *testing.T) {
		for _, name := range []string{"css/ap.css", "/static/css/app.css", "css/app.min.css", "", "static.go", "vendor.sh", "VENDORED.md", "nhsuk/LICENSE"} {
			func() {
				defer func() {
					r := recover()
					if r == nil {
						t.Errorf("Path(%q) did not panic", name)
						return
					}
					if msg, _ := r.(string); !strings.Contains(msg, "no embedded asset") {
						t.Errorf("Path(%q) panicked with %v", name, r)
					}
				}()
				Path(name)
			}()
		}
	})
}

func TestHandler(t *testing.T) {
	wantType := map[string]string{
		".css":  "text/css; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".svg":  "image/svg+xml",
		".png":  "image/png",
		".ico":  "image/x-icon",
		".json": "application/manifest+json",
	}

	t.Run("EveryAssetAtItsPath", func(t *testing.T) {
		all := names()
		if len(all) < 10 {
			t.Fatalf("only %d assets embedded: %v", len(all), all)
		}
		for _, name := range all {
			rec := get(t, http.MethodGet, Path(name), nil)
			if rec.Code != http.StatusOK {
				t.Errorf("GET %s: status %d", Path(name), rec.Code)
				continue
			}
			h := rec.Header()
			if got := h.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("GET %s: Cache-Control %q", Path(name), got)
			}
			if got, want := h.Get("Content-Type"), wantType[path.Ext(name)]; got != want || want == "" {
				t.Errorf("GET %s: Content-Type %q, want %q", Path(name), got, want)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s: X-Content-Type-Options %q", Path(name), got)
			}
			if got, want := h.Get("ETag"), `"`+assets.byName[name].hash+`"`; got != want {
				t.Errorf("GET %s: ETag %q, want %q", Path(name), got, want)
			}
			if rec.Body.Len() == 0 {
				t.Errorf("GET %s: empty body", Path(name))
			}
			// The URL's hash is the hash of exactly the bytes served.
			if got, want := contentHash(rec.Body.Bytes()), assets.byName[name].hash; got != want || !strings.Contains(Path(name), "."+want+".") {
				t.Errorf("GET %s: body hashes to %s, URL says %s", Path(name), got, want)
			}
		}
	})

	t.Run("BinaryFilesServedUnchanged", func(t *testing.T) {
		for _, name := range names() {
			switch path.Ext(name) {
			case ".png", ".ico", ".svg":
				want, err := fs.ReadFile(files, name)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(served(t, name), want) {
					t.Errorf("%s: served bytes differ from the embedded file", name)
				}
			}
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		rec := get(t, http.MethodHead, Path("css/app.css"), nil)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Fatalf("HEAD: status %d, %d body bytes", rec.Code, rec.Body.Len())
		}
		if got, want := rec.Header().Get("Content-Length"), len(assets.byName["css/app.css"].body); got != strconv.Itoa(want) {
			t.Errorf("HEAD: Content-Length %q, want %d", got, want)
		}
	})

	t.Run("NotModified", func(t *testing.T) {
		etag := `"` + assets.byName["js/app.js"].hash + `"`
		rec := get(t, http.MethodGet, Path("js/app.js"), http.Header{"If-None-Match": {etag}})
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Fatalf("If-None-Match %s: status %d, %d body bytes", etag, rec.Code, rec.Body.Len())
		}
	})

	t.Run("MethodNotAllowed", func(t *testing.T) {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			rec := get(t, method, Path("css/app.css"), nil)
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s: status %d, Allow %q", method, rec.Code, rec.Header().Get("Allow"))
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		app := Path("css/app.css")
		for name, target := range map[string]string{
			"WithoutHash":        "/static/css/app.css",
			"StaleHash":          "/static/css/app.0000000000.css",
			"HashOfAnotherFile":  strings.Replace(app, assets.byName["css/app.css"].hash, assets.byName["js/app.js"].hash, 1),
			"UnknownFile":        "/static/css/nope.0123456789.css",
			"WithoutPrefix":      strings.TrimPrefix(app, "/static"),
			"Directory":          "/static/css/",
			"Root":               "/static/",
			"GoSource":           "/static/static.go",
			"VendorScript":       "/static/vendor.sh",
			"VendoredNotes":      "/static/VENDORED.md",
			"Licence":            "/static/nhsuk/LICENSE",
			"CSSRootRelativeURL": "/assets/images/nhsuk-icon-cross.svg",
			"DotDot":             "/static/css/../" + strings.TrimPrefix(app, "/static/"),
			"SourceMap":          "/static/nhsuk/nhsuk-frontend.min.js.map",
		} {
			t.Run(name, func(t *testing.T) {
				rec := get(t, http.MethodGet, target, nil)
				if rec.Code != http.StatusNotFound {
					t.Errorf("GET %s: status %d, want 404", target, rec.Code)
				}
				if strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
					t.Errorf("GET %s: 404 marked immutable", target)
				}
				if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("GET %s: no nosniff on 404", target)
				}
			})
		}
	})
}

func TestContentHash(t *testing.T) {
	a, b := contentHash([]byte("body{color:red}")), contentHash([]byte("body{color:blue}"))
	if a == b {
		t.Errorf("different content, same hash %s", a)
	}
	if a != contentHash([]byte("body{color:red}")) {
		t.Errorf("same content, different hashes")
	}
	if !regexp.MustCompile(`^[0-9a-f]{10}$`).MatchString(a) {
		t.Errorf("hash %q is not 10 hex digits", a)
	}
	if got, want := fingerprint("nhsuk/nhsuk-frontend.min.css", a), "nhsuk/nhsuk-frontend.min."+a+".css"; got != want {
		t.Errorf("fingerprint = %q, want %q", got, want)
	}
}

// A stylesheet's URL must change when an image it points to changes, or
// browsers would keep the old stylesheet, pointing at the old image, for a year.
func TestBuild_HashCoversReferencedFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"css/a.css":     {Data: []byte(`.x{background:url(../img/x.svg)}`)},
		"img/x.svg":     {Data: []byte(`<svg/>`)},
		"js/a.js":       {Data: []byte("import { f } from './b.js'\nf()\n")},
		"js/b.js":       {Data: []byte("export function f () {}\n")},
		"css/other.css": {Data: []byte(`.y{color:red}`)},
	}
	before, err := build(fsys)
	if err != nil {
		t.Fatal(err)
	}
	fsys["img/x.svg"] = &fstest.MapFile{Data: []byte(`<svg viewBox="0 0 1 1"/>`)}
	fsys["js/b.js"] = &fstest.MapFile{Data: []byte("export function f () { return 1 }\n")}
	after, err := build(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"img/x.svg", "css/a.css", "js/b.js", "js/a.js"} {
		if before.path(name) == after.path(name) {
			t.Errorf("%s: URL %s unchanged after a change it depends on", name, after.path(name))
		}
	}
	if before.path("css/other.css") != after.path("css/other.css") {
		t.Errorf("css/other.css: URL changed though nothing it depends on did")
	}
	if got, want := string(after.byName["css/a.css"].body), `.x{background:url("`+after.path("img/x.svg")+`")}`; got != want {
		t.Errorf("rewritten CSS = %s, want %s", got, want)
	}
	if got, want := string(after.byName["js/a.js"].body), "import { f } from '"+after.path("js/b.js")+"'\nf()\n"; got != want {
		t.Errorf("rewritten JS = %q, want %q", got, want)
	}
}

func TestBuild_Rewrites(t *testing.T) {
	fsys := fstest.MapFS{
		"nhsuk/n.css": {Data: []byte(`@font-face{font-family:F;src:url(https://assets.example/f.woff2) format("woff2")}` +
			`.a{background:url(/assets/images/i.svg)}.b{background:url('data:image/gif;base64,R0lGOD')}` +
			`.c{mask:url("assets/images/i.svg#part")}` + "\n/*# sourceMappingURL=n.css.map */\n")},
		"nhsuk/assets/images/i.svg": {Data: []byte(`<svg/>`)},
		"nhsuk/n.js":                {Data: []byte(`export{a};//# sourceMappingURL=n.js.map` + "\n")},
	}
	ix, err := build(fsys)
	if err != nil {
		t.Fatal(err)
	}
	svg := ix.path("nhsuk/assets/images/i.svg")
	want := `.a{background:url("` + svg + `")}.b{background:url('data:image/gif;base64,R0lGOD')}.c{mask:url("` + svg + `#part")}` + "\n"
	if got := string(ix.byName["nhsuk/n.css"].body); got != want {
		t.Errorf("CSS:\n got %s\nwant %s", got, want)
	}
	if got := string(ix.byName["nhsuk/n.js"].body); got != "export{a};" {
		t.Errorf("JS: got %q", got)
	}
}

func TestBuild_Errors(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"MissingCSSTarget":       {"css/a.css": {Data: []byte(`.x{background:url(missing.svg)}`)}},
		"ExternalCSSURL":         {"css/a.css": {Data: []byte(`.x{background:url(https://example.org/x.svg)}`)}},
		"UnknownRootRelative":    {"css/a.css": {Data: []byte(`.x{background:url(/images/x.svg)}`)}, "images/x.svg": {Data: []byte(`<svg/>`)}},
		"EscapesEmbeddedTree":    {"css/a.css": {Data: []byte(`.x{background:url(../../x.svg)}`)}},
		"CSSImport":              {"css/a.css": {Data: []byte(`@import "b.css";`)}, "css/b.css": {Data: []byte(`.b{}`)}},
		"MissingJSModule":        {"js/a.js": {Data: []byte("import { f } from './nope.js'\n")}},
		"Cycle":                  {"js/a.js": {Data: []byte("import './b.js'\n")}, "js/b.js": {Data: []byte("import './a.js'\n")}},
		"UnknownFileType":        {"docs/readme.txt": {Data: []byte("hello")}},
		"ManifestIconMissing":    {"m.webmanifest": {Data: []byte(`{"icons":[{"src":"icon.png"}]}`)}},
		"ManifestNotJSON":        {"m.webmanifest": {Data: []byte(`{`)}},
		"ManifestIconWithoutSrc": {"m.webmanifest": {Data: []byte(`{"icons":[{"sizes":"1x1"}]}`)}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := build(fsys); err == nil {
				t.Errorf("build succeeded")
			}
		})
	}
}

var (
	// cssURLInServed matches url(...) in served CSS, quoted or not.
	cssURLInServed = regexp.MustCompile(`url\(\s*["']?([^"')]*)["']?\s*\)`)
	// jsImportInServed matches any static import or export-from specifier
	// at the start of a line, relative or not.
	jsImportInServed = regexp.MustCompile(`(?m)^\s*(?:(?:import|export)\b[^'"]*?\bfrom\s*|import\s*)['"]([^'"]+)['"]`)
)

// fetchRef resolves ref against the URL at which base is served, as a
// browser would, and requests it through Handler.
func fetchRef(t *testing.T, base, ref string) *httptest.ResponseRecorder {
	t.Helper()
	b, _ := url.Parse(base)
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatalf("%s: bad URL %q: %v", base, ref, err)
	}
	u := b.ResolveReference(r)
	if u.Host != "" || u.Scheme != "" {
		t.Errorf("%s refers to another site: %s", base, ref)
	}
	return get(t, http.MethodGet, u.Path, nil)
}

func TestCSSURLsResolve(t *testing.T) {
	for _, name := range names() {
		if path.Ext(name) != ".css" {
			continue
		}
		body := served(t, name)
		refs := cssURLInServed.FindAllSubmatch(body, -1)
		if name == "nhsuk/nhsuk-frontend.min.css" && len(refs) < 4 {
			t.Errorf("%s: only %d url() references found; is the pattern still right?", name, len(refs))
		}
		for _, m := range refs {
			ref := string(m[1])
			if strings.HasPrefix(ref, "data:") {
				continue
			}
			rec := fetchRef(t, Path(name), ref)
			if rec.Code != http.StatusOK {
				t.Errorf("%s: url(%s): status %d", name, ref, rec.Code)
			} else if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "image/") && !strings.HasPrefix(ct, "font/") {
				t.Errorf("%s: url(%s): Content-Type %s", name, ref, ct)
			}
		}
		if bytes.Contains(body, []byte("sourceMappingURL")) {
			t.Errorf("%s: still points to a source map that is not served", name)
		}
		if bytes.Contains(body, []byte("@font-face")) {
			t.Errorf("%s: still declares a font face", name)
		}
	}
}

func TestJSImportsResolve(t *testing.T) {
	imports := 0
	for _, name := range names() {
		if path.Ext(name) != ".js" {
			continue
		}
		body := served(t, name)
		for _, m := range jsImportInServed.FindAllSubmatch(body, -1) {
			imports++
			rec := fetchRef(t, Path(name), string(m[1]))
			if rec.Code != http.StatusOK {
				t.Errorf("%s: import %s: status %d", name, m[1], rec.Code)
			} else if ct := rec.Header().Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
				t.Errorf("%s: import %s: Content-Type %s", name, m[1], ct)
			}
		}
		if bytes.Contains(body, []byte("sourceMappingURL")) {
			t.Errorf("%s: still points to a source map that is not served", name)
		}
	}
	if imports == 0 {
		t.Errorf("no imports found; js/app.js should import nhsuk-frontend")
	}
}

// The nhsuk-frontend bundle must still export initAll, which js/app.js calls.
func TestNHSUKBundleExportsInitAll(t *testing.T) {
	body := string(served(t, "nhsuk/nhsuk-frontend.min.js"))
	exports := regexp.MustCompile(`export\s*\{([^}]*)\}`).FindStringSubmatch(body)
	if exports == nil || !slices.Contains(strings.Split(exports[1], ","), "initAll") {
		t.Errorf("nhsuk-frontend.min.js does not export initAll")
	}
	if !strings.Contains(string(served(t, "js/app.js")), "initAll()") {
		t.Errorf("js/app.js does not call initAll")
	}
}

func TestManifestIconsResolve(t *testing.T) {
	var m struct {
		Icons []struct {
			Src  string `json:"src"`
			Type string `json:"type"`
		} `json:"icons"`
	}
	name := "nhsuk/assets/manifest.json"
	if err := json.Unmarshal(served(t, name), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Icons) == 0 {
		t.Fatal("manifest lists no icons")
	}
	for _, icon := range m.Icons {
		rec := fetchRef(t, Path(name), icon.Src)
		if rec.Code != http.StatusOK {
			t.Errorf("icon %s: status %d", icon.Src, rec.Code)
		} else if ct := rec.Header().Get("Content-Type"); ct != icon.Type {
			t.Errorf("icon %s: Content-Type %s, manifest says %s", icon.Src, ct, icon.Type)
		}
	}
}

// Every asset file in this directory is embedded: a file added without
// widening the //go:embed patterns would otherwise only show up as a panic
// from Path.
func TestEveryAssetFileEmbedded(t *testing.T) {
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := filepath.ToSlash(p)
		if _, ok := contentTypes[path.Ext(name)]; !ok {
			return nil
		}
		if _, ok := assets.byName[name]; !ok {
			t.Errorf("%s is not embedded", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("nhsuk/LICENSE"); err != nil {
		t.Errorf("nhsuk-frontend licence missing: %v", err)
	}
	if _, err := os.Stat("js/htmx.LICENSE"); err != nil {
		t.Errorf("htmx licence missing: %v", err)
	}
}
