package store

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"strconv"
)

// The audit chain is keyed. A plain hash chain only shows that nobody
// edited the log without also recomputing every later hash, and the rule
// is documented, so anyone who can write the database file could forge an
// event at the end, alter and re-hash the last one, or re-chain the lot.
// From the event recorded in audit_chain.keyed_from on, each event's hash
// is instead an HMAC-SHA256 under a key that is not in the database, and
// the checkpoints written to the witnesses (auditwitness.go) carry a MAC
// under a key derived from the same secret.
//
// HMAC over every event rather than a signature over each checkpoint: a
// signature over checkpoints only would leave the events written since the
// last checkpoint forgeable, whereas a keyed chain authenticates every
// event the moment it is committed, and verification needs no more than
// it did (one hash per event). Whoever verifies also holds the key and so
// could forge; here that is the server and its operators, who write the
// log anyway. A public-key signature over checkpoints, for witnesses run
// by someone else, can be added on top without changing the chain.

// AuditKeySize is the size of the audit chain key.
const AuditKeySize = 32

var (
	// ErrAuditKeyMismatch is returned by Open when the audit log was
	// keyed with another key (or its keyed-chain record was altered).
	ErrAuditKeyMismatch = errors.New("the audit key does not match the one this audit log was written with, or the log's chain record was altered")
	// ErrAuditKeyNeeded is returned when a keyed audit log is opened or
	// verified without its key.
	ErrAuditKeyNeeded = errors.New("the audit log is keyed: its key is needed")
)

// WithAuditKey sets the 32-byte secret that keys the audit chain and MACs
// its checkpoints. Without it a new database keeps the plain (unkeyed)
// chain, which tests of other parts use; a database once opened with a key
// refuses to open without it.
func WithAuditKey(key []byte) Option {
	return func(db *DB) {
		db.auditKey = bytes.Clone(key)
	}
}

// ParseAuditKey decodes an audit key as the environment or a key file
// gives it: 64 hex digits, or base64 of 32 bytes.
func ParseAuditKey(s string) ([]byte, error) {
	k, err := ParseCacheKey(s)
	if err != nil {
		return nil, fmt.Errorf("store: audit key must be %d bytes written as 64 hex digits or base64", AuditKeySize)
	}
	return k, nil
}

// LoadAuditKeyFile reads the audit key from a file that only its owner may
// read: a key that others can read could be used to forge the log.
func LoadAuditKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store: audit key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("store: audit key file %s is readable by others (mode %04o): make it 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: audit key file: %w", err)
	}
	k, err := ParseAuditKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// LoadOrCreateAuditKey is LoadAuditKeyFile that first creates the file
// (mode 0600) with a new random key if it does not exist. The demo keeps
// its key this way in its data directory.
func LoadOrCreateAuditKey(path string) ([]byte, error) {
	key := make([]byte, AuditKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: new audit key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return LoadAuditKeyFile(path)
	case err != nil:
		return nil, fmt.Errorf("store: new audit key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("store: new audit key %s: %w", path, err)
	}
	return key, nil
}

// auditKeys are the keys derived from the audit secret: one per use, so
// that no MAC of one kind can stand for another.
type auditKeys struct {
	chain []byte // the events' HMAC
	ckpt  []byte // the checkpoints' MAC
	meta  []byte // the audit_chain row's MAC
	id    string // names the key; not secret
}

func deriveAuditKeys(secret []byte) (*auditKeys, error) {
	if len(secret) != AuditKeySize {
		return nil, fmt.Errorf("store: audit key must be %d bytes, got %d", AuditKeySize, len(secret))
	}
	k := &auditKeys{}
	for _, d := range []struct {
		dst   *[]byte
		label string
	}{
		{&k.chain, "carerecord audit chain v2: hmac-sha256"},
		{&k.ckpt, "carerecord audit checkpoint v1: hmac-sha256"},
		{&k.meta, "carerecord audit chain record v1: hmac-sha256"},
	} {
		v, err := hkdf.Key(sha256.New, secret, nil, d.label, 32)
		if err != nil {
			return nil, fmt.Errorf("store: derive audit key: %w", err)
		}
		*d.dst = v
	}
	id, err := hkdf.Key(sha256.New, secret, nil, "carerecord audit key id v1", 8)
	if err != nil {
		return nil, fmt.Errorf("store: derive audit key: %w", err)
	}
	k.id = hex.EncodeToString(id)
	return k, nil
}

// chainMAC authenticates the audit_chain row.
func (k *auditKeys) chainMAC(keyedFrom int64) string {
	m := hmac.New(sha256.New, k.meta)
	m.Write([]byte("carerecord-audit-chain-v1\n" + strconv.FormatInt(keyedFrom, 10) + "\n" + k.id))
	return hex.EncodeToString(m.Sum(nil))
}

// chainRule is how each event of one log is hashed: the plain SHA-256 rule
// ("carerecord-audit-v1") before keyedFrom, the keyed rule
// ("carerecord-audit-v2", HMAC-SHA256 under keys.chain) from it on.
// keyedFrom 0 means the log is not keyed. Not safe for concurrent use.
type chainRule struct {
	keyedFrom int64
	keys      *auditKeys // nil when the log is not keyed
	plain     hash.Hash
	mac       hash.Hash
}

func newChainRule(keyedFrom int64, keys *auditKeys) *chainRule {
	r := &chainRule{keyedFrom: keyedFrom, keys: keys, plain: sha256.New()}
	if keys != nil {
		r.mac = hmac.New(sha256.New, keys.chain)
	}
	return r
}

// keyed reports whether the event at seq is hashed with the key.
func (r *chainRule) keyed(seq int64) bool { return r.keyedFrom > 0 && seq >= r.keyedFrom }

// sum returns the hash ev must carry at position seq.
func (r *chainRule) sum(ev *AuditEvent, seq int64) string {
	if r.keyed(seq) {
		return auditHashWith(r.mac, auditDomainKeyed, ev, seq)
	}
	return auditHashWith(r.plain, auditDomainPlain, ev, seq)
}

// plainSum is the unkeyed rule, whatever seq: the verifier uses it to
// recognise an event forged by someone without the key.
func (r *chainRule) plainSum(ev *AuditEvent, seq int64) string {
	return auditHashWith(r.plain, auditDomainPlain, ev, seq)
}

// readChainRecord reads audit_chain: keyedFrom 0 when the log is not keyed
// (no row, or a file from before the table).
func readChainRecord(ctx context.Context, q querier) (keyedFrom int64, keyID, mac string, err error) {
	if ok, err := hasTable(ctx, q, "audit_chain"); err != nil || !ok {
		return 0, "", "", err
	}
	err = q.QueryRowContext(ctx, `SELECT keyed_from, key_id, mac FROM audit_chain WHERE one = 1`).Scan(&keyedFrom, &keyID, &mac)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", "", nil
	}
	return keyedFrom, keyID, mac, err
}

// loadChainRule reads the log's chain record and checks it against keys
// (nil: no key given).
func loadChainRule(ctx context.Context, q querier, keys *auditKeys) (*chainRule, error) {
	from, id, mac, err := readChainRecord(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: read audit chain record: %w", err)
	}
	if from == 0 {
		return newChainRule(0, keys), nil
	}
	if keys == nil {
		return nil, fmt.Errorf("store: %w (keyed from event %d)", ErrAuditKeyNeeded, from)
	}
	if id != keys.id || !hmac.Equal([]byte(mac), []byte(keys.chainMAC(from))) {
		return nil, fmt.Errorf("store: %w", ErrAuditKeyMismatch)
	}
	return newChainRule(from, keys), nil
}

// initAuditChain derives the audit keys and reads (or, the first time a
// key is given, writes) the log's chain record. Open calls it after the
// migrations and before the audit writer starts.
func (db *DB) initAuditChain(ctx context.Context) error {
	var keys *auditKeys
	if db.auditKey != nil {
		k, err := deriveAuditKeys(db.auditKey)
		clear(db.auditKey)
		db.auditKey = nil
		if err != nil {
			return err
		}
		keys = k
	}
	rule, err := loadChainRule(ctx, db.write, keys)
	if err != nil {
		return err
	}
	if rule.keyedFrom == 0 && keys != nil {
		// The keyed rule starts with the next event; the events before
		// keep the plain rule and stay verifiable by it.
		var head sql.NullInt64
		if err := db.write.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_events`).Scan(&head); err != nil {
			return fmt.Errorf("store: key the audit chain: %w", err)
		}
		from := head.Int64 + 1
		if _, err := db.write.ExecContext(ctx, `INSERT INTO audit_chain (one, keyed_from, key_id, mac) VALUES (1, ?, ?, ?)`,
			from, keys.id, keys.chainMAC(from)); err != nil {
			return fmt.Errorf("store: key the audit chain: %w", err)
		}
		rule = newChainRule(from, keys)
	}
	db.chain = rule
	return nil
}

// AuditKeyedFrom returns the first event hashed with the audit key, 0 when
// the log is not keyed.
func (db *DB) AuditKeyedFrom() int64 { return db.chain.keyedFrom }
