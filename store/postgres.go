package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/mattn/go-sqlite3"
)

// OpenPostgres opens the store on the PostgreSQL server dsn names (a
// postgres:// URL), shared with other nodes, and applies PostgreSQL's
// embedded migrations that have not run yet (nodes starting together
// take turns).
//
// It uses database/sql with pgx's driver rather than pgxpool: the store is
// written against database/sql for SQLite, and one code path for both
// engines is worth more than pgx's native interface would save. One pool
// serves reads and writes; writes take a cluster-wide advisory lock, so
// every node sees the same order of audit events and case steps.
func OpenPostgres(dsn string, opts ...Option) (*DB, error) {
	if _, err := url.Parse(dsn); err != nil {
		return nil, errors.New("store: the database URL does not parse")
	}
	db := newDB(redactURL(dsn), Postgres, opts)
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", db.path, err)
	}
	pool.SetMaxOpenConns(16)
	pool.SetMaxIdleConns(postgresIdleConns)
	// Connections are checked again after a while, so a pool recovers from
	// a server restart without a restart of its own.
	pool.SetConnMaxIdleTime(time.Minute)
	db.write = &sqlDB{DB: pool, engine: Postgres, lockWrites: true}
	db.read = &sqlDB{DB: pool, engine: Postgres}
	ctx := context.Background()
	fail := func(err error) (*DB, error) {
		pool.Close()
		return nil, err
	}
	if err := pool.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("store: open %s: %w", db.path, err))
	}
	if err := db.prepare(ctx); err != nil {
		return fail(err)
	}
	if err := db.start(ctx); err != nil {
		return fail(err)
	}
	if err := db.startPurgeListener(dsn); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: listen for other nodes' purges: %w", db.path, err)
	}
	return db, nil
}

// redactURL is a database URL fit for a message: its password hidden.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the PostgreSQL database"
	}
	return u.Redacted()
}

// DatabaseName is how messages and logs name a configured database: a
// SQLite file's path, or a PostgreSQL URL with its password hidden.
func DatabaseName(s string) string {
	if IsPostgresURL(s) {
		return redactURL(s)
	}
	return s
}

// postgresIdleConns is how many idle connections a node keeps to
// PostgreSQL.
const postgresIdleConns = 8

// isUniqueViolation reports whether err is a primary key or unique
// constraint refusing a duplicate, on either engine.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se sqlite3.Error
	return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey || se.ExtendedCode == sqlite3.ErrConstraintUnique)
}

// isPostgresUnavailable reports whether err says the server cannot be
// reached or cannot write now (connection refused or lost, shutting
// down, out of disk, read-only), as against a bug or a constraint.
func isPostgresUnavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources (disk full, out of memory, too many connections)
			"57", // operator intervention (shutdown, cannot connect now)
			"58": // system error (I/O)
			return true
		}
		return pe.Code == "25006" // read-only transaction: a standby
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.Is(err, sql.ErrConnDone)
}
