package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Files the store creates are its owner's alone: the database holds the
// audit log and sealed patient data, and a key opens the rest.
const (
	privateFile = 0o600
	privateDir  = 0o700
)

// CheckKeyFile refuses a key file that its group or others can read (or
// write): start-up stops with a message saying how to fix it rather than
// use a key that may already have been copied.
func CheckKeyFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o066 != 0 {
		return fmt.Errorf("%s is readable or writable by its group or others (mode %04o): make it its owner's alone (chmod 600 %s), and replace the key if others may have read it", path, perm, path)
	}
	return nil
}

// EnsurePrivateDir creates dir (and its parents) readable by its owner
// only. An existing dir is left as it is.
func EnsurePrivateDir(dir string) error {
	return os.MkdirAll(dir, privateDir)
}

// createPrivate makes sure the database file exists, created 0600, before
// SQLite opens it (SQLite would create it 0644, and gives its -wal and
// -shm files the database file's mode). An existing database file, or
// -wal or -shm beside it, open to group or others is made private.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, privateFile)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return tightenModes(path)
}

func tightenModes(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, privateFile); err != nil {
				return err
			}
		}
	}
	return nil
}
