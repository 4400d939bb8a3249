package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// This file is for benchmarks only: it builds large synthetic audit logs
// quickly, so that search and start-up can be measured against a log of
// the size a busy region reaches. Nothing in the product calls it.

// WithAuditBatchLimit caps how many events the audit writer commits in one
// transaction. 1 gives one commit per event, the baseline that group
// commit is measured against; 0 keeps the default. For benchmarks only: a
// server has no reason to set it.
func WithAuditBatchLimit(n int) Option {
	return func(db *DB) {
		if n > 0 {
			db.audit.maxBatch = n
		}
	}
}

// BulkLoadAudit appends n events made by gen(0) ... gen(n-1) to the audit
// log of the database at path (created and migrated if needed), chained
// exactly as the audit writer chains them, so that VerifyAudit passes and
// the server starts on the result as on any other log. Events are
// normalised as Audit normalises them; a zero Time is stamped with the
// load's start. gen runs on one goroutine, in order.
//
// It is for benchmarks and must never run against a live database: it
// needs the file to itself, turns off the journal and fsync while it
// loads (a crash leaves the file unusable), and drops and rebuilds the
// audit indexes around the load because sorting once is far faster than
// growing five B-trees row by row. It writes no alerts and runs no
// ANALYZE, so the planner sees the log as a server that never ran one
// would.
func BulkLoadAudit(ctx context.Context, path string, n int, gen func(i int) AuditEvent) error {
	db, err := Open(path)
	if err != nil {
		return err
	}
	abs := db.path
	seq, prev, indexed := db.audit.lastSeq, db.audit.lastHash, db.audit.indexed
	last := seq + int64(n) // the generator below numbers the events up to here
	if err := db.Close(); err != nil {
		return fmt.Errorf("store: bulk audit: %w", err)
	}

	q := url.Values{}
	q.Set("_foreign_keys", "off")
	q.Set("_synchronous", "OFF")
	raw, err := sql.Open("sqlite3", "file:"+abs+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("store: bulk audit: %w", err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	conn, err := raw.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: bulk audit: %w", err)
	}
	defer conn.Close()
	for _, p := range []string{`PRAGMA journal_mode = OFF`, `PRAGMA synchronous = OFF`, `PRAGMA cache_size = -131072`, `PRAGMA temp_store = FILE`} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("store: bulk audit: %s: %w", p, err)
		}
	}
	indexes, err := auditIndexes(ctx, conn)
	if err != nil {
		return err
	}
	for name := range indexes {
		if _, err := conn.ExecContext(ctx, `DROP INDEX `+name); err != nil {
			return fmt.Errorf("store: bulk audit: drop %s: %w", name, err)
		}
	}

	// One goroutine makes, normalises and hashes the events; this one
	// inserts them, many rows per statement, so that the two halves of the
	// work overlap on two cores.
	const rowsPerStmt = 64
	const chunk = 4096
	type batch struct {
		evs []AuditEvent
		err error
	}
	ch := make(chan batch, 4)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(ch)
		h := sha256.New()
		stamp := time.Now().UTC().Truncate(time.Millisecond)
		for done := 0; done < n; {
			b := batch{evs: make([]AuditEvent, 0, min(chunk, n-done))}
			for end := min(n, done+chunk); done < end; done++ {
				ev, err := normaliseAuditEvent(gen(done))
				if err != nil {
					b.err = err
					break
				}
				if ev.Time.IsZero() {
					ev.Time = stamp
				}
				seq++
				ev.Seq, ev.PrevHash = seq, prev
				ev.Hash = auditHashWith(h, auditDomainPlain, &ev, seq)
				prev = ev.Hash
				b.evs = append(b.evs, ev)
			}
			select {
			case ch <- b:
			case <-stop:
				return
			}
			if b.err != nil {
				return
			}
		}
	}()

	multi := auditInsert + strings.Repeat(", "+auditRow, rowsPerStmt-1)

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: bulk audit: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	multiStmt, err := tx.PrepareContext(ctx, multi)
	if err != nil {
		return fmt.Errorf("store: bulk audit: %w", err)
	}
	singleStmt, err := tx.PrepareContext(ctx, auditInsert)
	if err != nil {
		return fmt.Errorf("store: bulk audit: %w", err)
	}
	var args []any
	for b := range ch {
		if b.err != nil {
			return fmt.Errorf("store: bulk audit: %w", b.err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("store: bulk audit: %w", err)
		}
		evs := b.evs
		for len(evs) > 0 {
			k, stmt := rowsPerStmt, multiStmt
			if len(evs) < rowsPerStmt {
				k, stmt = 1, singleStmt
			}
			args = args[:0]
			for i := range evs[:k] {
				args, err = appendAuditArgs(args, &evs[i])
				if err != nil {
					return fmt.Errorf("store: bulk audit: %w", err)
				}
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("store: bulk audit: %w", err)
			}
			evs = evs[k:]
		}
	}
	if err := indexAudit(ctx, &sqlTx{Tx: tx, be: &sqliteBackend{}}, indexed, last); err != nil {
		return fmt.Errorf("store: bulk audit: search tables: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: bulk audit: %w", err)
	}
	for name, def := range indexes {
		if _, err := conn.ExecContext(ctx, def); err != nil {
			return fmt.Errorf("store: bulk audit: rebuild %s: %w", name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA journal_mode = WAL`); err != nil {
		return fmt.Errorf("store: bulk audit: back to WAL: %w", err)
	}
	return nil
}

// auditIndexes returns the audit_events indexes by name with the SQL that
// made them (automatic indexes, which have no SQL, are left alone).
func auditIndexes(ctx context.Context, conn *sql.Conn) (map[string]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT name, sql FROM sqlite_master
		WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("store: bulk audit: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, fmt.Errorf("store: bulk audit: %w", err)
		}
		out[name] = def
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: bulk audit: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("store: bulk audit: audit_events has no indexes: is the schema migrated?")
	}
	return out, nil
}
