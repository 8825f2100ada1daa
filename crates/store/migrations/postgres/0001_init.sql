-- Users, sessions and login throttling (PostgreSQL).
-- Applied once by src/migrate.rs inside a transaction holding an advisory lock; do not edit after
-- release: its checksum is recorded, and a changed file stops the store from opening. Add
-- 0002_... instead. Tables are unqualified: they land in the first schema on search_path.

-- An identity column never reuses an id after its user is deleted, so an old id in a log or a
-- stale cookie can never point at someone else.
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT   NOT NULL,
    username_key  TEXT   NOT NULL UNIQUE,  -- lower-cased username: uniqueness ignores case
    password_hash TEXT   NOT NULL,
    role          TEXT   NOT NULL CHECK (role IN ('user', 'admin')),
    created_at    BIGINT NOT NULL          -- milliseconds since the Unix epoch
);

-- Only the SHA-256 of a session token is stored. All times are epoch milliseconds.
CREATE TABLE sessions (
    token_hash   BYTEA  PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- One row per failed login: an exact sliding window, counted with the (key, at) index.
CREATE TABLE login_failures (
    key TEXT   NOT NULL,  -- e.g. 'user:ann' or 'ip:127.0.0.1'
    at  BIGINT NOT NULL
);

CREATE INDEX login_failures_key_at ON login_failures (key, at);
