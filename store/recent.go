package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// RecentPatient is one patient a user opened.
type RecentPatient struct {
	NHSNumber string
	OpenedAt  time.Time
	// Label is who the patient was on the record page the user opened
	// (nil when it was not kept: no cache key, or opened before labels
	// were kept).
	Label *RecentLabel
}

// RecentLabel is who a recent patient is, as the record's banner showed
// them when the user opened it: the name and birth date as shown, never an
// address. It is sealed with the cache key, as the record cache is.
type RecentLabel struct {
	Name string `json:"name"`
	// Born is empty for a restricted patient: the list names them only.
	Born       string `json:"born,omitempty"`
	Restricted bool   `json:"restricted,omitempty"`
	// From is where the banner's name came from: "PDS", or the ODS code
	// of the source whose details the banner showed. A page that may no
	// longer show that source's data (an objection upheld since) leaves
	// the name out.
	From string `json:"from,omitempty"`
}

// recentKeep is how many recent patients are kept per user.
const recentKeep = 20

// recentRefresh is how stale an entry's time may be before reopening the
// patient updates it.
const recentRefresh = 5 * time.Minute

// recentAD binds a sealed label to its user and patient: a label cannot
// be moved to another row and read there.
func recentAD(userID, nhs string) []byte {
	return []byte("recent patient v1\x00" + userID + "\x00" + nhs)
}

// TouchRecentPatient records that the user opened the patient now, with
// who the patient was on the page (label, nil if not known), and trims the
// user's list. Without a cache key the label is not kept.
func (db *DB) TouchRecentPatient(ctx context.Context, userID, nhs string, label *RecentLabel) error {
	now := ms(db.now())
	var sealed []byte
	if label != nil && db.cache != nil {
		if label.Restricted {
			label = &RecentLabel{Name: label.Name, Restricted: true, From: label.From}
		}
		plain, err := json.Marshal(label)
		if err != nil {
			return fmt.Errorf("store: recent patient: %w", err)
		}
		if sealed, err = db.cache.seal(cacheFormatJSON, plain, recentAD(userID, nhs)); err != nil {
			return fmt.Errorf("store: recent patient: %w", err)
		}
		clear(plain)
	}
	// A record is opened again and again in one visit (filters, pages):
	// the list only needs to move when the last opening is a while ago
	// (or it has no label yet to give), and skipping the write keeps it
	// off the writer's queue.
	var last int64
	var labelled bool
	if err := db.read.QueryRowContext(ctx, `SELECT opened_at, label IS NOT NULL FROM recent_patients WHERE user_id = ? AND nhs_number = ?`,
		userID, nhs).Scan(&last, &labelled); err == nil && now-last < recentRefresh.Milliseconds() && (labelled || sealed == nil) {
		return nil
	}
	tx, err := db.write.BeginConcurrent(ctx) // an upsert and a trim of the user's own rows
	if err != nil {
		return fmt.Errorf("store: recent patient: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO recent_patients (user_id, nhs_number, opened_at, label) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, nhs_number) DO UPDATE SET opened_at = excluded.opened_at, label = excluded.label`, userID, nhs, now, sealed); err != nil {
		return fmt.Errorf("store: recent patient: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recent_patients WHERE user_id = ? AND nhs_number NOT IN
		(SELECT nhs_number FROM recent_patients WHERE user_id = ? ORDER BY opened_at DESC LIMIT ?)`, userID, userID, recentKeep); err != nil {
		return fmt.Errorf("store: recent patient: %w", err)
	}
	return tx.Commit()
}

// RecentPatients returns up to limit of the user's recent patients, most
// recent first, each with its label where one was kept. A label that
// cannot be opened (no cache key now, or a damaged row) is left out: the
// list still gives the NHS number, which is all it gave before labels.
func (db *DB) RecentPatients(ctx context.Context, userID string, limit int) ([]RecentPatient, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT nhs_number, opened_at, label FROM recent_patients WHERE user_id = ?
		ORDER BY opened_at DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: recent patients: %w", err)
	}
	defer rows.Close()
	var out []RecentPatient
	for rows.Next() {
		var r RecentPatient
		var at int64
		var sealed []byte
		if err := rows.Scan(&r.NHSNumber, &at, &sealed); err != nil {
			return nil, fmt.Errorf("store: recent patients: %w", err)
		}
		r.OpenedAt = fromMS(at)
		r.Label = db.openRecentLabel(userID, r.NHSNumber, sealed)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (db *DB) openRecentLabel(userID, nhs string, sealed []byte) *RecentLabel {
	if sealed == nil || db.cache == nil {
		return nil
	}
	plain, format, err := db.cache.open(sealed, func(byte) []byte { return recentAD(userID, nhs) })
	if err != nil || format != cacheFormatJSON {
		return nil
	}
	defer clear(plain)
	var l RecentLabel
	if json.Unmarshal(plain, &l) != nil || l.Name == "" {
		return nil
	}
	return &l
}
