package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// SQLite, the embedded default: one file on one node. One writer
// connection serialises writes (SQLite allows one writer at a time, and
// queueing in Go is cheaper than SQLITE_BUSY retries); a small pool of
// read-only connections serves reads concurrently under WAL; a
// checkpointer beside the writer folds the WAL into the file
// (checkpoint.go).

// sqliteBackend is SQLite's way with what differs between the engines.
// ckpt is the store's checkpointer (nil on a connection opened only to
// read, as verify does).
type sqliteBackend struct {
	ckpt *checkpointer
}

func (*sqliteBackend) engine() Engine { return SQLite }
func (*sqliteBackend) label() string  { return "SQLite" }

// SQLite takes ? and Go's booleans as they are.
func (*sqliteBackend) rebind(q string) string    { return q }
func (*sqliteBackend) bindArgs(args []any) []any { return args }

// lockWrite has nothing to do: the writer is one connection whose
// transactions begin IMMEDIATE (_txlock), which takes the file's write
// lock.
func (*sqliteBackend) lockWrite(context.Context, *sql.Tx) error { return nil }

// forUpdate: SQLite has no row locks; its write transactions hold the
// file's write lock from their first statement (BEGIN IMMEDIATE).
func (*sqliteBackend) forUpdate() string { return "" }

// lost is false: a file does not go away as a server does.
func (*sqliteBackend) lost(error) bool { return false }
func (*sqliteBackend) forget(*sql.DB)  {}

func (*sqliteBackend) migrationDir() string { return "migrations" }

func (*sqliteBackend) tableExistsSQL() string {
	return `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`
}

// indexHint: SQLite's planner can choose a worse index for the hot
// probes; INDEXED BY makes it take the one they were written for.
func (*sqliteBackend) indexHint(index string) string { return " INDEXED BY " + index }

func (*sqliteBackend) jsonArrayAgg(expr string) string { return "json_group_array(" + expr + ")" }

// sharedLog is false: the file's one writer is this store's, so the head
// kept in memory is the chain's head.
func (*sqliteBackend) sharedLog() bool { return false }

// notifyPurge has no one to tell: one node holds everything, and the
// caller has purged its memory already.
func (*sqliteBackend) notifyPurge(context.Context, *sqlTx, func() (string, error)) error { return nil }

// checkSchema compares the whole schema with the one the applied
// migrations make (auditschema.go).
func (*sqliteBackend) checkSchema(ctx context.Context, q querier) (string, error) {
	return checkSQLiteSchema(ctx, q)
}

// guard: the triggers are in force when the schema is as the migrations
// make it. Whoever can write the file can drop them, so the role can
// always lift them: the chain, its key and the witness are what catch it.
func (b *sqliteBackend) guard(ctx context.Context, q querier) (AuditGuard, error) {
	sentence, err := b.checkSchema(ctx, q)
	if err != nil {
		return AuditGuard{}, err
	}
	return AuditGuard{InForce: sentence == "", Problem: sentence, Kind: "triggers", RoleCanLift: true}, nil
}

func (b *sqliteBackend) wrote() {
	if b.ckpt != nil {
		b.ckpt.wrote()
	}
}

func (*sqliteBackend) settings(ctx context.Context, w *sqlDB) map[string]string {
	out := map[string]string{}
	for _, p := range []string{"journal_mode", "foreign_keys", "synchronous", "busy_timeout", "wal_autocheckpoint"} {
		var v string
		if err := w.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v); err == nil {
			out[p] = v
		}
	}
	return out
}

// close stops the checkpointer and closes the readers, then folds the
// WAL into the main file with a final checkpoint, so that a copied
// database is complete on its own, and closes the writer.
func (b *sqliteBackend) close(write, read *sqlDB) error {
	var cerr, rerr error
	if b.ckpt != nil {
		cerr = b.ckpt.close()
	}
	if read != nil {
		rerr = read.Close()
	}
	_, _ = write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	werr := write.Close()
	return errors.Join(cerr, rerr, werr)
}

// openSQLite opens the store in the SQLite file at path, creating it if
// needed. It sets WAL, foreign keys, a busy timeout and
// synchronous=FULL on every connection, and applies the embedded
// migrations that have not run yet, each in its own transaction.
func openSQLite(path string, opts []Option) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: database path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := createPrivate(abs); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", abs, err)
	}
	be := &sqliteBackend{ckpt: &checkpointer{}}
	db := newDB(abs, be, opts)
	// Pragmas go in the DSN so that every pooled connection gets them, not
	// just the first one.
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "5000")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	dsn := "file:" + abs + "?" + q.Encode()

	w, err := sql.Open(writerDriver, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	db.write = &sqlDB{DB: w, be: be, writer: true}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)
	// fail closes whatever has been opened so far.
	fail := func(err error) (*DB, error) {
		be.ckpt.close()
		if db.read != nil {
			db.read.Close()
		}
		db.write.Close()
		return nil, err
	}

	// Touch the file with the writer first so that WAL mode is set before
	// readers open it.
	if err := db.write.Ping(); err != nil {
		return fail(fmt.Errorf("store: open %s: %w", abs, err))
	}
	if err := db.prepare(context.Background()); err != nil {
		return fail(err)
	}

	rq := url.Values{}
	rq.Set("_foreign_keys", "on")
	rq.Set("_busy_timeout", "5000")
	rq.Set("mode", "ro")
	r, err := sql.Open("sqlite3", "file:"+abs+"?"+rq.Encode())
	if err != nil {
		return fail(fmt.Errorf("store: open %s read-only: %w", abs, err))
	}
	db.read = &sqlDB{DB: r, be: be}
	db.read.SetMaxOpenConns(4)
	db.read.SetMaxIdleConns(4)
	if err := be.ckpt.start(dsn); err != nil {
		return fail(fmt.Errorf("store: open %s for checkpoints: %w", abs, err))
	}
	if err := db.start(context.Background()); err != nil {
		return fail(err)
	}
	return db, nil
}

// openSQLiteReadOnly opens the file at abs to read it behind a store's
// back (verify, migrate): read-only, and with immutable for a copy that
// cannot even be locked (a read-only file in a read-only directory),
// which is right for a copy and only for a copy.
func openSQLiteReadOnly(abs string, immutable bool) (*sqlDB, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", "5000")
	if immutable {
		q.Set("immutable", "1")
	}
	raw, err := sql.Open("sqlite3", "file:"+abs+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	raw.SetMaxOpenConns(1)
	return &sqlDB{DB: raw, be: &sqliteBackend{}}, nil
}

// isSQLiteUnique reports whether err is SQLite refusing a duplicate key.
func isSQLiteUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey || se.ExtendedCode == sqlite3.ErrConstraintUnique)
}

// isSQLiteWriteFailure reports whether err is SQLite saying the file
// cannot be written now (read-only, full, failing, locked or unopenable).
func isSQLiteWriteFailure(err error) bool {
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

// isSQLiteUnreachable reports whether err is SQLite unable to open the
// file at all, or finding something else than a database in it.
func isSQLiteUnreachable(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrCantOpen || se.Code == sqlite3.ErrNotADB)
}
