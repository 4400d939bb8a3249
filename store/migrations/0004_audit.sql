-- The audit log: one row per access or IG action, identifiers only, never
-- clinical content. Rows are chained: hash is SHA-256 over the row's
-- canonical encoding (store/audit.go, auditHash) and prev_hash, the hash of
-- the row before it, so an edit made outside the application breaks the
-- chain where it was made.
CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY,     -- 1, 2, 3... in commit order
    time         INTEGER NOT NULL,        -- unix milliseconds, UTC
    user_id      TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    role_code    TEXT NOT NULL,
    ods          TEXT NOT NULL,           -- the user's organisation
    session_hash TEXT NOT NULL,
    client_addr  TEXT NOT NULL,
    action       TEXT NOT NULL,
    nhs_number   TEXT NOT NULL,           -- '' when the event has no patient
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    outcome_why  TEXT NOT NULL,
    sources      TEXT NOT NULL,           -- JSON array of ODS codes
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
) STRICT;

-- One index per IG search path; each ends in seq so that a search reads
-- newest first straight off the index and pages by keyset without sorting.
CREATE INDEX audit_events_user ON audit_events (user_id, seq);
CREATE INDEX audit_events_nhs ON audit_events (nhs_number, seq);
CREATE INDEX audit_events_ods ON audit_events (ods, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_time ON audit_events (time);

-- The application never changes or removes an event. The triggers make
-- that a property of the database, not only of the code; someone who
-- drops them and edits the file is caught by the chain instead.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- Each walk of the chain, scheduled or on demand. The head (seq and hash)
-- of the last good walk anchors the next one: a later walk that finds the
-- head gone or changed reports it even if the chain was rebuilt
-- consistently after an edit.
CREATE TABLE audit_verifications (
    id            INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,       -- unix milliseconds, UTC
    ok            INTEGER NOT NULL CHECK (ok IN (0, 1)),
    events        INTEGER NOT NULL,
    first_bad_seq INTEGER NOT NULL,       -- 0 when ok
    problem       TEXT NOT NULL,
    head_seq      INTEGER NOT NULL,
    head_hash     TEXT NOT NULL
) STRICT;

-- Suspicious access raised for a privacy officer. Unlike events, alerts
-- are updated: a review sets status, reviewer, note and time.
CREATE TABLE audit_alerts (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL REFERENCES audit_events (seq),
    kind        TEXT NOT NULL,
    raised      INTEGER NOT NULL,         -- unix milliseconds, UTC
    user_id     TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    nhs_number  TEXT NOT NULL,
    why         TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'reviewed')),
    reviewed_by TEXT NOT NULL DEFAULT '',
    review_note TEXT NOT NULL DEFAULT '',
    reviewed_at INTEGER,
    UNIQUE (seq, kind)
) STRICT;

CREATE INDEX audit_alerts_status ON audit_alerts (status, id);
-- The windowed rules ask "was this user alerted for this lately?".
CREATE INDEX audit_alerts_user ON audit_alerts (user_id, kind, raised);
