-- The audit chain is keyed from keyed_from on: each event's hash is an
-- HMAC-SHA256 under a key held outside the database (store/auditkey.go),
-- so that nobody who can write this file but lacks the key can forge,
-- alter and re-hash, or re-chain events. Events before keyed_from (a log
-- written before the key existed) keep the plain SHA-256 rule; the first
-- keyed event's MAC covers the hash of the last plain one, so the plain
-- prefix cannot be rewritten either.
--
-- key_id names the key (not secret); mac authenticates the row under the
-- key, so that keyed_from cannot be moved to pass keyed events off as
-- plain ones. Written once, by the first start with a key.
CREATE TABLE audit_chain (
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    keyed_from INTEGER NOT NULL,
    key_id     TEXT NOT NULL,
    mac        TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'the audit chain record is written once');
END;

CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'the audit chain record is written once');
END;
