-- Objections to sharing, and withdrawals of them, as submitted through the
-- public form and decided by IG officers (store/objections.go).
--
-- Personal data never lands here in the clear: the submitted form is one
-- AES-256-GCM sealed JSON document, and NHS numbers are held twice, as a
-- keyed hash (HMAC under the cache key) for lookup and sealed for display.
CREATE TABLE objection_cases (
    id             INTEGER PRIMARY KEY,
    ref            TEXT NOT NULL UNIQUE,    -- CR-XXXX-XXXX, given to the patient
    kind           TEXT NOT NULL CHECK (kind IN ('object', 'withdraw')),
    status         TEXT NOT NULL CHECK (status IN ('received', 'identity-checked', 'upheld', 'not-upheld', 'withdrawn')),
    submitted      INTEGER NOT NULL,        -- unix milliseconds, UTC
    updated        INTEGER NOT NULL,        -- time of the last step
    nhs_key        BLOB,                    -- keyed hash of the NHS number given on the form, if any
    matched_key    BLOB,                    -- keyed hash of the patient the officer matched
    matched_sealed BLOB,                    -- that NHS number, sealed
    form           BLOB NOT NULL            -- the submitted form, sealed JSON
) STRICT;

-- The open queue, oldest first.
CREATE INDEX objection_cases_status ON objection_cases (status, submitted, id);
-- Search by the NHS number the form gave, and by the one matched.
CREATE INDEX objection_cases_nhs ON objection_cases (nhs_key);
CREATE INDEX objection_cases_matched ON objection_cases (matched_key);
-- The hot path: is this patient's sharing stopped? Every record page and
-- search hit asks, so it is one probe of a small partial index.
CREATE INDEX objection_cases_upheld ON objection_cases (matched_key) WHERE kind = 'object' AND status = 'upheld';

-- Every step of every case: who, when, from which status to which, and the
-- officer's note (sealed: a note may name the patient).
CREATE TABLE objection_steps (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES objection_cases (id),
    at          INTEGER NOT NULL,           -- unix milliseconds, UTC
    by_id       TEXT NOT NULL,              -- user id; '' for the public form
    by_name     TEXT NOT NULL,
    from_status TEXT NOT NULL,              -- '' for the submission itself
    to_status   TEXT NOT NULL,
    note        BLOB                        -- sealed; NULL when there is none
) STRICT;

CREATE INDEX objection_steps_case ON objection_steps (case_id, id);
