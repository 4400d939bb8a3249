package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// VisitGap is how long a user may leave a record before their next
// opening of it starts a new visit: what arrived during one visit is not
// "new" again on the next page of that visit.
const VisitGap = 30 * time.Minute

// RecordVisit says what a user had seen of a record by the end of their
// previous visit.
type RecordVisit struct {
	// First: the user has not opened this record before (here), so
	// nothing can be called new.
	First bool
	// Since is when the previous visit ended (its last page).
	Since time.Time
	seen  map[uint64]bool
}

// New reports whether the item with this key ("ODS/Resource/id") has
// arrived since the previous visit. Nothing is new on a first visit.
func (v RecordVisit) New(key string) bool {
	return !v.First && !v.seen[visitHash(key)]
}

func visitHash(key string) uint64 {
	h := sha256.Sum256([]byte(key))
	return binary.BigEndian.Uint64(h[:8])
}

func packSeen(set map[uint64]bool) []byte {
	hs := make([]uint64, 0, len(set))
	for h := range set {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	b := make([]byte, 0, 8*len(hs)) // never nil: the column is NOT NULL
	for _, h := range hs {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return b
}

func unpackSeen(b []byte) map[uint64]bool {
	set := make(map[uint64]bool, len(b)/8)
	for i := 0; i+8 <= len(b); i += 8 {
		set[binary.BigEndian.Uint64(b[i:])] = true
	}
	return set
}

// visitRefresh is how old a visit's last_at may grow before a view that
// adds nothing to what the visit has shown writes it again. Within it a
// view writes nothing (most views are pages, filters and reloads of a
// record just opened), so the end of a visit, which the next visit calls
// "since", is known to within this much: a visit's last page is recorded
// at most visitRefresh before it was actually shown.
const visitRefresh = time.Minute

// VisitRecord records that the user is looking at the record now and that
// it holds the items keys, and returns what they had seen by the end of
// their previous visit. Openings less than VisitGap apart are one visit:
// the items shown during it add up, and the previous visit stays the one
// compared with.
//
// The common case writes nothing: a view in the same visit that shows no
// item the visit has not shown already, less than visitRefresh after the
// visit's last recorded page, is answered from the reader pool. Any other
// view writes as its own transaction, reading the row again there.
func (db *DB) VisitRecord(ctx context.Context, userID, nhs string, keys []string) (RecordVisit, error) {
	now := ms(db.now())
	current := make(map[uint64]bool, len(keys))
	for _, k := range keys {
		current[visitHash(k)] = true
	}
	if v, ok, err := db.visitUnchanged(ctx, userID, nhs, now, current); err != nil {
		return RecordVisit{}, fmt.Errorf("store: record visit: %w", err)
	} else if ok {
		return v, nil
	}
	// Concurrent: one row of the user's own, upserted; no order across
	// nodes is needed. The row is read again here, locked for update
	// where the engine has row locks, so that two views at once add up
	// rather than one overwriting the other's keys.
	tx, err := db.write.BeginConcurrent(ctx)
	if err != nil {
		return RecordVisit{}, fmt.Errorf("store: record visit: %w", err)
	}
	defer tx.Rollback()
	var (
		last     int64
		seen     []byte
		prevAt   sql.NullInt64
		prevSeen []byte
	)
	err = tx.QueryRowContext(ctx, `SELECT last_at, seen, prev_at, prev_seen FROM record_visits WHERE user_id = ? AND nhs_number = ?`+db.be.forUpdate(),
		userID, nhs).Scan(&last, &seen, &prevAt, &prevSeen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// The first visit.
	case err != nil:
		return RecordVisit{}, fmt.Errorf("store: record visit: %w", err)
	case now-last < VisitGap.Milliseconds():
		// The same visit: what it has shown adds up.
		for h := range unpackSeen(seen) {
			current[h] = true
		}
	default:
		// A new visit: the one before is what it is compared with.
		prevAt, prevSeen = sql.NullInt64{Int64: last, Valid: true}, seen
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO record_visits (user_id, nhs_number, last_at, seen, prev_at, prev_seen) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, nhs_number) DO UPDATE SET last_at = excluded.last_at, seen = excluded.seen,
		prev_at = excluded.prev_at, prev_seen = excluded.prev_seen`,
		userID, nhs, now, packSeen(current), prevAt, prevSeen); err != nil {
		return RecordVisit{}, fmt.Errorf("store: record visit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return RecordVisit{}, fmt.Errorf("store: record visit: %w", err)
	}
	return visitAnswer(prevAt, prevSeen), nil
}

// visitUnchanged reads the user's visit of the record through the reader
// pool and, when this view would change nothing that matters (the same
// visit, no key the visit has not shown, its last page recorded less than
// visitRefresh ago), returns the answer with ok set.
func (db *DB) visitUnchanged(ctx context.Context, userID, nhs string, now int64, current map[uint64]bool) (v RecordVisit, ok bool, err error) {
	var (
		last     int64
		seen     []byte
		prevAt   sql.NullInt64
		prevSeen []byte
	)
	err = db.read.QueryRowContext(ctx, `SELECT last_at, seen, prev_at, prev_seen FROM record_visits WHERE user_id = ? AND nhs_number = ?`,
		userID, nhs).Scan(&last, &seen, &prevAt, &prevSeen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return RecordVisit{}, false, nil
	case err != nil:
		return RecordVisit{}, false, err
	}
	age := now - last
	if age < 0 || age >= visitRefresh.Milliseconds() { // visitRefresh < VisitGap: the same visit too
		return RecordVisit{}, false, nil
	}
	shown := unpackSeen(seen)
	for h := range current {
		if !shown[h] {
			return RecordVisit{}, false, nil
		}
	}
	return visitAnswer(prevAt, prevSeen), true, nil
}

// visitAnswer is what a view is told: the previous visit, or none.
func visitAnswer(prevAt sql.NullInt64, prevSeen []byte) RecordVisit {
	if !prevAt.Valid {
		return RecordVisit{First: true}
	}
	return RecordVisit{Since: fromMS(prevAt.Int64), seen: unpackSeen(prevSeen)}
}
