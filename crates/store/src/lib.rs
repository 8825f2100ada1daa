//! The database behind Switchboard's HTTP application server: users, sessions and login
//! throttling, on SQLite or PostgreSQL behind one interface.
//!
//! [`Store`] is the whole interface. [`Store::open`] takes a URL (`sqlite://PATH` or
//! `postgres://USER@HOST:PORT/DB`), connects, applies the engine's migrations and returns a
//! handle that is cheap to clone: every clone shares one connection pool, so each request
//! handler keeps its own. Its methods come in three groups:
//!
//! - **Users** ([`User`], [`Role`]): accounts with a unique, case-insensitive username.
//!   [`Store::credentials`] is the only call that returns a password hash; [`Store::set_password`]
//!   also revokes every session of that user.
//! - **Sessions** ([`SessionInfo`]): created at login, then [`Store::touch_session`] on every
//!   authenticated request checks the absolute expiry and the idle cutoff, records the activity,
//!   and returns the session with its user in one round trip.
//! - **Login throttling**: failed attempts counted per key (`user:ann`, `ip:127.0.0.1`) over a
//!   sliding window, in the database, so every server process on it sees the same count.
//! - **The feed** ([`Post`], [`FeedEvent`]): posts, and an event per post made or deleted,
//!   written in the same transaction, for readers to replay from without a hole (SQLite
//!   commits one writer at a time; on PostgreSQL writers hold the feed's advisory lock
//!   shared, and a reader waits for them with it held exclusive); on PostgreSQL a `NOTIFY` at
//!   commit wakes every process's [`FeedListener`].
//!
//! Time is a [`Timestamp`] (milliseconds since the Unix epoch) that the caller supplies; the
//! store never reads a clock to decide anything, so tests control time and processes agree.
//! Errors are a [`StoreError`], sorted by what the caller does next: fix the configuration
//! ([`StoreError::BadUrl`]), answer 503 ([`StoreError::Unavailable`]), tell the user
//! ([`StoreError::UsernameTaken`]), or log it ([`StoreError::Database`]).
//!
//! # One query layer, two engines
//!
//! Every query is written once, as a `Store` method whose body runs inside `on_engine!`: the
//! macro matches the store's pool and binds it, as a `&SqlitePool` in one arm and a `&PgPool`
//! in the other, so the one body is compiled for each engine, on sqlx's own typed drivers. The
//! SQL is one text for both: numbered parameters (`$1`) mean the same to SQLite and PostgreSQL,
//! `RETURNING` works in both, `&[u8]` binds as BLOB or BYTEA and every number is an `i64`.
//!
//! What differs between the engines lives in `sqlite.rs` and `postgres.rs`, each implementing
//! the `Engine` trait (`engine.rs`) for sqlx's type and opening its kind of database:
//!
//! - how a writing transaction begins (SQLite takes the write lock up front with
//!   `BEGIN IMMEDIATE`), the pool's size, the migrations and their lock (the SQLite file's
//!   write lock; a PostgreSQL advisory lock, and the schema created under it), and which of
//!   the engine's error codes mean "unavailable" (unique violations need no hook: sqlx
//!   recognises both engines' codes);
//! - the two hot operations that PostgreSQL does in one statement with data-modifying CTEs and
//!   SQLite, which has none, in a transaction: [`Store::touch_session`] (every authenticated
//!   request the session cache does not answer) and [`Store::record_login_failure`] (every
//!   failed sign-in, which is what a password-guessing attack drives). A rare operation that
//!   could also be one PostgreSQL statement, [`Store::set_password`], is the one transaction
//!   on both: a round trip or two on a password change is not worth a second text;
//! - opening: the file, its directory and its pragmas, or the server, its URL and its schema.
//!
//! Why not `sqlx::Any`: it copies every row into values of its own and every argument into
//! the driver's, on the hot path; it knows a handful of types (integers, floats, text, bytes),
//! so PostgreSQL's own (`TIMESTAMPTZ`, arrays, `JSONB`) would be out of reach; and its drivers
//! are chosen at run time from a registry the binary must fill. Why not methods generic over
//! `sqlx::Database`: sqlx's traits do not imply the bounds its generic code needs
//! (`for<'c> &'c mut DB::Connection: Executor<'c>`, an `Encode` and a `Decode` per column
//! type), so every generic impl block would repeat a dozen where-clauses, for the same two
//! compiled copies the macro gives. The migration runner, one function, is the one place that
//! is generic (`migrate::run`), its bounds written once.
//!
//! ## Adding a table
//!
//! The schema change goes in a new `migrations/<engine>/NNNN_name.sql` for each engine (the
//! DDL's types differ: `INTEGER`, `BLOB` and `STRICT` tables against `BIGINT` and `BYTEA`),
//! listed in `migrate.rs`. The record type goes in `model.rs`, built from a row by a function
//! generic over `sqlx::Row` as `user_from_row` is. The queries are `Store` methods in a module
//! of their own, as `users.rs`, `sessions.rs` and `throttle.rs` are: each one's SQL written
//! once, inside `on_engine!(self, |pool| ...)`, with `engine::begin_write(pool)` for a
//! transaction that writes. Only a query that cannot be one text for both engines becomes a
//! method of `Engine`, with one implementation in each engine's file.
//!
//! # Invariants
//!
//! - **The store never sees a plaintext password.** The application hashes it and hands over
//!   the encoded hash (a PHC string, say), which the store keeps as opaque text.
//! - **Only the SHA-256 of a session token is stored.** The application generates the random
//!   token, gives it to the client, and passes the store its 32-byte digest; a copy of the
//!   database does not let anyone log in.
//! - **Neither shows up in an error message**: both travel as bound query parameters.
//! - **The schema is current when `open` returns.** Migrations run at open, once, even when
//!   several processes open one database at the same moment (see `migrate.rs`).
//! - A session is alive while `now < expires_at` and `last_seen_at >= idle_cutoff`; that one
//!   rule is used by `touch_session`, `count_active_sessions` and `delete_expired_sessions`.
//!
//! # Layout
//!
//! - `lib.rs`: [`Store`] and [`Backend`], opening, URL parsing, and `on_engine!`.
//! - `users.rs`, `sessions.rs`, `throttle.rs`: the queries, written once.
//! - `engine.rs`: the `Engine` trait, what differs; `sqlite.rs`, `postgres.rs`: its two
//!   implementations and how each engine is opened.
//! - `migrate.rs`: the one migration runner; `migrations/<engine>/*.sql` beside `src/` holds
//!   each engine's schema.
//! - `model.rs`: [`User`], [`Role`], [`SessionInfo`]; `time.rs`: [`Timestamp`];
//!   `error.rs`: [`StoreError`].
//! - `feed.rs`: posts and their events (the PostgreSQL [`FeedListener`] is in `postgres.rs`).
//! - `jobs.rs` (the scheduled jobs' runs, batched clean-up), `stats.rs` (request statistics
//!   per hour, for the daily report), `ops.rs` (what backups and restores ask of a database),
//!   `leader.rs` ([`Leadership`]: which process runs the jobs, taken by `Engine::try_lead`):
//!   queries written once, as above.
#![forbid(unsafe_code)]

use std::fmt;

use sqlx::{PgPool, SqlitePool};

/// Runs a body written once on the store's pool, whichever engine it is.
///
/// `on_engine!(store, |pool| BODY)` matches `store.pool` and evaluates `BODY` with `pool` bound
/// to the `&SqlitePool` or the `&PgPool`: the body is compiled once per engine, against sqlx's
/// typed driver, and must give the same type in both (decode rows inside it). Engine-specific
/// steps are reached through the `Engine` trait (`engine.rs`), whose `Self` is inferred
/// from `pool`: `Engine::touch_session(pool, ...)`, `engine::begin_write(pool)`.
macro_rules! on_engine {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}

mod engine;
mod error;
mod feed;
mod jobs;
mod leader;
mod migrate;
mod model;
mod ops;
mod postgres;
mod sessions;
mod sqlite;
mod stats;
mod throttle;
mod time;
mod users;

pub use error::StoreError;
pub use feed::{Deleted, FeedEvent, FeedEventKind, FeedListener, Post, PostLimit, Posted};
pub use jobs::{JobOutcome, JobRun, JobSummary, JobTrigger};
pub use leader::{sqlite_in_use, Leadership};
pub use model::{ParseRoleError, Role, SessionInfo, User};
pub use ops::{check_sqlite_file, contents, latest_schema_version, url_target, Contents};
pub use stats::{bucket_range, latency_bucket, LatencyCount, RequestCount};
pub use time::Timestamp;

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl fmt::Display for Backend {
    /// `sqlite` or `postgres`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// A handle on the database: cheap to clone, every clone sharing one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    /// The pool of the engine that [`Store::open`] chose from the URL's scheme; queries reach
    /// it through `on_engine!`.
    pool: Pool,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

const URL_HELP: &str = "expected sqlite://PATH or postgres://USER@HOST:PORT/DB";

impl Store {
    /// Opens the database at `url`, creating and migrating it as needed.
    ///
    /// - `sqlite://PATH` (or `sqlite:PATH`): the file is created if missing, and its parent
    ///   directory too. `sqlite:///abs/path.db` is absolute, `sqlite://data/app.db` relative to
    ///   the working directory. In-memory databases are refused: each pooled connection would
    ///   get its own empty one.
    /// - `postgres://USER@HOST:PORT/DB` (or `postgresql://`): tables live in the connection's
    ///   default schema (normally `public`). Connecting fails within a few seconds if the server
    ///   cannot be reached, rather than retrying.
    ///
    /// Errors: [`StoreError::BadUrl`] for anything else, [`StoreError::Unavailable`] when the
    /// database cannot be reached or the file cannot be opened, [`StoreError::Database`] when a
    /// migration fails.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let pool = match parse_url(url)? {
            Target::Sqlite(path) => Pool::Sqlite(sqlite::open(path).await?),
            Target::Postgres => Pool::Postgres(postgres::open(url, None).await?),
        };
        Ok(Store { pool })
    }

    /// Like [`Store::open`] for a `postgres://` URL, with every table in `schema`.
    ///
    /// The schema is created if missing and set as `search_path` on every pooled connection.
    /// It must be a plain lower-case identifier (`a-z`, `0-9`, `_`; not starting with a digit or
    /// `pg_`), else [`StoreError::BadUrl`]. Several stores, each in its own schema, can share
    /// one database without seeing each other: the tests run that way, in parallel.
    pub async fn open_postgres_in_schema(url: &str, schema: &str) -> Result<Store, StoreError> {
        match parse_url(url)? {
            Target::Postgres => {}
            Target::Sqlite(_) => {
                return Err(StoreError::BadUrl(
                    "a schema needs a postgres:// URL, not sqlite://".to_owned(),
                ))
            }
        }
        let pool = Pool::Postgres(postgres::open(url, Some(schema)).await?);
        Ok(Store { pool })
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs a trivial query: `Ok` means a request could be served now (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_engine!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map(drop)
        })
        .map_err(error::from_sqlx)
    }

    /// Closes the pool, waiting for connections in use to come back. Every clone is closed;
    /// later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        on_engine!(self, |pool| pool.close().await)
    }
}

enum Target<'a> {
    Sqlite(&'a str),
    Postgres,
}

/// Chooses the backend from the URL's scheme. The messages never repeat the URL past its
/// scheme: a PostgreSQL URL may carry a password.
fn parse_url(url: &str) -> Result<Target<'_>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres);
    }
    let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err(StoreError::BadUrl(match url.split_once(':') {
            Some((scheme, _)) if !scheme.is_empty() && scheme.len() <= 20 => {
                format!("unsupported scheme {scheme:?}: {URL_HELP}")
            }
            _ if url.trim().is_empty() => format!("the URL is empty: {URL_HELP}"),
            _ => format!("not a database URL: {URL_HELP}"),
        }));
    };
    if path.is_empty() {
        return Err(StoreError::BadUrl(format!(
            "no file path after sqlite://: {URL_HELP}"
        )));
    }
    if path.starts_with(":memory:") || path.contains("mode=memory") {
        return Err(StoreError::BadUrl(
            "in-memory SQLite is not supported (each pooled connection would get its own empty \
             database): use sqlite://PATH"
                .to_owned(),
        ));
    }
    if path.contains('?') {
        return Err(StoreError::BadUrl(
            "sqlite:// URLs take no ?options: the store sets WAL, foreign keys and timeouts itself"
                .to_owned(),
        ));
    }
    Ok(Target::Sqlite(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(url: &str) -> String {
        match parse_url(url) {
            Err(StoreError::BadUrl(message)) => message,
            Err(other) => panic!("{url}: expected BadUrl, got {other:?}"),
            Ok(_) => panic!("{url}: expected BadUrl, got a target"),
        }
    }

    #[test]
    fn urls() {
        assert!(matches!(
            parse_url("sqlite:///tmp/a.db"),
            Ok(Target::Sqlite("/tmp/a.db"))
        ));
        assert!(matches!(
            parse_url("sqlite://data/a.db"),
            Ok(Target::Sqlite("data/a.db"))
        ));
        assert!(matches!(
            parse_url("sqlite:a.db"),
            Ok(Target::Sqlite("a.db"))
        ));
        assert!(matches!(
            parse_url("postgres://u@h:5432/d"),
            Ok(Target::Postgres)
        ));
        assert!(matches!(
            parse_url("postgresql://u@h/d"),
            Ok(Target::Postgres)
        ));
        assert!(bad("mysql://root:hunter2@db/x").contains("\"mysql\""));
        assert!(!bad("mysql://root:hunter2@db/x").contains("hunter2"));
        assert!(bad("").contains("empty"));
        assert!(bad("sqlite://").contains("no file path"));
        assert!(bad("sqlite::memory:").contains("in-memory"));
        assert!(bad("sqlite://a.db?mode=ro").contains("no ?options"));
        assert!(bad("/var/lib/app.db").contains("not a database URL"));
    }

    #[test]
    fn backend_names() {
        assert_eq!(Backend::Sqlite.to_string(), "sqlite");
        assert_eq!(Backend::Postgres.to_string(), "postgres");
    }
}
