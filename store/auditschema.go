package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The append-only triggers are what stop an edit through SQL; someone who
// drops them (or an index the IG search relies on, or adds a trigger of
// their own) leaves the chain whole, so the schema is checked on its own:
// every table, index and trigger must be exactly what the migrations the
// file records as applied make, no more and no fewer. The expected schema
// is built by applying those migrations to an empty in-memory database, so
// there is no second copy of it to keep in step.

type schemaObject struct{ typ, name, table, sql string }

// readSchema returns the database's own objects (SQLite's internal ones,
// named sqlite_*, left out) by type and name.
func readSchema(ctx context.Context, q querier) (map[string]schemaObject, error) {
	rows, err := q.QueryContext(ctx, `SELECT type, name, tbl_name, IFNULL(sql, '') FROM sqlite_schema WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]schemaObject{}
	for rows.Next() {
		var o schemaObject
		if err := rows.Scan(&o.typ, &o.name, &o.table, &o.sql); err != nil {
			return nil, err
		}
		o.sql = strings.TrimSpace(o.sql)
		out[o.typ+" "+o.name] = o
	}
	return out, rows.Err()
}

// expectedSchema applies the embedded migrations numbered in applied to a
// new in-memory database and returns its schema.
func expectedSchema(ctx context.Context, applied map[int]bool) (map[string]schemaObject, error) {
	ms, err := migrations(&sqliteBackend{})
	if err != nil {
		return nil, err
	}
	mem, err := sql.Open("sqlite3", "file:carerecord-schema-check?mode=memory")
	if err != nil {
		return nil, err
	}
	defer mem.Close()
	mem.SetMaxOpenConns(1)
	if _, err := mem.ExecContext(ctx, createSchemaMigrations); err != nil {
		return nil, err
	}
	for _, m := range ms {
		if !applied[m.version] {
			continue
		}
		body, err := migrationFS.ReadFile(m.name)
		if err != nil {
			return nil, err
		}
		if _, err := mem.ExecContext(ctx, string(body)); err != nil {
			return nil, fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return readSchema(ctx, &sqlDB{DB: mem, be: &sqliteBackend{}})
}

// checkSchema returns a sentence naming what leaves the audit tables
// open to change through SQL ("" when nothing does), as the engine
// checks it.
func checkSchema(ctx context.Context, q querier) (string, error) {
	return q.backendOf().checkSchema(ctx, q)
}

// AuditGuard says whether the append-only guard on the audit tables is in
// force, and whether the role the store connects as could lift it.
type AuditGuard struct {
	InForce bool   // every guard is in place and enabled
	Problem string // when not, what was dropped, disabled or changed
	Kind    string // what the guard is: "triggers"

	// Role is the PostgreSQL role the store connects as ("" on SQLite).
	// RoleCanLift: the role (a superuser, or the owner of an audit
	// table), or on SQLite whoever can write the file, could drop or
	// disable the guard; the chain, its key and the witnesses are then
	// what catch a change.
	Role        string
	Superuser   bool
	OwnsTables  bool
	RoleCanLift bool
}

// AuditGuard checks the append-only guard of the store's audit tables.
func (db *DB) AuditGuard(ctx context.Context) (AuditGuard, error) {
	g, err := db.be.guard(ctx, db.read)
	if err != nil {
		return AuditGuard{}, fmt.Errorf("store: audit guard: %w", err)
	}
	return g, nil
}

// checkSQLiteSchema compares the file's schema with the one its applied
// migrations make, and returns a sentence naming what differs ("" when
// nothing does).
func checkSQLiteSchema(ctx context.Context, q querier) (string, error) {
	applied := map[int]bool{}
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return "", err
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return "", err
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	ms, err := migrations(&sqliteBackend{})
	if err != nil {
		return "", err
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
	}
	var diffs []string
	for v := range applied {
		if !known[v] {
			diffs = append(diffs, fmt.Sprintf("migration %d is not known to this build", v))
		}
	}
	want, err := expectedSchema(ctx, applied)
	if err != nil {
		return "", fmt.Errorf("build the expected schema: %w", err)
	}
	got, err := readSchema(ctx, q)
	if err != nil {
		return "", err
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, k+" is missing")
		case g.sql != w.sql || g.table != w.table:
			diffs = append(diffs, k+" differs from its migration")
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, k+" is not made by any migration")
		}
	}
	if len(diffs) == 0 {
		return "", nil
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ") + ".", nil
}

// postgresGuards are the append-only triggers PostgreSQL's migrations
// make (migrations/postgres/0001_schema.sql), by table.
var postgresGuards = map[string][]string{
	"audit_events":     {"audit_events_append_only", "audit_events_no_truncate"},
	"audit_by_user":    {"audit_by_user_append_only", "audit_by_user_no_truncate"},
	"audit_by_patient": {"audit_by_patient_append_only", "audit_by_patient_no_truncate"},
	"audit_chain":      {"audit_chain_append_only", "audit_chain_no_truncate"},
}

// checkPostgresGuards returns a sentence naming an append-only trigger
// that was dropped, disabled or pointed elsewhere, or the guard function
// replaced by one that no longer refuses ("" when every one is in
// place). On PostgreSQL the schema is not compared object by object as on
// SQLite: the server's catalogue is not a list of statements to replay;
// the guards are what an edit through SQL must get past.
func checkPostgresGuards(ctx context.Context, q querier) (string, error) {
	var body string
	err := q.QueryRowContext(ctx, `SELECT p.prosrc FROM pg_proc p
		WHERE p.proname = 'carerecord_append_only' AND p.pronamespace = current_schema()::regnamespace`).Scan(&body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "the append-only guard function carerecord_append_only was dropped.", nil
	case err != nil:
		return "", err
	case !strings.Contains(body, "RAISE EXCEPTION"):
		return "the append-only guard function carerecord_append_only was replaced by one that does not refuse.", nil
	}
	tables := make([]string, 0, len(postgresGuards))
	for t := range postgresGuards {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, table := range tables {
		for _, name := range postgresGuards[table] {
			var enabled, fn string
			err := q.QueryRowContext(ctx, `SELECT t.tgenabled, p.proname FROM pg_trigger t
				JOIN pg_class c ON c.oid = t.tgrelid
				JOIN pg_proc p ON p.oid = t.tgfoid
				WHERE c.relname = ? AND c.relnamespace = current_schema()::regnamespace AND t.tgname = ?`, table, name).Scan(&enabled, &fn)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return fmt.Sprintf("the append-only guard %s on %s was dropped.", name, table), nil
			case err != nil:
				return "", err
			case enabled == "D":
				return fmt.Sprintf("the append-only guard %s on %s is disabled.", name, table), nil
			case fn != "carerecord_append_only":
				return fmt.Sprintf("the append-only guard %s on %s calls %s, not carerecord_append_only.", name, table, fn), nil
			}
		}
	}
	return "", nil
}
