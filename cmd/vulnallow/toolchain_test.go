package main

import (
	"os"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// minToolchain is the first Go release whose standard library has the
// fixes for every vulnerability govulncheck found reachable at go1.26.8
// (GO-2026-6599 to GO-2026-6617 in go1.26.9, GO-2026-6809 in go1.26.10).
const minToolchain = "go1.26.10"

// The toolchain go.mod names (which make and CI use, GOTOOLCHAIN=auto)
// carries those fixes: lowering it fails here as well as in govulncheck.
func TestToolchainHasSecurityFixes(t *testing.T) {
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Toolchain == nil {
		t.Fatalf("go.mod names no toolchain; want %s or later", minToolchain)
	}
	v := func(name string) string { return "v" + name[len("go"):] }
	if semver.Compare(v(f.Toolchain.Name), v(minToolchain)) < 0 {
		t.Fatalf("go.mod names toolchain %s, older than %s", f.Toolchain.Name, minToolchain)
	}
}
