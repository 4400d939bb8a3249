-- The patients each user opened lately, for the search page's "recent
-- patients". Identifiers only. (The audit log is the record of access;
-- this is a convenience list and is trimmed.)
CREATE TABLE recent_patients (
    user_id    TEXT NOT NULL,
    nhs_number TEXT NOT NULL,
    opened_at  INTEGER NOT NULL,   -- unix milliseconds, UTC
    PRIMARY KEY (user_id, nhs_number)
) STRICT;

CREATE INDEX recent_patients_user ON recent_patients (user_id, opened_at DESC);
