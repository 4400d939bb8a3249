package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAllowList(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		want    map[string]string
		wantErr string
	}{
		{"CommentsAndBlankLinesIgnored", "# why\n\nGO-2026-6909 guarded in web\n", map[string]string{"GO-2026-6909": "guarded in web"}, ""},
		{"ReasonKeepsItsSpaces", "GO-2026-6875   middleware.Proxy,  not used\n", map[string]string{"GO-2026-6875": "middleware.Proxy,  not used"}, ""},
		{"ErrNoReason", "GO-2026-6909\n", nil, "line 1: GO-2026-6909 has no reason"},
		{"ErrNoReasonButSpaces", "# c\nGO-2026-6909   \n", nil, "line 2: GO-2026-6909 has no reason"},
		{"ErrNotAnID", "CVE-2026-1 reason\n", nil, "is not a Go vulnerability ID"},
		{"ErrTwice", "GO-2026-1 a\nGO-2026-1 b\n", nil, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAllowList(strings.NewReader(tt.list))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for id, r := range tt.want {
				if got[id] != r {
					t.Errorf("%s: reason %q, want %q", id, got[id], r)
				}
			}
		})
	}
}

// The report is real govulncheck JSON output, trimmed: two module- or
// package-level findings (not reached), one vulnerability reached by two
// traces, and one in the standard library.
func TestGate(t *testing.T) {
	tests := []struct {
		name     string
		allow    string
		pass     bool
		mentions []string
	}{
		{"FailsOnReachedVulnerabilityNotAllowed", "GO-2026-6909 guarded\n", false, []string{"REACHED  GO-2026-6609 in stdlib@v1.26.8 (fixed in v1.26.9)", "1 reachable vulnerabilities not allowed: GO-2026-6609"}},
		{"FailsWhenNothingAllowed", "", false, []string{"2 reachable vulnerabilities not allowed: GO-2026-6609, GO-2026-6909"}},
		{"PassesWhenEveryReachedOneIsAllowed", "GO-2026-6909 guarded\nGO-2026-6609 toolchain bump pending\n", true, []string{"allowed  GO-2026-6909 in github.com/crewjam/saml@v0.5.1 (no fixed version): guarded", "2 reachable vulnerabilities, all allowed"}},
		{"UnreachedFindingsNeedNoEntry", "GO-2026-6909 g\nGO-2026-6609 t\n", true, nil},
		{"StaleEntryReportedButPasses", "GO-2026-6909 g\nGO-2026-6609 t\nGO-2020-0001 old\n", true, []string{"stale    GO-2020-0001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allow := filepath.Join(t.TempDir(), "allow.txt")
			if err := os.WriteFile(allow, []byte(tt.allow), 0o600); err != nil {
				t.Fatal(err)
			}
			report, err := os.Open("testdata/report.json")
			if err != nil {
				t.Fatal(err)
			}
			defer report.Close()
			var out bytes.Buffer
			err = run(report, &out, allow)
			if (err == nil) != tt.pass {
				t.Fatalf("passed = %v, want %v (error %v)\n%s", err == nil, tt.pass, err, out.String())
			}
			text := out.String()
			if err != nil {
				text += err.Error()
			}
			for _, m := range tt.mentions {
				if !strings.Contains(text, m) {
					t.Errorf("output lacks %q:\n%s", m, text)
				}
			}
			for _, unreached := range []string{"GO-2026-6838", "GO-2026-6840"} {
				if strings.Contains(text, unreached) {
					t.Errorf("output names %s, which is not reached:\n%s", unreached, text)
				}
			}
		})
	}
}

func TestEmptyReportFails(t *testing.T) {
	allow := filepath.Join(t.TempDir(), "allow.txt")
	if err := os.WriteFile(allow, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(strings.NewReader(""), &out, allow); err == nil {
		t.Fatal("an empty report passed: a govulncheck that did not run must fail the gate")
	}
}
