package store

import (
	"context"
	"fmt"
)

// CheckWrite proves the database takes a write the way the audit log
// does: one immediate transaction on the writer connection that rewrites
// the one-row heartbeat table and commits (a WAL append and, with
// synchronous=FULL, an fsync). It fails when the file is read-only, the
// disk is full or failing, or the write lock cannot be had in time.
func (db *DB) CheckWrite(ctx context.Context) error {
	// Serialised, as the audit writer's batches are: the check proves
	// that the write lock can be had too (a node stuck holding it shows
	// here), not only that a row can be written.
	tx, err := db.write.BeginSerialised(ctx)
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

// IsWriteFailure reports whether err is the database saying it cannot be
// written now (SQLite: read-only, full, failing, locked or unopenable;
// PostgreSQL: gone, shutting down, out of disk, a standby), as against a
// bug or a constraint: web shows the "cannot record this access" page for
// these whichever write met them first.
func IsWriteFailure(err error) bool {
	return isPostgresUnavailable(err) || isSQLiteWriteFailure(err)
}

// IsUnreachable reports whether err is the database out of reach: the
// PostgreSQL server refusing connections, gone or shutting down, or the
// SQLite file unopenable or unreadable. Web answers these with the page
// that says carerecord cannot reach its database.
func IsUnreachable(err error) bool {
	return isPostgresUnreachable(err) || isSQLiteUnreachable(err)
}

// isUniqueViolation reports whether err is a primary key or unique
// constraint refusing a duplicate, on either engine.
func isUniqueViolation(err error) bool {
	return isPostgresUnique(err) || isSQLiteUnique(err)
}
