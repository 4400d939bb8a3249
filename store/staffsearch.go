package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// StaffMatch is one member of staff whose name matched an IG officer's
// search, as the audit log knows them.
type StaffMatch struct {
	UserID     string
	UserName   string
	LastSignIn time.Time
}

// FindStaffByName lists the staff who have signed in under a name holding
// part (any case), most recently signed in first, at most limit of them.
// It reads sign-in events only (the action index), not the whole log: an
// officer asks "what did Dr Okafor access" long before knowing her id.
func (db *DB) FindStaffByName(ctx context.Context, part string, limit int) ([]StaffMatch, error) {
	part = strings.ToLower(strings.TrimSpace(part))
	if part == "" {
		return nil, nil
	}
	// LIKE's own characters in the name are literal.
	pattern := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(part) + "%"
	rows, err := db.read.QueryContext(ctx, `SELECT user_id, user_name, MAX(time) FROM audit_events
		WHERE action = ? AND lower(user_name) LIKE ? ESCAPE '\'
		GROUP BY user_id, user_name ORDER BY MAX(time) DESC, user_id LIMIT ?`, string(ActSignIn), pattern, limit)
	if err != nil {
		return nil, fmt.Errorf("store: find staff: %w", err)
	}
	defer rows.Close()
	var out []StaffMatch
	for rows.Next() {
		var m StaffMatch
		var at int64
		if err := rows.Scan(&m.UserID, &m.UserName, &at); err != nil {
			return nil, fmt.Errorf("store: find staff: %w", err)
		}
		m.LastSignIn = fromMS(at)
		out = append(out, m)
	}
	return out, rows.Err()
}
