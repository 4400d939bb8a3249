package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"
)

// CheckWrite proves the database takes a write the way the audit log
// does: one immediate transaction on the writer connection that rewrites
// the one-row heartbeat table and commits (a WAL append and, with
// synchronous=FULL, an fsync). It fails when the file is read-only, the
// disk is full or failing, or the write lock cannot be had in time.
func (db *DB) CheckWrite(ctx context.Context) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: write check: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO heartbeat (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`,
		ms(db.now())); err != nil {
		return fmt.Errorf("store: write check: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: write check: %w", err)
	}
	return nil
}

// IsWriteFailure reports whether err is SQLite saying the database cannot
// be written now (read-only, full, failing, locked or unopenable), as
// against a bug or a constraint: web shows the "cannot record this access"
// page for these whichever write met them first.
func IsWriteFailure(err error) bool {
	if isPostgresUnavailable(err) {
		return true
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case sqlite3.ErrReadonly, sqlite3.ErrFull, sqlite3.ErrIoErr, sqlite3.ErrBusy, sqlite3.ErrLocked,
		sqlite3.ErrCantOpen, sqlite3.ErrPerm, sqlite3.ErrNoLFS:
		return true
	}
	return false
}
