//! The SQLite backend: one database file, shared by every process that opens it.
//!
//! Connections run in WAL mode (readers never block the writer, nor it them), with
//! `synchronous = NORMAL` (a power cut may lose the last commits, never corrupt the file),
//! foreign keys on (sessions cascade with their user) and a busy timeout, so a writer waits for
//! another process's write instead of failing at once. Transactions that write start with
//! `BEGIN IMMEDIATE`: they take the write lock up front, where the busy timeout applies,
//! instead of failing when a read lock cannot be upgraded.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, SqliteConnection};
use tokio::time::Instant;

use crate::error::{from_sqlx, from_sqlx_creating_user, StoreError};
use crate::model::{column, count_u32, count_u64, session_from_row, user_from_row, username_key};
use crate::{migrate, Role, SessionInfo, Timestamp, User};

/// SQLite has one writer at a time however many connections there are, and a read takes
/// microseconds, so a few connections cover a server; each one is also a thread in sqlx.
const POOL_SIZE: u32 = 4;
/// How long a write waits for another connection's (or process's) write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an operation waits for a free pooled connection before reporting `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating it, and its parent directory, if missing) and migrates the database at `path`.
pub(crate) async fn open(path: &str) -> Result<SqlitePool, StoreError> {
    let path = Path::new(path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await.map_err(|e| {
            StoreError::Unavailable(format!("cannot create directory {}: {e}", parent.display()))
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    // Migrate on a connection of its own, so a file that cannot be opened fails here, once,
    // with the reason, instead of as a pool timeout on the first request.
    let mut conn = connect_when_not_busy(&options)
        .await
        .map_err(|e| match from_sqlx(e) {
            StoreError::Database(m) | StoreError::Unavailable(m) => StoreError::Unavailable(
                format!("cannot open SQLite database {}: {m}", path.display()),
            ),
            other => other,
        })?;
    let migrated = migrate::run_sqlite(&mut conn).await;
    if let Err(e) = sqlx::Connection::close(conn).await {
        tracing::debug!(error = %e, "closing the SQLite migration connection");
    }
    migrated?;
    Ok(SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options))
}

/// Connects, retrying while the database is busy, up to [`BUSY_TIMEOUT`].
///
/// Switching a new file to WAL mode (the `journal_mode` pragma sqlx runs on connect) needs an
/// exclusive lock, and SQLite reports `SQLITE_BUSY` at once, without its busy handler, when
/// another connection is doing the same: exactly what happens when several processes start
/// together on a new database.
async fn connect_when_not_busy(
    options: &SqliteConnectOptions,
) -> Result<SqliteConnection, sqlx::Error> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut backoff = Duration::from_millis(5);
    loop {
        match options.connect().await {
            Err(sqlx::Error::Database(e))
                if is_busy(e.code().as_deref()) && Instant::now() + backoff < deadline =>
            {
                tracing::debug!(error = %e, "SQLite database busy while connecting; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED, or one of their extended codes.
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<u32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

pub(crate) async fn ping(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

const USER_COLUMNS: &str = "id, username, role, created_at";

pub(crate) async fn create_user(
    pool: &SqlitePool,
    username: &str,
    password_hash: &str,
    role: Role,
    now: Timestamp,
) -> Result<User, StoreError> {
    let row = sqlx::query(
        "INSERT INTO users (username, username_key, password_hash, role, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
    )
    .bind(username)
    .bind(username_key(username))
    .bind(password_hash)
    .bind(role.as_str())
    .bind(now.as_millis())
    .fetch_one(pool)
    .await
    .map_err(from_sqlx_creating_user)?;
    Ok(User {
        id: column(&row, "id")?,
        username: username.to_owned(),
        role,
        created_at: now,
    })
}

pub(crate) async fn user_by_id(pool: &SqlitePool, id: i64) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(from_sqlx)?;
    row.as_ref().map(user_from_row).transpose()
}

pub(crate) async fn credentials(
    pool: &SqlitePool,
    username: &str,
) -> Result<Option<(User, String)>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username_key = ?1");
    let row = sqlx::query(&sql)
        .bind(username_key(username))
        .fetch_optional(pool)
        .await
        .map_err(from_sqlx)?;
    match row {
        Some(row) => Ok(Some((user_from_row(&row)?, column(&row, "password_hash")?))),
        None => Ok(None),
    }
}

pub(crate) async fn list_users(
    pool: &SqlitePool,
    limit: u32,
    after_id: Option<i64>,
) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id > ?1 ORDER BY id LIMIT ?2");
    let rows = sqlx::query(&sql)
        .bind(after_id.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(from_sqlx)?;
    rows.iter().map(user_from_row).collect()
}

pub(crate) async fn set_password(
    pool: &SqlitePool,
    user_id: i64,
    password_hash: &str,
) -> Result<bool, StoreError> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(from_sqlx)?;
    let updated = sqlx::query("UPDATE users SET password_hash = ?1 WHERE id = ?2")
        .bind(password_hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
    if updated.rows_affected() == 0 {
        return Ok(false); // dropping `tx` rolls back the empty transaction
    }
    sqlx::query("DELETE FROM sessions WHERE user_id = ?1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
    tx.commit().await.map_err(from_sqlx)?;
    Ok(true)
}

pub(crate) async fn delete_user(pool: &SqlitePool, user_id: i64) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM users WHERE id = ?1")
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(deleted.rows_affected() > 0)
}

pub(crate) async fn count_users(pool: &SqlitePool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(count_u64(n))
}

pub(crate) async fn create_session(
    pool: &SqlitePool,
    token_hash: &[u8; 32],
    user_id: i64,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at)
         VALUES (?1, ?2, ?3, ?3, ?4)",
    )
    .bind(&token_hash[..])
    .bind(user_id)
    .bind(now.as_millis())
    .bind(expires_at.as_millis())
    .execute(pool)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

pub(crate) async fn touch_session(
    pool: &SqlitePool,
    token_hash: &[u8; 32],
    now: Timestamp,
    idle_cutoff: Timestamp,
) -> Result<Option<(SessionInfo, User)>, StoreError> {
    // SQLite's RETURNING cannot join, so this is a transaction; its round trips are in-process.
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(from_sqlx)?;
    let touched = sqlx::query(
        "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2)
         WHERE token_hash = ?1 AND expires_at > ?2 AND last_seen_at >= ?3
         RETURNING user_id, created_at, last_seen_at, expires_at",
    )
    .bind(&token_hash[..])
    .bind(now.as_millis())
    .bind(idle_cutoff.as_millis())
    .fetch_optional(&mut *tx)
    .await
    .map_err(from_sqlx)?;
    let found = match touched {
        Some(row) => {
            let session = session_from_row(&row)?;
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
            let user = sqlx::query(&sql)
                .bind(session.user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(from_sqlx)?;
            user.as_ref()
                .map(user_from_row)
                .transpose()?
                .map(|user| (session, user))
        }
        None => {
            // Not touched: absent, or dead by expiry or idleness. A dead one goes now.
            sqlx::query(
                "DELETE FROM sessions
                 WHERE token_hash = ?1 AND (expires_at <= ?2 OR last_seen_at < ?3)",
            )
            .bind(&token_hash[..])
            .bind(now.as_millis())
            .bind(idle_cutoff.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
            None
        }
    };
    tx.commit().await.map_err(from_sqlx)?;
    Ok(found)
}

pub(crate) async fn delete_session(
    pool: &SqlitePool,
    token_hash: &[u8; 32],
) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM sessions WHERE token_hash = ?1")
        .bind(&token_hash[..])
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(deleted.rows_affected() > 0)
}

pub(crate) async fn delete_user_sessions(
    pool: &SqlitePool,
    user_id: i64,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query("DELETE FROM sessions WHERE user_id = ?1")
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(deleted.rows_affected())
}

pub(crate) async fn delete_expired_sessions(
    pool: &SqlitePool,
    now: Timestamp,
    idle_cutoff: Timestamp,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at < ?2")
        .bind(now.as_millis())
        .bind(idle_cutoff.as_millis())
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(deleted.rows_affected())
}

pub(crate) async fn count_active_sessions(
    pool: &SqlitePool,
    now: Timestamp,
    idle_cutoff: Timestamp,
) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE expires_at > ?1 AND last_seen_at >= ?2",
    )
    .bind(now.as_millis())
    .bind(idle_cutoff.as_millis())
    .fetch_one(pool)
    .await
    .map_err(from_sqlx)?;
    Ok(count_u64(n))
}

pub(crate) async fn record_login_failure(
    pool: &SqlitePool,
    key: &str,
    now: Timestamp,
    window_start: Timestamp,
) -> Result<u32, StoreError> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(from_sqlx)?;
    sqlx::query("DELETE FROM login_failures WHERE key = ?1 AND at <= ?2")
        .bind(key)
        .bind(window_start.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
    sqlx::query("INSERT INTO login_failures (key, at) VALUES (?1, ?2)")
        .bind(key)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE key = ?1 AND at > ?2")
            .bind(key)
            .bind(window_start.as_millis())
            .fetch_one(&mut *tx)
            .await
            .map_err(from_sqlx)?;
    tx.commit().await.map_err(from_sqlx)?;
    Ok(count_u32(n))
}

pub(crate) async fn login_failures(
    pool: &SqlitePool,
    key: &str,
    window_start: Timestamp,
) -> Result<(u32, Option<Timestamp>), StoreError> {
    let (n, latest): (i64, Option<i64>) =
        sqlx::query_as("SELECT count(*), max(at) FROM login_failures WHERE key = ?1 AND at > ?2")
            .bind(key)
            .bind(window_start.as_millis())
            .fetch_one(pool)
            .await
            .map_err(from_sqlx)?;
    Ok((count_u32(n), latest.map(Timestamp::from_millis)))
}

pub(crate) async fn clear_login_failures(pool: &SqlitePool, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_failures WHERE key = ?1")
        .bind(key)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

pub(crate) async fn prune_login_failures(
    pool: &SqlitePool,
    before: Timestamp,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query("DELETE FROM login_failures WHERE at < ?1")
        .bind(before.as_millis())
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(deleted.rows_affected())
}
