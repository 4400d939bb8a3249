package store

import (
	"context"
	"fmt"
	"time"
)

// RecentPatient is one patient a user opened.
type RecentPatient struct {
	NHSNumber string
	OpenedAt  time.Time
}

// recentKeep is how many recent patients are kept per user.
const recentKeep = 20

// recentRefresh is how stale an entry's time may be before reopening the
// patient updates it.
const recentRefresh = 5 * time.Minute

// TouchRecentPatient records that the user opened the patient now, and
// trims the user's list.
func (db *DB) TouchRecentPatient(ctx context.Context, userID, nhs string) error {
	now := ms(db.now())
	// A record is opened again and again in one visit (filters, pages):
	// the list only needs to move when the last opening is a while ago,
	// and skipping the write keeps it off the writer's queue.
	var last int64
	if err := db.read.QueryRowContext(ctx, `SELECT opened_at FROM recent_patients WHERE user_id = ? AND nhs_number = ?`,
		userID, nhs).Scan(&last); err == nil && now-last < recentRefresh.Milliseconds() {
		return nil
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: recent patient: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO recent_patients (user_id, nhs_number, opened_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id, nhs_number) DO UPDATE SET opened_at = excluded.opened_at`, userID, nhs, now); err != nil {
		return fmt.Errorf("store: recent patient: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recent_patients WHERE user_id = ? AND nhs_number NOT IN
		(SELECT nhs_number FROM recent_patients WHERE user_id = ? ORDER BY opened_at DESC LIMIT ?)`, userID, userID, recentKeep); err != nil {
		return fmt.Errorf("store: recent patient: %w", err)
	}
	return tx.Commit()
}

// RecentPatients returns up to limit of the user's recent patients, most
// recent first.
func (db *DB) RecentPatients(ctx context.Context, userID string, limit int) ([]RecentPatient, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT nhs_number, opened_at FROM recent_patients WHERE user_id = ?
		ORDER BY opened_at DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: recent patients: %w", err)
	}
	defer rows.Close()
	var out []RecentPatient
	for rows.Next() {
		var r RecentPatient
		var at int64
		if err := rows.Scan(&r.NHSNumber, &at); err != nil {
			return nil, fmt.Errorf("store: recent patients: %w", err)
		}
		r.OpenedAt = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}
