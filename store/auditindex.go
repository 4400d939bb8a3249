package store

import (
	"context"
	"time"
)

// The search tables audit_by_user and audit_by_patient (migration 0010)
// are filled by the audit writer in bulk rather than event by event: an
// index on audit_events would be updated by every commit at a random
// place (user ids and NHS numbers arrive in no order), one page of each
// index dirtied and written per event, while a few thousand events sorted
// by key touch each page once.
//
// The writer indexes the tail of the log, in the transaction of the batch
// in hand, once it holds indexTailEvents events or its oldest event has
// waited indexTailAge. Searches read the tables for events up to
// audit_indexed.upto and the tail from audit_events (byUser, byPatient),
// so an event is found from the moment it is committed.
const (
	indexTailEvents = 16384
	indexTailAge    = 250 * time.Millisecond
)

// indexAudit adds the events after seq `after` up to `upto` to the search
// tables and moves audit_indexed.upto to `upto`, in tx.
func indexAudit(ctx context.Context, tx *sqlTx, after, upto int64) error {
	if upto <= after {
		return nil
	}
	for _, q := range []string{
		`INSERT INTO audit_by_user (user_id, seq) SELECT user_id, seq FROM audit_events
			WHERE seq > ?1 AND seq <= ?2 AND user_id != '' ORDER BY user_id, seq`,
		`INSERT INTO audit_by_patient (nhs_number, seq) SELECT nhs_number, seq FROM audit_events
			WHERE seq > ?1 AND seq <= ?2 AND nhs_number != '' ORDER BY nhs_number, seq`,
	} {
		if _, err := tx.ExecContext(ctx, q, after, upto); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE audit_indexed SET upto = ? WHERE one = 1`, upto)
	return err
}

// indexedUpto reads audit_indexed.upto.
func indexedUpto(ctx context.Context, q querier) (int64, error) {
	var upto int64
	err := q.QueryRowContext(ctx, `SELECT upto FROM audit_indexed WHERE one = 1`).Scan(&upto)
	return upto, err
}

// byUser and byPatient return a condition on audit_events that selects one
// user's (one patient's) events with seq >= lo: those the search table
// holds and those of the tail. The plain comparison on the column keeps the
// answer right even if a search table were edited.
func byUser(userID string, lo int64) (string, []any) {
	return bySearchTable("audit_by_user", "user_id", userID, lo)
}

func byPatient(nhs string, lo int64) (string, []any) {
	return bySearchTable("audit_by_patient", "nhs_number", nhs, lo)
}

func bySearchTable(table, col, v string, lo int64) (string, []any) {
	return col + ` = ? AND seq IN (
		SELECT seq FROM ` + table + ` WHERE ` + col + ` = ? AND seq >= ?
		UNION ALL
		SELECT seq FROM audit_events WHERE seq > (SELECT upto FROM audit_indexed) AND seq >= ? AND ` + col + ` = ?)`,
		[]any{v, v, lo, lo, v}
}
