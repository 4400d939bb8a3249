-- Patients' own pages (signed in with NHS login): the accesses an IG
-- officer hid from a patient's view, and the concerns patients raised
-- about an access. Both point at audit events; neither holds clinical
-- content.

-- An access hidden from the patient's own view, with who hid it and why
-- (e.g. an ongoing safeguarding investigation). The hiding is itself an
-- audit event; this row is what the patient's view reads. Never deleted.
CREATE TABLE patient_access_hidden (
    seq        INTEGER PRIMARY KEY REFERENCES audit_events (seq),
    nhs_number TEXT NOT NULL,
    hidden_by  TEXT NOT NULL,
    by_name    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    hidden_at  INTEGER NOT NULL            -- unix milliseconds, UTC
) STRICT;
CREATE INDEX patient_access_hidden_nhs ON patient_access_hidden (nhs_number, seq);

-- A concern a patient raised about one access: seq is the concern's own
-- audit event (whose alert the IG officer reviews), access_seq the access.
CREATE TABLE patient_concerns (
    seq        INTEGER PRIMARY KEY REFERENCES audit_events (seq),
    nhs_number TEXT NOT NULL,
    access_seq INTEGER NOT NULL REFERENCES audit_events (seq)
) STRICT;
CREATE INDEX patient_concerns_nhs ON patient_concerns (nhs_number, seq);
