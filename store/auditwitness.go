package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// The log's head is proven from outside the database, as transparency
// logs do: every few seconds (and at shutdown) the audit head, as a
// Checkpoint with a MAC under a key derived from the audit key, is written
// to one or more witnesses (an append-only file, syslog, a remote
// endpoint: package store/witness). At start the database is compared
// with the last checkpoint a readable witness holds; a database behind it
// (events deleted since, or replaced by an older copy) or beside it
// (another event at the checkpoint's seq) is refused: AuditAlarm reports
// it, /readyz fails and clinical pages are not served (package web), and
// no further checkpoint is written, so that the evidence stays for the
// next start and for `carerecord audit verify`.

// Checkpoint is one statement of the audit log's head: the event numbered
// Seq has hash Hash. Seq 0 (Hash the genesis hash) is an empty log.
type Checkpoint struct {
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	Time      time.Time `json:"time"`       // when the checkpoint was made, UTC, milliseconds
	KeyedFrom int64     `json:"keyed_from"` // the first keyed event of the log
	KeyID     string    `json:"key_id"`     // names the audit key (not secret)
	MAC       string    `json:"mac"`        // hex HMAC-SHA256 of the fields above (checkpointMessage)
}

// checkpointMessage is what a checkpoint's MAC covers: the fields in this
// order, one per line, the time as unix milliseconds.
func checkpointMessage(cp Checkpoint) []byte {
	return []byte("carerecord-audit-checkpoint-v1\n" + strconv.FormatInt(cp.Seq, 10) + "\n" + cp.Hash + "\n" +
		strconv.FormatInt(cp.Time.UnixMilli(), 10) + "\n" + strconv.FormatInt(cp.KeyedFrom, 10) + "\n" + cp.KeyID)
}

func (k *auditKeys) checkpointMAC(cp Checkpoint) string {
	m := hmac.New(sha256.New, k.ckpt)
	m.Write(checkpointMessage(cp))
	return hex.EncodeToString(m.Sum(nil))
}

// valid reports whether cp carries a good MAC under k.
func (k *auditKeys) valid(cp Checkpoint) bool {
	return cp.KeyID == k.id && hmac.Equal([]byte(cp.MAC), []byte(k.checkpointMAC(cp)))
}

// HashPrefix is the first 12 hex digits of the checkpoint's hash, enough
// to tell heads apart on a page or in a log line.
func (cp Checkpoint) HashPrefix() string {
	if len(cp.Hash) > 12 {
		return cp.Hash[:12]
	}
	return cp.Hash
}

// Witness keeps checkpoints outside the database. Append must not return
// before the checkpoint is durable where the witness keeps it.
type Witness interface {
	Name() string
	Append(ctx context.Context, cp Checkpoint) error
}

// WitnessReader is a witness whose checkpoints can be read back: the one
// the start-up check and `audit verify` compare the log with.
type WitnessReader interface {
	Witness
	// Last returns the newest checkpoint, and false if there is none yet.
	Last(ctx context.Context) (Checkpoint, bool, error)
}

// WithWitnesses sets the witnesses the audit head is checkpointed to. At
// least one must be a WitnessReader, and the database must have an audit
// key (WithAuditKey).
func WithWitnesses(ws ...Witness) Option {
	return func(db *DB) { db.anchor.witnesses = append(db.anchor.witnesses, ws...) }
}

// WithCheckpointEvery sets how often the head is checkpointed when it has
// moved (default DefaultCheckpointEvery).
func WithCheckpointEvery(d time.Duration) Option {
	return func(db *DB) { db.anchor.every = d }
}

// WithLogger sets where the store logs what it finds about the audit log
// (default slog.Default()). Never clinical content: seqs, hash prefixes,
// times and witness names only.
func WithLogger(l *slog.Logger) Option { return func(db *DB) { db.anchor.log = l } }

// DefaultCheckpointEvery is how often the head is checkpointed by default.
const DefaultCheckpointEvery = 5 * time.Second

// AuditAlarm is what the start-up check or a verification found wrong
// with the audit log.
type AuditAlarm struct {
	Problem     string // kind (ProblemBehind, ...) then a sentence; no clinical content
	FirstBadSeq int64
	At          time.Time
	Anchor      Checkpoint // the witness's checkpoint, when it was compared
	Anchored    bool
}

type anchorState struct {
	witnesses []Witness
	reader    WitnessReader
	every     time.Duration
	log       *slog.Logger

	mu       sync.Mutex
	alarm    *AuditAlarm
	last     Checkpoint // the last checkpoint matched at start or written since
	anchored bool

	stop chan struct{}
	done chan struct{}
}

// AuditAlarm returns what is wrong with the audit log, if anything: found
// at start against the witness, or by the last verification.
func (db *DB) AuditAlarm() (AuditAlarm, bool) {
	s := &db.anchor
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.alarm == nil {
		return AuditAlarm{}, false
	}
	return *s.alarm, true
}

// AuditAnchor returns the last checkpoint the log was matched with at
// start, or written since; false when there is none.
func (db *DB) AuditAnchor() (Checkpoint, bool) {
	s := &db.anchor
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.anchored
}

func (db *DB) raiseAlarm(a AuditAlarm) {
	s := &db.anchor
	s.mu.Lock()
	first := s.alarm == nil
	if first {
		s.alarm = &a
	}
	s.mu.Unlock()
	if first {
		s.log.Error("AUDIT LOG REFUSED: it does not match its witness or is not intact; clinical pages are refused unless configured otherwise",
			"problem", a.Problem, "first_bad_seq", a.FirstBadSeq, "witness_seq", a.Anchor.Seq, "witness_hash", a.Anchor.HashPrefix(),
			"witness_time", a.Anchor.Time)
	}
}

// startAnchor checks the log against its witness and starts the
// checkpoints. Open calls it once the audit writer has its head.
func (db *DB) startAnchor(ctx context.Context) error {
	s := &db.anchor
	if s.log == nil {
		s.log = slog.Default()
	}
	if len(s.witnesses) == 0 {
		return nil
	}
	if db.chain.keys == nil {
		return errors.New("store: audit witnesses need an audit key")
	}
	for _, w := range s.witnesses {
		if r, ok := w.(WitnessReader); ok && s.reader == nil {
			s.reader = r
		}
	}
	if s.reader == nil {
		return errors.New("store: at least one audit witness must be readable (the witness file)")
	}
	if s.every <= 0 {
		s.every = DefaultCheckpointEvery
	}
	if res, err := db.checkAtStart(ctx); err != nil {
		return err
	} else if !res.OK {
		db.raiseAlarm(AuditAlarm{Problem: res.Problem, FirstBadSeq: res.FirstBadSeq, At: db.now().UTC(), Anchor: res.Anchor, Anchored: res.Anchored})
	} else {
		s.mu.Lock()
		s.last, s.anchored = res.Anchor, res.Anchored
		s.mu.Unlock()
		if res.Anchored {
			s.log.Info("audit log matches its witness", "witness_seq", res.Anchor.Seq, "witness_hash", res.Anchor.HashPrefix(),
				"witness_time", res.Anchor.Time, "head_seq", res.HeadSeq)
		}
		// A first checkpoint at once: a keyed log always has one from
		// its first start, so a witness found empty later was lost.
		db.checkpoint(ctx)
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go db.checkpointLoop()
	return nil
}

// stopAnchor stops the checkpoints after a last one of the final head.
func (db *DB) stopAnchor() {
	s := &db.anchor
	if s.stop == nil {
		return
	}
	close(s.stop)
	<-s.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db.checkpoint(ctx)
}

func (db *DB) checkpointLoop() {
	s := &db.anchor
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), max(s.every, 5*time.Second))
			db.checkpoint(ctx)
			cancel()
		}
	}
}

// checkpoint writes the committed head to every witness if it moved since
// the last checkpoint. Nothing is written while the log is refused.
func (db *DB) checkpoint(ctx context.Context) {
	s := &db.anchor
	h := db.audit.head.Load()
	if h == nil {
		return
	}
	s.mu.Lock()
	refused, last, anchored := s.alarm != nil, s.last, s.anchored
	s.mu.Unlock()
	if refused || (anchored && last.Seq == h.seq && last.Hash == h.hash) {
		return
	}
	hash := h.hash
	if h.seq == 0 {
		hash = genesisHash
	}
	cp := Checkpoint{Seq: h.seq, Hash: hash, Time: db.now().UTC().Truncate(time.Millisecond),
		KeyedFrom: db.chain.keyedFrom, KeyID: db.chain.keys.id}
	cp.MAC = db.chain.keys.checkpointMAC(cp)
	written := false
	for _, w := range s.witnesses {
		if err := w.Append(ctx, cp); err != nil {
			s.log.Error("audit checkpoint not written", "witness", w.Name(), "seq", cp.Seq, "err", err)
			continue
		}
		written = written || w == Witness(s.reader)
	}
	if written {
		s.mu.Lock()
		s.last, s.anchored = cp, true
		s.mu.Unlock()
	}
}

// checkAtStart compares the log with the witness's last checkpoint, walks
// the events after it (a few seconds' worth: start-up does not grow with
// the log) and checks the schema, and returns the first problem found.
func (db *DB) checkAtStart(ctx context.Context) (VerifyResult, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return VerifyResult{}, fmt.Errorf("store: check audit log: %w", err)
	}
	defer tx.Rollback()
	rule := newChainRule(db.chain.keyedFrom, db.chain.keys)
	cp, ok, rerr := db.anchor.reader.Last(ctx)
	res, err := compareWitness(ctx, tx, rule, db.anchor.reader.Name(), cp, ok, rerr)
	if err != nil || !res.OK {
		return res, err
	}
	from, prev := int64(1), genesisHash
	if res.Anchored {
		from, prev = res.Anchor.Seq+1, res.Anchor.Hash
	}
	tail, err := walkAuditChain(ctx, tx, chainAnchor{}, rule, from, prev, false)
	if err != nil {
		return res, fmt.Errorf("store: check audit log: %w", err)
	}
	tail.Anchor, tail.Anchored = res.Anchor, res.Anchored
	if !tail.OK {
		return tail, nil
	}
	if sentence, err := checkSchema(ctx, tx); err != nil {
		return tail, fmt.Errorf("store: check audit schema: %w", err)
	} else if sentence != "" {
		tail.OK, tail.Problem = false, ProblemSchema+": "+sentence
	}
	return tail, nil
}

// compareWitness checks that the log in q reaches cp, the last checkpoint
// of the witness called name (ok false: it holds none; rerr: it could not
// be read), and holds the same event there. It does not walk the chain.
// The checkpoint must be read before q's snapshot is taken, or a
// checkpoint written meanwhile would be newer than the snapshot.
func compareWitness(ctx context.Context, q querier, rule *chainRule, name string, cp Checkpoint, ok bool, rerr error) (VerifyResult, error) {
	res := VerifyResult{KeyedFrom: rule.keyedFrom}
	bad := func(seq int64, kind, sentence string) (VerifyResult, error) {
		res.FirstBadSeq, res.Problem = seq, kind+": "+sentence
		return res, nil
	}
	var head sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_events`).Scan(&head); err != nil {
		return res, err
	}
	res.HeadSeq = head.Int64
	if rerr != nil {
		return bad(0, ProblemWitness, fmt.Sprintf("the witness %s cannot be read: %v.", name, rerr))
	}
	if !ok {
		if rule.keyedFrom > 0 && head.Int64 >= rule.keyedFrom {
			return bad(rule.keyedFrom, ProblemWitness, fmt.Sprintf("the witness %s holds no checkpoint, but the log has keyed events (%d to %d): the witness was lost or replaced, or the log was moved to another witness.",
				name, rule.keyedFrom, head.Int64))
		}
		res.OK = true
		return res, nil
	}
	res.Anchor, res.Anchored = cp, true
	at := cp.Time.Format(time.RFC3339)
	if rule.keys == nil || !rule.keys.valid(cp) {
		return bad(0, ProblemWitness, fmt.Sprintf("the last checkpoint in the witness %s (event %d, %s) does not carry a valid MAC under this audit key: the witness was altered, or belongs to another log.",
			name, cp.Seq, at))
	}
	if cp.KeyedFrom != rule.keyedFrom {
		return bad(min(cp.KeyedFrom, rule.keyedFrom), ProblemForked, fmt.Sprintf("the log is keyed from event %d but its witness recorded keyed from event %d at %s: the log was rewritten or replaced.",
			rule.keyedFrom, cp.KeyedFrom, at))
	}
	if head.Int64 < cp.Seq {
		return bad(head.Int64+1, ProblemBehind, fmt.Sprintf("the log ends at event %d but its witness recorded event %d (hash %s…) at %s: events were deleted, or the database was replaced by an older copy.",
			head.Int64, cp.Seq, cp.HashPrefix(), at))
	}
	if cp.Seq > 0 {
		var h string
		err := q.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE seq = ?`, cp.Seq).Scan(&h)
		if errors.Is(err, sql.ErrNoRows) {
			return bad(cp.Seq, ProblemBehind, fmt.Sprintf("event %d, recorded by the witness at %s, is missing: events were deleted.", cp.Seq, at))
		}
		if err != nil {
			return res, err
		}
		if h != cp.Hash {
			return bad(cp.Seq, ProblemForked, fmt.Sprintf("event %d is not the event its witness recorded at %s (hash %s…): it was altered, or the log was rewritten or replaced by another copy.",
				cp.Seq, at, cp.HashPrefix()))
		}
	}
	res.OK = true
	return res, nil
}
