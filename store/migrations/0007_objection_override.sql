-- An emergency override of a patient's objection, where policy allows it,
-- is part of the user's reason for access to that patient.
ALTER TABLE access_grants ADD COLUMN objection_override INTEGER NOT NULL DEFAULT 0;
