package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AccessGrant is a user's stated reason to see one patient's record,
// valid for the rest of the session up to ExpiresAt.
type AccessGrant struct {
	SessionHash string
	NHSNumber   string
	Reason      string // reason code
	Detail      string // the written reason (required for break-glass)
	BreakGlass  bool
	// ObjectionOverride is set when the user overrode the patient's
	// upheld objection in an emergency (only where policy allows it).
	ObjectionOverride bool
	GrantedAt         time.Time
	ExpiresAt         time.Time
}

// GrantAccess records (or replaces) the session's reason for a patient.
func (db *DB) GrantAccess(ctx context.Context, g AccessGrant) (AccessGrant, error) {
	if g.SessionHash == "" || g.NHSNumber == "" || g.Reason == "" || !g.ExpiresAt.After(db.now()) {
		return g, errors.New("store: grant access: session, patient, reason and a future expiry are required")
	}
	g.GrantedAt = db.now().UTC()
	_, err := db.write.ExecContext(ctx, `INSERT INTO access_grants
		(session_hash, nhs_number, reason, detail, break_glass, objection_override, granted_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (session_hash, nhs_number) DO UPDATE SET reason = excluded.reason, detail = excluded.detail,
		break_glass = excluded.break_glass, objection_override = excluded.objection_override,
		granted_at = excluded.granted_at, expires_at = excluded.expires_at`,
		g.SessionHash, g.NHSNumber, g.Reason, g.Detail, boolInt(g.BreakGlass), boolInt(g.ObjectionOverride), ms(g.GrantedAt), ms(g.ExpiresAt))
	if err != nil {
		return g, fmt.Errorf("store: grant access: %w", err)
	}
	return g, nil
}

// AccessFor returns the session's live grant for a patient, or
// ErrNotFound when there is none or it has expired.
func (db *DB) AccessFor(ctx context.Context, sessionHash, nhs string) (AccessGrant, error) {
	g := AccessGrant{SessionHash: sessionHash, NHSNumber: nhs}
	var bg, ov int
	var granted, expires int64
	err := db.read.QueryRowContext(ctx, `SELECT reason, detail, break_glass, objection_override, granted_at, expires_at FROM access_grants
		WHERE session_hash = ? AND nhs_number = ?`, sessionHash, nhs).Scan(&g.Reason, &g.Detail, &bg, &ov, &granted, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return g, ErrNotFound
	}
	if err != nil {
		return g, fmt.Errorf("store: access grant: %w", err)
	}
	g.BreakGlass, g.ObjectionOverride, g.GrantedAt, g.ExpiresAt = bg == 1, ov == 1, fromMS(granted), fromMS(expires)
	if !db.now().Before(g.ExpiresAt) {
		return g, ErrNotFound
	}
	return g, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
