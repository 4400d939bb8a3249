-- The record cache: what each source last answered for each patient.
--
-- Nothing here identifies a patient or holds clinical content in the clear:
-- patient_key is an HMAC-SHA256 of the NHS number under a key derived from
-- the cache key, and body is AES-256-GCM ciphertext of the record (format
-- byte, 12-byte nonce, sealed JSON). The additional data binds each
-- ciphertext to its row (patient, source, state, fetch time), so rows cannot
-- be swapped or re-dated without failing authentication.
CREATE TABLE record_cache (
    patient_key BLOB NOT NULL,
    source      TEXT NOT NULL,            -- ODS code of the source
    fetched_at  INTEGER NOT NULL,         -- unix milliseconds, UTC
    state       TEXT NOT NULL CHECK (state IN ('record', 'no-record')),
    body        BLOB NOT NULL,
    PRIMARY KEY (patient_key, source)
) STRICT;

-- The purger deletes by age.
CREATE INDEX record_cache_fetched ON record_cache (fetched_at);

-- Settings the cache needs to outlive a restart; today only the key check:
-- a fixed plaintext sealed under the cache key at first use, so that
-- opening with another key fails at start-up rather than on a record page.
CREATE TABLE cache_meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
