package store

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// CacheKeySize is the size of the record cache key: AES-256.
const CacheKeySize = 32

var (
	// ErrNoCacheKey is returned by the record cache when the database was
	// opened without WithCacheKey: the cache never falls back to storing
	// clinical content in the clear.
	ErrNoCacheKey = errors.New("record cache has no encryption key configured")
	// ErrCacheKeyMismatch is returned by Open when the database's cache
	// was written under another key.
	ErrCacheKeyMismatch = errors.New("cache key does not match the one this database was written with")
	// ErrCacheCorrupt is returned for a cached row that fails
	// authentication: tampered with, truncated, or moved between rows.
	ErrCacheCorrupt = errors.New("cached record failed authentication")
)

// WithCacheKey sets the 32-byte key that encrypts the record cache
// (AES-256-GCM) and pseudonymises the patients in it. Open fails if the key
// has the wrong size or the database was written with another key.
func WithCacheKey(key []byte) Option {
	return func(db *DB) {
		db.cacheKey = bytes.Clone(key)
		db.cacheKeySet = true
	}
}

// ParseCacheKey decodes a cache key as configuration or the environment
// gives it: 64 hex digits, or base64 (standard or URL alphabet, padded or
// not) of 32 bytes.
func ParseCacheKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*CacheKeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == CacheKeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("store: cache key must be %d bytes written as 64 hex digits or base64", CacheKeySize)
}

// LoadOrCreateCacheKey reads the cache key from the file at path (as
// ParseCacheKey reads it), creating the file with a new random key, readable
// by its owner only, if it does not exist. The demo keeps its key this way
// in its data directory.
func LoadOrCreateCacheKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, CacheKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("store: new cache key: %w", err)
		}
		// O_EXCL: if another process created the file meanwhile, use its
		// key rather than overwrite it and lose the cache.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateCacheKey(path)
		}
		if err != nil {
			return nil, fmt.Errorf("store: new cache key: %w", err)
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("store: new cache key %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: read cache key: %w", err)
	}
	key, err := ParseCacheKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return key, nil
}

// cacheCipher holds the keys derived from the cache key. Separate keys for
// sealing and for pseudonymising mean neither use weakens the other.
type cacheCipher struct {
	aead   cipher.AEAD
	macKey []byte
}

const (
	cacheStateRecord   = "record"
	cacheStateNoRecord = "no-record"

	// cacheFormatJSON marks a body whose plaintext is a JSON-encoded
	// connectors.Record. The byte leaves room to change the encoding later
	// without a migration; it is authenticated with the rest of the row.
	cacheFormatJSON byte = 1

	keyCheckName      = "key_check"
	keyCheckPlaintext = "carerecord record cache key check v1"
)

func newCacheCipher(key []byte) (*cacheCipher, error) {
	if len(key) != CacheKeySize {
		return nil, fmt.Errorf("store: cache key must be %d bytes (AES-256), got %d", CacheKeySize, len(key))
	}
	encKey, err := hkdf.Key(sha256.New, key, nil, "carerecord record cache v1: aes-256-gcm", 32)
	if err != nil {
		return nil, fmt.Errorf("store: derive cache key: %w", err)
	}
	macKey, err := hkdf.Key(sha256.New, key, nil, "carerecord record cache v1: patient key", 32)
	if err != nil {
		return nil, fmt.Errorf("store: derive cache key: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("store: cache cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: cache cipher: %w", err)
	}
	return &cacheCipher{aead: aead, macKey: macKey}, nil
}

// patientKey pseudonymises an NHS number for the cache table, so that a
// copy of the database file does not list who was looked up.
func (c *cacheCipher) patientKey(nhs string) []byte {
	m := hmac.New(sha256.New, c.macKey)
	m.Write([]byte(nhs))
	return m.Sum(nil)
}

// rowAD binds a ciphertext to every other column of its row.
func rowAD(format byte, patientKey []byte, ods, state string, fetchedAt int64) []byte {
	ad := make([]byte, 0, 1+len(patientKey)+len(ods)+len(state)+2+8)
	ad = append(ad, format)
	ad = append(ad, patientKey...)
	ad = append(ad, ods...)
	ad = append(ad, 0)
	ad = append(ad, state...)
	ad = append(ad, 0)
	return binary.BigEndian.AppendUint64(ad, uint64(fetchedAt))
}

// seal returns format || nonce || ciphertext.
func (c *cacheCipher) seal(format byte, plaintext, ad []byte) ([]byte, error) {
	ns := c.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+c.aead.Overhead())
	out[0] = format
	if _, err := rand.Read(out[1 : 1+ns]); err != nil {
		return nil, fmt.Errorf("store: cache nonce: %w", err)
	}
	return c.aead.Seal(out, out[1:1+ns], plaintext, ad), nil
}

// open reverses seal; ad must be built with the body's own format byte.
func (c *cacheCipher) open(body []byte, ad func(format byte) []byte) ([]byte, byte, error) {
	ns := c.aead.NonceSize()
	if len(body) < 1+ns+c.aead.Overhead() {
		return nil, 0, ErrCacheCorrupt
	}
	format := body[0]
	pt, err := c.aead.Open(nil, body[1:1+ns], body[1+ns:], ad(format))
	if err != nil {
		return nil, 0, ErrCacheCorrupt
	}
	return pt, format, nil
}

// initCache derives the cache keys and checks them against the key-check
// row, writing that row the first time a key is used with this database.
// Open calls it after the migrations.
func (db *DB) initCache(ctx context.Context) error {
	if !db.cacheKeySet {
		return nil
	}
	c, err := newCacheCipher(db.cacheKey)
	clear(db.cacheKey)
	db.cacheKey = nil
	if err != nil {
		return err
	}
	ad := []byte(keyCheckName)
	sealed, err := c.seal(cacheFormatJSON, []byte(keyCheckPlaintext), ad)
	if err != nil {
		return err
	}
	// INSERT OR IGNORE then read back: if two processes open a new
	// database at once, both check against whichever row won.
	if _, err := db.write.ExecContext(ctx, `INSERT INTO cache_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, keyCheckName, sealed); err != nil {
		return fmt.Errorf("store: cache key check: %w", err)
	}
	var stored []byte
	if err := db.write.QueryRowContext(ctx, `SELECT value FROM cache_meta WHERE name = ?`, keyCheckName).Scan(&stored); err != nil {
		return fmt.Errorf("store: cache key check: %w", err)
	}
	pt, _, err := c.open(stored, func(byte) []byte { return ad })
	if err != nil || string(pt) != keyCheckPlaintext {
		return fmt.Errorf("store: %w", ErrCacheKeyMismatch)
	}
	db.cache = c
	return nil
}

// CachedRecord is one source's cached answer for one patient.
type CachedRecord struct {
	Source    string // ODS code
	FetchedAt time.Time
	// NoRecord is true when the source answered that it holds no record;
	// Record is then nil.
	NoRecord bool
	Record   *connectors.Record
}

// CacheRow is a cached row as read, before decryption: decrypting only
// the rows a page uses keeps a warm read cheap. Body is nil when the row
// was read without it (CacheRows).
type CacheRow struct {
	PatientKey []byte // the pseudonymised patient (PatientKey)
	Source     string // ODS code
	FetchedMS  int64  // unix milliseconds
	State      string
	Body       []byte // sealed
}

// FetchedAt is when the source's answer was fetched.
func (r *CacheRow) FetchedAt() time.Time { return fromMS(r.FetchedMS) }

// PatientKey is the pseudonymised key the cache files a patient under
// (a keyed hash of the NHS number).
func (db *DB) PatientKey(nhs string) ([]byte, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return nil, err
	}
	return c.patientKey(nhs), nil
}

// Now is the store's clock.
func (db *DB) Now() time.Time { return db.now() }

func (db *DB) cacheKeys() (*cacheCipher, error) {
	if db.cache == nil {
		return nil, fmt.Errorf("store: %w", ErrNoCacheKey)
	}
	return db.cache, nil
}

// PutCachedRecord caches a source's answer for a patient, replacing what
// was cached before. A nil rec records that the source holds no record.
func (db *DB) PutCachedRecord(ctx context.Context, nhs, ods string, fetchedAt time.Time, rec *connectors.Record) error {
	c, err := db.cacheKeys()
	if err != nil {
		return err
	}
	state := cacheStateRecord
	var plaintext []byte
	if rec == nil {
		state = cacheStateNoRecord
	} else if plaintext, err = json.Marshal(rec); err != nil {
		return fmt.Errorf("store: cache record from %s: %w", ods, err)
	}
	pk := c.patientKey(nhs)
	at := ms(fetchedAt)
	body, err := c.seal(cacheFormatJSON, plaintext, rowAD(cacheFormatJSON, pk, ods, state, at))
	clear(plaintext)
	if err != nil {
		return err
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO record_cache (patient_key, source, fetched_at, state, body)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (patient_key, source) DO UPDATE SET
			fetched_at = excluded.fetched_at, state = excluded.state, body = excluded.body`,
		pk, ods, at, state, body)
	if err != nil {
		return fmt.Errorf("store: cache record from %s: %w", ods, err)
	}
	return nil
}

// CachedRecords returns every source's cached answer for a patient, in no
// particular order, or ErrCacheCorrupt (wrapped) if any row fails
// authentication.
func (db *DB) CachedRecords(ctx context.Context, nhs string) ([]CachedRecord, error) {
	rows, err := db.CacheRows(ctx, nhs, true)
	if err != nil {
		return nil, err
	}
	out := make([]CachedRecord, 0, len(rows))
	for i := range rows {
		cr, err := db.decodeCacheRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, cr)
	}
	return out, nil
}

// CacheRows reads a patient's rows in one indexed query. Without
// withBody the bodies are left unread: enough to judge freshness and to
// find the rows already decoded in memory, and a body is read
// (CacheRowByKey) only for a row that has to be decoded.
func (db *DB) CacheRows(ctx context.Context, nhs string, withBody bool) ([]CacheRow, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return nil, err
	}
	pk := c.patientKey(nhs)
	query := `SELECT source, fetched_at, state FROM record_cache WHERE patient_key = ?`
	if withBody {
		query = `SELECT source, fetched_at, state, body FROM record_cache WHERE patient_key = ?`
	}
	rows, err := db.read.QueryContext(ctx, query, pk)
	if err != nil {
		return nil, fmt.Errorf("store: read record cache: %w", err)
	}
	defer rows.Close()
	var out []CacheRow
	for rows.Next() {
		r := CacheRow{PatientKey: pk}
		dest := []any{&r.Source, &r.FetchedMS, &r.State}
		if withBody {
			dest = append(dest, &r.Body)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("store: read record cache: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read record cache: %w", err)
	}
	return out, nil
}

// CacheRowFor reads one source's row for a patient; ok is false when there is
// none.
func (db *DB) CacheRowFor(ctx context.Context, nhs, ods string) (CacheRow, bool, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return CacheRow{}, false, err
	}
	return db.CacheRowByKey(ctx, c.patientKey(nhs), ods)
}

// CacheRowByKey is CacheRowFor by pseudonymised patient key.
func (db *DB) CacheRowByKey(ctx context.Context, patientKey []byte, ods string) (CacheRow, bool, error) {
	r := CacheRow{PatientKey: patientKey, Source: ods}
	err := db.read.QueryRowContext(ctx, `SELECT fetched_at, state, body FROM record_cache WHERE patient_key = ? AND source = ?`,
		r.PatientKey, ods).Scan(&r.FetchedMS, &r.State, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return CacheRow{}, false, nil
	}
	if err != nil {
		return CacheRow{}, false, fmt.Errorf("store: read record cache: %w", err)
	}
	return r, true, nil
}

func (db *DB) decodeCacheRow(r *CacheRow) (CachedRecord, error) {
	cr, _, err := db.DecodeCacheRow(r)
	return cr, err
}

// DecodeCacheRow opens a row read with its body and returns the cached
// answer and the size of the decrypted body.
func (db *DB) DecodeCacheRow(r *CacheRow) (CachedRecord, int, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return CachedRecord{}, 0, err
	}
	out := CachedRecord{Source: r.Source, FetchedAt: r.FetchedAt()}
	pt, format, err := c.open(r.Body, func(format byte) []byte {
		return rowAD(format, r.PatientKey, r.Source, r.State, r.FetchedMS)
	})
	if err != nil {
		return CachedRecord{}, 0, fmt.Errorf("store: cached record from %s: %w", r.Source, err)
	}
	defer clear(pt)
	if format != cacheFormatJSON {
		return CachedRecord{}, 0, fmt.Errorf("store: cached record from %s: unknown format %d", r.Source, format)
	}
	switch r.State {
	case cacheStateNoRecord:
		out.NoRecord = true
	case cacheStateRecord:
		out.Record = new(connectors.Record)
		if err := json.Unmarshal(pt, out.Record); err != nil {
			return CachedRecord{}, 0, fmt.Errorf("store: cached record from %s: %w", r.Source, err)
		}
	default:
		return CachedRecord{}, 0, fmt.Errorf("store: cached record from %s: unknown state %q", r.Source, r.State)
	}
	return out, len(pt), nil
}

// PurgeCachedRecords deletes every cached answer for a patient and returns
// how many rows went.
//
// On PostgreSQL the other nodes are told, when the delete commits, to
// purge the patient from their memory too (purgenotify.go).
func (db *DB) PurgeCachedRecords(ctx context.Context, nhs string) (int, error) {
	return db.purgeCachedRecords(ctx, nhs, true)
}

// PurgeCachedRecordsHere deletes every cached answer for a patient, as
// PurgeCachedRecords does, without telling the other nodes: it is how a
// node acts on another's purge notice, which the others have heard too.
func (db *DB) PurgeCachedRecordsHere(ctx context.Context, nhs string) (int, error) {
	return db.purgeCachedRecords(ctx, nhs, false)
}

func (db *DB) purgeCachedRecords(ctx context.Context, nhs string, notify bool) (int, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return 0, err
	}
	// Concurrent: a delete of the patient's rows and a notice, nothing
	// read first; a purge in any order with other writes purges the same.
	tx, err := db.write.BeginConcurrent(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: purge record cache: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM record_cache WHERE patient_key = ?`, c.patientKey(nhs))
	if err != nil {
		return 0, fmt.Errorf("store: purge record cache: %w", err)
	}
	if notify {
		if err := db.notifyPurge(ctx, tx, c, nhs); err != nil {
			return 0, fmt.Errorf("store: purge record cache: notify the other nodes: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: purge record cache: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// PurgeCacheBefore deletes every cached answer fetched before t and returns
// how many rows went. It needs no key: age is not secret.
func (db *DB) PurgeCacheBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM record_cache WHERE fetched_at < ?`, ms(t))
	if err != nil {
		return 0, fmt.Errorf("store: purge expired record cache: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
