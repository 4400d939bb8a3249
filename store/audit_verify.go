package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// VerifyResult is the outcome of one walk of the audit chain.
type VerifyResult struct {
	Events      int64 // events read
	OK          bool
	FirstBadSeq int64  // 0 when OK
	Problem     string // "altered", "deleted", "inserted", "reordered" or "unsearchable", then a sentence; "" when OK
	At          time.Time
	HeadSeq     int64  // the last event checked good
	HeadHash    string // its hash: worth copying outside the database as an anchor

	// KeyedFrom is the first event hashed with the audit key (0: the log
	// is not keyed).
	KeyedFrom int64
	// Anchor is the witness's last checkpoint the log was checked against
	// (Anchored false: no witness, or it holds none).
	Anchor   Checkpoint
	Anchored bool
}

// Problem kinds, the first word of VerifyResult.Problem.
const (
	ProblemAltered   = "altered"
	ProblemDeleted   = "deleted"
	ProblemInserted  = "inserted"
	ProblemReordered = "reordered"
	// The chain is whole but an event cannot be found by the IG search.
	ProblemUnsearchable = "unsearchable"
	// An event of the keyed part of the log is hashed without the key.
	ProblemForged = "forged"
	// The log ends before the head its witness recorded: events deleted,
	// or the database replaced by an older copy.
	ProblemBehind = "behind"
	// The log holds, at the witness's checkpoint, another event than the
	// one the witness recorded: rewritten, or replaced by another copy.
	ProblemForked = "forked"
	// The witness cannot be read, holds a checkpoint with a bad MAC, or
	// holds none for a log that has keyed events.
	ProblemWitness = "witness"
	// The append-only triggers, a table or an index differ from what the
	// migrations made.
	ProblemSchema = "schema"
)

// chainAnchor is the head of an earlier good walk. A chain that no longer
// holds it was cut short or rebuilt, even if it is consistent in itself.
type chainAnchor struct {
	seq  int64
	hash string
	at   time.Time
}

// maxRenumber bounds how far the verifier looks for an event that was
// moved down after events before it were deleted. It costs one hash per
// step, and only for an event that already failed.
const maxRenumber = 64

// walkAuditChain reads the events from seq `from` on (1 for the whole
// log, prevHash then the genesis hash) in seq order from q, a read
// transaction (one snapshot), and returns where the chain first breaks
// under rule. It keeps one event of lookahead, which is what tells an
// insertion or a swap from an edit. full also checks the search tables,
// which only a walk of the whole log can.
//
// A chain, even a keyed one, cannot show that its newest events were cut
// off, nor that the whole file was replaced by an older copy: the anchor
// (the last good walk's head, kept in the database) and the witnesses'
// checkpoints (kept outside it, auditwitness.go) cover that.
func walkAuditChain(ctx context.Context, q querier, anchor chainAnchor, rule *chainRule, from int64, prevHash string, full bool) (VerifyResult, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE seq >= ? ORDER BY seq`, from)
	if err != nil {
		return VerifyResult{}, err
	}
	defer rows.Close()
	next := func() (*AuditEvent, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		ev, err := scanAuditEvent(rows)
		if err != nil {
			return nil, err
		}
		return &ev, nil
	}
	var (
		res          = VerifyResult{KeyedFrom: rule.keyedFrom, HeadSeq: from - 1, HeadHash: prevHash}
		prevprevHash string
		expected     = from
	)
	if from <= 1 {
		res.HeadHash = ""
	}
	bad := func(seq int64, kind, sentence string) (VerifyResult, error) {
		res.FirstBadSeq, res.Problem = seq, kind+": "+sentence
		return res, nil
	}
	cur, err := next()
	if err != nil {
		return res, err
	}
	for cur != nil {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		nxt, err := next()
		if err != nil {
			return res, err
		}
		res.Events++
		if cur.Seq != expected {
			if expected == cur.Seq-1 {
				return bad(expected, ProblemDeleted, fmt.Sprintf("event %d is missing.", expected))
			}
			return bad(expected, ProblemDeleted, fmt.Sprintf("events %d to %d are missing.", expected, cur.Seq-1))
		}
		linkOK := cur.PrevHash == prevHash
		selfOK := rule.sum(cur, cur.Seq) == cur.Hash
		if !linkOK || !selfOK {
			return classifyBreak(rule, cur, nxt, prevHash, prevprevHash, linkOK, selfOK, bad)
		}
		if anchor.seq == cur.Seq && anchor.hash != cur.Hash {
			return bad(cur.Seq, ProblemAltered, fmt.Sprintf("event %d differs from the event verified at %s; the log was rewritten from this event or before it.",
				cur.Seq, anchor.at.Format(time.RFC3339)))
		}
		res.HeadSeq, res.HeadHash = cur.Seq, cur.Hash
		prevprevHash, prevHash = prevHash, cur.Hash
		expected++
		cur = nxt
	}
	if anchor.seq > res.HeadSeq {
		return bad(res.HeadSeq+1, ProblemDeleted, fmt.Sprintf("events %d to %d, present when the log was verified at %s, are missing.",
			res.HeadSeq+1, anchor.seq, anchor.at.Format(time.RFC3339)))
	}
	if full {
		if seq, sentence, err := checkSearchTables(ctx, q); err != nil {
			return res, err
		} else if seq > 0 {
			return bad(seq, ProblemUnsearchable, sentence)
		}
	}
	res.OK = true
	return res, nil
}

// checkSearchTables finds the first event up to audit_indexed.upto that
// the search by user or by patient would not find: an entry removed from
// audit_by_user or audit_by_patient (auditindex.go) hides an access from
// the IG officer's search without touching the chain. A file from before
// the search tables has none to check.
func checkSearchTables(ctx context.Context, q querier) (int64, string, error) {
	if ok, err := hasTable(ctx, q, "audit_indexed"); err != nil || !ok {
		return 0, "", err
	}
	for _, c := range []struct{ table, col, by string }{
		{"audit_by_user", "user_id", "user"},
		{"audit_by_patient", "nhs_number", "patient"},
	} {
		var seq sql.NullInt64
		err := q.QueryRowContext(ctx, `SELECT MIN(e.seq) FROM audit_events e
			WHERE e.seq <= (SELECT upto FROM audit_indexed) AND e.`+c.col+` != ''
			AND NOT EXISTS (SELECT 1 FROM `+c.table+` s WHERE s.`+c.col+` = e.`+c.col+` AND s.seq = e.seq)`).Scan(&seq)
		if err != nil {
			return 0, "", err
		}
		if seq.Valid {
			return seq.Int64, fmt.Sprintf("event %d is missing from the search by %s: an entry was removed from %s.", seq.Int64, c.by, c.table), nil
		}
	}
	return 0, "", nil
}

// classifyBreak names what most plausibly happened where the chain breaks
// at cur, whose predecessor (hash prevHash) checked good.
func classifyBreak(rule *chainRule, cur, nxt *AuditEvent, prevHash, prevprevHash string, linkOK, selfOK bool,
	bad func(int64, string, string) (VerifyResult, error)) (VerifyResult, error) {
	n := cur.Seq
	if !selfOK && rule.keyed(n) && rule.plainSum(cur, n) == cur.Hash {
		return bad(n, ProblemForged, fmt.Sprintf("event %d carries a hash made without the audit key, where the log is keyed from event %d: it was forged or re-chained by someone who does not hold the key.", n, rule.keyedFrom))
	}
	switch {
	case !linkOK && nxt != nil && cur.PrevHash == nxt.Hash:
		return bad(n, ProblemReordered, fmt.Sprintf("event %d comes after the event now numbered %d; they were swapped.", n, nxt.Seq))
	case nxt != nil && nxt.PrevHash == prevHash:
		return bad(n, ProblemInserted, fmt.Sprintf("event %d is not part of the chain: the event after it follows on from event %d.", n, n-1))
	case !linkOK && n > 1 && prevprevHash != "" && cur.PrevHash == prevprevHash:
		return bad(n-1, ProblemInserted, fmt.Sprintf("event %d is not part of the chain: event %d follows on from event %d.", n-1, n, n-2))
	}
	for k := int64(1); k <= maxRenumber; k++ {
		if rule.sum(cur, n+k) == cur.Hash {
			return bad(n, ProblemDeleted, fmt.Sprintf("event %d was numbered %d when written: %d event(s) before it were deleted and the rest renumbered.", n, n+k, k))
		}
	}
	if !linkOK && selfOK {
		return bad(n-1, ProblemAltered, fmt.Sprintf("event %d does not match the hash event %d recorded for it: it was changed and re-hashed, or events between them were removed.", n-1, n))
	}
	return bad(n, ProblemAltered, fmt.Sprintf("event %d's contents do not match its hash.", n))
}

// hasTable reports whether the database has a table of that name.
func hasTable(ctx context.Context, q querier, name string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, q.backendOf().tableExistsSQL(), name).Scan(&n)
	return n > 0, err
}

// lastAnchor returns the head of the last good verification, if any.
func lastAnchor(ctx context.Context, q querier) (chainAnchor, error) {
	var (
		a  chainAnchor
		at int64
	)
	err := q.QueryRowContext(ctx, `SELECT head_seq, head_hash, at FROM audit_verifications WHERE ok = 1 ORDER BY id DESC LIMIT 1`).
		Scan(&a.seq, &a.hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return chainAnchor{}, nil
	}
	if err != nil {
		return chainAnchor{}, err
	}
	a.at = fromMS(at)
	return a, nil
}

// VerifyAudit walks the whole chain on a read-only connection (writers
// carry on meanwhile; the walk sees one snapshot), checks the search
// tables, the log against its witness and the schema, records the result
// and returns it. A broken log is a result with OK false, not an error;
// it also raises the audit alarm (AuditAlarm). The error is for failing
// to check at all.
func (db *DB) VerifyAudit(ctx context.Context) (VerifyResult, error) {
	res, err := verifyLog(ctx, db.read, newChainRule(db.chain.keyedFrom, db.chain.keys), db.anchor.reader)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("store: verify audit: %w", err)
	}
	res.At = db.now().UTC().Truncate(time.Millisecond)
	if _, err := db.write.ExecContext(ctx, `INSERT INTO audit_verifications (at, ok, events, first_bad_seq, problem, head_seq, head_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, ms(res.At), res.OK, res.Events, res.FirstBadSeq, res.Problem, res.HeadSeq, res.HeadHash); err != nil {
		return res, fmt.Errorf("store: record audit verification: %w", err)
	}
	if !res.OK {
		db.raiseAlarm(AuditAlarm{Problem: res.Problem, FirstBadSeq: res.FirstBadSeq, At: res.At, Anchor: res.Anchor, Anchored: res.Anchored})
	}
	return res, nil
}

// verifyLog is the whole check, on conn: the chain from its first event
// under rule (with the last good verification as an anchor), the search
// tables, the witness's last checkpoint (r may be nil) and the schema,
// reported in that order, the first problem found.
func verifyLog(ctx context.Context, conn *sqlDB, rule *chainRule, r WitnessReader) (VerifyResult, error) {
	// The witness first: a checkpoint is written after its events commit,
	// so one read before the snapshot never names an event the snapshot
	// cannot see.
	var (
		cp   Checkpoint
		cpOK bool
		rerr error
		name string
	)
	if r != nil {
		name = r.Name()
		cp, cpOK, rerr = r.Last(ctx)
	}
	// One read transaction: the anchor, the chain, the search tables and
	// the schema are read from one snapshot.
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return VerifyResult{}, err
	}
	defer tx.Rollback()
	var anchor chainAnchor
	if ok, err := hasTable(ctx, tx, "audit_verifications"); err != nil {
		return VerifyResult{}, err
	} else if ok {
		if anchor, err = lastAnchor(ctx, tx); err != nil {
			return VerifyResult{}, err
		}
	}
	res, err := walkAuditChain(ctx, tx, anchor, rule, 1, genesisHash, true)
	if err != nil || !res.OK {
		return res, err
	}
	if r != nil {
		w, err := compareWitness(ctx, tx, rule, name, cp, cpOK, rerr)
		if err != nil {
			return res, err
		}
		res.Anchor, res.Anchored = w.Anchor, w.Anchored
		if !w.OK {
			res.OK, res.FirstBadSeq, res.Problem = false, w.FirstBadSeq, w.Problem
			return res, nil
		}
	}
	if ok, err := hasTable(ctx, tx, "schema_migrations"); err != nil {
		return res, err
	} else if ok {
		sentence, err := checkSchema(ctx, tx)
		if err != nil {
			return res, fmt.Errorf("check schema: %w", err)
		}
		if sentence != "" {
			res.OK, res.Problem = false, ProblemSchema+": "+sentence
			return res, nil
		}
	}
	return res, nil
}

// VerifyAuditFile checks the audit log of the database path names (a
// SQLite file, or a postgres:// URL) as VerifyAudit does, without
// changing it: it is read behind the store's back, read-only, no
// migration runs and nothing is recorded, and on PostgreSQL no node need
// stop. A keyed log needs its key (WithAuditKey); WithWitnesses gives the
// witness to compare the log with (its first WitnessReader).
func VerifyAuditFile(ctx context.Context, path string, opts ...Option) (VerifyResult, error) {
	var cfg DB
	for _, o := range opts {
		o(&cfg)
	}
	var keys *auditKeys
	if cfg.auditKey != nil {
		k, err := deriveAuditKeys(cfg.auditKey)
		clear(cfg.auditKey)
		if err != nil {
			return VerifyResult{}, err
		}
		keys = k
	}
	var reader WitnessReader
	for _, w := range cfg.anchor.witnesses {
		if r, ok := w.(WitnessReader); ok && reader == nil {
			reader = r
		}
	}
	res, _, err := verifyAt(ctx, path, keys, reader)
	return res, err
}

// verifyAt checks the log of the database path names, opened read-only,
// and returns the result and how messages name the database.
func verifyAt(ctx context.Context, path string, keys *auditKeys, reader WitnessReader) (VerifyResult, string, error) {
	if IsPostgresURL(path) {
		name := redactURL(path)
		conn, err := openPostgresReadOnly(path)
		if err != nil {
			return VerifyResult{}, name, fmt.Errorf("store: verify %s: %w", name, err)
		}
		defer conn.Close()
		res, err := verifyConn(ctx, conn, "database", keys, reader)
		if err != nil {
			return VerifyResult{}, name, fmt.Errorf("store: verify %s: %w", name, err)
		}
		return res, name, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return VerifyResult{}, path, fmt.Errorf("store: verify %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return VerifyResult{}, abs, fmt.Errorf("store: verify %s: %w", abs, err)
	}
	verify := func(immutable bool) (VerifyResult, error) {
		conn, err := openSQLiteReadOnly(abs, immutable)
		if err != nil {
			return VerifyResult{}, err
		}
		defer conn.Close()
		return verifyConn(ctx, conn, "file", keys, reader)
	}
	res, err := verify(false)
	if err != nil {
		if errors.Is(err, ErrAuditKeyNeeded) || errors.Is(err, ErrAuditKeyMismatch) {
			return VerifyResult{}, abs, fmt.Errorf("store: verify %s: %w", abs, err)
		}
		// A file that cannot even be locked (a read-only copy in a
		// read-only directory) is read as immutable.
		var err2 error
		if res, err2 = verify(true); err2 != nil {
			return VerifyResult{}, abs, fmt.Errorf("store: verify %s: %w", abs, err)
		}
	}
	return res, abs, nil
}

// verifyConn checks the audit log conn reads (what is the word for the
// database in messages: "file" or "database").
func verifyConn(ctx context.Context, conn *sqlDB, what string, keys *auditKeys, reader WitnessReader) (VerifyResult, error) {
	if ok, err := hasTable(ctx, conn, "audit_events"); err != nil {
		return VerifyResult{}, err
	} else if !ok {
		return VerifyResult{}, fmt.Errorf("the %s holds no audit log", what)
	}
	rule, err := loadChainRule(ctx, conn, keys)
	if err != nil {
		return VerifyResult{}, err
	}
	if reader != nil && keys == nil {
		return VerifyResult{}, errors.New("comparing the log with its witness needs the audit key")
	}
	res, err := verifyLog(ctx, conn, rule, reader)
	if err != nil {
		return VerifyResult{}, err
	}
	res.At = time.Now().UTC().Truncate(time.Millisecond)
	return res, nil
}

// CheckAuditGuard reports the append-only guard of the audit tables in
// the database path names (a SQLite file or a postgres:// URL), read
// behind the store's back as VerifyAuditFile reads it.
func CheckAuditGuard(ctx context.Context, path string) (AuditGuard, error) {
	var (
		conn *sqlDB
		err  error
		name = path
	)
	if IsPostgresURL(path) {
		name = redactURL(path)
		conn, err = openPostgresReadOnly(path)
	} else {
		conn, err = openSQLiteReadOnly(path, false)
	}
	if err != nil {
		return AuditGuard{}, fmt.Errorf("store: audit guard of %s: %w", name, err)
	}
	defer conn.Close()
	g, err := conn.be.guard(ctx, conn)
	if err != nil {
		return AuditGuard{}, fmt.Errorf("store: audit guard of %s: %w", name, err)
	}
	return g, nil
}

// LastVerification returns the latest recorded verification, and false if
// the chain was never verified.
func (db *DB) LastVerification(ctx context.Context) (VerifyResult, bool, error) {
	var (
		r  VerifyResult
		at int64
	)
	err := db.read.QueryRowContext(ctx, `SELECT at, ok, events, first_bad_seq, problem, head_seq, head_hash
		FROM audit_verifications ORDER BY id DESC LIMIT 1`).Scan(&at, &r.OK, &r.Events, &r.FirstBadSeq, &r.Problem, &r.HeadSeq, &r.HeadHash)
	if errors.Is(err, sql.ErrNoRows) {
		return VerifyResult{}, false, nil
	}
	if err != nil {
		return VerifyResult{}, false, fmt.Errorf("store: last audit verification: %w", err)
	}
	r.At = fromMS(at)
	return r, true, nil
}

// RunAuditVerifier verifies the chain every interval until ctx ends, and
// logs each result (counts and hashes only). Run it in its own goroutine:
// it first waits until the last verification is every old, so a restart
// neither delays start-up nor re-reads a large log it just checked.
func (db *DB) RunAuditVerifier(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 24 * time.Hour
	}
	log := slog.Default()
	wait := time.Duration(0)
	if last, ok, err := db.LastVerification(ctx); err == nil && ok {
		wait = max(0, every-db.now().Sub(last.At))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := db.VerifyAudit(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			log.Error("audit chain verification failed to run", "err", err)
		case res.OK:
			// The head hash in the application log is an anchor kept
			// outside the database.
			log.Info("audit chain verified", "events", res.Events, "head_seq", res.HeadSeq, "head_hash", res.HeadHash)
		default:
			log.Error("audit chain broken", "first_bad_seq", res.FirstBadSeq, "problem", res.Problem, "events", res.Events)
		}
		t.Reset(every)
	}
}

// ReanchorAuditFile is the way back after an investigation has accepted
// the database path names (a SQLite file or a postgres:// URL) as it is
// (a restore from backup, a witness lost): it checks the chain under the
// key and the schema (on PostgreSQL, the append-only guards), not the
// witness, and if they hold appends a checkpoint of the log's head to w,
// so the next start compares the log with that. It returns the head
// anchored. The database is read, read-only; the node whose witness w is
// must not be running (on PostgreSQL the other nodes may run on: the
// checkpoint names the head the check saw, and the chain only grows from
// it).
func ReanchorAuditFile(ctx context.Context, path string, w Witness, opts ...Option) (Checkpoint, VerifyResult, error) {
	var cfg DB
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.auditKey == nil {
		return Checkpoint{}, VerifyResult{}, fmt.Errorf("store: re-anchor: %w", ErrAuditKeyNeeded)
	}
	keys, err := deriveAuditKeys(cfg.auditKey)
	clear(cfg.auditKey)
	if err != nil {
		return Checkpoint{}, VerifyResult{}, err
	}
	res, _, err := verifyAt(ctx, path, keys, nil)
	if err != nil {
		return Checkpoint{}, res, fmt.Errorf("store: re-anchor: %w", err)
	}
	if !res.OK {
		return Checkpoint{}, res, nil
	}
	hash := res.HeadHash
	if res.HeadSeq == 0 {
		hash = genesisHash
	}
	cp := Checkpoint{Seq: res.HeadSeq, Hash: hash, Time: time.Now().UTC().Truncate(time.Millisecond), KeyedFrom: res.KeyedFrom, KeyID: keys.id}
	cp.MAC = keys.checkpointMAC(cp)
	if err := w.Append(ctx, cp); err != nil {
		return Checkpoint{}, res, fmt.Errorf("store: re-anchor: %w", err)
	}
	return cp, res, nil
}
