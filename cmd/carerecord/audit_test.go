package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// plainAuditHash is the audit hash as the store documents its plain rule
// (store/audit.go, auditHash), written from the documentation as an
// intruder would: it has no key.
func plainAuditHash(f []string) string {
	h := sha256.New()
	h.Write([]byte("carerecord-audit-v1"))
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	for _, s := range f {
		put(s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// rechain rewrites the hashes of events from..end by the plain rule.
func rechain(t *testing.T, raw *sql.DB, from int64) {
	t.Helper()
	prev := strings.Repeat("0", 64)
	if from > 1 {
		if err := raw.QueryRow(`SELECT hash FROM audit_events WHERE seq = ?`, from-1).Scan(&prev); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := raw.Query(`SELECT seq, time, user_id, user_name, role_code, ods, session_hash, client_addr, action,
		nhs_number, reason, detail, outcome, outcome_why, sources FROM audit_events WHERE seq >= ? ORDER BY seq`, from)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		seq    int64
		fields []string
	}
	var all []row
	for rows.Next() {
		var (
			seq, tm int64
			f       = make([]string, 13)
			sources string
		)
		if err := rows.Scan(&seq, &tm, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11], &sources); err != nil {
			t.Fatal(err)
		}
		var src []string
		json.Unmarshal([]byte(sources), &src)
		fields := append([]string{strconv.FormatInt(seq, 10), strconv.FormatInt(tm, 10)}, f[:12]...)
		fields = append(fields, strconv.Itoa(len(src)))
		fields = append(fields, src...)
		all = append(all, row{seq, fields})
	}
	rows.Close()
	for _, r := range all {
		h := plainAuditHash(append(r.fields, prev))
		if _, err := raw.Exec(`UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?`, prev, h, r.seq); err != nil {
			t.Fatal(err)
		}
		prev = h
	}
}

func rawExec(t *testing.T, raw *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := raw.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// refusedSignIns writes n audit events through the running demo: a
// refused sign-in response is the one event written without a user.
func refusedSignIns(t *testing.T, base string, n int) {
	t.Helper()
	for range n {
		resp, err := http.PostForm(base+"/saml/acs", map[string][]string{"SAMLResponse": {"bm90IHNhbWw="}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

// TestAuditAttacksCaught runs each attack on the audit log that needs only
// write access to the database file against the demo's own data, and
// checks that `carerecord audit verify` fails on it and that the program
// started on it (run, as main calls it) refuses it: /readyz fails.
func TestAuditAttacksCaught(t *testing.T) {
	// The log: two events, an older copy of the file, three more; verified
	// intact with its witness before any attack.
	data := t.TempDir()
	base, stop := startDemo(t, data)
	refusedSignIns(t, base, 2)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	older := filepath.Join(t.TempDir(), "older.db")
	b, err := os.ReadFile(filepath.Join(data, "carerecord.db"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(older, b, 0o600)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--data", data}, env(nil), &out, io.Discard); err != nil {
		t.Fatalf("verify: %v (%s)", err, out.String())
	}
	base, stop = startDemo(t, data)
	refusedSignIns(t, base, 3)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"audit", "verify", "--data", data}, env(nil), &out, io.Discard); err != nil {
		t.Fatalf("verify: %v (%s)", err, out.String())
	}
	for _, want := range []string{"intact, 5 events, keyed from event 1", "append-only triggers are as the migrations make them", "matches its last checkpoint, event 5, hash "} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("verify said %q; want %q", out.String(), want)
		}
	}

	cases := []struct {
		name   string
		attack func(t *testing.T, dir string, raw *sql.DB)
		// An investigation may accept what is left (a chain intact under
		// the key) and re-anchor it; a forged chain or schema cannot be.
		reanchorable bool
	}{
		{"DeleteEventsSinceLastVerification", func(t *testing.T, _ string, raw *sql.DB) {
			rawExec(t, raw, `DROP TRIGGER audit_events_no_delete`)
			rawExec(t, raw, `DELETE FROM audit_events WHERE seq > 2`)
			rawExec(t, raw, `DELETE FROM audit_verifications`)
			rawExec(t, raw, `CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END`)
		}, true},
		{"AlterAndRehashLastEvent", func(t *testing.T, _ string, raw *sql.DB) {
			rawExec(t, raw, `DROP TRIGGER audit_events_no_update`)
			rawExec(t, raw, `UPDATE audit_events SET client_addr = '10.9.9.9' WHERE seq = 5`)
			rechain(t, raw, 5)
		}, false},
		{"AppendForgedEvent", func(t *testing.T, _ string, raw *sql.DB) {
			rawExec(t, raw, `INSERT INTO audit_events SELECT seq + 1, time, 'intruder', user_name, role_code, ods, session_hash,
				client_addr, action, nhs_number, reason, detail, outcome, outcome_why, sources, hash, '' FROM audit_events WHERE seq = 5`)
			// The hash is set through an update: the intruder drops the
			// trigger for it and puts it back as it was.
			rawExec(t, raw, `DROP TRIGGER audit_events_no_update`)
			rechain(t, raw, 6)
			rawExec(t, raw, `CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END`)
		}, false},
		{"RechainEverythingAndDeleteVerifications", func(t *testing.T, _ string, raw *sql.DB) {
			rawExec(t, raw, `DROP TRIGGER audit_events_no_update`)
			rawExec(t, raw, `UPDATE audit_events SET client_addr = '10.9.9.9' WHERE seq = 3`)
			rechain(t, raw, 1)
			rawExec(t, raw, `DELETE FROM audit_verifications`)
		}, false},
		{"ReplaceWithOlderCopy", func(t *testing.T, dir string, raw *sql.DB) {
			raw.Close()
			b, _ := os.ReadFile(older)
			if err := os.WriteFile(filepath.Join(dir, "carerecord.db"), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"DropAppendOnlyTriggers", func(t *testing.T, _ string, raw *sql.DB) {
			rawExec(t, raw, `DROP TRIGGER audit_events_no_update`)
			rawExec(t, raw, `DROP TRIGGER audit_events_no_delete`)
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, data, dir)
			raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "carerecord.db"))
			if err != nil {
				t.Fatal(err)
			}
			tc.attack(t, dir, raw)
			raw.Close()

			var out bytes.Buffer
			err = run(context.Background(), []string{"audit", "verify", "--data", dir}, env(nil), &out, io.Discard)
			if !errors.Is(err, errAuditBroken) || !strings.Contains(out.String(), "NOT intact") {
				t.Fatalf("audit verify: %v (%s)", err, out.String())
			}
			t.Logf("audit verify: %s", strings.TrimSpace(out.String()))

			base, stop := startDemo(t, dir)
			code, body := get(t, base+"/readyz")
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "audit log refused") {
				t.Fatalf("/readyz on the attacked log: %d %q", code, body)
			}

			out.Reset()
			err = run(context.Background(), []string{"audit", "verify", "--data", dir, "--reanchor"}, env(nil), &out, io.Discard)
			if (err == nil) != tc.reanchorable {
				t.Fatalf("audit verify --reanchor: %v (%s); want it to succeed: %v", err, out.String(), tc.reanchorable)
			}
			if tc.reanchorable {
				out.Reset()
				if err := run(context.Background(), []string{"audit", "verify", "--data", dir}, env(nil), &out, io.Discard); err != nil {
					t.Fatalf("verify after re-anchoring: %v (%s)", err, out.String())
				}
			}
		})
	}
}
