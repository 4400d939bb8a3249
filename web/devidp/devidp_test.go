package devidp_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/carerecord/carerecord/web/devidp"
)

func TestLoadOrCreateKeyPair(t *testing.T) {
	dir := t.TempDir()
	kp, cp := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	k1, c1, err := devidp.LoadOrCreateKeyPair(kp, cp, "t")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(kp); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	k2, c2, err := devidp.LoadOrCreateKeyPair(kp, cp, "t")
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) || !c1.Equal(c2) {
		t.Fatal("the second call did not load the saved pair")
	}
	t.Run("ErrMismatchedPair", func(t *testing.T) {
		kp2, cp2 := filepath.Join(dir, "k2.pem"), filepath.Join(dir, "c2.pem")
		if _, _, err := devidp.LoadOrCreateKeyPair(kp2, cp2, "u"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := devidp.LoadKeyPair(kp, cp2); err == nil {
			t.Fatal("a key with another key's certificate was accepted")
		}
	})
	t.Run("ErrOneFileMissing", func(t *testing.T) {
		os.Remove(cp)
		if _, _, err := devidp.LoadOrCreateKeyPair(kp, cp, "t"); err == nil {
			t.Fatal("a key without its certificate should be an error, not silently replaced")
		}
	})
	t.Run("ErrNotPEM", func(t *testing.T) {
		if _, _, err := devidp.ParseKeyPair([]byte("nope"), []byte("nope")); err == nil {
			t.Fatal("want error")
		}
	})
}

func TestDemoUsers(t *testing.T) {
	byName := map[string]devidp.User{}
	for _, u := range devidp.DemoUsers() {
		byName[u.Username] = u
	}
	for _, n := range []string{"clinician", "nurse", "clerk", "igofficer", "admin"} {
		u, ok := byName[n]
		if !ok {
			t.Fatalf("no demo user %s", n)
		}
		if u.Assurance != "AAL3" || len(u.Profiles) == 0 {
			t.Errorf("%s: assurance %q, %d profiles", n, u.Assurance, len(u.Profiles))
		}
	}
	if len(byName["nurse"].Profiles) != 2 {
		t.Error("the nurse must have two role profiles, so role choice is exercised")
	}
}
