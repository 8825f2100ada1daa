//! The database behind Switchboard's HTTP application server: users, sessions and login
//! throttling, on SQLite or PostgreSQL behind one interface.
//!
//! [`Store`] is the whole interface. [`Store::open`] takes a URL (`sqlite://PATH` or
//! `postgres://USER@HOST:PORT/DB`), connects, applies the backend's migrations and returns a
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
//!
//! Time is a [`Timestamp`] (milliseconds since the Unix epoch) that the caller supplies; the
//! store never reads a clock to decide anything, so tests control time and processes agree.
//! Errors are a [`StoreError`], sorted by what the caller does next: fix the configuration
//! ([`StoreError::BadUrl`]), answer 503 ([`StoreError::Unavailable`]), tell the user
//! ([`StoreError::UsernameTaken`]), or log it ([`StoreError::Database`]).
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
//! - `lib.rs`: [`Store`] and [`Backend`], URL parsing, and dispatch to a backend.
//! - `sqlite.rs`, `postgres.rs`: the SQL for each backend; `migrations/<backend>/*.sql` beside
//!   `src/` holds the schema, applied by `migrate.rs`.
//! - `model.rs`: [`User`], [`Role`], [`SessionInfo`]; `time.rs`: [`Timestamp`];
//!   `error.rs`: [`StoreError`].
#![forbid(unsafe_code)]

mod error;
mod migrate;
mod model;
mod postgres;
mod sqlite;
mod time;

use std::fmt;
use std::time::Duration;

use sqlx::{PgPool, SqlitePool};

pub use error::StoreError;
pub use model::{ParseRoleError, Role, SessionInfo, User};
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
    /// The pool of the backend that [`Store::open`] chose from the URL's scheme.
    pool: Pool,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Calls the same function in the backend module the store runs on.
macro_rules! dispatch {
    ($store:expr, $function:ident($($arg:expr),*)) => {
        match &$store.pool {
            Pool::Sqlite(pool) => sqlite::$function(pool, $($arg),*).await,
            Pool::Postgres(pool) => postgres::$function(pool, $($arg),*).await,
        }
    };
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
        dispatch!(self, ping())
    }

    /// Closes the pool, waiting for connections in use to come back. Every clone is closed;
    /// later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    // ---- users ----

    /// Creates an account. `password_hash` is the application's encoded hash, stored as is.
    ///
    /// [`StoreError::UsernameTaken`] if another user has the same name ignoring case ("Ann" and
    /// "ann" collide). The username is stored as given; the application validates it.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        dispatch!(self, create_user(username, password_hash, role, now))
    }

    /// The user with this id, if any.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        dispatch!(self, user_by_id(id))
    }

    /// The user with this name, ignoring case, and their password hash: for the login handler
    /// only, which verifies the password against the hash.
    pub async fn credentials(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        dispatch!(self, credentials(username))
    }

    /// Up to `limit` users with `id > after_id` (all, if `None`), ordered by id ascending: pass
    /// the last id of one page as `after_id` to get the next. No password hashes.
    pub async fn list_users(
        &self,
        limit: u32,
        after_id: Option<i64>,
    ) -> Result<Vec<User>, StoreError> {
        dispatch!(self, list_users(limit, after_id))
    }

    /// Replaces a user's password hash and deletes all of that user's sessions, in one
    /// transaction: whoever knew the old password is logged out everywhere. `false` if there
    /// is no such user.
    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        dispatch!(self, set_password(user_id, password_hash))
    }

    /// Deletes a user, and with them (by cascade) their sessions. `false` if there was none.
    /// Their id is never given to another user.
    pub async fn delete_user(&self, user_id: i64) -> Result<bool, StoreError> {
        dispatch!(self, delete_user(user_id))
    }

    /// How many users there are.
    pub async fn count_users(&self) -> Result<u64, StoreError> {
        dispatch!(self, count_users())
    }

    // ---- sessions ----

    /// Records a new session for `user_id`, last seen `now`, dead from `expires_at` on.
    ///
    /// `token_hash` is the SHA-256 of the token the client holds. A `user_id` with no user is a
    /// [`StoreError::Database`] (foreign key), as is a token hash already in use.
    pub async fn create_session(
        &self,
        token_hash: &[u8; 32],
        user_id: i64,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        dispatch!(self, create_session(token_hash, user_id, now, expires_at))
    }

    /// Looks a session up for an authenticated request, in one round trip where the backend
    /// allows (PostgreSQL: one statement; SQLite: one in-process transaction).
    ///
    /// If the session exists, `now < expires_at` and `last_seen_at >= idle_cutoff` (pass
    /// `now - idle timeout`), sets `last_seen_at = now` (never moving it backwards, should
    /// processes' clocks disagree) and returns it with its user. A session found dead is
    /// deleted, and `None` returned, as for one that does not exist.
    pub async fn touch_session(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> Result<Option<(SessionInfo, User)>, StoreError> {
        dispatch!(self, touch_session(token_hash, now, idle_cutoff))
    }

    /// Deletes one session (logout). `false` if there was none.
    pub async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
        dispatch!(self, delete_session(token_hash))
    }

    /// Deletes every session of a user ("log out everywhere"); returns how many there were.
    pub async fn delete_user_sessions(&self, user_id: i64) -> Result<u64, StoreError> {
        dispatch!(self, delete_user_sessions(user_id))
    }

    /// Deletes every dead session (`expires_at <= now` or `last_seen_at < idle_cutoff`);
    /// returns how many. For a periodic janitor: `touch_session` already refuses dead ones.
    pub async fn delete_expired_sessions(
        &self,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        dispatch!(self, delete_expired_sessions(now, idle_cutoff))
    }

    /// How many sessions are alive (`now < expires_at` and `last_seen_at >= idle_cutoff`).
    pub async fn count_active_sessions(
        &self,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        dispatch!(self, count_active_sessions(now, idle_cutoff))
    }

    // ---- login throttling ----

    /// Records one failed login for `key` at `now` and returns how many failures `key` has in
    /// the window after recording it.
    ///
    /// A failure at `at` is in the window while `at > now - window`; older ones for this key
    /// are deleted first. Concurrent calls for one key may each miss the others' uncommitted
    /// failure; [`Store::login_failures`] before the next attempt sees them all.
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: Timestamp,
        window: Duration,
    ) -> Result<u32, StoreError> {
        dispatch!(
            self,
            record_login_failure(key, now, now.saturating_sub(window))
        )
    }

    /// How many failures `key` has in the window ending at `now`, and when the latest was.
    pub async fn login_failures(
        &self,
        key: &str,
        now: Timestamp,
        window: Duration,
    ) -> Result<(u32, Option<Timestamp>), StoreError> {
        dispatch!(self, login_failures(key, now.saturating_sub(window)))
    }

    /// Forgets every failure of `key` (after a successful login, say).
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        dispatch!(self, clear_login_failures(key))
    }

    /// Deletes every failure of every key recorded before `before`; returns how many.
    ///
    /// `record_login_failure` only trims the key it records, so keys never seen again (an
    /// address that tried once) stay until a janitor calls this with `now - window`.
    pub async fn prune_login_failures(&self, before: Timestamp) -> Result<u64, StoreError> {
        dispatch!(self, prune_login_failures(before))
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
