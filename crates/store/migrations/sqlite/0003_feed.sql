-- The feed: short messages and the events that announce them (SQLite).
-- Applied once by src/migrate.rs; do not edit after release: add 0004_... instead.

-- A post is its author's: deleting the account deletes its posts. AUTOINCREMENT: an id is
-- never given again, so a deleted post's id in a client's page can never name another.
CREATE TABLE posts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL  -- epoch ms
) STRICT;

CREATE INDEX posts_author_id ON posts (author_id);

-- One row per post made or deleted, written in the transaction that made or deleted it: what
-- a client that reconnects (Last-Event-ID) is replayed from, in id order, which is commit
-- order (writers take the write lock before either insert). No foreign keys: a post event
-- outlives its post, whose deletion is an event of its own.
CREATE TABLE feed_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('post', 'delete')),
    post_id    INTEGER NOT NULL,
    author_id  INTEGER NOT NULL,  -- the post's author: posts per author per minute are counted here
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX feed_events_author ON feed_events (author_id, created_at);
