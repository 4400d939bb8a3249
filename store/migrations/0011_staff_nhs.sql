-- Staff members' own NHS numbers, kept by the privacy officers for the
-- "own record" alert when the identity provider does not assert one.
-- Each is sealed with the cache key, the user id bound in as associated
-- data, so that a copy of the file does not list staff NHS numbers.
CREATE TABLE staff_nhs (
    user_id  TEXT PRIMARY KEY,
    sealed   BLOB NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL    -- unix milliseconds, UTC
) STRICT;
