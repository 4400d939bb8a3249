package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RoleProfile is one of a user's role profiles as asserted by the identity
// provider: a role code (e.g. R8000) held at one organisation.
type RoleProfile struct {
	Code    string `json:"code"`
	ODS     string `json:"ods"`
	OrgName string `json:"org"`
	// ID is the SDS role profile id (CIS2's person_roleid) when sign-in
	// gave one: GP Connect's JWT names it for the requesting practitioner.
	ID string `json:"id,omitempty"`
}

// Session is the server-side state of one signed-in browser.
type Session struct {
	IDHash       string // SHA-256 of the cookie token, hex
	UserID       string
	DisplayName  string
	Profiles     []RoleProfile
	RoleIndex    int    // -1 until a profile is chosen
	Assurance    int    // authentication assurance level (3 = smartcard)
	UserNHS      string // the user's own NHS number, if asserted
	NameID       string // SAML NameID, or the OpenID Connect subject
	NameIDFormat string
	SessionIndex string // SAML SessionIndex, or the OpenID Connect sid
	Protocol     string // ProtocolSAML, ProtocolOIDC or ProtocolEPR
	IDToken      string // OpenID Connect: the ID token, for id_token_hint at sign-out
	ClientAddr   string
	CreatedAt    time.Time
	LastSeenAt   time.Time
	ExpiresAt    time.Time
	EndedAt      time.Time // zero while the session is live
	EndReason    string
}

// Role returns the chosen role profile and true, or false if none is chosen.
func (s *Session) Role() (RoleProfile, bool) {
	if s.RoleIndex < 0 || s.RoleIndex >= len(s.Profiles) {
		return RoleProfile{}, false
	}
	return s.Profiles[s.RoleIndex], true
}

// Ended reports whether the session was ended (sign-out, lock, expiry).
func (s *Session) Ended() bool { return !s.EndedAt.IsZero() }

// NewSession is what sign-in knows about a user.
type NewSession struct {
	UserID       string
	DisplayName  string
	Profiles     []RoleProfile
	Assurance    int
	UserNHS      string
	NameID       string
	NameIDFormat string
	SessionIndex string
	Protocol     string // ProtocolSAML when empty
	IDToken      string
	ClientAddr   string
	Lifetime     time.Duration // absolute lifetime
}

// The sign-in protocols a session may come from.
const (
	ProtocolSAML = "saml"
	ProtocolOIDC = "oidc"
	// ProtocolEPR: a Trust's EPR signed the user in, and the deployment
	// trusts it to (SMART App Launch with fhirUser).
	ProtocolEPR = "epr"
	// ProtocolNHSLogin: a patient signed in with NHS login. UserNHS is
	// their verified NHS number; NameIDFormat holds the identity
	// proofing level (P9); there are no role profiles.
	ProtocolNHSLogin = "nhslogin"
)

// HashToken returns the hex SHA-256 of a session token: the form in which
// the token is stored and the session id written to logs and the audit log.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateSession stores a new session and returns the token the browser
// keeps. A user with exactly one profile has it chosen at once.
func (db *DB) CreateSession(ctx context.Context, n NewSession) (string, *Session, error) {
	if n.UserID == "" {
		return "", nil, errors.New("store: create session: empty user id")
	}
	if n.Lifetime <= 0 {
		return "", nil, errors.New("store: create session: lifetime must be positive")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("store: create session: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	if n.Protocol == "" {
		n.Protocol = ProtocolSAML
	}
	now := db.now().UTC()
	s := &Session{
		IDHash: HashToken(token), UserID: n.UserID, DisplayName: n.DisplayName,
		Profiles: n.Profiles, RoleIndex: -1, Assurance: n.Assurance, UserNHS: n.UserNHS,
		NameID: n.NameID, NameIDFormat: n.NameIDFormat, SessionIndex: n.SessionIndex,
		Protocol: n.Protocol, IDToken: n.IDToken, ClientAddr: n.ClientAddr, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(n.Lifetime),
	}
	if len(s.Profiles) == 1 {
		s.RoleIndex = 0
	}
	profiles, err := json.Marshal(s.Profiles)
	if err != nil {
		return "", nil, fmt.Errorf("store: create session: %w", err)
	}
	var roleIndex any
	if s.RoleIndex >= 0 {
		roleIndex = s.RoleIndex
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO sessions
		(id_hash, user_id, display_name, profiles, role_index, assurance, user_nhs, name_id, name_id_format,
		 session_index, protocol, id_token, client_addr, created_at, last_seen_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.IDHash, s.UserID, s.DisplayName, string(profiles), roleIndex, s.Assurance, s.UserNHS, s.NameID, s.NameIDFormat,
		s.SessionIndex, s.Protocol, s.IDToken, s.ClientAddr, ms(now), ms(now), ms(s.ExpiresAt))
	if err != nil {
		return "", nil, fmt.Errorf("store: create session: %w", err)
	}
	return token, s, nil
}

// SessionByToken returns the session for a cookie token, live or ended, or
// ErrNotFound.
func (db *DB) SessionByToken(ctx context.Context, token string) (*Session, error) {
	return db.SessionByHash(ctx, HashToken(token))
}

// SessionByHash returns the session with the given hashed id, or ErrNotFound.
func (db *DB) SessionByHash(ctx context.Context, idHash string) (*Session, error) {
	// Read through the reader pool: under WAL each read sees every commit
	// made before it starts, and it does not queue behind the one writer
	// (every request reads its session).
	row := db.read.QueryRowContext(ctx, `SELECT id_hash, user_id, display_name, profiles, role_index,
		assurance, user_nhs, name_id, name_id_format, session_index, protocol, id_token, client_addr, created_at, last_seen_at,
		expires_at, ended_at, end_reason FROM sessions WHERE id_hash = ?`, idHash)
	var (
		s                      Session
		profiles               string
		roleIndex, ended       sql.NullInt64
		created, seen, expires int64
	)
	err := row.Scan(&s.IDHash, &s.UserID, &s.DisplayName, &profiles, &roleIndex, &s.Assurance, &s.UserNHS,
		&s.NameID, &s.NameIDFormat, &s.SessionIndex, &s.Protocol, &s.IDToken, &s.ClientAddr, &created, &seen, &expires, &ended, &s.EndReason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read session: %w", err)
	}
	if err := json.Unmarshal([]byte(profiles), &s.Profiles); err != nil {
		return nil, fmt.Errorf("store: read session profiles: %w", err)
	}
	s.RoleIndex = -1
	if roleIndex.Valid {
		s.RoleIndex = int(roleIndex.Int64)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	if ended.Valid {
		s.EndedAt = fromMS(ended.Int64)
	}
	return &s, nil
}

// TouchSession records activity on a live session.
func (db *DB) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	_, err := db.write.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ? AND ended_at IS NULL AND last_seen_at < ?`,
		ms(at), idHash, ms(at))
	if err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// ChooseRole sets the session's role profile. It returns ErrNotFound when
// the session is not live or the index is out of range.
func (db *DB) ChooseRole(ctx context.Context, idHash string, index int) error {
	s, err := db.SessionByHash(ctx, idHash)
	if err != nil {
		return err
	}
	if s.Ended() || index < 0 || index >= len(s.Profiles) {
		return ErrNotFound
	}
	_, err = db.write.ExecContext(ctx, `UPDATE sessions SET role_index = ? WHERE id_hash = ? AND ended_at IS NULL`, index, idHash)
	if err != nil {
		return fmt.Errorf("store: choose role: %w", err)
	}
	return nil
}

// EndSession ends a session for good (sign-out, idle lock, expiry); the
// token can never be used again. Ending an ended session changes nothing.
func (db *DB) EndSession(ctx context.Context, idHash, reason string) error {
	_, err := db.write.ExecContext(ctx, `UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id_hash = ? AND ended_at IS NULL`,
		ms(db.now()), reason, idHash)
	if err != nil {
		return fmt.Errorf("store: end session: %w", err)
	}
	return nil
}

// EndSessionsFor ends the live sessions of one protocol that the
// identity provider names, for single logout it starts: by nameID (the
// SAML NameID or OpenID Connect subject) and, when sessionIndex is not
// empty, only the one with that SAML SessionIndex or OIDC sid. It
// returns the hashed ids of the sessions it ended.
func (db *DB) EndSessionsFor(ctx context.Context, protocol, nameID, sessionIndex, reason string) ([]string, error) {
	if nameID == "" && sessionIndex == "" {
		return nil, errors.New("store: end sessions: neither a name id nor a session index")
	}
	q := `SELECT id_hash FROM sessions WHERE ended_at IS NULL AND protocol = ?`
	args := []any{protocol}
	if nameID != "" {
		q += ` AND name_id = ?`
		args = append(args, nameID)
	}
	if sessionIndex != "" {
		q += ` AND session_index = ?`
		args = append(args, sessionIndex)
	}
	rows, err := db.write.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: end sessions: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: end sessions: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: end sessions: %w", err)
	}
	for _, id := range ids {
		if err := db.EndSession(ctx, id, reason); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// CountLiveSessions returns how many sessions are live now.
func (db *DB) CountLiveSessions(ctx context.Context) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL AND expires_at > ?`, ms(db.now())).Scan(&n)
	return n, err
}

// ErrReplay is returned by UseAssertion for an assertion seen before.
var ErrReplay = errors.New("assertion already used")

// UseAssertion records that a SAML assertion ID has been consumed. It
// returns ErrReplay if the ID was consumed before and has not yet expired.
func (db *DB) UseAssertion(ctx context.Context, id string, expires time.Time) error {
	if id == "" {
		return errors.New("store: use assertion: empty id")
	}
	now := db.now()
	if _, err := db.write.ExecContext(ctx, `DELETE FROM saml_assertions WHERE expires_at < ?`, ms(now)); err != nil {
		return fmt.Errorf("store: use assertion: %w", err)
	}
	_, err := db.write.ExecContext(ctx, `INSERT INTO saml_assertions (assertion_id, expires_at) VALUES (?, ?)`, id, ms(expires))
	if isUniqueViolation(err) {
		return ErrReplay
	}
	if err != nil {
		return fmt.Errorf("store: use assertion: %w", err)
	}
	return nil
}

func ms(t time.Time) int64     { return t.UTC().UnixMilli() }
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
