-- An alert, once looked at, is either closed with no concern (reviewed) or
-- escalated for investigation. SQLite cannot alter a CHECK constraint, so
-- the table is rebuilt.
CREATE TABLE audit_alerts_new (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL REFERENCES audit_events (seq),
    kind        TEXT NOT NULL,
    raised      INTEGER NOT NULL,         -- unix milliseconds, UTC
    user_id     TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    nhs_number  TEXT NOT NULL,
    why         TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'reviewed', 'escalated')),
    reviewed_by TEXT NOT NULL DEFAULT '',
    review_note TEXT NOT NULL DEFAULT '',
    reviewed_at INTEGER,
    UNIQUE (seq, kind)
) STRICT;

INSERT INTO audit_alerts_new (id, seq, kind, raised, user_id, user_name, nhs_number, why, status, reviewed_by, review_note, reviewed_at)
    SELECT id, seq, kind, raised, user_id, user_name, nhs_number, why, status, reviewed_by, review_note, reviewed_at FROM audit_alerts;
DROP TABLE audit_alerts;
ALTER TABLE audit_alerts_new RENAME TO audit_alerts;
CREATE INDEX audit_alerts_status ON audit_alerts (status, id);
CREATE INDEX audit_alerts_user ON audit_alerts (user_id, kind, raised);
