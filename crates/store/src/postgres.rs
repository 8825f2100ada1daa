//! The PostgreSQL backend: a pool of plain-TCP connections to a local server.
//!
//! Optionally every table lives in one schema: `search_path` is sent as a startup parameter
//! on each pooled connection, so it costs no extra round trip and cannot be lost by a
//! connection that is reset. Hot paths are single statements: `touch_session` and
//! `record_login_failure` combine their steps with data-modifying CTEs.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use crate::error::{from_sqlx, from_sqlx_creating_user, StoreError};
use crate::model::{column, count_u32, count_u64, session_from_row, user_from_row, username_key};
use crate::{migrate, Role, SessionInfo, Timestamp, User};

/// Requests hold a connection for one short statement, so ten serve many concurrent requests
/// and stay well under the server's default `max_connections` (100) with several processes.
const POOL_SIZE: u32 = 10;
/// How long an operation waits for a free pooled connection before reporting `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `open` waits for its first connection. sqlx's pool keeps retrying a refused
/// connection until the acquire timeout; `open` connects once, directly, to fail fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Checks that `schema` is a plain lower-case identifier, safe to splice into SQL unquoted and
/// meaning the same thing in `search_path` and in `CREATE SCHEMA`.
pub(crate) fn validate_schema(schema: &str) -> Result<(), StoreError> {
    let mut chars = schema.chars();
    let valid = schema.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with("pg_");
    if valid {
        Ok(())
    } else {
        Err(StoreError::BadUrl(format!(
            "invalid schema name {:?}: use 1 to 63 of a-z, 0-9 and _, not starting with a digit \
             or pg_",
            schema.chars().take(70).collect::<String>()
        )))
    }
}

/// Connects to `url`, creates `schema` if given, migrates, and returns a pool whose
/// connections all use that schema.
pub(crate) async fn open(url: &str, schema: Option<&str>) -> Result<PgPool, StoreError> {
    if let Some(schema) = schema {
        validate_schema(schema)?;
    }
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::BadUrl(format!("cannot parse the PostgreSQL URL: {e}")))?
        .application_name("switchboard");
    if let Some(schema) = schema {
        options = options.options([("search_path", schema)]);
    }
    let target = format!("{}:{}", options.get_host(), options.get_port());
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
        .await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            return Err(match from_sqlx(e) {
                StoreError::Database(m) | StoreError::Unavailable(m) => StoreError::Unavailable(
                    format!("cannot connect to PostgreSQL at {target}: {m}"),
                ),
                other => other,
            })
        }
        Err(_) => {
            return Err(StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {target}: no answer within {}s",
                CONNECT_TIMEOUT.as_secs()
            )))
        }
    };
    let migrated = migrate::run_postgres(&mut conn, schema).await;
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %e, "closing the PostgreSQL migration connection");
    }
    migrated?;
    Ok(PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options))
}

pub(crate) async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

const USER_COLUMNS: &str = "id, username, role, created_at";

pub(crate) async fn create_user(
    pool: &PgPool,
    username: &str,
    password_hash: &str,
    role: Role,
    now: Timestamp,
) -> Result<User, StoreError> {
    let row = sqlx::query(
        "INSERT INTO users (username, username_key, password_hash, role, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
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

pub(crate) async fn user_by_id(pool: &PgPool, id: i64) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(from_sqlx)?;
    row.as_ref().map(user_from_row).transpose()
}

pub(crate) async fn credentials(
    pool: &PgPool,
    username: &str,
) -> Result<Option<(User, String)>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username_key = $1");
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
    pool: &PgPool,
    limit: u32,
    after_id: Option<i64>,
) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
    let rows = sqlx::query(&sql)
        .bind(after_id.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(from_sqlx)?;
    rows.iter().map(user_from_row).collect()
}

pub(crate) async fn set_password(
    pool: &PgPool,
    user_id: i64,
    password_hash: &str,
) -> Result<bool, StoreError> {
    // One statement is one transaction: both changes land together or not at all.
    let updated: Option<i64> = sqlx::query_scalar(
        "WITH updated AS (UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING id),
              revoked AS (DELETE FROM sessions WHERE user_id IN (SELECT id FROM updated))
         SELECT id FROM updated",
    )
    .bind(user_id)
    .bind(password_hash)
    .fetch_optional(pool)
    .await
    .map_err(from_sqlx)?;
    Ok(updated.is_some())
}

pub(crate) async fn delete_user(pool: &PgPool, user_id: i64) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(deleted.rows_affected() > 0)
}

pub(crate) async fn count_users(pool: &PgPool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(count_u64(n))
}

pub(crate) async fn create_session(
    pool: &PgPool,
    token_hash: &[u8; 32],
    user_id: i64,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at)
         VALUES ($1, $2, $3, $3, $4)",
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
    pool: &PgPool,
    token_hash: &[u8; 32],
    now: Timestamp,
    idle_cutoff: Timestamp,
) -> Result<Option<(SessionInfo, User)>, StoreError> {
    // One round trip. Both CTEs see the same snapshot and their conditions exclude each other,
    // so a row is either touched or (dead by expiry or idleness) purged, never both.
    let row = sqlx::query(
        "WITH touched AS (
             UPDATE sessions SET last_seen_at = greatest(last_seen_at, $2)
             WHERE token_hash = $1 AND expires_at > $2 AND last_seen_at >= $3
             RETURNING user_id, created_at, last_seen_at, expires_at
         ), purged AS (
             DELETE FROM sessions
             WHERE token_hash = $1 AND (expires_at <= $2 OR last_seen_at < $3)
         )
         SELECT t.user_id, t.created_at, t.last_seen_at, t.expires_at,
                u.id, u.username, u.role, u.created_at AS user_created_at
         FROM touched t JOIN users u ON u.id = t.user_id",
    )
    .bind(&token_hash[..])
    .bind(now.as_millis())
    .bind(idle_cutoff.as_millis())
    .fetch_optional(pool)
    .await
    .map_err(from_sqlx)?;
    let Some(row) = row else { return Ok(None) };
    let session = session_from_row(&row)?;
    let role: &str = column(&row, "role")?;
    let user = User {
        id: column(&row, "id")?,
        username: column(&row, "username")?,
        role: role
            .parse()
            .map_err(|e| StoreError::Database(format!("user {}: {e}", session.user_id)))?,
        created_at: Timestamp::from_millis(column(&row, "user_created_at")?),
    };
    Ok(Some((session, user)))
}

pub(crate) async fn delete_session(
    pool: &PgPool,
    token_hash: &[u8; 32],
) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(&token_hash[..])
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(deleted.rows_affected() > 0)
}

pub(crate) async fn delete_user_sessions(pool: &PgPool, user_id: i64) -> Result<u64, StoreError> {
    let deleted = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(deleted.rows_affected())
}

pub(crate) async fn delete_expired_sessions(
    pool: &PgPool,
    now: Timestamp,
    idle_cutoff: Timestamp,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2")
        .bind(now.as_millis())
        .bind(idle_cutoff.as_millis())
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(deleted.rows_affected())
}

pub(crate) async fn count_active_sessions(
    pool: &PgPool,
    now: Timestamp,
    idle_cutoff: Timestamp,
) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE expires_at > $1 AND last_seen_at >= $2",
    )
    .bind(now.as_millis())
    .bind(idle_cutoff.as_millis())
    .fetch_one(pool)
    .await
    .map_err(from_sqlx)?;
    Ok(count_u64(n))
}

pub(crate) async fn record_login_failure(
    pool: &PgPool,
    key: &str,
    now: Timestamp,
    window_start: Timestamp,
) -> Result<u32, StoreError> {
    // One round trip. The final SELECT sees the snapshot from before the CTEs ran, so it counts
    // the earlier failures still in the window and adds the one just recorded.
    let n: i64 = sqlx::query_scalar(
        "WITH forgotten AS (DELETE FROM login_failures WHERE key = $1 AND at <= $3),
              recorded AS (INSERT INTO login_failures (key, at) VALUES ($1, $2) RETURNING at)
         SELECT (SELECT count(*) FROM login_failures WHERE key = $1 AND at > $3)
              + (SELECT count(*) FROM recorded WHERE at > $3)",
    )
    .bind(key)
    .bind(now.as_millis())
    .bind(window_start.as_millis())
    .fetch_one(pool)
    .await
    .map_err(from_sqlx)?;
    Ok(count_u32(n))
}

pub(crate) async fn login_failures(
    pool: &PgPool,
    key: &str,
    window_start: Timestamp,
) -> Result<(u32, Option<Timestamp>), StoreError> {
    let (n, latest): (i64, Option<i64>) =
        sqlx::query_as("SELECT count(*), max(at) FROM login_failures WHERE key = $1 AND at > $2")
            .bind(key)
            .bind(window_start.as_millis())
            .fetch_one(pool)
            .await
            .map_err(from_sqlx)?;
    Ok((count_u32(n), latest.map(Timestamp::from_millis)))
}

pub(crate) async fn clear_login_failures(pool: &PgPool, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_failures WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

pub(crate) async fn prune_login_failures(
    pool: &PgPool,
    before: Timestamp,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query("DELETE FROM login_failures WHERE at < $1")
        .bind(before.as_millis())
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(deleted.rows_affected())
}
