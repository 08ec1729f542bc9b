-- +goose Up
-- Sign-in for the web UI (issue 19). password_hash is an argon2id PHC
-- string ('' for a user without a password, who cannot sign in).
ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';

-- Browser sessions: in the database so that every replica accepts them
-- and signing out (or a password change) ends them everywhere. Only the
-- SHA-256 digest of the cookie's secret is kept (security.md: no secret in
-- clear at rest).
CREATE TABLE web_sessions (
    id {{ID}},
    digest TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX web_sessions_digest ON web_sessions (digest);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- +goose Down
DROP TABLE web_sessions;
ALTER TABLE users DROP COLUMN password_hash;
