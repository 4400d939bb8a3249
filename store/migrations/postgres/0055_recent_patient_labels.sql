-- Who each recent patient is, sealed (SQLite's
-- 0055_recent_patient_labels.sql says what the column holds).
ALTER TABLE recent_patients ADD COLUMN label BYTEA;
