-- When each user last looked at each record, and which results, letters
-- and reports the record held then, so that the next visit can mark what
-- arrived since. Identifiers only, and those hashed (8 bytes of SHA-256 of
-- "ODS/Resource/id", sorted): no clinical content. A visit is the
-- openings of a record with less than a set gap between them; prev_* is
-- what the user had seen by the end of their previous visit.
CREATE TABLE record_visits (
    user_id      TEXT NOT NULL,
    nhs_number   TEXT NOT NULL,
    last_at      INTEGER NOT NULL,  -- unix milliseconds, UTC: this visit's latest page
    seen         BLOB NOT NULL,     -- hashed keys shown during this visit
    prev_at      INTEGER,           -- the previous visit's latest page; NULL on the first visit
    prev_seen    BLOB,
    PRIMARY KEY (user_id, nhs_number)
) STRICT;
