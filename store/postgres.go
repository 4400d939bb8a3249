package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// PostgreSQL, shared by several nodes. One pool serves reads and writes.
// The writer's serialised transactions (BeginSerialised: the audit
// chain's batches, objection case steps, migrations) take one advisory
// lock, so they run one at a time across every node as SQLite's writes
// do in one file, and every node sees the same order of audit events and
// case steps. The other writes (sessions, cache rows, recent patients,
// record visits) begin with BeginConcurrent and run beside them, under
// PostgreSQL's row locks, so the server flushes their commits together.
// Other nodes' purges arrive by LISTEN/NOTIFY (purgenotify.go).

// postgresBackend is PostgreSQL's way with what differs between the
// engines.
type postgresBackend struct{}

func (postgresBackend) engine() Engine { return Postgres }
func (postgresBackend) label() string  { return "PostgreSQL" }

// rebind writes ? as $1, $2, ...
func (postgresBackend) rebind(q string) string { return rebound.rebind(q) }

// bindArgs gives 0 and 1 for Go booleans, as both schemas store flags
// as integers.
func (postgresBackend) bindArgs(args []any) []any { return boolsAsIntegers(args) }

// writeLockKey is the advisory lock every serialised write transaction
// holds until it ends ("carerecord" in ASCII, shortened to fit a bigint).
const writeLockKey = 0x6361726572656364

func (postgresBackend) lockWrite(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(writeLockKey))
	return err
}

// forUpdate: a concurrent write transaction locks the row it read.
func (postgresBackend) forUpdate() string { return " FOR UPDATE" }

func (postgresBackend) lost(err error) bool { return isPostgresUnavailable(err) }

func (postgresBackend) forget(pool *sql.DB) {
	pool.SetMaxIdleConns(0)
	pool.SetMaxIdleConns(postgresIdleConns)
}

func (postgresBackend) migrationDir() string { return "migrations/postgres" }

func (postgresBackend) tableExistsSQL() string {
	return `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
}

// indexHint: PostgreSQL's planner takes the partial indexes without
// being told.
func (postgresBackend) indexHint(string) string { return "" }

func (postgresBackend) jsonArrayAgg(expr string) string { return "json_agg(" + expr + ")::text" }

// sharedLog: every node appends to one chain.
func (postgresBackend) sharedLog() bool { return true }

func (postgresBackend) notifyPurge(ctx context.Context, tx *sqlTx, sealed func() (string, error)) error {
	payload, err := sealed()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `SELECT pg_notify(?, ?)`, purgeChannel, payload)
	return err
}

// checkSchema checks the append-only guards (auditschema.go): the
// server's catalogue is not a list of statements to replay, as SQLite's
// is, so the schema is not compared object by object.
func (postgresBackend) checkSchema(ctx context.Context, q querier) (string, error) {
	return checkPostgresGuards(ctx, q)
}

func (b postgresBackend) guard(ctx context.Context, q querier) (AuditGuard, error) {
	sentence, err := b.checkSchema(ctx, q)
	if err != nil {
		return AuditGuard{}, err
	}
	g := AuditGuard{InForce: sentence == "", Problem: sentence, Kind: "triggers"}
	return g, postgresGuardRole(ctx, q, &g)
}

func (postgresBackend) wrote() {}

// settings: the server's own, which its operators set.
func (postgresBackend) settings(ctx context.Context, w *sqlDB) map[string]string {
	out := map[string]string{}
	for _, p := range []string{"synchronous_commit", "fsync", "default_transaction_isolation", "server_version"} {
		var v string
		if err := w.QueryRowContext(ctx, "SELECT current_setting('"+p+"')").Scan(&v); err == nil {
			out[p] = v
		}
	}
	return out
}

// close closes the one pool that serves both.
func (postgresBackend) close(write, _ *sqlDB) error { return write.Close() }

// openPostgres opens the store on the PostgreSQL server dsn names (a
// postgres:// URL), shared with other nodes, and applies PostgreSQL's
// embedded migrations that have not run yet (nodes starting together
// take turns).
//
// It uses database/sql with pgx's driver rather than pgxpool: the store is
// written against database/sql, and one code path for both engines is
// worth more than pgx's native interface would save.
func openPostgres(dsn string, opts []Option) (*DB, error) {
	if _, err := url.Parse(dsn); err != nil {
		return nil, errors.New("store: the database URL does not parse")
	}
	db := newDB(redactURL(dsn), postgresBackend{}, opts)
	pool, err := openPostgresPool(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", db.path, err)
	}
	db.write = &sqlDB{DB: pool, be: postgresBackend{}, writer: true}
	db.read = &sqlDB{DB: pool, be: postgresBackend{}}
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

// openPostgresPool opens a pool on dsn, sized for a node.
func openPostgresPool(dsn string) (*sql.DB, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	pool.SetMaxOpenConns(16)
	pool.SetMaxIdleConns(postgresIdleConns)
	// Connections are checked again after a while, so a pool recovers from
	// a server restart without a restart of its own.
	pool.SetConnMaxIdleTime(time.Minute)
	return pool, nil
}

// openPostgresReadOnly opens dsn to read it behind a store's back
// (verify): no migration runs, and the transactions verify begins are
// read-only.
func openPostgresReadOnly(dsn string) (*sqlDB, error) {
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	raw.SetMaxOpenConns(2)
	return &sqlDB{DB: raw, be: postgresBackend{}}, nil
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

// isPostgresUnique reports whether err is PostgreSQL refusing a
// duplicate key.
func isPostgresUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
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
	return isPostgresUnreachable(err)
}

// isPostgresUnreachable reports whether err says the server cannot be
// reached at all: refused, gone or shutting down.
func isPostgresUnreachable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "57":
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.Is(err, sql.ErrConnDone)
}

// postgresGuardRole says which role the store connects as and whether it
// could lift the guard: a superuser, or the owner of an audit table
// (who may drop or disable its triggers, or replace the function they
// call). Run the nodes as a role that owns nothing and has only SELECT
// and INSERT on the audit tables, and the guard holds against the
// application itself.
func postgresGuardRole(ctx context.Context, q querier, g *AuditGuard) error {
	var (
		super  bool
		owners []byte
	)
	err := q.QueryRowContext(ctx, `SELECT current_user, r.rolsuper,
			COALESCE((SELECT json_agg(c.relname ORDER BY c.relname) FROM pg_class c
				WHERE c.relnamespace = current_schema()::regnamespace
				AND c.relname IN ('audit_events', 'audit_by_user', 'audit_by_patient', 'audit_chain')
				AND pg_has_role(current_user, c.relowner, 'USAGE')), '[]')::text
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&g.Role, &super, &owners)
	if err != nil {
		return err
	}
	var owned []string
	if err := json.Unmarshal(owners, &owned); err != nil {
		return err
	}
	g.Superuser, g.OwnsTables = super, len(owned) > 0
	g.RoleCanLift = super || len(owned) > 0
	return nil
}
