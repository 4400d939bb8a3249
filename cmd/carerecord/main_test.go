package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/synthetic"
	"github.com/carerecord/carerecord/web/devidp"
)

const testCacheKey = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=" // 32 bytes, base64

const testKey = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3" // 48 bytes, base64

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

// start runs the program in the background and returns the first line
// of its standard output that contains marker, and a stop function that
// cancels it and returns run's error. The program's log is printed if the
// test fails.
func start(t *testing.T, args []string, getenv func(string) string, marker string) (string, func() error) {
	t.Helper()
	return startOut(t, args, getenv, marker, nil)
}

// startOut is start, also copying every line the program prints before
// and including the marker's to out (when not nil).
func startOut(t *testing.T, args []string, getenv func(string) string, marker string, out *syncBuffer) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %v:\n%s", args, stderr)
		}
	})
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, getenv, pw, stderr)
		pw.Close()
		done <- err
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		found := false
		for sc.Scan() {
			if out != nil && !found {
				out.Write([]byte(sc.Text() + "\n"))
			}
			if !found && strings.Contains(sc.Text(), marker) {
				found = true
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			cancel()
			t.Fatalf("program ended before printing %q: %v\n%s", marker, <-done, stderr)
		}
		line = l
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("no %q within 30s", marker)
	}
	return line, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("did not shut down within 30s")
			return nil
		}
	}
}

// startDemo runs `carerecord demo` on a free loopback port with data as
// its data directory and args after the others, and returns its base URL
// and a stop function that returns run's error.
func startDemo(t *testing.T, data string, args ...string) (string, func() error) {
	t.Helper()
	line, stop := start(t, append([]string{"demo", "--addr", "127.0.0.1:0", "--data", data}, args...), env(nil), "running at ")
	f := strings.Fields(line)
	return f[len(f)-1], stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDemo(t *testing.T) {
	data := t.TempDir()
	base, stop := startDemo(t, data)
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz %d", code)
	}
	code, body := get(t, base+"/")
	if code != http.StatusOK || !strings.Contains(body, "Development sign-in") {
		t.Fatalf("landing: %d, development warning shown: %v", code, strings.Contains(body, "Development sign-in"))
	}
	// The development IdP is mounted and trusts this portal.
	if code, body := get(t, base+"/devidp/metadata"); code != http.StatusOK || !strings.Contains(body, "IDPSSODescriptor") {
		t.Fatalf("/devidp/metadata %d", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("clean shutdown returned %v", err)
	}
	for _, f := range []string{"carerecord.db", "sp.key", "sp.crt", "idp.key", "idp.crt", "session.key"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("%s not in the data dir: %v", f, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(data, "sp.key")); fi != nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("sp.key mode %v, want 0600", fi.Mode().Perm())
	}
	// A second start reuses the keys (the IdP and any bookmarked
	// metadata stay valid).
	crt1, _ := os.ReadFile(filepath.Join(data, "sp.crt"))
	_, stop = startDemo(t, data)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	crt2, _ := os.ReadFile(filepath.Join(data, "sp.crt"))
	if !bytes.Equal(crt1, crt2) {
		t.Fatal("the second start generated new keys")
	}
}

func TestDemoBannerListsSignIns(t *testing.T) {
	var b bytes.Buffer
	printDemoBanner(&b, "http://127.0.0.1:8080", "./var")
	for _, u := range []string{"clinician", "nurse", "clerk", "igofficer", "admin", `"demo"`, "Lewisham and Greenwich NHS Trust (RJ2)", "9990000026 (objected to sharing)"} {
		if !strings.Contains(b.String(), u) {
			t.Errorf("banner lacks %s:\n%s", u, b.String())
		}
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	kp, cp := filepath.Join(dir, "sp.key"), filepath.Join(dir, "sp.crt")
	if _, _, err := devidp.LoadOrCreateKeyPair(kp, cp, "sp"); err != nil {
		t.Fatal(err)
	}
	// IdP metadata from a file, as an operator would save it.
	ik, ic, _ := devidp.GenerateKeyPair("idp")
	idp, _ := devidp.New(devidp.Options{BaseURL: mustURL("https://idp.example.nhs.uk/saml"), Key: ik, Cert: ic, Password: "x"})
	md, _ := xml.Marshal(idp.Metadata())
	mdPath := writeFile(t, dir, "idp.xml", string(md))

	t.Run("OK", func(t *testing.T) {
		addr, metricsAddr := freePort(t), freePort(t)
		cfg := writeFile(t, dir, "ok.toml", `
base_url = "http://`+addr+`"
listen = "`+addr+`"
metrics_listen = "`+metricsAddr+`"
database = "`+filepath.Join(dir, "c.db")+`"
[saml]
idp_metadata_file = "`+mdPath+`"
sp_cert_file = "`+cp+`"
sp_key_file = "`+kp+`"
`)
		_, stop := start(t, []string{"serve", "--config", cfg}, env(map[string]string{"CARERECORD_SESSION_KEY": testKey, "CARERECORD_AUDIT_KEY": testCacheKey}), "carerecord serving")
		defer stop()
		if code, _ := get(t, "http://"+addr+"/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz %d", code)
		}
		// /metrics is served on metrics_listen, and only there.
		if code, body := get(t, "http://"+metricsAddr+"/metrics"); code != http.StatusOK ||
			!strings.Contains(body, `carerecord_http_requests_total{method="GET",route="/readyz",status="200"}`) {
			t.Fatalf("metrics_listen /metrics: %d, without the /readyz request", code)
		}
		if code, _ := get(t, "http://"+addr+"/metrics"); code != http.StatusNotFound {
			t.Fatalf("/metrics on the portal's address: %d, want 404", code)
		}
		code, body := get(t, "http://"+addr+"/")
		if code != http.StatusOK || strings.Contains(body, "Development sign-in") {
			t.Fatalf("landing %d; the development warning must not show in production", code)
		}
		if code, _ := get(t, "http://"+addr+"/devidp/metadata"); code != http.StatusNotFound {
			t.Fatalf("/devidp/metadata %d: the development IdP must not be mounted", code)
		}
		// Sign-in goes to the configured IdP.
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get("http://" + addr + "/saml/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://idp.example.nhs.uk/saml/sso?SAMLRequest=") {
			t.Fatalf("sign-in redirects to %q", loc)
		}
	})
	t.Run("DevIdPExplicitlyEnabled", func(t *testing.T) {
		addr := freePort(t)
		cfg := writeFile(t, dir, "dev.toml", `
base_url = "http://`+addr+`"
listen = "`+addr+`"
database = "`+filepath.Join(dir, "d.db")+`"
[saml]
dev_idp = true
`)
		_, stop := start(t, []string{"serve", "--config", cfg}, env(map[string]string{"CARERECORD_SESSION_KEY": testKey, "CARERECORD_AUDIT_KEY": testCacheKey}), "carerecord serving")
		defer stop()
		if _, body := get(t, "http://"+addr+"/"); !strings.Contains(body, "Development sign-in") {
			t.Fatal("dev_idp = true but no warning on the page")
		}
	})
}

// pdsTable configures PDS (the key file need not exist to check the
// configuration).
const pdsTable = `
[pds]
base_url = "https://api.service.nhs.uk/personal-demographics/FHIR/R4"
token_url = "https://api.service.nhs.uk/oauth2/token"
api_key_env = "CARERECORD_PDS_API_KEY"
key_file = "/etc/carerecord/pds.key"
key_id = "carerecord-1"
`

// gpcSource is a GP practice read through GP Connect.
const gpcSource = `
[[sources]]
name = "Peckham Lantern Medical Practice"
ods = "G85991"
kind = "gpconnect"
base_url = "https://gpc.example.nhs.uk/G85991/STU3/1/gpconnect/structured/fhir"
asid = "918999198738"
`

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	good := `
base_url = "https://carerecord.example.nhs.uk"
listen = "127.0.0.1:0"
database = "` + filepath.Join(dir, "c.db") + `"
[saml]
idp_metadata_url = "https://idp.example.nhs.uk/metadata"
sp_cert_file = "/etc/sp.crt"
sp_key_file = "/etc/sp.key"
`
	withKey := env(map[string]string{"CARERECORD_SESSION_KEY": testKey, "CARERECORD_CACHE_KEY": testCacheKey, "CARERECORD_AUDIT_KEY": testCacheKey})
	cases := []struct {
		name   string
		body   string
		getenv func(string) string
		want   []string
	}{
		{"OK", good, withKey, nil},
		{"ErrMissingBaseURL", strings.Replace(good, `base_url = "https://carerecord.example.nhs.uk"`, "", 1), withKey, []string{"base_url: required"}},
		{"ErrPlainHTTPBaseURL", strings.Replace(good, "https://carerecord", "http://carerecord", 1), withKey, []string{"base_url: must be https"}},
		{"ErrBadListen", strings.Replace(good, `"127.0.0.1:0"`, `"8080"`, 1), withKey, []string{"listen: must be host:port"}},
		{"OKMetricsListen", strings.Replace(good, `listen = "127.0.0.1:0"`, `listen = "127.0.0.1:0"`+"\nmetrics_listen = \"127.0.0.1:9090\"", 1), withKey, nil},
		{"ErrBadMetricsListen", strings.Replace(good, `listen = "127.0.0.1:0"`, `listen = "127.0.0.1:0"`+"\nmetrics_listen = \"9090\"", 1), withKey, []string{"metrics_listen: must be host:port"}},
		{"ErrMetricsOnThePortal", strings.Replace(good, `listen = "127.0.0.1:0"`, `listen = "127.0.0.1:0"`+"\nmetrics_listen = \"127.0.0.1:0\"", 1), withKey, []string{"metrics_listen: must differ from listen"}},
		{"ErrUnknownKey", good + "\n[session]\nidle_timout = \"5m\"\n", withKey, []string{"session.idle_timout: unknown key"}},
		{"ErrBadDuration", good + "\n[session]\nidle_timeout = \"soon\"\n", withKey, []string{"not a duration"}},
		{"ErrIdleLongerThanLifetime", good + "\n[session]\nidle_timeout = \"2h\"\nlifetime = \"1h\"\n", withKey, []string{"session.lifetime: must be at least session.idle_timeout"}},
		{"ErrNoSessionKey", good, env(nil), []string{"session.key_env: environment variable CARERECORD_SESSION_KEY: is not set"}},
		{"ErrShortSessionKey", good, env(map[string]string{"CARERECORD_SESSION_KEY": "c2hvcnQ="}), []string{"decodes to 5 bytes"}},
		{"ErrNoIdP", strings.Replace(good, `idp_metadata_url = "https://idp.example.nhs.uk/metadata"`, "", 1), withKey, []string{"saml.idp_metadata_url: required"}},
		{"ErrBadGroup", good + "\n[[roles]]\ncode = \"R8000\"\nname = \"Doctor\"\ngroup = \"doctors\"\n", withKey, []string{"roles[0].group: must be one of"}},
		{"ErrReasonIsBreakGlass", good + "\n[[access.reasons]]\ncode = \"break-glass\"\nlabel = \"x\"\n", withKey, []string{"access.reasons[0].code: required, and not"}},
		{"ErrReasonForUnknownGroup", good + "\n[[access.reasons]]\ncode = \"care-admin\"\nlabel = \"x\"\ngroups = [\"clerks\"]\n", withKey, []string{"access.reasons[0].groups[0]: unknown role group"}},
		{"ErrBreakGlassForUnknownGroup", good + "\n[access]\nbreak_glass_groups = [\"doctors\"]\n", withKey, []string{"access.break_glass_groups[0]: unknown role group"}},
		{"ErrBreakGlassLongerThanReason", good + "\n[access]\nreason_lifetime = \"1h\"\nbreak_glass_lifetime = \"2h\"\n", withKey, []string{"access.break_glass_lifetime"}},
		{"ErrUnknownAlertRule", good + "\n[alerts]\noff = [\"lunchtime\"]\n", withKey, []string{"alerts.off[0]: must be one of"}},
		{"ErrWorkingDay", good + "\n[alerts]\nworking_day_start = \"18:00\"\nworking_day_end = \"08:00\"\n", withKey, []string{"alerts.working_day_end: must be after"}},
		{"ErrNoAuditKey", good, env(map[string]string{"CARERECORD_SESSION_KEY": testKey}), []string{"audit.key_env: environment variable CARERECORD_AUDIT_KEY is not set"}},
		{"ErrAuditKeyFileReadableByOthers", good + "\n[audit]\nkey_file = \"" + openKeyFile(t, dir) + "\"\n", env(map[string]string{"CARERECORD_SESSION_KEY": testKey}), []string{"audit.key_file", "readable by others"}},
		{"ErrAuditIntervals", good + "\n[audit]\ncheckpoint_every = \"1ms\"\nverify_every = \"1s\"\n", withKey, []string{"audit.checkpoint_every: must be between", "audit.verify_every: must be between"}},
		{"ErrAssurance", strings.Replace(good, "[saml]", "[saml]\nmin_assurance = 5", 1), withKey, []string{"saml.min_assurance: must be 0 to 3"}},
		{"ErrReadTimeout", good + "\n[http]\nread_timeout = \"100ms\"\n", withKey, []string{"http.read_timeout: must be between 1s and 10m"}},
		{"ErrMaxConnectionsNegative", good + "\n[http]\nmax_connections = -1\n", withKey, []string{"http.max_connections: must not be negative"}},
		{"ErrMaxConnectionsAboveFDLimit", good + "\n[http]\nmax_connections = 1000000000\n", withKey, []string{"http.max_connections: must be well below the process's file descriptor limit"}},
		{"ErrObjectionGlobalBelowPerAddress", good + "\n[objections]\nper_address_limit = 5\nglobal_limit = 2\n", withKey, []string{"objections.global_limit"}},
		{"OKTrustingAnEPRsSignIn", good + "\n[[smart.epr]]\nname = \"King's EPR\"\niss = \"https://epr.kch.example.nhs.uk/fhir\"\nclient_id = \"carerecord\"\ntrust_fhir_user = true\nrole = \"R8000\"\nods = \"RJZ\"\n", withKey, nil},
		{"ErrTrustingAnEPRWithoutRole", good + "\n[[smart.epr]]\nname = \"King's EPR\"\niss = \"https://epr.kch.example.nhs.uk/fhir\"\nclient_id = \"carerecord\"\ntrust_fhir_user = true\nrole = \"R9999\"\nods = \"rjz\"\nassurance = 4\n", withKey,
			[]string{"smart.epr[0].role: required with trust_fhir_user", "smart.epr[0].ods: required with trust_fhir_user", "smart.epr[0].assurance: must be 0 to 3"}},
		{"ErrEPRRoleWithoutTrust", good + "\n[[smart.epr]]\nname = \"King's EPR\"\niss = \"https://epr.kch.example.nhs.uk/fhir\"\nclient_id = \"carerecord\"\nrole = \"R8000\"\n", withKey,
			[]string{"smart.epr[0].trust_fhir_user: role, ods and assurance apply only with trust_fhir_user = true"}},
		{"ErrGPConnectSourceWithoutSettings", good + gpcSource, withKey, []string{"gpconnect.consumer_asid: must be carerecord's ASID"}},
		{"ErrGPConnectSourceWithoutASID", good + strings.Replace(gpcSource, `asid = "918999198738"`, "", 1) + "\n[gpconnect]\nconsumer_asid = \"200000001234\"\n", withKey,
			[]string{"sources[0]", "asid: must be the practice's ASID"}},
		{"PDSOK", good + pdsTable, env(map[string]string{"CARERECORD_SESSION_KEY": testKey, "CARERECORD_AUDIT_KEY": testCacheKey, "CARERECORD_PDS_API_KEY": "k"}), nil},
		{"ErrPDSNoAPIKey", good + pdsTable, withKey, []string{"pds.api_key_env: environment variable CARERECORD_PDS_API_KEY is empty"}},
		{"ErrPDSPlainHTTPAndNoKeyID", good + strings.Replace(strings.Replace(pdsTable, "https://api.service", "http://api.service", 1), `key_id = "carerecord-1"`, "", 1),
			env(map[string]string{"CARERECORD_SESSION_KEY": testKey, "CARERECORD_AUDIT_KEY": testCacheKey, "CARERECORD_PDS_API_KEY": "k"}),
			[]string{"pds.base_url: must use https", "pds.key_id: is required"}},
		{"OKNHSLogin", good + "\n[nhs_login]\nissuer = \"https://auth.login.nhs.uk\"\nclient_id = \"cr\"\nclient_key_file = \"/etc/k\"\n[patients]\nauto_uphold = true\n", withKey, nil},
		{"ErrNHSLogin", good + "\n[nhs_login]\nissuer = \"http://auth.login.nhs.uk\"\nmin_level = \"P7\"\n", withKey,
			[]string{"nhs_login.issuer: must be NHS login's issuer (https)", "nhs_login.client_id: required", "nhs_login.client_key_file: required", "nhs_login.min_level: must be P9 or P5"}},
		{"ErrPatientsWithoutNHSLogin", good + "\n[patients]\nshow_staff_names = true\n", withKey, []string{"patients: applies only with [nhs_login]"}},
		{"ErrSeveralAtOnce", strings.Replace(strings.Replace(good, `listen = "127.0.0.1:0"`, "", 1), `sp_key_file = "/etc/sp.key"`, "", 1), withKey,
			[]string{"listen: required", "saml.sp_key_file: required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, tc.name+".toml", tc.body)
			_, err := loadConfig(p, tc.getenv)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	t.Run("ServeRefusesToStart", func(t *testing.T) {
		p := writeFile(t, dir, "bad.toml", strings.Replace(good, `database = "`, `# database = "`, 1))
		err := run(context.Background(), []string{"serve", "--config", p}, withKey, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "database: required") {
			t.Fatalf("serve with a bad config: %v", err)
		}
	})
	t.Run("TheExampleConfigIsValid", func(t *testing.T) {
		if _, err := loadConfig("../../docs/carerecord.example.toml", withKey); err != nil {
			t.Fatal(err)
		}
	})
}

// openKeyFile writes an audit key file that others may read.
func openKeyFile(t *testing.T, dir string) string {
	p := filepath.Join(dir, "open-audit.key")
	if err := os.WriteFile(p, []byte(testCacheKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"serve"}} {
		err := run(context.Background(), args, env(nil), io.Discard, io.Discard)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("run(%v) = %v, want a usage error", args, err)
		}
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	data := t.TempDir()
	base, stop := startDemo(t, data)
	get(t, base+"/readyz")
	// A refused sign-in response is the one event written without a user.
	resp, err := http.PostForm(base+"/saml/acs", map[string][]string{"SAMLResponse": {"bm90IHNhbWw="}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--data", data}, env(nil), &out, io.Discard); err != nil {
		t.Fatalf("verify on an untouched log: %v (%s)", err, out.String())
	}
	if !strings.Contains(out.String(), "intact, 1 events") {
		t.Fatalf("output %q", out.String())
	}
	// Alter the event behind the application's back.
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "carerecord.db"))
	if err != nil {
		t.Fatal(err)
	}
	// The application's append-only triggers stop it; someone with the
	// file drops them first.
	rows, err := raw.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'`)
	if err != nil {
		t.Fatal(err)
	}
	var triggers []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		triggers = append(triggers, n)
	}
	rows.Close()
	for _, n := range triggers {
		if _, err := raw.Exec(`DROP TRIGGER "` + n + `"`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`UPDATE audit_events SET user_id = 'someone-else' WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	out.Reset()
	err = run(context.Background(), []string{"audit", "verify", "--data", data}, env(nil), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "first bad event 1") {
		t.Fatalf("verify on an altered log: %v (%s)", err, out.String())
	}
}

func TestParseFaults(t *testing.T) {
	f, err := parseFaults("RJ2=latency:2s;errors:0.5,RV5=down")
	if err != nil || f["RJ2"].Latency != 2*time.Second || f["RJ2"].ErrorRate != 0.5 || !f["RV5"].Down {
		t.Fatalf("%+v %v", f, err)
	}
	if f, _ := parseFaults("none"); len(f) != 0 {
		t.Fatal("none must mean no faults")
	}
	for _, bad := range []string{"XX1=down", "RJ2=slow", "RJ2=errors:2", "RJ2"} {
		if _, err := parseFaults(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The configured cache key is read as the store reads one: base64 or the
// hex the demo writes, exactly 32 bytes.
func TestCacheKey(t *testing.T) {
	for _, v := range []string{testCacheKey, strings.Repeat("ab", 32), " " + strings.Repeat("ab", 32) + "\n"} {
		if k, err := cacheKey(v); err != nil || len(k) != 32 {
			t.Errorf("cacheKey(%q) = %d bytes, %v", v, len(k), err)
		}
	}
	for v, want := range map[string]string{"": "is not set", "  ": "is not set", "c2hvcnQ=": "is not 32 bytes",
		strings.Repeat("ab", 31): "is not 32 bytes", "not a key at all!": "is not 32 bytes"} {
		if _, err := cacheKey(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("cacheKey(%q) = %v, want %q", v, err, want)
		}
	}
}

// A private key its group or others can read stops start-up with a message
// naming the key and saying how to fix it; the demo's keys are created
// 0600 in a 0700 data directory and refused when loosened.
func TestKeyFilesPrivate(t *testing.T) {
	dir := t.TempDir()
	kp, cp := filepath.Join(dir, "sp.key"), filepath.Join(dir, "sp.crt")
	if _, _, err := devidp.LoadOrCreateKeyPair(kp, cp, "sp"); err != nil {
		t.Fatal(err)
	}
	cfg := `
base_url = "https://carerecord.example.nhs.uk"
listen = "127.0.0.1:0"
database = "` + filepath.Join(dir, "c.db") + `"
[saml]
idp_metadata_url = "https://idp.example.nhs.uk/metadata"
sp_cert_file = "` + cp + `"
sp_key_file = "` + kp + `"
`
	withKey := env(map[string]string{"CARERECORD_SESSION_KEY": testKey, "CARERECORD_AUDIT_KEY": testCacheKey})
	p := writeFile(t, dir, "c.toml", cfg)
	tests := []struct {
		name string
		mode os.FileMode
		want string // "" for accepted
	}{
		{"OwnerOnlyAccepted", 0o600, ""},
		{"OwnerReadOnlyAccepted", 0o400, ""},
		{"ErrGroupReadable", 0o640, "saml.sp_key_file: " + kp + " is readable or writable by its group or others (mode 0640)"},
		{"ErrWorldReadable", 0o644, "chmod 600 " + kp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.Chmod(kp, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(p, withKey)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	t.Run("DemoKeysAndDataDirPrivate", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "var")
		_, stop := start(t, []string{"demo", "--addr", "127.0.0.1:0", "--data", data, "--faults", "none"}, env(nil), "carerecord")
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		modes := map[string]os.FileMode{"": 0o700, "sp.key": 0o600, "idp.key": 0o600, "session.key": 0o600, "cache.key": 0o600, "audit.key": 0o600, "carerecord.db": 0o600}
		for name, want := range modes {
			st, err := os.Stat(filepath.Join(data, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode().Perm(); got != want {
				t.Errorf("%s: mode %04o, want %04o", filepath.Join(data, name), got, want)
			}
		}
		if err := os.Chmod(filepath.Join(data, "session.key"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := run(context.Background(), []string{"demo", "--addr", "127.0.0.1:0", "--data", data, "--faults", "none"}, env(nil), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "session.key is readable or writable by its group or others") {
			t.Fatalf("demo with a world-readable session key: %v, want refused", err)
		}
	})
}

// TestDemoSourcesReadPracticesThroughGPConnect: with the synthetic GP
// Connect providers, every GP practice is a gpconnect source with its ASID
// and every Trust stays a FHIR source.
func TestDemoSourcesReadPracticesThroughGPConnect(t *testing.T) {
	cluster, err := synthetic.Start(synthetic.Orgs(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	practices, err := synthetic.StartGPConnect(synthetic.GPConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer practices.Close()
	cfgs, gpc := demoSources(cluster, practices, "http://127.0.0.1:8080")
	if gpc.ConsumerASID != synthetic.ConsumerASID || gpc.Issuer != "http://127.0.0.1:8080" {
		t.Errorf("settings %+v", gpc)
	}
	gp := 0
	for _, c := range cfgs {
		o, _ := synthetic.OrgByODS(c.ODS)
		switch {
		case o.Type == synthetic.Practice && (c.Kind != connectors.SourceKindGPConnect || c.ASID == ""):
			t.Errorf("practice %s: kind %q asid %q", c.ODS, c.Kind, c.ASID)
		case o.Type == synthetic.Trust && c.Kind != connectors.SourceKindFHIR:
			t.Errorf("trust %s: kind %q", c.ODS, c.Kind)
		}
		if c.Kind == connectors.SourceKindGPConnect {
			gp++
		}
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
	}
	if gp != 3 {
		t.Errorf("%d practices through GP Connect, want 3", gp)
	}
}
