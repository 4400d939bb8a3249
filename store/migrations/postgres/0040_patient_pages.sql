-- Patients' own pages (SQLite's 0040_patient_pages.sql, which says what
-- each column holds): the accesses an IG officer hid from a patient's
-- view, and the concerns patients raised about an access.
CREATE TABLE patient_access_hidden (
    seq        BIGINT PRIMARY KEY REFERENCES audit_events (seq),
    nhs_number TEXT NOT NULL,
    hidden_by  TEXT NOT NULL,
    by_name    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    hidden_at  BIGINT NOT NULL
);
CREATE INDEX patient_access_hidden_nhs ON patient_access_hidden (nhs_number, seq);

CREATE TABLE patient_concerns (
    seq        BIGINT PRIMARY KEY REFERENCES audit_events (seq),
    nhs_number TEXT NOT NULL,
    access_seq BIGINT NOT NULL REFERENCES audit_events (seq)
);
CREATE INDEX patient_concerns_nhs ON patient_concerns (nhs_number, seq);
