-- Where an IG officer's review of a patient's concern has got to, as the
-- patient sees it: when an officer first opened the concern's alert (the
-- concern is then "being reviewed"), and the message written for the
-- patient when the alert was closed. The alert's own review note stays
-- internal; only message is ever shown to the patient.
CREATE TABLE patient_concern_reviews (
    alert_id    INTEGER PRIMARY KEY REFERENCES audit_alerts (id),
    started_by  TEXT NOT NULL,
    started_at  INTEGER NOT NULL,          -- unix milliseconds, UTC
    message     TEXT NOT NULL DEFAULT '',  -- to the patient, set on closing
    messaged_at INTEGER                    -- unix milliseconds, UTC; NULL while open
) STRICT;
