package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
)

// Engine names the database engine behind a DB.
type Engine string

// The two engines: SQLite, a file on one node, the embedded default; and
// PostgreSQL, shared by several nodes.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// IsPostgresURL reports whether a configured database names a PostgreSQL
// server (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// The store's SQL is written once, in the dialect the two engines share
// (SQLite 3.35 or later and PostgreSQL 15 agree on ON CONFLICT, RETURNING,
// COALESCE, partial indexes and LIMIT), with ? placeholders. sqlDB and
// sqlTx hand it to the engine: on PostgreSQL the placeholders become $1,
// $2, ... and booleans become the 0 and 1 both schemas store. Where the
// engines truly differ (the schema, locking, the file's own maintenance)
// the code asks db.engine.

// sqlDB is a connection pool that speaks the store's SQL to its engine.
// On PostgreSQL the writer's transactions take one advisory lock, so
// writes are serialised across every node as SQLite serialises them in
// one file: the store's read-then-write transactions (the audit chain's
// head, an objection case's status) rely on it.
type sqlDB struct {
	*sql.DB
	engine     Engine
	lockWrites bool
}

// sqlTx is a transaction that speaks the store's SQL to its engine.
type sqlTx struct {
	*sql.Tx
	engine Engine
}

// writeLockKey is the advisory lock every write transaction on PostgreSQL
// holds until it ends ("carerecord" in ASCII, shortened to fit a bigint).
const writeLockKey = 0x6361726572656364

func (d *sqlDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := d.DB.ExecContext(ctx, rebind(d.engine, q), bindArgs(d.engine, args)...)
	d.checkLost(err)
	return res, err
}

// checkLost drops the pool's idle connections when err says the server
// went away: each of them was ended by the server too, and would
// otherwise fail one request of its own after the server returns.
func (d *sqlDB) checkLost(err error) {
	if err != nil && d.engine == Postgres && isPostgresUnavailable(err) {
		d.DB.SetMaxIdleConns(0)
		d.DB.SetMaxIdleConns(postgresIdleConns)
	}
}

func (d *sqlDB) Exec(q string, args ...any) (sql.Result, error) {
	return d.ExecContext(context.Background(), q, args...)
}

func (d *sqlDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := d.DB.QueryContext(ctx, rebind(d.engine, q), bindArgs(d.engine, args)...)
	d.checkLost(err)
	return rows, err
}

func (d *sqlDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return d.DB.QueryRowContext(ctx, rebind(d.engine, q), bindArgs(d.engine, args)...)
}

// BeginTx starts a transaction; on the writer of a PostgreSQL store it
// returns once the transaction holds the write lock.
func (d *sqlDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sqlTx, error) {
	tx, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		d.checkLost(err)
		return nil, err
	}
	if d.engine == Postgres && d.lockWrites && (opts == nil || !opts.ReadOnly) {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(writeLockKey)); err != nil {
			tx.Rollback()
			d.checkLost(err)
			return nil, err
		}
	}
	return &sqlTx{Tx: tx, engine: d.engine}, nil
}

func (t *sqlTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, rebind(t.engine, q), bindArgs(t.engine, args)...)
}

func (t *sqlTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, rebind(t.engine, q), bindArgs(t.engine, args)...)
}

func (t *sqlTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, rebind(t.engine, q), bindArgs(t.engine, args)...)
}

// PrepareContext prepares q; the statement's arguments are passed as
// they are, so it suits statements without boolean arguments.
func (t *sqlTx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.Tx.PrepareContext(ctx, rebind(t.engine, q))
}

// rebound caches PostgreSQL's text of each query: the store's queries
// are a few hundred constant strings.
var rebound sync.Map

// rebind writes q's ? placeholders as PostgreSQL's $1, $2, ...; a ?
// inside a quoted string or identifier is left alone.
func rebind(e Engine, q string) string {
	if e != Postgres || !strings.Contains(q, "?") {
		return q
	}
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			b.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			b.WriteByte(c)
		case c == '?' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			// ?NNN, a numbered parameter: $NNN.
			b.WriteByte('$')
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	rebound.Store(q, out)
	return out
}

// bindArgs gives PostgreSQL 0 and 1 for Go booleans, as the schemas of
// both engines store flags as integers.
func bindArgs(e Engine, args []any) []any {
	if e != Postgres {
		return args
	}
	var out []any
	for i, a := range args {
		if b, ok := a.(bool); ok {
			if out == nil {
				out = append([]any(nil), args...)
			}
			out[i] = int64(0)
			if b {
				out[i] = int64(1)
			}
		}
	}
	if out == nil {
		return args
	}
	return out
}

// querier is what a read needs: a pool or a transaction of either engine.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	engineOf() Engine
}

func (d *sqlDB) engineOf() Engine { return d.engine }
func (t *sqlTx) engineOf() Engine { return t.engine }
