// Package store is carerecord's database, on SQLite (a file, the embedded
// default) or PostgreSQL (shared by several nodes): schema migrations, the
// server-side session state, the SAML replay cache, the encrypted record
// cache, the audit log, alerts and objections. Asking the sources and
// merging their answers is package records'.
//
// On SQLite one writer connection serialises writes (SQLite allows one
// writer at a time, and queueing in Go is cheaper than SQLITE_BUSY
// retries); a small pool of read-only connections serves reads
// concurrently under WAL. On PostgreSQL writes take an advisory lock
// (engine.go).
//
// The store must never hold clinical content in the clear and never log it.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// Each engine has its own migrations: SQLite's in migrations/, PostgreSQL's
// in migrations/postgres/.
//
//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

func migrationDir(e Engine) string {
	if e == Postgres {
		return "migrations/postgres"
	}
	return "migrations"
}

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// DB owns the SQLite connections.
type DB struct {
	path   string
	engine Engine
	write  *sqlDB
	read   *sqlDB
	now    func() time.Time
	closed bool

	// The record cache's keys (cache.go); cache is nil without
	// WithCacheKey, and the raw key is wiped once derived.
	cacheKey    []byte
	cacheKeySet bool
	cache       *cacheCipher

	// The audit log's group-commit writer and alert rules (audit.go).
	audit auditLog
	// The audit chain's rule and keys (auditkey.go); auditKey is wiped
	// once derived.
	auditKey []byte
	chain    *chainRule
	// The witnesses the audit head is checkpointed to, and what the
	// start-up check found (auditwitness.go).
	anchor anchorState
	// The WAL checkpointer beside the writer (checkpoint.go).
	ckpt checkpointer
	// Staff members' own NHS numbers kept by IG (staffnhs.go).
	staff staffList
	// Other nodes' purges of a patient, on PostgreSQL (purgenotify.go).
	purges purgeHub
}

// Option changes how Open sets up the database.
type Option func(*DB)

// WithClock replaces the clock (tests use it to move time forward).
func WithClock(now func() time.Time) Option { return func(db *DB) { db.now = now } }

// Open opens the database the configured string names: a PostgreSQL
// server for a postgres:// URL (OpenPostgres), otherwise a SQLite file
// (creating it if needed).
//
// For a SQLite file it sets WAL, foreign keys, a busy timeout and
// synchronous=FULL on every connection, and applies the embedded
// migrations that have not run yet, each in its own transaction. It
// returns an error naming the migration that failed.
func Open(path string, opts ...Option) (*DB, error) {
	if IsPostgresURL(path) {
		return OpenPostgres(path, opts...)
	}
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
	db := newDB(abs, SQLite, opts)
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
	db.write = &sqlDB{DB: w, engine: SQLite}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)
	// fail closes whatever has been opened so far.
	fail := func(err error) (*DB, error) {
		db.ckpt.close()
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
	db.read = &sqlDB{DB: r, engine: SQLite}
	db.read.SetMaxOpenConns(4)
	db.read.SetMaxIdleConns(4)
	if err := db.startCheckpointer(dsn); err != nil {
		return fail(fmt.Errorf("store: open %s for checkpoints: %w", abs, err))
	}
	if err := db.start(context.Background()); err != nil {
		return fail(err)
	}
	return db, nil
}

func newDB(path string, e Engine, opts []Option) *DB {
	db := &DB{path: path, engine: e, now: time.Now, audit: auditLog{rules: DefaultAlertRules(), maxBatch: maxAuditBatch}}
	for _, o := range opts {
		o(db)
	}
	return db
}

// prepare migrates the schema and sets up the record cache's and the
// audit chain's keys, on the writer.
func (db *DB) prepare(ctx context.Context) error {
	if err := db.migrate(ctx); err != nil {
		return err
	}
	if err := db.initCache(ctx); err != nil {
		return err
	}
	return db.initAuditChain(ctx)
}

// start loads what the store keeps in memory and starts the audit writer
// and the checkpoints of its head.
func (db *DB) start(ctx context.Context) error {
	if err := db.loadStaff(ctx); err != nil {
		return err
	}
	if err := db.startAudit(ctx); err != nil {
		return err
	}
	if err := db.startAnchor(ctx); err != nil {
		db.stopAudit()
		return err
	}
	return nil
}

// Engine says which database engine the store runs on.
func (db *DB) Engine() Engine { return db.engine }

// Path is the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// Close closes every connection. It is safe to call twice.
func (db *DB) Close() error {
	if db.closed {
		return nil
	}
	db.closed = true
	db.stopPurgeListener()
	// The audit writer goes first: it finishes the batch in hand, which
	// needs the writer connection; then the last checkpoint of its head.
	db.stopAudit()
	db.stopAnchor()
	cerr := db.ckpt.close()
	rerr := db.read.Close()
	if db.engine == Postgres {
		// One pool serves both.
		return errors.Join(cerr, rerr)
	}
	// A final checkpoint folds the WAL into the main file so a copied
	// database is complete on its own.
	_, _ = db.write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	werr := db.write.Close()
	return errors.Join(cerr, rerr, werr)
}

// Ping checks that the database answers a read. /readyz uses it.
func (db *DB) Ping(ctx context.Context) error {
	ping := func() error {
		var one int
		err := db.read.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&one)
		db.read.checkLost(err)
		return err
	}
	err := ping()
	if err != nil && db.engine == Postgres && isPostgresUnavailable(err) {
		// The connection may have been one the server ended while it was
		// away; checkLost dropped the others, so ask once more on a new one.
		err = ping()
	}
	if err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// SchemaVersion returns the number of the last applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

type migration struct {
	version int
	name    string
}

func migrations(e Engine) ([]migration, error) {
	names, err := fs.Glob(migrationFS, migrationDir(e)+"/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, n := range names {
		base := filepath.Base(n)
		num, _, ok := strings.Cut(base, "_")
		if !ok {
			return nil, fmt.Errorf("store: migration %s: name must be NNNN_description.sql", base)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s: name must start with a positive number", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		ms = append(ms, migration{version: v, name: n})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// createSchemaMigrations makes the table that tracks applied migrations;
// the schema check (auditschema.go) makes it the same way.
const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`

func (db *DB) migrate(ctx context.Context) error {
	// In a transaction, so that on PostgreSQL nodes starting together
	// take turns (CREATE TABLE IF NOT EXISTS is not safe run at once).
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	if _, err := tx.ExecContext(ctx, createSchemaMigrations); err != nil {
		tx.Rollback()
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	ms, err := migrations(db.engine)
	if err != nil {
		return err
	}
	// Apply every migration not yet applied, in order: a set, not a high
	// water mark, so a migration merged late with a lower number still runs.
	applied := map[int]bool{}
	rows, err := db.write.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("store: read schema version: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		body, err := migrationFS.ReadFile(m.name)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		tx, err := db.write.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		// Another node may have applied it while this one waited for the
		// write lock.
		var done int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&done); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if done > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, filepath.Base(m.name), db.now().UTC().Format(time.RFC3339Nano)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// Pragmas returns the connection settings that matter for durability and
// concurrency, as SQLite reports them on the writer connection.
func (db *DB) Pragmas(ctx context.Context) map[string]string {
	out := map[string]string{}
	if db.engine != SQLite {
		return out
	}
	for _, p := range []string{"journal_mode", "foreign_keys", "synchronous", "busy_timeout", "wal_autocheckpoint"} {
		var v string
		if err := db.write.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v); err == nil {
			out[p] = v
		}
	}
	return out
}
