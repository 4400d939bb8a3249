-- Accesses an IG officer showed to the patient again after they had been
-- hidden: the hiding as it was (who, why, when) and the unhiding (who,
-- why, when). Unhiding removes the row from patient_access_hidden, so the
-- patient sees the access again; this history keeps both for the report.
-- Both steps are audit events too. Never deleted.
CREATE TABLE patient_access_unhidden (
    seq            INTEGER NOT NULL REFERENCES audit_events (seq),
    nhs_number     TEXT NOT NULL,
    hidden_by      TEXT NOT NULL,
    hidden_by_name TEXT NOT NULL,
    hidden_reason  TEXT NOT NULL,
    hidden_at      INTEGER NOT NULL,       -- unix milliseconds, UTC
    unhidden_by    TEXT NOT NULL,
    by_name        TEXT NOT NULL,
    reason         TEXT NOT NULL,
    unhidden_at    INTEGER NOT NULL,       -- unix milliseconds, UTC
    PRIMARY KEY (seq, unhidden_at)
) STRICT;
CREATE INDEX patient_access_unhidden_nhs ON patient_access_unhidden (nhs_number, seq);
