-- The feed: short messages and the events that announce them (PostgreSQL).
-- Applied once by src/migrate.rs; do not edit after release: add 0004_... instead.

-- A post is its author's: deleting the account deletes its posts. An identity column never
-- gives an id again, so a deleted post's id in a client's page can never name another.
CREATE TABLE posts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT   NOT NULL,
    created_at BIGINT NOT NULL  -- epoch ms
);

CREATE INDEX posts_author_id ON posts (author_id);

-- One row per post made or deleted, written in the transaction that made or deleted it: what
-- a client that reconnects (Last-Event-ID) is replayed from, in id order, which is commit
-- order (writers take the feed's advisory lock before either insert, so no id is committed
-- after a greater one). No foreign keys: a post event outlives its post, whose deletion is an
-- event of its own.
CREATE TABLE feed_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT   NOT NULL CHECK (kind IN ('post', 'delete')),
    post_id    BIGINT NOT NULL,
    author_id  BIGINT NOT NULL,  -- the post's author: posts per author per minute are counted here
    created_at BIGINT NOT NULL
);

CREATE INDEX feed_events_author ON feed_events (author_id, created_at);
