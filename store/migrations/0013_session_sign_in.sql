-- How each session signed in (saml or oidc), and for OpenID Connect the
-- ID token, sent back as id_token_hint when the user signs out. name_id
-- holds the OIDC subject and session_index the provider's sid, so that a
-- back-channel logout token finds the sessions it names.
ALTER TABLE sessions ADD COLUMN protocol TEXT NOT NULL DEFAULT 'saml';
ALTER TABLE sessions ADD COLUMN id_token TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_name_id ON sessions (name_id) WHERE ended_at IS NULL;
