-- The user's own NHS number, when the identity provider asserts it, so
-- that a user opening their own record raises an alert.
ALTER TABLE sessions ADD COLUMN user_nhs TEXT NOT NULL DEFAULT '';
