package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/carerecord/carerecord/metrics"
)

// Action is what an audit event records.
type Action string

// The recorded actions. The strings are stored and exported; never change one.
const (
	ActSignIn            Action = "sign-in"
	ActSignInRefused     Action = "sign-in-refused"
	ActSignOut           Action = "sign-out"
	ActSessionLocked     Action = "session-locked"
	ActRoleChosen        Action = "role-chosen"
	ActSearch            Action = "patient-search"
	ActRecordOpen        Action = "record-open"
	ActDocumentOpen      Action = "document-open"
	ActRefresh           Action = "record-refresh"
	ActRecordPrint       Action = "record-print" // a summary printed or saved: an access of its own
	ActBreakGlass        Action = "break-glass"
	ActObjectionOverride Action = "objection-override"
	ActAuditView         Action = "audit-view"
	ActAuditExport       Action = "audit-export"
	ActAlertReview       Action = "alert-review"
	ActObjectionStep     Action = "objection-step"
	ActAccessRefused     Action = "access-refused"
	ActReasonGiven       Action = "access-reason"
	ActStaffNHSChange    Action = "staff-nhs-change" // the IG list of staff NHS numbers
)

// Outcome says whether the audited request was allowed.
type Outcome string

// The two outcomes; OutcomeWhy says why a request was refused.
const (
	OutcomeAllowed Outcome = "allowed"
	OutcomeRefused Outcome = "refused"
)

// AuditEvent is one row of the audit log. It holds identifiers only: there
// is deliberately no field for clinical content, and Detail must never be
// used to carry any (no results, diagnoses, document text).
type AuditEvent struct {
	Seq         int64     // assigned on commit: 1, 2, 3...
	Time        time.Time // UTC, millisecond precision; set at commit when zero, never earlier than the event before
	UserID      string
	UserName    string
	RoleCode    string
	ODS         string // the user's organisation
	SessionHash string // HashToken of the session token, never the token
	ClientAddr  string
	Action      Action
	NHSNumber   string // "" when the event concerns no patient
	Reason      string // reason code: "direct-care", "break-glass", ...
	Detail      string // free text: break-glass reason, search terms, export filter; identifiers only
	Outcome     Outcome
	OutcomeWhy  string   // why refused, or empty
	Sources     []string // ODS codes of the sources that answered

	// PatientFamilyName is read by the alert rules (a user opening the
	// record of someone who shares their family name) and is neither
	// stored nor hashed: the log keeps identifiers, not demographics.
	PatientFamilyName string
	// PatientRestricted (the patient's record is marked sensitive) and
	// UserNHSNumber (the user's own NHS number, when known) are likewise
	// read by the alert rules only, never stored or hashed.
	PatientRestricted bool
	UserNHSNumber     string

	PrevHash string // hex SHA-256 of the event before (zeros for the first)
	Hash     string // hex SHA-256 over this event's fields and PrevHash
}

// genesisHash is the PrevHash of the first event.
var genesisHash = strings.Repeat("0", 64)

// ErrAuditClosed is returned by Audit once the database is closed.
var ErrAuditClosed = errors.New("audit log is closed")

// Field limits keep one request from writing an unbounded row. Values are
// cut, not refused: a long search must still be recorded, and recording a
// prefix is better than failing the request.
const (
	maxAuditField  = 256
	maxAuditDetail = 2000
	maxAuditBatch  = 256
)

type auditReq struct {
	ev    AuditEvent
	reply chan auditReply
}

type auditReply struct {
	ev  AuditEvent
	err error
}

// auditLog is the group-commit writer's state. Only the writer goroutine
// touches lastSeq, lastHash, lastTime and stale.
type auditLog struct {
	rules    AlertRules
	maxBatch int

	reqs chan auditReq
	stop chan struct{}
	done chan struct{}

	lastSeq  int64
	lastHash string
	lastTime time.Time
	stale    bool // the in-memory head may not match the table: re-read it
	// The search tables cover events up to indexed (auditindex.go); the
	// oldest event after it was committed at tailSince (zero: none).
	indexed   int64
	tailSince time.Time
	activity  alertState

	batches atomic.Int64 // committed transactions, for tests and benchmarks

	rule *chainRule // the writer's own: hashes are not safe to share
	// head is the last committed event, for the checkpoints
	// (auditwitness.go), which run on another goroutine.
	head atomic.Pointer[auditHead]
}

// auditHead is the head of the chain as committed.
type auditHead struct {
	seq  int64
	hash string
	time time.Time
}

// AuditHead returns the last audit event this node committed or read at
// start: its number and time (0 and zero time when the log is empty). On
// several nodes, another node may have committed later events since.
func (db *DB) AuditHead() (seq int64, at time.Time) {
	if h := db.audit.head.Load(); h != nil {
		return h.seq, h.time
	}
	return 0, time.Time{}
}

func (a *auditLog) publishHead() {
	a.head.Store(&auditHead{seq: a.lastSeq, hash: a.lastHash, time: a.lastTime})
}

// startAudit reads the head of the chain (one indexed row, never a walk,
// so start-up does not grow with the log) and starts the writer.
func (db *DB) startAudit(ctx context.Context) error {
	a := &db.audit
	a.rule = newChainRule(db.chain.keyedFrom, db.chain.keys)
	if err := db.loadAuditHead(ctx); err != nil {
		return err
	}
	a.reqs = make(chan auditReq)
	a.stop = make(chan struct{})
	a.done = make(chan struct{})
	go db.auditWriter()
	return nil
}

// stopAudit stops the writer after the batch in hand; callers still
// waiting to hand over an event get ErrAuditClosed.
func (db *DB) stopAudit() {
	a := &db.audit
	if a.stop == nil {
		return
	}
	close(a.stop)
	<-a.done
}

func (db *DB) loadAuditHead(ctx context.Context) error {
	return db.loadAuditHeadFrom(ctx, db.write)
}

// loadAuditHeadFrom reads the head of the chain and of the search tables
// through q: the writer, or on PostgreSQL the batch's own transaction.
func (db *DB) loadAuditHeadFrom(ctx context.Context, q querier) error {
	a := &db.audit
	var (
		seq, t int64
		h      string
	)
	err := q.QueryRowContext(ctx, `SELECT seq, hash, time FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &h, &t)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		a.lastSeq, a.lastHash, a.lastTime = 0, genesisHash, time.Time{}
	case err != nil:
		return fmt.Errorf("store: read audit head: %w", err)
	default:
		a.lastSeq, a.lastHash, a.lastTime = seq, h, fromMS(t)
	}
	a.publishHead()
	if a.indexed, err = indexedUpto(ctx, q); err != nil {
		return fmt.Errorf("store: read audit search index: %w", err)
	}
	a.tailSince = time.Time{}
	if a.lastSeq > a.indexed {
		// The tail left by the last run has waited since its first event.
		var first int64
		if err := q.QueryRowContext(ctx, `SELECT time FROM audit_events WHERE seq = ?`, a.indexed+1).Scan(&first); err != nil {
			return fmt.Errorf("store: read audit search index: %w", err)
		}
		a.tailSince = fromMS(first)
	}
	a.stale = false
	return nil
}

// Audit writes ev and returns it as committed (Seq, Time, hashes set) once
// the transaction holding it has committed with synchronous=FULL. Events
// from concurrent callers share transactions (group commit), so each
// caller waits for one fsync, not one per event ahead of it.
//
// On error the caller must not show the clinical data the event was for.
// If ctx ends while waiting, Audit returns ctx's error, but an event
// already handed to the writer may still be committed: the log can hold
// an access whose page was never sent, never the reverse.
//
// Action is required and Outcome must be OutcomeAllowed or OutcomeRefused.
func (db *DB) Audit(ctx context.Context, ev AuditEvent) (AuditEvent, error) {
	ev, err := normaliseAuditEvent(ev)
	if err != nil {
		return AuditEvent{}, err
	}
	if ev.UserNHSNumber == "" && ev.UserID != "" {
		// Not asserted at sign-in: the privacy officers' list, if it
		// has the user (staffnhs.go).
		ev.UserNHSNumber = db.staffNHSFor(ev.UserID)
	}
	a := &db.audit
	if a.reqs == nil {
		return AuditEvent{}, fmt.Errorf("store: audit: %w", ErrAuditClosed)
	}
	reply := make(chan auditReply, 1)
	select {
	case a.reqs <- auditReq{ev: ev, reply: reply}:
	case <-a.stop:
		return AuditEvent{}, fmt.Errorf("store: audit: %w", ErrAuditClosed)
	case <-ctx.Done():
		return AuditEvent{}, fmt.Errorf("store: audit: %w", ctx.Err())
	}
	select {
	case r := <-reply:
		if r.err != nil {
			return AuditEvent{}, fmt.Errorf("store: audit: %w", r.err)
		}
		return r.ev, nil
	case <-ctx.Done():
		return AuditEvent{}, fmt.Errorf("store: audit (the event may still be committed): %w", ctx.Err())
	}
}

func normaliseAuditEvent(ev AuditEvent) (AuditEvent, error) {
	if ev.Action == "" {
		return ev, errors.New("store: audit: event has no action")
	}
	if ev.Outcome != OutcomeAllowed && ev.Outcome != OutcomeRefused {
		return ev, fmt.Errorf("store: audit: outcome %q is neither allowed nor refused", ev.Outcome)
	}
	ev.Seq, ev.PrevHash, ev.Hash = 0, "", ""
	if !ev.Time.IsZero() {
		ev.Time = ev.Time.UTC().Truncate(time.Millisecond)
	}
	for _, f := range []*string{&ev.UserID, &ev.UserName, &ev.RoleCode, &ev.ODS, &ev.SessionHash,
		&ev.ClientAddr, &ev.NHSNumber, &ev.Reason, &ev.OutcomeWhy} {
		*f = clip(*f, maxAuditField)
	}
	ev.Action = Action(clip(string(ev.Action), maxAuditField))
	ev.NHSNumber = strings.Join(strings.Fields(ev.NHSNumber), "")
	ev.Detail = clip(ev.Detail, maxAuditDetail)
	// Copy: the caller may reuse its slice while the writer holds ours.
	src := make([]string, 0, len(ev.Sources))
	for _, s := range ev.Sources {
		src = append(src, clip(s, maxAuditField))
	}
	ev.Sources = src
	return ev, nil
}

// clip makes s valid UTF-8 and at most n bytes, cutting on a rune boundary.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	// PostgreSQL's text cannot hold NUL, so neither engine stores it.
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// auditWriter owns every insert into audit_events: it takes one request,
// then whatever else is already waiting, and commits them together.
func (db *DB) auditWriter() {
	a := &db.audit
	defer close(a.done)
	batch := make([]auditReq, 0, a.maxBatch)
	for {
		select {
		case r := <-a.reqs:
			batch = append(batch[:0], r)
		case <-a.stop:
			return
		}
		// Let callers that are already running reach the queue: on a
		// few CPUs they are often one scheduling step behind the writer.
		runtime.Gosched()
	drain:
		for len(batch) < a.maxBatch {
			select {
			case r := <-a.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		began := time.Now()
		err := db.commitAudit(batch)
		metrics.AuditCommit(len(batch), time.Since(began), err)
		for _, r := range batch {
			r.reply <- auditReply{ev: r.ev, err: err}
		}
		clear(batch)
	}
}

// auditRow holds one placeholder per column of auditColumns; auditInsert
// inserts one row, and the bulk loader appends more rows to it.
var (
	auditRow    = "(" + strings.TrimSuffix(strings.Repeat("?, ", strings.Count(auditColumns, ",")+1), ", ") + ")"
	auditInsert = `INSERT INTO audit_events (` + auditColumns + `) VALUES ` + auditRow
)

// appendAuditArgs appends ev's values in auditColumns order.
func appendAuditArgs(args []any, ev *AuditEvent) ([]any, error) {
	sources, err := json.Marshal(ev.Sources)
	if err != nil {
		return args, err
	}
	return append(args, ev.Seq, ms(ev.Time), ev.UserID, ev.UserName, ev.RoleCode, ev.ODS,
		ev.SessionHash, ev.ClientAddr, string(ev.Action), ev.NHSNumber, ev.Reason, ev.Detail,
		string(ev.Outcome), ev.OutcomeWhy, string(sources), ev.PrevHash, ev.Hash), nil
}

// commitAudit writes a batch in one transaction, chaining each event to
// the one before, and raises the alerts the rules find. The in-memory head
// moves only when the commit succeeds. The context is not any caller's:
// one caller leaving must not abort the others' events.
func (db *DB) commitAudit(batch []auditReq) (err error) {
	a := &db.audit
	ctx := context.Background()
	defer func() {
		if err != nil {
			// A failed COMMIT can leave the outcome unknown to us; read
			// the head again before the next batch rather than guess.
			a.stale = true
			// The alert rules' memory may have counted events that were
			// never committed: read users' activity again from the table.
			a.activity.reset()
		}
	}()
	if a.stale {
		if err := db.loadAuditHead(ctx); err != nil {
			return err
		}
	}
	// Serialised: the batch reads the chain's head and appends to it, and
	// other nodes append to the same chain.
	tx, err := db.write.BeginSerialised(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if db.be.sharedLog() {
		// Every node appends to one chain. The transaction holds the
		// write lock, so the head read here is the last committed by any
		// node, and none can commit after it until this batch has.
		before := a.lastSeq
		if err := db.loadAuditHeadFrom(ctx, tx); err != nil {
			return err
		}
		// Other nodes may have written since this node's last batch: the
		// alert rules' memory of users' recent activity catches up with
		// what they appended, so their events count and their alerts are
		// not raised again.
		if err := a.activity.catchUp(ctx, tx, before, a.lastSeq); err != nil {
			return fmt.Errorf("alert rules: %w", err)
		}
	}
	stmt, err := tx.PrepareContext(ctx, auditInsert)
	if err != nil {
		return err
	}
	defer stmt.Close()

	seq, prev, last := a.lastSeq, a.lastHash, a.lastTime
	now := db.now().UTC().Truncate(time.Millisecond)
	if now.Before(last) {
		// Keep stamped times in commit order even if the wall clock steps
		// back, so a time range and a seq range describe the same events.
		now = last
	}
	rule := a.rule
	var args []any
	for i := range batch {
		ev := &batch[i].ev
		seq++
		ev.Seq = seq
		if ev.Time.IsZero() {
			ev.Time = now
		}
		if ev.Time.Before(last) {
			// Times never go backwards along the chain, so that a time
			// range is a seq range (see auditPage) and the window rules
			// can start from a seq.
			ev.Time = last
		}
		last = ev.Time
		// Load the user's recent activity before this event is in the
		// table, so that it is counted once, by observe.
		u, err := a.activity.user(ctx, tx, a.rules, ev)
		if err != nil {
			return fmt.Errorf("alert rules: %w", err)
		}
		// The chain covers the detail as stored: sealed where it holds
		// search terms or a break-glass reason (auditseal.go), so that
		// verifying needs the audit key only.
		clearDetail := ev.Detail
		if ev.Detail, err = db.storedDetail(ev); err != nil {
			return err
		}
		ev.PrevHash = prev
		ev.Hash = rule.sum(ev, ev.Seq)
		prev = ev.Hash
		args, err = appendAuditArgs(args[:0], ev)
		ev.Detail = clearDetail
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
		if u != nil {
			u.observe(ev)
		}
		for _, al := range a.rules.evaluate(ev, memHistory{u}) {
			if err := db.insertAlert(ctx, tx, al); err != nil {
				return err
			}
			if u != nil {
				u.noteAlert(al)
			}
			a.activity.raisedHere = true
		}
		a.activity.sweep(a.rules, ev.Time)
	}
	indexed := a.indexed
	if seq-indexed >= indexTailEvents || (seq > indexed && !a.tailSince.IsZero() && now.Sub(a.tailSince) >= indexTailAge) {
		if err := indexAudit(ctx, tx, indexed, seq); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
		indexed = seq
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.lastSeq, a.lastHash, a.lastTime = seq, prev, last
	a.publishHead()
	a.indexed = indexed
	switch {
	case indexed == seq:
		a.tailSince = time.Time{}
	case a.tailSince.IsZero():
		a.tailSince = now
	}
	db.be.wrote()
	a.batches.Add(1)
	return nil
}

// auditHash returns the event's hash as stored: hex SHA-256 over
//
//	"carerecord-audit-v1" (the keyed rule: "carerecord-audit-v2" under
//	HMAC-SHA256, see auditkey.go), then each field in this order as an 8-byte
//	big-endian length followed by its UTF-8 bytes: seq (decimal), time
//	(unix milliseconds, decimal), user id, user name, role code, ODS,
//	session hash, client address, action, NHS number, reason, detail,
//	outcome, outcome why, the number of sources (decimal), each source,
//	and last the previous event's hash (hex).
//
// Length prefixes make the encoding unambiguous (no two events encode to
// the same bytes), and it is simple enough to re-implement outside Go.
func auditHash(ev *AuditEvent) string {
	return auditHashWith(sha256.New(), auditDomainPlain, ev, ev.Seq)
}

// The two rules' first bytes. The keyed rule (auditkey.go) encodes the
// same fields under HMAC-SHA256 with the audit chain key.
const (
	auditDomainPlain = "carerecord-audit-v1"
	auditDomainKeyed = "carerecord-audit-v2"
)

// auditHashWith hashes ev with h (SHA-256, or HMAC-SHA256 for the keyed
// rule) as if its seq were seq: the verifier uses it to recognise an event
// moved to another position.
func auditHashWith(h hash.Hash, domain string, ev *AuditEvent, seq int64) string {
	h.Reset()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	h.Write([]byte(domain))
	put(strconv.FormatInt(seq, 10))
	put(strconv.FormatInt(ms(ev.Time), 10))
	put(ev.UserID)
	put(ev.UserName)
	put(ev.RoleCode)
	put(ev.ODS)
	put(ev.SessionHash)
	put(ev.ClientAddr)
	put(string(ev.Action))
	put(ev.NHSNumber)
	put(ev.Reason)
	put(ev.Detail)
	put(string(ev.Outcome))
	put(ev.OutcomeWhy)
	put(strconv.Itoa(len(ev.Sources)))
	for _, s := range ev.Sources {
		put(s)
	}
	put(ev.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

// AuditFilter selects events for SearchAudit, EachAudit and the exports.
// Empty fields match everything.
type AuditFilter struct {
	UserID    string
	NHSNumber string
	ODS       string
	Reason    string
	Actions   []Action
	Outcome   Outcome
	From, To  time.Time // [From, To)
	BeforeSeq int64     // keyset paging: only events with Seq < BeforeSeq (0 = from the newest)
	// VisibleToPatient leaves out the events an IG officer hid from the
	// patient's own view (patientpages.go).
	VisibleToPatient bool
	Limit            int // SearchAudit only: default 50, at most 500
}

const auditColumns = `seq, time, user_id, user_name, role_code, ods, session_hash, client_addr,
	action, nhs_number, reason, detail, outcome, outcome_why, sources, prev_hash, hash`

// where builds the WHERE clause. Every condition is a plain comparison
// on an indexed column so that SQLite can walk one index newest first.
func (f AuditFilter) where() (string, []any) {
	var (
		conds []string
		args  []any
	)
	// A user's or a patient's events are found through the search tables
	// (auditindex.go), not an index on audit_events.
	if f.UserID != "" {
		c, a := byUser(f.UserID, 0)
		conds, args = append(conds, c), append(args, a...)
	}
	if nhs := f.nhs(); nhs != "" {
		c, a := byPatient(nhs, 0)
		conds, args = append(conds, c), append(args, a...)
	}
	c, a := f.otherConds(func(col string) string { return col })
	conds, args = append(conds, c...), append(args, a...)
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// nhs is the patient filter without the spaces it may be typed with.
func (f AuditFilter) nhs() string { return strings.Join(strings.Fields(f.NHSNumber), "") }

// otherConds are f's conditions other than the user and the patient, on
// audit_events' columns as col names them (col("seq") may name a search
// table's seq instead, which equals it).
func (f AuditFilter) otherConds(col func(string) string) (conds []string, args []any) {
	eq := func(name, v string) {
		if v != "" {
			conds = append(conds, col(name)+" = ?")
			args = append(args, v)
		}
	}
	eq("ods", f.ODS)
	eq("reason", f.Reason)
	eq("outcome", string(f.Outcome))
	if len(f.Actions) > 0 {
		conds = append(conds, col("action")+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.Actions)), ", ")+")")
		for _, a := range f.Actions {
			args = append(args, string(a))
		}
	}
	// Times follow seq order, so a time range is a seq range: the bounds
	// are found on the time index and the page is then read off the seq
	// order (the primary key, or the other filter's index) with no sort.
	// The unary + keeps SQLite from choosing the time index for the scan.
	if !f.From.IsZero() {
		conds = append(conds, "+"+col("time")+" >= ?", col("seq")+" >= (SELECT seq FROM audit_events WHERE time >= ? ORDER BY time LIMIT 1)")
		args = append(args, ms(f.From), ms(f.From))
	}
	if !f.To.IsZero() {
		conds = append(conds, "+"+col("time")+" < ?", col("seq")+" < COALESCE((SELECT seq FROM audit_events WHERE time >= ? ORDER BY time LIMIT 1), 4611686018427387904)")
		args = append(args, ms(f.To), ms(f.To))
	}
	if f.BeforeSeq > 0 {
		conds = append(conds, col("seq")+" < ?")
		args = append(args, f.BeforeSeq)
	}
	if f.VisibleToPatient {
		conds = append(conds, col("seq")+" NOT IN (SELECT seq FROM patient_access_hidden)")
	}
	return conds, args
}

// pageQuery selects the first limit events f selects, newest first.
//
// A search by user or by patient reads one search table joined to
// audit_events, and the unindexed tail, each branch with every other
// condition and its own ORDER BY seq DESC LIMIT, so that either engine
// walks the search table's key newest first and stops after a page (a
// seq IN (... UNION ALL ...) condition, as where gives, cannot take the
// limit inside: PostgreSQL read and sorted every event of the user).
// With both a user and a patient it walks the patient's table, and
// compares the user on the event.
func (f AuditFilter) pageQuery(limit int) (string, []any) {
	nhs := f.nhs()
	if f.UserID == "" && nhs == "" {
		where, args := f.where()
		return `SELECT ` + auditColumns + ` FROM audit_events` + where + ` ORDER BY seq DESC LIMIT ?`, append(args, limit)
	}
	table, key, v := "audit_by_user", "user_id", f.UserID
	var also []string
	var alsoArgs []any
	if nhs != "" {
		table, key, v = "audit_by_patient", "nhs_number", nhs
		if f.UserID != "" {
			also, alsoArgs = []string{"user_id"}, []any{f.UserID}
		}
	}
	branch := func(col func(string) string) (string, []any) {
		conds := []string{col(key) + " = ?"}
		args := []any{v}
		for i, c := range also {
			conds = append(conds, col(c)+" = ?")
			args = append(args, alsoArgs[i])
		}
		c, a := f.otherConds(col)
		return strings.Join(append(conds, c...), " AND "), append(args, a...)
	}
	// The search table's branch: its key and seq on the table (the walk),
	// the rest on the event (plain comparisons, so the answer is right
	// even if a search table were edited).
	indexedCond, indexedArgs := branch(func(col string) string {
		if col == "seq" {
			return "b.seq"
		}
		return "e." + col
	})
	tailCond, tailArgs := branch(func(col string) string { return col })
	q := `SELECT * FROM (SELECT ` + prefixColumns(auditColumns, "e") + ` FROM ` + table + ` b JOIN audit_events e ON e.seq = b.seq
		WHERE b.` + key + ` = ? AND ` + indexedCond + ` ORDER BY b.seq DESC LIMIT ?) AS indexed
	UNION ALL
	SELECT * FROM (SELECT ` + auditColumns + ` FROM audit_events
		WHERE seq > (SELECT upto FROM audit_indexed) AND ` + tailCond + ` ORDER BY seq DESC LIMIT ?) AS tail
	ORDER BY seq DESC LIMIT ?`
	args := append([]any{v}, indexedArgs...)
	args = append(args, limit)
	args = append(args, tailArgs...)
	args = append(args, limit, limit)
	return q, args
}

// SearchAudit returns one page of the events f selects, newest first, and
// the BeforeSeq of the next (older) page, 0 when there is none.
func (db *DB) SearchAudit(ctx context.Context, f AuditFilter) (events []AuditEvent, next int64, err error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	events, err = db.auditPage(ctx, f, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("store: search audit: %w", err)
	}
	if len(events) > limit {
		events = events[:limit]
		next = events[limit-1].Seq
	}
	return events, next, nil
}

func (db *DB) auditPage(ctx context.Context, f AuditFilter, limit int) ([]AuditEvent, error) {
	q, args := f.pageQuery(limit)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		ev, err := scanAuditEvent(rows)
		if err != nil {
			return nil, err
		}
		db.openDetail(&ev)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// EachAudit calls fn for every event f selects, newest first, ignoring
// f.Limit; it stops at fn's first error and returns it. It reads in
// keyset pages rather than one long query, so an export of millions of
// rows neither buffers them nor holds one read snapshot open throughout
// (which would stop WAL checkpoints); events committed meanwhile are newer
// than the first page and so never appear part-way.
func (db *DB) EachAudit(ctx context.Context, f AuditFilter, fn func(AuditEvent) error) error {
	const page = 1000
	for {
		events, err := db.auditPage(ctx, f, page)
		if err != nil {
			return fmt.Errorf("store: read audit: %w", err)
		}
		for _, ev := range events {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if len(events) < page {
			return nil
		}
		f.BeforeSeq = events[len(events)-1].Seq
	}
}

type rowScanner interface{ Scan(dest ...any) error }

func scanAuditEvent(r rowScanner) (AuditEvent, error) {
	var (
		ev                       AuditEvent
		t                        int64
		action, outcome, sources string
	)
	if err := r.Scan(&ev.Seq, &t, &ev.UserID, &ev.UserName, &ev.RoleCode, &ev.ODS, &ev.SessionHash,
		&ev.ClientAddr, &action, &ev.NHSNumber, &ev.Reason, &ev.Detail, &outcome, &ev.OutcomeWhy,
		&sources, &ev.PrevHash, &ev.Hash); err != nil {
		return ev, err
	}
	ev.Time, ev.Action, ev.Outcome = fromMS(t), Action(action), Outcome(outcome)
	if err := json.Unmarshal([]byte(sources), &ev.Sources); err != nil {
		return ev, fmt.Errorf("audit event %d: sources: %w", ev.Seq, err)
	}
	if ev.Sources == nil {
		ev.Sources = []string{}
	}
	return ev, nil
}

// AccessSummary is one line of "who accessed this record" (one user) or
// "what did this user access" (one patient).
type AccessSummary struct {
	UserID, UserName, RoleCode, ODS string // from the user's latest event in the group
	NHSNumber                       string
	Count                           int // allowed accesses
	Refused                         int // refused attempts
	First, Last                     time.Time
	Reasons                         []string // distinct reason codes given
	BreakGlass                      bool     // any break-glass or objection override
}

// accessActions are the events that show, or try to show, a patient's
// record; the access summaries count these.
var accessActions = []Action{ActRecordOpen, ActDocumentOpen, ActRefresh, ActRecordPrint, ActBreakGlass,
	ActObjectionOverride, ActReasonGiven, ActAccessRefused}

// actionsSQL lists actions as SQL literals in parentheses, for IN.
func actionsSQL(as []Action) string {
	q := make([]string, len(as))
	for i, a := range as {
		q[i] = "'" + string(a) + "'"
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// accessSummarySQL groups one patient's (or one user's) access events,
// selected by cond (byPatient or byUser). The names, role and ODS come
// from the group's latest event.
func accessSummarySQL(be backend, cond, groupBy string) string {
	reasons := be.jsonArrayAgg(`DISTINCT reason`)
	return `SELECT e.user_id, e.user_name, e.role_code, e.ods, e.nhs_number, g.n, g.refused, g.first, g.last, g.reasons, g.bg
	FROM (SELECT MAX(seq) AS last_seq,
			SUM(CASE WHEN outcome = 'allowed' THEN 1 ELSE 0 END) AS n, SUM(CASE WHEN outcome = 'refused' THEN 1 ELSE 0 END) AS refused,
			MIN(time) AS first, MAX(time) AS last,
			` + reasons + ` AS reasons,
			MAX(CASE WHEN action IN ('break-glass', 'objection-override') OR reason = 'break-glass' THEN 1 ELSE 0 END) AS bg
		FROM audit_events
		WHERE ` + cond + ` AND nhs_number != '' AND action IN ` + actionsSQL(accessActions) + `
		GROUP BY ` + groupBy + `) g
	JOIN audit_events e ON e.seq = g.last_seq
	ORDER BY g.last DESC, e.seq DESC`
}

// PatientAccess returns every user who accessed (or tried to access) one
// patient's record, most recent first.
func (db *DB) PatientAccess(ctx context.Context, nhs string) ([]AccessSummary, error) {
	nhs = strings.Join(strings.Fields(nhs), "")
	cond, args := byPatient(nhs, 0)
	out, err := db.accessSummaries(ctx, accessSummarySQL(db.be, cond, "user_id"), args)
	if err != nil {
		return nil, fmt.Errorf("store: patient access: %w", err)
	}
	return out, nil
}

// UserAccess returns every patient whose record one user accessed (or
// tried to), most recent first.
func (db *DB) UserAccess(ctx context.Context, userID string) ([]AccessSummary, error) {
	cond, args := byUser(userID, 0)
	out, err := db.accessSummaries(ctx, accessSummarySQL(db.be, cond, "nhs_number"), args)
	if err != nil {
		return nil, fmt.Errorf("store: user access: %w", err)
	}
	return out, nil
}

func (db *DB) accessSummaries(ctx context.Context, query string, args []any) ([]AccessSummary, error) {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccessSummary
	for rows.Next() {
		var (
			s           AccessSummary
			first, last int64
			reasons     string
		)
		if err := rows.Scan(&s.UserID, &s.UserName, &s.RoleCode, &s.ODS, &s.NHSNumber, &s.Count, &s.Refused,
			&first, &last, &reasons, &s.BreakGlass); err != nil {
			return nil, err
		}
		s.First, s.Last = fromMS(first), fromMS(last)
		var rs []string
		if err := json.Unmarshal([]byte(reasons), &rs); err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r != "" {
				s.Reasons = append(s.Reasons, r)
			}
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
