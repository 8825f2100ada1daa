-- Users, sessions and login throttling (SQLite).
-- Applied once by src/migrate.rs inside a BEGIN IMMEDIATE transaction; do not edit after release:
-- its checksum is recorded, and a changed file stops the store from opening. Add 0002_... instead.

-- AUTOINCREMENT: an id is never reused after its user is deleted, so an old id in a log or a
-- stale cookie can never point at someone else. STRICT: a wrong type is an error, not a cast.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,  -- lower-cased username: uniqueness ignores case
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    created_at    INTEGER NOT NULL          -- milliseconds since the Unix epoch
) STRICT;

-- Only the SHA-256 of a session token is stored. All times are epoch milliseconds.
CREATE TABLE sessions (
    token_hash   BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- One row per failed login: an exact sliding window, counted with the (key, at) index.
CREATE TABLE login_failures (
    key TEXT    NOT NULL,  -- e.g. 'user:ann' or 'ip:127.0.0.1'
    at  INTEGER NOT NULL
) STRICT;

CREATE INDEX login_failures_key_at ON login_failures (key, at);
