//! The PostgreSQL engine: a pool of plain-TCP connections to a local server.
//!
//! Optionally every table lives in one schema: `search_path` is sent as a startup parameter
//! on each pooled connection, so it costs no extra round trip and cannot be lost by a
//! connection that is reset. Hot paths are single statements: `touch_session` and
//! `record_login_failure` combine their steps with data-modifying CTEs, one round trip each.
//! Openers of one schema migrate in turn, under a transaction-scoped advisory lock.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, Postgres, Transaction};

use crate::engine::{self, Engine};
use crate::error::{from_sqlx, StoreError};
use crate::model::{column, count_u32, session_from_row};
use crate::{migrate, Leadership, SessionInfo, Timestamp, User};

/// How long `open` waits for its first connection. sqlx's pool keeps retrying a refused
/// connection until the acquire timeout; `open` connects once, directly, to fail fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl Engine for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";

    /// Requests hold a connection for one short statement, so ten serve many concurrent
    /// requests and stay well under the server's default `max_connections` (100) with several
    /// processes.
    const POOL_SIZE: u32 = 10;

    const MIGRATIONS: &'static [migrate::Migration] = migrate::POSTGRES;

    const TABLES: &'static str = "SELECT table_name::text FROM information_schema.tables \
                                  WHERE table_schema = current_schema() \
                                  AND table_type = 'BASE TABLE' \
                                  AND table_name <> 'switchboard_migrations' ORDER BY 1";

    /// SQLSTATEs: class 08 (connection exception), class 28 (authentication failed), 3D000
    /// (no such database), 53300 (too many connections), 57P01..57P03 (shutting down,
    /// crashed, starting up).
    fn unavailable_code(code: &str) -> bool {
        code.starts_with("08")
            || code.starts_with("28")
            || matches!(code, "3D000" | "53300" | "57P01" | "57P02" | "57P03")
    }

    /// A transaction-scoped advisory lock per schema, then the schema. Concurrent
    /// `CREATE ... IF NOT EXISTS` can still fail in PostgreSQL (both creators pass the check,
    /// one hits a catalog unique violation), so openers of one schema queue here.
    async fn lock_for_migrations(
        conn: &mut PgConnection,
        schema: Option<&str>,
    ) -> Result<(), StoreError> {
        let lock_key = migrate::checksum(&format!(
            "switchboard-store migrations:{}",
            schema.unwrap_or("")
        ));
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key)
            .execute(&mut *conn)
            .await
            .map_err(from_sqlx)?;
        if let Some(schema) = schema {
            let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
            conn.execute(sqlx::raw_sql(&create))
                .await
                .map_err(from_sqlx)?;
        }
        Ok(())
    }

    /// One round trip. Both CTEs see the same snapshot and their conditions exclude each
    /// other, so a row is either touched or (dead by expiry or idleness) purged, never both.
    async fn touch_session(
        pool: &PgPool,
        token_hash: &[u8; 32],
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> Result<Option<(SessionInfo, User)>, StoreError> {
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

    /// A session-level advisory lock keyed by the store's schema, on a connection of its own
    /// outside the pool: the server lets go the moment that connection ends, so a process
    /// that is killed hands over at once.
    async fn try_lead(pool: &PgPool) -> Result<Option<Leadership>, StoreError> {
        let mut conn = PgConnection::connect_with(&pool.connect_options())
            .await
            .map_err(from_sqlx)?;
        let got: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_lock(hashtextextended('switchboard jobs:' || current_schema(), 0))",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(from_sqlx)?;
        if got {
            Ok(Some(Leadership::connection(conn)))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }

    /// One round trip. The final SELECT sees the snapshot from before the CTEs ran, so it
    /// counts the earlier failures still in the window and adds the one just recorded.
    async fn record_login_failure(
        pool: &PgPool,
        key: &str,
        now: Timestamp,
        window_start: Timestamp,
    ) -> Result<u32, StoreError> {
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

    /// The feed's advisory lock, shared, to the end of the transaction: writers hold it
    /// together, and [`Engine::settle_feed`]'s exclusive hold waits for all of them.
    async fn lock_feed(tx: &mut Transaction<'static, Postgres>) -> Result<(), StoreError> {
        let sql = format!("SELECT pg_advisory_xact_lock_shared({FEED_LOCK})");
        sqlx::query(&sql)
            .execute(&mut **tx)
            .await
            .map_err(from_sqlx)
            .map(drop)
    }

    /// The feed's advisory lock, exclusive, to the end of the transaction: granted once the
    /// writers holding it shared have committed or rolled back; writers that come meanwhile
    /// queue behind it (PostgreSQL grants a lock behind a conflicting waiter), so it is not
    /// starved however busy the feed.
    async fn settle_feed(tx: &mut Transaction<'static, Postgres>) -> Result<(), StoreError> {
        let sql = format!("SELECT pg_advisory_xact_lock({FEED_LOCK})");
        sqlx::query(&sql)
            .execute(&mut **tx)
            .await
            .map_err(from_sqlx)
            .map(drop)
    }

    /// An advisory lock per author and schema, to the end of the transaction.
    async fn lock_author(
        tx: &mut Transaction<'static, Postgres>,
        author: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('switchboard poster:' || current_schema(), $1))",
        )
        .bind(author)
        .execute(&mut **tx)
        .await
        .map_err(from_sqlx)
        .map(drop)
    }

    /// `NOTIFY` on the schema's feed channel, with the event's id: delivered at commit, to
    /// every [`FeedListener`] on it, this process's included.
    async fn notify_feed(
        tx: &mut Transaction<'static, Postgres>,
        event_id: i64,
    ) -> Result<(), StoreError> {
        let sql = format!("SELECT pg_notify({FEED_CHANNEL}, $1)");
        sqlx::query(&sql)
            .bind(event_id.to_string())
            .execute(&mut **tx)
            .await
            .map_err(from_sqlx)
            .map(drop)
    }
}

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
    let conn = match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
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
    migrate::run::<Postgres>(conn, schema).await?;
    Ok(engine::pool(options))
}

/// The feed's advisory lock's key, as SQL: one per schema.
const FEED_LOCK: &str = "hashtextextended('switchboard feed:' || current_schema(), 0)";

/// The feed's notification channel, as SQL: one per schema (stores in different schemas of
/// one database have feeds of their own), short enough for an identifier whatever the schema.
const FEED_CHANNEL: &str = "'switchboard_feed_' || left(md5(current_schema()), 16)";

/// How long [`FeedListener`] waits for its connection.
const LISTENER_TIMEOUT: Duration = Duration::from_secs(5);

/// Wakes whenever a feed event is committed on the database, by any process: `LISTEN` on
/// the feed's channel, on a connection of its own (a pool of one, apart from the requests'),
/// from [`Store::feed_listener`](crate::Store::feed_listener).
///
/// Notifications carry no data the reader needs: each one says "read the events after the
/// last you saw". One sent while the connection was down is lost, so [`FeedListener::changed`]
/// also returns once the connection is made again (`LISTEN` in place), and the reader's next
/// read catches up from the table.
pub struct FeedListener {
    pool: PgPool,
    listener: Option<PgListener>,
    channel: String,
}

impl std::fmt::Debug for FeedListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedListener")
            .field("channel", &self.channel)
            .field("connected", &self.listener.is_some())
            .finish()
    }
}

impl FeedListener {
    /// Listens on the feed channel of `pool`'s schema.
    pub(crate) async fn open(pool: &PgPool) -> Result<FeedListener, StoreError> {
        let channel: String = sqlx::query_scalar(&format!("SELECT {FEED_CHANNEL}"))
            .fetch_one(pool)
            .await
            .map_err(from_sqlx)?;
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(LISTENER_TIMEOUT)
            .connect_lazy_with((*pool.connect_options()).clone());
        let mut listener = FeedListener {
            pool: own,
            listener: None,
            channel,
        };
        listener.connect().await?;
        Ok(listener)
    }

    async fn connect(&mut self) -> Result<(), StoreError> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(from_sqlx)?;
        listener.listen(&self.channel).await.map_err(from_sqlx)?;
        self.listener = Some(listener);
        Ok(())
    }

    /// Waits until there may be feed events the caller has not read: a notification came, or
    /// the connection was lost and has been made again (so some may have been missed). An
    /// error means the connection is lost and could not be made again; the next call tries
    /// again, and returns as soon as it succeeds.
    pub async fn changed(&mut self) -> Result<(), StoreError> {
        let Some(listener) = &mut self.listener else {
            return self.connect().await;
        };
        match listener.try_recv().await {
            Ok(Some(_)) => {
                // Several commits, one read: take what else has come already.
                while listener.next_buffered().is_some() {}
                Ok(())
            }
            // Lost, and made again before returning (sqlx's eager reconnect).
            Ok(None) => Ok(()),
            Err(e) => {
                self.listener = None;
                Err(from_sqlx(e))
            }
        }
    }
}
