package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// COALESCE, partial indexes and LIMIT), with ? placeholders. Everything
// that differs between the engines sits behind backend, with one
// implementation in sqlite.go and one in postgres.go; the rest of the
// store calls it and never asks which engine it runs on.

// backend is what one engine does its own way.
type backend interface {
	// engine and label name it: for code that prints it, and for people.
	engine() Engine
	label() string

	// rebind writes q's ? placeholders as the engine takes them, and
	// bindArgs converts the arguments it cannot take as Go gives them.
	rebind(q string) string
	bindArgs(args []any) []any
	// lockWrite is called first in every serialised write transaction of
	// a store's writer (BeginSerialised): it returns once the transaction
	// holds the store's write lock, which orders those transactions
	// across every node (the store's read-then-write transactions, the
	// audit chain's head and an objection case's status, rely on it).
	lockWrite(ctx context.Context, tx *sql.Tx) error
	// forUpdate is the clause that locks the rows a SELECT in a write
	// transaction reads until it ends (" FOR UPDATE"), or "" where the
	// transaction already holds the whole database's write lock.
	forUpdate() string
	// lost reports whether err says the database server went away, so
	// that the pool's idle connections (ended by the server too) are
	// dropped and a check is worth one retry on a new connection.
	lost(err error) bool
	// forget drops pool's idle connections after a loss.
	forget(pool *sql.DB)

	// migrationDir is the directory of the engine's embedded migrations.
	migrationDir() string
	// tableExistsSQL counts the tables named by its one argument.
	tableExistsSQL() string
	// indexHint names the index a query must use where the engine's
	// planner needs telling (" INDEXED BY name"), or "".
	indexHint(index string) string
	// jsonArrayAgg is the aggregate that gathers expr into a JSON array,
	// as text.
	jsonArrayAgg(expr string) string

	// sharedLog reports whether other processes append to the same
	// audit chain, so that each batch reads the chain's head again under
	// the write lock rather than trusting the one in memory.
	sharedLog() bool
	// notifyPurge tells the other nodes, in tx, that a patient's cached
	// data was purged; sealed gives the notice (the NHS number sealed
	// with the cache key) and is only called if there is anyone to tell.
	notifyPurge(ctx context.Context, tx *sqlTx, sealed func() (string, error)) error

	// checkSchema returns a sentence naming what makes the audit tables
	// open to change through SQL ("" when nothing does), and guard says
	// whether the append-only guard is in force and who could lift it.
	checkSchema(ctx context.Context, q querier) (string, error)
	guard(ctx context.Context, q querier) (AuditGuard, error)

	// wrote is told that a write transaction committed.
	wrote()
	// settings are the connection settings that matter for durability
	// and concurrency, as the engine reports them.
	settings(ctx context.Context, w *sqlDB) map[string]string
	// close closes the store's pools after the audit writer has stopped.
	close(write, read *sqlDB) error
}

// sqlDB is a connection pool that speaks the store's SQL to its engine.
// writer is set on a store's writer: each of its write transactions says
// whether it is serialised with every other node's (BeginSerialised) or
// not (BeginConcurrent), and BeginTx there takes only read-only ones.
type sqlDB struct {
	*sql.DB
	be     backend
	writer bool
}

// sqlTx is a transaction that speaks the store's SQL to its engine.
type sqlTx struct {
	*sql.Tx
	be backend
}

func (d *sqlDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := d.DB.ExecContext(ctx, d.be.rebind(q), d.be.bindArgs(args)...)
	d.checkLost(err)
	return res, err
}

// checkLost drops the pool's idle connections when err says the server
// went away: each of them was ended by the server too, and would
// otherwise fail one request of its own after the server returns.
func (d *sqlDB) checkLost(err error) {
	if err != nil && d.be.lost(err) {
		d.be.forget(d.DB)
	}
}

func (d *sqlDB) Exec(q string, args ...any) (sql.Result, error) {
	return d.ExecContext(context.Background(), q, args...)
}

func (d *sqlDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := d.DB.QueryContext(ctx, d.be.rebind(q), d.be.bindArgs(args)...)
	d.checkLost(err)
	return rows, err
}

func (d *sqlDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return d.DB.QueryRowContext(ctx, d.be.rebind(q), d.be.bindArgs(args)...)
}

// errWriteOrderUnsaid is BeginTx refusing a write transaction on a
// store's writer: it must say whether it is serialised.
var errWriteOrderUnsaid = errors.New("store: a write transaction on the writer must begin with BeginSerialised or BeginConcurrent")

// BeginTx starts a transaction. On a store's writer only a read-only one:
// a write transaction begins with BeginSerialised or BeginConcurrent, so
// that each says whether it needs the write lock.
func (d *sqlDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sqlTx, error) {
	if d.writer && (opts == nil || !opts.ReadOnly) {
		return nil, errWriteOrderUnsaid
	}
	return d.begin(ctx, opts, false)
}

// BeginSerialised starts a write transaction that returns once it holds
// the store's write lock: no other serialised write transaction, of this
// node or another, runs until it ends (its commit's flush included). For
// a transaction that reads and then writes what it read, or what another
// node's transaction may be writing at the same time (the audit chain's
// head, a case's status). On SQLite every write transaction holds the
// file's write lock anyway.
func (d *sqlDB) BeginSerialised(ctx context.Context) (*sqlTx, error) {
	return d.begin(ctx, nil, d.writer)
}

// BeginConcurrent starts a write transaction without the store's write
// lock: on PostgreSQL it runs beside any other, and commits in the
// server's group commit with whatever commits at the time. For writes
// that are right in any order: single-statement upserts and deletes of a
// row of their own, where row locks and ON CONFLICT suffice. On SQLite
// it is the same as BeginSerialised.
func (d *sqlDB) BeginConcurrent(ctx context.Context) (*sqlTx, error) {
	return d.begin(ctx, nil, false)
}

func (d *sqlDB) begin(ctx context.Context, opts *sql.TxOptions, lock bool) (*sqlTx, error) {
	tx, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		d.checkLost(err)
		return nil, err
	}
	if lock {
		if err := d.be.lockWrite(ctx, tx); err != nil {
			tx.Rollback()
			d.checkLost(err)
			return nil, err
		}
	}
	return &sqlTx{Tx: tx, be: d.be}, nil
}

func (t *sqlTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, t.be.rebind(q), t.be.bindArgs(args)...)
}

func (t *sqlTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, t.be.rebind(q), t.be.bindArgs(args)...)
}

func (t *sqlTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, t.be.rebind(q), t.be.bindArgs(args)...)
}

// PrepareContext prepares q; the statement's arguments are passed as
// they are, so it suits statements without boolean arguments.
func (t *sqlTx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.Tx.PrepareContext(ctx, t.be.rebind(q))
}

// querier is what a read needs: a pool or a transaction of either engine.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	backendOf() backend
}

func (d *sqlDB) backendOf() backend { return d.be }
func (t *sqlTx) backendOf() backend { return t.be }

// dollarPlaceholders caches each query's text with $1, $2, ... for ?.
// The store's queries are a few hundred constant strings, but some are
// put together from a filter (the audit search's conditions, an IN list
// as long as the actions asked for), so the cache holds at most
// maxRebound texts: past that, a query is rewritten each time it runs,
// which costs microseconds, rather than memory growing without end.
type dollarPlaceholders struct {
	m sync.Map
	n atomic.Int64
}

const maxRebound = 1024

var rebound dollarPlaceholders

func (c *dollarPlaceholders) rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	if v, ok := c.m.Load(q); ok {
		return v.(string)
	}
	out := toDollars(q)
	if c.n.Load() < maxRebound {
		if _, loaded := c.m.LoadOrStore(q, out); !loaded {
			c.n.Add(1)
		}
	}
	return out
}

// size is how many texts the cache holds.
func (c *dollarPlaceholders) size() int { return int(c.n.Load()) }

// toDollars writes q's ? placeholders as $1, $2, ...; a ? inside a
// quoted string or identifier is left alone, and ?NNN becomes $NNN.
func toDollars(q string) string {
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
	return b.String()
}

// boolsAsIntegers gives 0 and 1 for Go booleans, for an engine whose
// driver would send them as booleans to the integer columns both
// schemas keep flags in.
func boolsAsIntegers(args []any) []any {
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
