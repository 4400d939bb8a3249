package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/pgtest"
)

// The PostgreSQL part of the run: the same product on one PostgreSQL
// server, started by the driver with store/pgtest's StartWith (initdb into
// a temporary directory, postgres on a free loopback port, as an
// unprivileged user when the driver runs as root) with PostgreSQL's
// durability defaults kept: fsync, full_page_writes and synchronous_commit
// on, so that a commit has reached the disk when it returns, as SQLite's
// synchronous=FULL has. The tests' server (pgtest.Start) runs with fsync
// off; the driver checks the settings before it measures anything.

// pgSettings are the server settings the driver adds to PostgreSQL's
// defaults: memory and WAL sizes a production server would be given
// (none of them touches durability).
var pgSettings = []string{"shared_buffers=512MB", "max_wal_size=4GB", "effective_cache_size=4GB", "maintenance_work_mem=512MB"}

// pgShown are the settings printed with the results.
var pgShown = []string{"server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method",
	"shared_buffers", "max_wal_size"}

// pgServer is the run's PostgreSQL server.
type pgServer struct {
	srv      *pgtest.Server
	admin    *sql.DB
	settings map[string]string
	seq      int
}

// startPostgres starts the server, or returns a nil server and why not
// when no PostgreSQL binaries are installed.
func startPostgres() (*pgServer, string, error) {
	bin, err := pgtest.BinDir()
	if err != nil {
		return nil, fmt.Sprintf("no PostgreSQL binaries found (%v); install them with: apt-get install postgresql", err), nil
	}
	srv, err := pgtest.StartWith(bin, pgtest.Options{Durable: true, Settings: pgSettings})
	if err != nil {
		return nil, "", err
	}
	s := &pgServer{srv: srv, settings: map[string]string{}}
	if s.admin, err = sql.Open("pgx", srv.AdminDSN("postgres")); err != nil {
		srv.Close()
		return nil, "", err
	}
	for _, name := range pgShown {
		var v string
		if err := s.admin.QueryRow(`SELECT current_setting($1)`, name).Scan(&v); err != nil {
			s.close()
			return nil, "", fmt.Errorf("read %s: %w", name, err)
		}
		s.settings[name] = v
	}
	// The figures are for durable commits, as SQLite's synchronous=FULL.
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		if s.settings[name] != "on" {
			s.close()
			return nil, "", fmt.Errorf("PostgreSQL runs with %s=%s, not on: its figures would not be for durable commits", name, s.settings[name])
		}
	}
	return s, "", nil
}

// describe lists the settings, for the report.
func (s *pgServer) describe() string {
	var parts []string
	for _, name := range pgShown {
		if name == "server_version" {
			continue
		}
		parts = append(parts, name+"="+s.settings[name])
	}
	return "PostgreSQL " + s.settings["server_version"] + ", " + strings.Join(parts, ", ")
}

// newDatabase creates an empty database owned by the application's role
// (not a superuser, as in production) and returns its URL.
func (s *pgServer) newDatabase(name string) (string, error) {
	s.seq++
	name = fmt.Sprintf("%s_%d", name, s.seq)
	if _, err := s.admin.Exec(`CREATE DATABASE ` + name + ` OWNER ` + pgtest.AppRole); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.srv.URL(pgtest.AppRole, name), nil
}

// size is a database's size on disk in bytes.
func (s *pgServer) size(dsn string) int64 {
	name := dsn[strings.LastIndex(dsn, "/")+1:]
	name, _, _ = strings.Cut(name, "?")
	var n int64
	_ = s.admin.QueryRow(`SELECT pg_database_size($1)`, name).Scan(&n)
	return n
}

// pgCounters are the server's counters the load runs report.
type pgCounters struct{ commits, syncs int64 }

// counters reads the commits of the database dsn names and the server's
// WAL flushes. The statistics are what the server's processes have
// reported so far, up to a second behind.
func (s *pgServer) counters(dsn string) pgCounters {
	name := dsn[strings.LastIndex(dsn, "/")+1:]
	name, _, _ = strings.Cut(name, "?")
	var c pgCounters
	_ = s.admin.QueryRow(`SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = $1), (SELECT wal_sync FROM pg_stat_wal)`, name).Scan(&c.commits, &c.syncs)
	return c
}

func (s *pgServer) close() error {
	if s.admin != nil {
		s.admin.Close()
	}
	return s.srv.Close()
}

// buildPostgresLog runs this program again with -gen-pg, which copies the
// audit log of the SQLite file at from into the PostgreSQL database dsn.
func (b *bench) buildPostgresLog(from, dsn string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "-gen-pg", dsn, "-gen-pg-from", from)
	cmd.Stdout, cmd.Stderr = b.out, os.Stderr
	return cmd.Run()
}

// pgAuditTables are the tables BulkLoadAudit fills, in the order they are
// copied: the events with their numbers and hashes as they are (so the
// chain stays valid), and the two search tables. audit_indexed's one row
// and audit_chain's (if any) follow them.
var pgAuditTables = []string{"audit_events", "audit_by_user", "audit_by_patient"}

// copyAuditLog copies the audit log store.BulkLoadAudit built in the SQLite
// file from into the empty PostgreSQL database dsn with COPY (each table
// in a transaction of its own), and checks that the database's log then
// ends at the same event with the same hash. store.MigrateToPostgres does the same with
// one INSERT per row, which for 10 million events takes far longer; it
// also verifies the chain end to end, which a store test does for the
// bulk loader's chains. It then runs VACUUM ANALYZE, as autovacuum would
// soon after such a load, so that autovacuum does not run during the
// measurements.
func copyAuditLog(ctx context.Context, out func(string, ...any), from, dsn string) error {
	// The schema first, by the store's own migrations.
	db, err := store.Open(dsn)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	src, err := sql.Open("sqlite3", "file:"+from+"?mode=ro")
	if err != nil {
		return err
	}
	defer src.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var existing int64
	if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&existing); err != nil {
		return err
	}
	if existing > 0 {
		return errors.New("the PostgreSQL database already holds audit events")
	}
	// The three tables at once, each on a connection and in a transaction
	// of its own, so that reading the file, sending and PostgreSQL's
	// inserting overlap.
	errs := make([]error, len(pgAuditTables))
	var wg sync.WaitGroup
	for i, t := range pgAuditTables {
		wg.Go(func() {
			began := time.Now()
			n, err := copyTableAlone(ctx, src, dsn, t)
			if err != nil {
				errs[i] = fmt.Errorf("copy %s: %w", t, err)
				return
			}
			out("  %s: %d rows copied in %s", t, n, time.Since(began).Round(time.Second))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var upto int64
	if err := src.QueryRowContext(ctx, `SELECT upto FROM audit_indexed`).Scan(&upto); err != nil {
		return fmt.Errorf("audit_indexed: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_indexed SET upto = $1`, upto); err != nil {
		return fmt.Errorf("audit_indexed: %w", err)
	}
	var keyedFrom int64
	var keyID, mac string
	switch err := src.QueryRowContext(ctx, `SELECT keyed_from, key_id, mac FROM audit_chain`).Scan(&keyedFrom, &keyID, &mac); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("audit_chain: %w", err)
	default:
		if _, err := tx.Exec(ctx, `INSERT INTO audit_chain (one, keyed_from, key_id, mac) VALUES (1, $1, $2, $3)`, keyedFrom, keyID, mac); err != nil {
			return fmt.Errorf("audit_chain: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	// The copy ends where the file ends.
	var fileSeq, pgSeq, fileN, pgN int64
	var fileHash, pgHash string
	head := `SELECT seq, hash, (SELECT COUNT(*) FROM audit_events) FROM audit_events ORDER BY seq DESC LIMIT 1`
	if err := src.QueryRowContext(ctx, head).Scan(&fileSeq, &fileHash, &fileN); err != nil {
		return err
	}
	if err := conn.QueryRow(ctx, head).Scan(&pgSeq, &pgHash, &pgN); err != nil {
		return err
	}
	if fileSeq != pgSeq || fileHash != pgHash || fileN != pgN {
		return fmt.Errorf("the copy ends at event %d (%d events), the file at event %d (%d events)", pgSeq, pgN, fileSeq, fileN)
	}
	began := time.Now()
	for _, t := range pgAuditTables {
		if _, err := conn.Exec(ctx, `VACUUM ANALYZE `+t); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	out("  VACUUM ANALYZE in %s", time.Since(began).Round(time.Second))
	return nil
}

// copyTableAlone copies one table in a transaction of its own, with its
// secondary indexes dropped during the copy and built again after it
// (sorting once is far faster than growing a B-tree row by row), as
// store.BulkLoadAudit does on SQLite.
func copyTableAlone(ctx context.Context, src *sql.DB, dsn, table string) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	rs, err := tx.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = $1
		AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = $2::regclass)`, table, table)
	if err != nil {
		return 0, err
	}
	indexes := map[string]string{}
	for rs.Next() {
		var name, def string
		if err := rs.Scan(&name, &def); err != nil {
			rs.Close()
			return 0, err
		}
		indexes[name] = def
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return 0, err
	}
	for name := range indexes {
		if _, err := tx.Exec(ctx, `DROP INDEX `+pgx.Identifier{name}.Sanitize()); err != nil {
			return 0, err
		}
	}
	n, err := copyTable(ctx, src, tx, table)
	if err != nil {
		return n, err
	}
	for _, def := range indexes {
		if _, err := tx.Exec(ctx, def); err != nil {
			return n, err
		}
	}
	return n, tx.Commit(ctx)
}

// copyTable copies one table with COPY, column by column as the file
// names them, each value as the PostgreSQL column's type takes it.
func copyTable(ctx context.Context, src *sql.DB, tx pgx.Tx, table string) (int64, error) {
	types := map[string]string{}
	rs, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return 0, err
	}
	for rs.Next() {
		var n, typ string
		if err := rs.Scan(&n, &typ); err != nil {
			rs.Close()
			return 0, err
		}
		types[n] = typ
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return 0, err
	}
	rows, err := src.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	for _, c := range cols {
		if _, ok := types[c]; !ok {
			return 0, fmt.Errorf("column %s has no PostgreSQL counterpart", c)
		}
	}
	return tx.CopyFrom(ctx, pgx.Identifier{table}, cols, &sqliteRows{rows: rows, cols: cols, types: types})
}

// sqliteRows feeds COPY from a SQLite query.
type sqliteRows struct {
	rows  *sql.Rows
	cols  []string
	types map[string]string
	vals  []any
}

func (r *sqliteRows) Next() bool { return r.rows.Next() }

func (r *sqliteRows) Values() ([]any, error) {
	if r.vals == nil {
		r.vals = make([]any, len(r.cols))
	}
	ptrs := make([]any, len(r.cols))
	for i := range r.vals {
		ptrs[i] = &r.vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]any, len(r.cols))
	for i, v := range r.vals {
		switch r.types[r.cols[i]] {
		case "text":
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
		case "bytea":
			if s, ok := v.(string); ok {
				v = []byte(s)
			}
		}
		out[i] = v
	}
	return out, nil
}

func (r *sqliteRows) Err() error { return r.rows.Err() }

// pgResults are the PostgreSQL figures of one run.
type pgResults struct {
	skipped  string // why PostgreSQL was not measured
	settings string // the server's version and durability settings
	copyTime time.Duration
	logBytes int64
	startup  time.Duration
	// The load runs, side by side: one SQLite node (the one of the rest
	// of the run), one node on PostgreSQL, two nodes on it.
	sqlite, one, two loadResult
	groupCommit      groupCommitResult
	ig               map[string][]time.Duration
}

// preparePostgres starts the server and copies the SQLite file's audit
// log into a database of its own, or says why PostgreSQL is skipped.
func (b *bench) preparePostgres(logPath string) error {
	if !b.o.postgres {
		b.res.pg.skipped = "not asked for (-postgres=false)"
		b.say("PostgreSQL: SKIPPED: %s", b.res.pg.skipped)
		return nil
	}
	b.cleanMu.Lock()
	pg, why, err := startPostgres()
	if err == nil && pg != nil {
		b.pg = pg
	}
	b.cleanMu.Unlock()
	if err != nil {
		return err
	}
	if pg == nil {
		b.res.pg.skipped = why
		b.say("PostgreSQL: SKIPPED: %s", why)
		return nil
	}
	b.res.pg.settings = pg.describe()
	b.say("PostgreSQL started on 127.0.0.1:%d: %s", pg.srv.Port(), b.res.pg.settings)
	dsn, err := pg.newDatabase("carerecord")
	if err != nil {
		return err
	}
	b.say("PostgreSQL: copying the audit log of %d events into it with COPY (child process)", b.o.events)
	began := time.Now()
	if err := b.buildPostgresLog(logPath, dsn); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	// A checkpoint now rather than during the measurements.
	if _, err := pg.admin.Exec(`CHECKPOINT`); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	b.res.pg.copyTime = time.Since(began)
	b.res.pg.logBytes = pg.size(dsn)
	b.pgLog = dsn
	b.say("PostgreSQL: audit log copied in %s (database %d MB)", b.res.pg.copyTime.Round(time.Second), b.res.pg.logBytes>>20)
	return nil
}

// pgOpener gives each group-commit run a new database on the server. The
// durability settings are the server's, checked when it started.
func (b *bench) pgOpener() opener {
	return opener{
		open: func(name string, opts ...store.Option) (*store.DB, error) {
			dsn, err := b.pg.newDatabase("groupcommit_" + name)
			if err != nil {
				return nil, err
			}
			return store.Open(dsn, opts...)
		},
		durable: func(*store.DB) error { return nil },
	}
}

// measurePostgres runs the warm load on one and on two nodes on the
// PostgreSQL database holding the big log, alternately with the SQLite
// node sq (the same patient, the same clinicians' count, warm caches), and
// the IG searches on PostgreSQL. The two nodes are two web servers in
// this process, each with its own store.Open on the same database and the
// same keys, as two nodes of one service; each clinician sends its
// requests to the nodes in turn, as a round-robin proxy would.
func (b *bench) measurePostgres(sq *product, sqClinicians []*browser, pick patients, sources []connectors.Config) error {
	cacheKey, master := randomKey(store.CacheKeySize), randomKey(96)
	cfg := productConfig{dbPath: b.pgLog, cacheKey: cacheKey, master: master, sources: sources,
		deadline: b.o.deadline, fresh: time.Hour, users: b.users, sp: b.sp, idp: b.idpKeys, log: b.log}
	began := time.Now()
	a, err := startProduct(cfg)
	if err != nil {
		return fmt.Errorf("PostgreSQL: start: %w", err)
	}
	if err := a.waitReady(30 * time.Second); err != nil {
		a.stop()
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	b.res.pg.startup = time.Since(began)
	b.say("PostgreSQL: start-up to /readyz 200 with %d audit events: %s", b.o.events, b.res.pg.startup.Round(time.Microsecond))
	nb, err := startProduct(cfg)
	if err != nil {
		a.stop()
		return fmt.Errorf("PostgreSQL: start the second node: %w", err)
	}
	err = b.measurePostgresNodes(sq, sqClinicians, pick, a, nb)
	for _, n := range []*product{nb, a} {
		if serr := n.stop(); err == nil && serr != nil {
			err = fmt.Errorf("PostgreSQL: stop: %w", serr)
		}
	}
	return err
}

func (b *bench) measurePostgresNodes(sq *product, sqClinicians []*browser, pick patients, a, nb *product) error {
	if err := nb.waitReady(30 * time.Second); err != nil {
		return fmt.Errorf("PostgreSQL: second node: %w", err)
	}
	b.say("PostgreSQL: signing in %d clinicians", b.o.clinicians)
	clinicians, err := signInAll(a, b.users[:b.o.clinicians], []string{pick.p200})
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer func() {
		for _, c := range clinicians {
			c.close()
		}
	}()
	target := "/patients/" + pick.p200
	// The first view fills the shared cache from the sources; each node's
	// first view fills its memory.
	for _, n := range []*product{a, nb} {
		if _, _, err := timePage(onNode(clinicians[0], n.base), target); err != nil {
			return fmt.Errorf("PostgreSQL: first view: %w", err)
		}
		if err := settle(n.records, pick.p200, 60*time.Second); err != nil {
			return fmt.Errorf("PostgreSQL: %w", err)
		}
	}
	two := make([]getter, len(clinicians))
	for i, c := range clinicians {
		two[i] = &roundRobin{nodes: []*browser{c, onNode(c, nb.base)}, next: i % 2}
	}
	pool := func(ps ...*product) func() sql.DBStats {
		return func() sql.DBStats {
			var s sql.DBStats
			for _, p := range ps {
				w, _ := p.db.PoolStats()
				s.WaitCount += w.WaitCount
				s.WaitDuration += w.WaitDuration
			}
			return s
		}
	}
	runs := []struct {
		name    string
		clients []getter
		stats   func() sql.DBStats
		into    *loadResult
	}{
		{"sqlite", getters(sqClinicians), pool(sq), &b.res.pg.sqlite},
		{"pg1", getters(clinicians), pool(a), &b.res.pg.one},
		{"pg2", two, pool(a, nb), &b.res.pg.two},
	}
	// Each is run twice for half the time, in the order A B C C B A, so
	// that a change in the machine's load over the runs weighs on each
	// about equally.
	half := max(b.o.duration/2, time.Second)
	defer func() { b.pgCounters = nil }()
	for k, i := range []int{0, 1, 2, 2, 1, 0} {
		r := runs[i]
		b.writerStats = r.stats
		b.pgCounters = nil
		if r.name != "sqlite" {
			b.pgCounters = func() pgCounters { return b.pg.counters(b.pgLog) }
		}
		b.say("warm load, %s, %s: %d clinicians, %s", pick.p200, map[string]string{"sqlite": "one SQLite node",
			"pg1": "one node on PostgreSQL", "pg2": "two nodes on PostgreSQL"}[r.name], len(r.clients), half)
		res, err := b.loadFor(r.clients, target, fmt.Sprintf("%s-%d", r.name, k+1), half)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		b.say("  %.0f views/s, p50 %s, p99 %s", res.perSecond(), res.pct(50).Round(100*time.Microsecond), res.pct(99).Round(100*time.Microsecond))
		if r.name != "sqlite" && res.views > 0 {
			b.say("  per view: %.1f database transactions, %.2f WAL flushes", float64(res.pgCommits)/float64(res.views), float64(res.pgSyncs)/float64(res.views))
		}
		*r.into = r.into.merge(res)
	}
	pr := b.res.pg
	b.say("PostgreSQL ÷ SQLite: one node %.2f, two nodes %.2f (SQLite %.0f /s)",
		pr.one.perSecond()/pr.sqlite.perSecond(), pr.two.perSecond()/pr.sqlite.perSecond(), pr.sqlite.perSecond())

	if b.res.pg.ig, err = b.igSearch(a); err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	return nil
}
