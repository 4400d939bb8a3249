-- The IG searches by user and by patient read these two tables instead of
-- indexes on audit_events. An index on audit_events is updated by every
-- event as it is committed, and user ids and NHS numbers arrive in no
-- order, so each event dirtied a page of each index: two thirds of the
-- pages a group commit wrote. The audit writer fills these tables instead
-- in bulk, a few thousand events at a time and in key order (store/
-- auditindex.go), and a search reads the table for events up to
-- audit_indexed.upto and the few newer events (the tail) from audit_events
-- itself, so nothing committed is ever missing from a search.
CREATE TABLE audit_by_user (
    user_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_by_patient (
    nhs_number TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (nhs_number, seq)
) STRICT, WITHOUT ROWID;

-- The last seq the two tables cover.
CREATE TABLE audit_indexed (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    upto INTEGER NOT NULL
) STRICT;

INSERT INTO audit_by_user (user_id, seq)
    SELECT user_id, seq FROM audit_events WHERE user_id != '' ORDER BY user_id, seq;
INSERT INTO audit_by_patient (nhs_number, seq)
    SELECT nhs_number, seq FROM audit_events WHERE nhs_number != '' ORDER BY nhs_number, seq;
INSERT INTO audit_indexed (one, upto) VALUES (1, IFNULL((SELECT MAX(seq) FROM audit_events), 0));

DROP INDEX audit_events_user;
DROP INDEX audit_events_nhs;

-- Entries are only ever added, like the events they point to.
CREATE TRIGGER audit_by_user_no_change BEFORE UPDATE ON audit_by_user
BEGIN
    SELECT RAISE(ABORT, 'audit search entries are append-only');
END;
CREATE TRIGGER audit_by_user_no_delete BEFORE DELETE ON audit_by_user
BEGIN
    SELECT RAISE(ABORT, 'audit search entries are append-only');
END;
CREATE TRIGGER audit_by_patient_no_change BEFORE UPDATE ON audit_by_patient
BEGIN
    SELECT RAISE(ABORT, 'audit search entries are append-only');
END;
CREATE TRIGGER audit_by_patient_no_delete BEFORE DELETE ON audit_by_patient
BEGIN
    SELECT RAISE(ABORT, 'audit search entries are append-only');
END;
