package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/carerecord/carerecord/connectors"
)

// The "own record" alert compares the NHS number of the patient opened
// with the user's own. The identity provider may assert it (an attribute);
// where it does not, the privacy officers keep a list of staff and their
// NHS numbers, which this file holds. The audit path reads a copy in
// memory, so an event costs one map lookup.

// StaffNHS is one entry of the list.
type StaffNHS struct {
	UserID    string
	NHSNumber string
	AddedBy   string
	AddedAt   time.Time
}

// MaxStaffUserID bounds a user id on the list.
const MaxStaffUserID = 100

// ErrInvalidStaffNHS is returned (wrapped, with what is wrong) for an
// entry that cannot be kept.
var ErrInvalidStaffNHS = errors.New("invalid staff NHS number entry")

// staffList is the in-memory copy, read at Open and kept in step by
// SetStaffNHS and RemoveStaffNHS.
type staffList struct {
	mu     sync.RWMutex
	byUser map[string]string
}

func staffAD(userID string) []byte { return []byte("staff nhs\x00" + userID) }

// StaffNHSList returns the list, by user id.
func (db *DB) StaffNHSList(ctx context.Context) ([]StaffNHS, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return nil, err
	}
	rows, err := db.read.QueryContext(ctx, `SELECT user_id, sealed, added_by, added_at FROM staff_nhs ORDER BY user_id`)
	if err != nil {
		return nil, fmt.Errorf("store: staff NHS numbers: %w", err)
	}
	defer rows.Close()
	var out []StaffNHS
	for rows.Next() {
		var (
			s      StaffNHS
			sealed []byte
			at     int64
		)
		if err := rows.Scan(&s.UserID, &sealed, &s.AddedBy, &at); err != nil {
			return nil, fmt.Errorf("store: staff NHS numbers: %w", err)
		}
		if s.NHSNumber, err = c.openText(sealed, staffAD(s.UserID)); err != nil {
			return nil, fmt.Errorf("store: staff NHS number of %s: %w", s.UserID, err)
		}
		s.AddedAt = fromMS(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

// SetStaffNHS records (or replaces) a user's own NHS number. by is the
// officer's user id.
func (db *DB) SetStaffNHS(ctx context.Context, userID, nhs, by string) error {
	c, err := db.cacheKeys()
	if err != nil {
		return err
	}
	userID = strings.TrimSpace(userID)
	var probs []string
	if userID == "" || utf8.RuneCountInString(userID) > MaxStaffUserID || strings.ContainsFunc(userID, func(r rune) bool { return r < ' ' }) {
		probs = append(probs, fmt.Sprintf("the user id must be 1 to %d printable characters", MaxStaffUserID))
	}
	n, err := connectors.ParseNHSNumber(nhs)
	if err != nil {
		probs = append(probs, "the NHS number is not valid")
	}
	if by == "" {
		probs = append(probs, "the officer's id is missing")
	}
	if len(probs) > 0 {
		return fmt.Errorf("store: staff NHS number: %w: %s", ErrInvalidStaffNHS, strings.Join(probs, "; "))
	}
	sealed, err := c.sealText(n, staffAD(userID))
	if err != nil {
		return err
	}
	db.staff.mu.Lock()
	defer db.staff.mu.Unlock()
	if _, err := db.write.ExecContext(ctx, `INSERT INTO staff_nhs (user_id, sealed, added_by, added_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, added_by = excluded.added_by, added_at = excluded.added_at`,
		userID, sealed, by, ms(db.now())); err != nil {
		return fmt.Errorf("store: staff NHS number: %w", err)
	}
	db.staff.byUser[userID] = n
	return nil
}

// RemoveStaffNHS takes a user off the list; ErrNotFound if they are not on it.
func (db *DB) RemoveStaffNHS(ctx context.Context, userID string) error {
	db.staff.mu.Lock()
	defer db.staff.mu.Unlock()
	res, err := db.write.ExecContext(ctx, `DELETE FROM staff_nhs WHERE user_id = ?`, userID)
	if err != nil {
		return fmt.Errorf("store: remove staff NHS number: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	delete(db.staff.byUser, userID)
	return nil
}

// loadStaff reads the list into memory. Without a cache key there is no
// list to read, and none can be kept.
func (db *DB) loadStaff(ctx context.Context) error {
	if db.cache == nil {
		return nil
	}
	list, err := db.StaffNHSList(ctx)
	if err != nil {
		return err
	}
	db.staff.mu.Lock()
	defer db.staff.mu.Unlock()
	db.staff.byUser = make(map[string]string, len(list))
	for _, s := range list {
		db.staff.byUser[s.UserID] = s.NHSNumber
	}
	return nil
}

// OnStaffList reports whether the user is on the list (from memory).
func (db *DB) OnStaffList(userID string) bool { return db.staffNHSFor(userID) != "" }

// staffNHSFor returns the listed NHS number of a user, or "".
func (db *DB) staffNHSFor(userID string) string {
	db.staff.mu.RLock()
	defer db.staff.mu.RUnlock()
	return db.staff.byUser[userID]
}
