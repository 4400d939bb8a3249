// Package store is carerecord's database, on SQLite (a file, the embedded
// default) or PostgreSQL (shared by several nodes): schema migrations, the
// server-side session state, the SAML replay cache, the encrypted record
// cache, the audit log, alerts and objections. Asking the sources and
// merging their answers is package records'.
//
// What differs between the engines sits behind one interface, backend
// (engine.go), with SQLite's implementation in sqlite.go and PostgreSQL's
// in postgres.go; the queries are shared.
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

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// DB is the store on either engine.
type DB struct {
	path   string
	be     backend // what the engine does its own way (engine.go)
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
// server for a postgres:// URL (postgres.go), otherwise a SQLite file,
// created if needed (sqlite.go). It applies the engine's embedded
// migrations that have not run yet, each in its own transaction, and
// returns an error naming the migration that failed.
func Open(path string, opts ...Option) (*DB, error) {
	if IsPostgresURL(path) {
		return openPostgres(path, opts)
	}
	return openSQLite(path, opts)
}

// OpenPostgres opens the store on the PostgreSQL server dsn names.
func OpenPostgres(dsn string, opts ...Option) (*DB, error) { return openPostgres(dsn, opts) }

func newDB(path string, be backend, opts []Option) *DB {
	db := &DB{path: path, be: be, now: time.Now, audit: auditLog{rules: DefaultAlertRules(), maxBatch: maxAuditBatch}}
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
func (db *DB) Engine() Engine { return db.be.engine() }

// EngineName is how pages name the engine: "SQLite" or "PostgreSQL".
func (db *DB) EngineName() string { return db.be.label() }

// Path is the absolute path of the database file, or the PostgreSQL URL
// with its password hidden.
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
	return db.be.close(db.write, db.read)
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
	if err != nil && db.be.lost(err) {
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

func migrations(be backend) ([]migration, error) {
	names, err := fs.Glob(migrationFS, be.migrationDir()+"/*.sql")
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
	tx, err := db.write.BeginSerialised(ctx)
	if err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	// Asked first, so that a role that may not create tables (a node's
	// role that does not own the schema, on PostgreSQL) opens a store
	// its owner has migrated.
	have, err := hasTable(ctx, tx, "schema_migrations")
	if err != nil {
		tx.Rollback()
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	if !have {
		if _, err := tx.ExecContext(ctx, createSchemaMigrations); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: create schema_migrations: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	ms, err := migrations(db.be)
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
		tx, err := db.write.BeginSerialised(ctx)
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
// concurrency, as the engine reports them on the writer: SQLite's pragmas,
// or PostgreSQL's settings.
func (db *DB) Pragmas(ctx context.Context) map[string]string {
	return db.be.settings(ctx, db.write)
}
