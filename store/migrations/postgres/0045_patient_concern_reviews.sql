-- Where an IG officer's review of a patient's concern has got to (SQLite's
-- 0045_patient_concern_reviews.sql says what each column holds).
CREATE TABLE patient_concern_reviews (
    alert_id    BIGINT PRIMARY KEY REFERENCES audit_alerts (id),
    started_by  TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    message     TEXT NOT NULL DEFAULT '',
    messaged_at BIGINT
);
