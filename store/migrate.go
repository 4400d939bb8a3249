package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// copyOrder lists every table a SQLite store holds, in an order that
// keeps foreign keys satisfied as rows arrive. A table not listed stops a
// migration rather than being left behind: it needs a PostgreSQL
// migration and a place here first.
var copyOrder = []string{
	"sessions", "saml_assertions", "record_cache", "cache_meta", "recent_patients",
	"audit_events", "audit_verifications", "audit_alerts", "access_grants",
	"objection_cases", "objection_steps", "audit_by_user", "audit_by_patient",
	"audit_indexed", "staff_nhs", "audit_chain", "heartbeat",
	"patient_access_hidden", "patient_concerns", "record_visits", "patient_concern_reviews", "patient_access_unhidden",
}

// MigrateResult says what MigrateToPostgres copied and what the check
// after it found.
type MigrateResult struct {
	Rows   map[string]int64 // rows copied, by table
	Source VerifyResult     // the SQLite file's audit log, verified before the copy
	Target VerifyResult     // the PostgreSQL database's, verified after it
}

// MigrateToPostgres copies an installation's SQLite file into the empty
// PostgreSQL database dsn names (its schema made by PostgreSQL's
// migrations): every table, the audit log with its numbers and hashes as
// they are, so the chain, its key and the witnesses' checkpoints stay
// valid. It verifies the file's audit log first and refuses to copy a
// broken one, copies in one transaction, then verifies the database's log
// and checks that it ends at the same event with the same hash, and that
// every table holds as many rows as the file's.
//
// The servers using the file must be stopped: the copy is of one
// snapshot, and events written after it would be lost. A keyed log needs
// its key (WithAuditKey).
func MigrateToPostgres(ctx context.Context, sqlitePath, dsn string, opts ...Option) (MigrateResult, error) {
	var res MigrateResult
	if !IsPostgresURL(dsn) {
		return res, errors.New("store: migrate: the target must be a postgres:// URL")
	}
	var cfg DB
	for _, o := range opts {
		o(&cfg)
	}
	keyCopy := func() []Option {
		if cfg.auditKey == nil {
			return nil
		}
		return []Option{WithAuditKey(append([]byte(nil), cfg.auditKey...))}
	}
	abs, err := filepath.Abs(sqlitePath)
	if err != nil {
		return res, fmt.Errorf("store: migrate: %w", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return res, fmt.Errorf("store: migrate: %w", err)
	}
	if res.Source, err = VerifyAuditFile(ctx, abs, keyCopy()...); err != nil {
		return res, fmt.Errorf("store: migrate: verify %s: %w", abs, err)
	}
	if !res.Source.OK {
		return res, fmt.Errorf("store: migrate: the audit log in %s is not intact (%s): investigate before moving it", abs, res.Source.Problem)
	}

	src, err := openSQLiteReadOnly(abs, false)
	if err != nil {
		return res, fmt.Errorf("store: migrate: %w", err)
	}
	defer src.Close()

	pool, err := openPostgresPool(dsn)
	if err != nil {
		return res, fmt.Errorf("store: migrate: %w", err)
	}
	defer pool.Close()
	dst := &DB{path: redactURL(dsn), be: postgresBackend{}, now: time.Now}
	dst.write = &sqlDB{DB: pool, be: postgresBackend{}, writer: true}
	dst.read = &sqlDB{DB: pool, be: postgresBackend{}}
	if err := dst.migrate(ctx); err != nil {
		return res, fmt.Errorf("store: migrate: %s: %w", dst.path, err)
	}

	if res.Rows, err = copyTables(ctx, src, dst.write); err != nil {
		return res, fmt.Errorf("store: migrate: %w", err)
	}

	if res.Target, err = VerifyAuditFile(ctx, dsn, keyCopy()...); err != nil {
		return res, fmt.Errorf("store: migrate: verify %s: %w", dst.path, err)
	}
	switch {
	case !res.Target.OK:
		return res, fmt.Errorf("store: migrate: the copied audit log does not verify: %s", res.Target.Problem)
	case res.Target.HeadSeq != res.Source.HeadSeq || res.Target.HeadHash != res.Source.HeadHash || res.Target.Events != res.Source.Events:
		return res, fmt.Errorf("store: migrate: the copied audit log ends at event %d (%d events), the file's at event %d (%d events)",
			res.Target.HeadSeq, res.Target.Events, res.Source.HeadSeq, res.Source.Events)
	}
	for table, n := range res.Rows {
		var got int64
		if err := dst.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&got); err != nil {
			return res, fmt.Errorf("store: migrate: count %s: %w", table, err)
		}
		if got != n {
			return res, fmt.Errorf("store: migrate: %s holds %d rows after the copy, the file %d", table, got, n)
		}
	}
	return res, nil
}

// copyTables copies every table of src into dst, which must hold no data
// yet, in one transaction under the write lock, and returns the rows
// copied by table.
func copyTables(ctx context.Context, src, dst *sqlDB) (map[string]int64, error) {
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer stx.Rollback()
	tables, err := sqliteTables(ctx, stx)
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, t := range copyOrder {
		listed[t] = true
	}
	for _, t := range tables {
		if !listed[t] && t != "schema_migrations" {
			return nil, fmt.Errorf("the file holds a table %s that the PostgreSQL store does not know", t)
		}
	}
	// Serialised: it checks that the database holds no events, then
	// copies into it, and no node may write in between.
	dtx, err := dst.BeginSerialised(ctx)
	if err != nil {
		return nil, err
	}
	defer dtx.Rollback()
	var events int64
	if err := dtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&events); err != nil {
		return nil, err
	}
	if events > 0 {
		return nil, errors.New("the PostgreSQL database already holds audit events: migrate into an empty database")
	}
	have := map[string]bool{}
	for _, t := range tables {
		have[t] = true
	}
	rows := map[string]int64{}
	for _, t := range copyOrder {
		if !have[t] {
			continue
		}
		n, err := copyTable(ctx, stx, dtx, t)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", t, err)
		}
		rows[t] = n
	}
	// Identity columns go on from the highest id copied.
	for _, t := range []string{"audit_verifications", "audit_alerts", "objection_cases", "objection_steps"} {
		if _, err := dtx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'), COALESCE((SELECT MAX(id) FROM `+t+`), 0) + 1, false)`); err != nil {
			return nil, fmt.Errorf("identity of %s: %w", t, err)
		}
	}
	if err := dtx.Commit(); err != nil {
		return nil, err
	}
	return rows, nil
}

func sqliteTables(ctx context.Context, q querier) ([]string, error) {
	rs, err := q.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var n string
		if err := rs.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rs.Err()
}

// copyTable copies one table's rows, column by column as the file names
// them; each value goes as the PostgreSQL column's type wants it (text
// or bytes).
func copyTable(ctx context.Context, src, dst *sqlTx, table string) (int64, error) {
	dcols := map[string]string{}
	crs, err := dst.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ?`, table)
	if err != nil {
		return 0, err
	}
	for crs.Next() {
		var n, typ string
		if err := crs.Scan(&n, &typ); err != nil {
			crs.Close()
			return 0, err
		}
		dcols[n] = typ
	}
	crs.Close()
	rs, err := src.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return 0, err
	}
	for _, c := range cols {
		if _, ok := dcols[c]; !ok {
			return 0, fmt.Errorf("column %s has no PostgreSQL counterpart", c)
		}
	}
	if table == "audit_indexed" {
		// PostgreSQL's migration made its one row; the file's replaces it.
		if _, err := dst.ExecContext(ctx, `DELETE FROM audit_indexed`); err != nil {
			return 0, err
		}
	}
	stmt := `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES (` +
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + `)`
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return n, err
		}
		args := make([]any, len(cols))
		for i, v := range vals {
			args[i] = pgValue(v, dcols[cols[i]])
		}
		if _, err := dst.ExecContext(ctx, stmt, args...); err != nil {
			return n, err
		}
		n++
	}
	return n, rs.Err()
}

// pgValue gives v as a PostgreSQL column of type typ takes it: SQLite
// hands text back as bytes or strings alike.
func pgValue(v any, typ string) any {
	switch typ {
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s)
		}
	}
	return v
}
