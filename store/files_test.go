package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/store"
)

// The database file and its -wal and -shm are their owner's alone, whether
// the store creates them or finds them looser; CheckKeyFile refuses a key
// its group or others can read.
func TestFilesPrivate(t *testing.T) {
	check := func(t *testing.T, path string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode().Perm(); got != 0o600 {
				t.Errorf("%s: mode %04o, want 0600", filepath.Base(p), got)
			}
		}
	}
	write := func(t *testing.T, db *store.DB) {
		t.Helper()
		if _, err := db.Audit(context.Background(), store.AuditEvent{UserID: "555000111", Action: store.ActSignIn, Outcome: store.OutcomeAllowed}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("CreatedPrivate", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.db")
		db, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		write(t, db)
		check(t, path)
	})
	t.Run("LooserFilesMadePrivate", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.db")
		db, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		write(t, db)
		db.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.WriteFile(p, nil, 0o644); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		db, err = store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		write(t, db)
		check(t, path)
	})
	t.Run("CheckKeyFile", func(t *testing.T) {
		key := filepath.Join(t.TempDir(), "k.key")
		for _, tt := range []struct {
			mode os.FileMode
			ok   bool
		}{{0o600, true}, {0o400, true}, {0o640, false}, {0o604, false}, {0o620, false}} {
			if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(key, tt.mode); err != nil {
				t.Fatal(err)
			}
			err := store.CheckKeyFile(key)
			if (err == nil) != tt.ok {
				t.Errorf("mode %04o: %v, want accepted %v", tt.mode, err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "chmod 600 "+key) {
				t.Errorf("mode %04o: %q does not say how to fix it", tt.mode, err)
			}
		}
	})
}
