-- How far the feed's events have been pruned (SQLite).
-- Applied once by src/migrate.rs; do not edit after release: add 0005_... instead.

-- One row: every event with an id up to `through` may have been deleted by the clean-up job.
-- A reader resuming from an earlier id would miss some, and is told to start again instead.
CREATE TABLE feed_pruned (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    through INTEGER NOT NULL
) STRICT;

INSERT INTO feed_pruned (id, through) VALUES (1, 0);

