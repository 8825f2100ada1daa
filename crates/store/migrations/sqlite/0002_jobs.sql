-- Scheduled jobs and the request statistics the daily report reads (SQLite).
-- Applied once by src/migrate.rs; do not edit after release: add 0003_... instead.

-- One row per run of a job (backup, report, cleanup), scheduled or asked for. A scheduled run
-- names its slot (the cron time it was due): the unique key makes a slot run once, whichever
-- server gets there. Manual runs have no slot (NULLs never collide).
CREATE TABLE job_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job           TEXT    NOT NULL,
    triggered_by  TEXT    NOT NULL CHECK (triggered_by IN ('schedule', 'manual')),
    runner        TEXT    NOT NULL,  -- the server (or command) that ran it
    scheduled_for INTEGER,           -- epoch ms of the slot; NULL for a manual run
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('running', 'ok', 'failed', 'interrupted')),
    bytes         INTEGER,           -- what it wrote, when it writes a file
    detail        TEXT,              -- one line: the file written, the rows deleted
    error         TEXT,
    UNIQUE (job, scheduled_for)
) STRICT;

CREATE INDEX job_runs_started_at ON job_runs (started_at);

-- Requests answered, per hour (epoch ms of its start), route, method and status: each server
-- adds what it counted since its last flush.
CREATE TABLE request_counts (
    hour   INTEGER NOT NULL,
    route  TEXT    NOT NULL,
    method TEXT    NOT NULL,
    status INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (hour, route, method, status)
) STRICT, WITHOUT ROWID;

-- Response times per hour and route, as a log-linear histogram: `bucket` is the index the
-- application computes from microseconds (see the app's metrics), `count` the requests in it.
CREATE TABLE request_latency (
    hour   INTEGER NOT NULL,
    route  TEXT    NOT NULL,
    bucket INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (hour, route, bucket)
) STRICT, WITHOUT ROWID;
