-- Why a user may look at a patient's record in this session: the reason
-- they gave, and until when it holds. Break-glass grants expire sooner.
CREATE TABLE access_grants (
    session_hash TEXT NOT NULL REFERENCES sessions (id_hash),
    nhs_number   TEXT NOT NULL,
    reason       TEXT NOT NULL,           -- reason code, e.g. direct-care, break-glass
    detail       TEXT NOT NULL DEFAULT '',-- the written reason for break-glass
    break_glass  INTEGER NOT NULL DEFAULT 0,
    granted_at   INTEGER NOT NULL,        -- unix milliseconds, UTC
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (session_hash, nhs_number)
) STRICT;
