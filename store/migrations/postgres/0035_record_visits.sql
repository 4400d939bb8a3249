-- When each user last looked at each record, and the hashed keys of the
-- results, letters and reports it held then (see the SQLite migration
-- 0035_record_visits.sql for the meaning of each column).
CREATE TABLE record_visits (
    user_id    TEXT NOT NULL,
    nhs_number TEXT NOT NULL,
    last_at    BIGINT NOT NULL,
    seen       BYTEA NOT NULL,
    prev_at    BIGINT,
    prev_seen  BYTEA,
    PRIMARY KEY (user_id, nhs_number)
);
