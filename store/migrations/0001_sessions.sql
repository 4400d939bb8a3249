-- Server-side session state. The browser's cookie carries only a random
-- token; the table holds its SHA-256, so a copy of the database cannot be
-- used to take over a live session.
CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    profiles      TEXT NOT NULL,          -- JSON array of role profiles
    role_index    INTEGER,                -- chosen profile, NULL until chosen
    assurance     INTEGER NOT NULL DEFAULT 0,
    name_id       TEXT NOT NULL DEFAULT '',
    name_id_format TEXT NOT NULL DEFAULT '',
    session_index TEXT NOT NULL DEFAULT '',
    client_addr   TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,       -- unix milliseconds, UTC
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,       -- absolute lifetime
    ended_at      INTEGER,                -- set at sign-out, lock or expiry
    end_reason    TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Assertion IDs already consumed at /saml/acs, kept until they expire, so
-- a captured SAML response cannot be posted a second time.
CREATE TABLE saml_assertions (
    assertion_id TEXT PRIMARY KEY,
    expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX saml_assertions_expires ON saml_assertions (expires_at);
