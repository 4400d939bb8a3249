-- Accesses shown to the patient again after being hidden (SQLite's
-- 0046_patient_access_unhidden.sql says what each column holds).
CREATE TABLE patient_access_unhidden (
    seq            BIGINT NOT NULL REFERENCES audit_events (seq),
    nhs_number     TEXT NOT NULL,
    hidden_by      TEXT NOT NULL,
    hidden_by_name TEXT NOT NULL,
    hidden_reason  TEXT NOT NULL,
    hidden_at      BIGINT NOT NULL,
    unhidden_by    TEXT NOT NULL,
    by_name        TEXT NOT NULL,
    reason         TEXT NOT NULL,
    unhidden_at    BIGINT NOT NULL,
    PRIMARY KEY (seq, unhidden_at)
);
CREATE INDEX patient_access_unhidden_nhs ON patient_access_unhidden (nhs_number, seq);
