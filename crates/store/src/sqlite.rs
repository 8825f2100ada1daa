//! The SQLite engine: one database file, shared by every process that opens it.
//!
//! Connections run in WAL mode (readers never block the writer, nor it them), with
//! `synchronous = NORMAL` (a power cut may lose the last commits, never corrupt the file),
//! foreign keys on (sessions cascade with their user) and a busy timeout, so a writer waits for
//! another process's write instead of failing at once. Transactions that write start with
//! `BEGIN IMMEDIATE`: they take the write lock up front, where the busy timeout applies,
//! instead of failing when a read lock cannot be upgraded. That lock is also the migrations'.
//!
//! SQLite has no data-modifying CTEs, so the operations PostgreSQL does in one statement are
//! transactions here; their round trips are calls into the library on the connection's worker
//! thread, not trips over a network.

use std::path::Path;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite, SqliteConnection, Transaction};
use tokio::time::Instant;

use crate::engine::{self, begin_write, Engine};
use crate::error::{from_sqlx, StoreError};
use crate::model::{count_u32, session_from_row, user_from_row, USER_COLUMNS};
use crate::{leader, migrate, Leadership, SessionInfo, Timestamp, User};

/// How long a write waits for another connection's (or process's) write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Engine for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    /// SQLite has one writer at a time however many connections there are, and a read takes
    /// microseconds, so a few connections cover a server; each one is also a thread in sqlx.
    const POOL_SIZE: u32 = 4;

    const MIGRATIONS: &'static [migrate::Migration] = migrate::SQLITE;

    const TABLES: &'static str = "SELECT name FROM sqlite_schema WHERE type = 'table' \
                                  AND name NOT LIKE 'sqlite_%' \
                                  AND name <> 'switchboard_migrations' ORDER BY name";

    /// Result codes as sqlx reports them (the extended code, whose low byte is the primary
    /// one): 5 BUSY and 6 LOCKED (past the busy timeout), 14 CANTOPEN.
    fn unavailable_code(code: &str) -> bool {
        code.parse::<u32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6 | 14))
    }

    /// Nothing to do: `BEGIN IMMEDIATE` took the file's write lock, which every other
    /// connection, in this process or another, waits for. SQLite has no schemas.
    async fn lock_for_migrations(
        _conn: &mut SqliteConnection,
        _schema: Option<&str>,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// A transaction: `RETURNING` cannot join, so the user is a second statement.
    async fn touch_session(
        pool: &SqlitePool,
        token_hash: &[u8; 32],
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> Result<Option<(SessionInfo, User)>, StoreError> {
        let mut tx = begin_write(pool).await?;
        let touched = sqlx::query(
            "UPDATE sessions SET last_seen_at = max(last_seen_at, $2)
             WHERE token_hash = $1 AND expires_at > $2 AND last_seen_at >= $3
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
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
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
                     WHERE token_hash = $1 AND (expires_at <= $2 OR last_seen_at < $3)",
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

    /// An exclusive `flock` on `NAME.db-jobs.lock` beside the file: the process that holds it
    /// owns the file's jobs, and the kernel lets go when the process ends, however it ends.
    async fn try_lead(pool: &SqlitePool) -> Result<Option<Leadership>, StoreError> {
        let path = leader::lock_path(pool.connect_options().get_filename());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(Leadership::file(lock))),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(StoreError::Unavailable(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }

    /// Nothing to do: `BEGIN IMMEDIATE` took the file's write lock, so writers commit one
    /// at a time, in the order of their ids.
    async fn lock_feed(_tx: &mut Transaction<'static, Sqlite>) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing to do: a reader sees only what is committed, and with one writer at a time
    /// there is never an id committed after a greater one.
    async fn settle_feed(_tx: &mut Transaction<'static, Sqlite>) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing to do: the file's write lock holds posters apart already.
    async fn lock_author(
        _tx: &mut Transaction<'static, Sqlite>,
        _author: i64,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing to do: SQLite has no notifications, and the one process serving a file wakes
    /// its own readers.
    async fn notify_feed(
        _tx: &mut Transaction<'static, Sqlite>,
        _event_id: i64,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// A transaction of the three steps.
    async fn record_login_failure(
        pool: &SqlitePool,
        key: &str,
        now: Timestamp,
        window_start: Timestamp,
    ) -> Result<u32, StoreError> {
        let mut tx = begin_write(pool).await?;
        sqlx::query("DELETE FROM login_failures WHERE key = $1 AND at <= $2")
            .bind(key)
            .bind(window_start.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        sqlx::query("INSERT INTO login_failures (key, at) VALUES ($1, $2)")
            .bind(key)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE key = $1 AND at > $2")
                .bind(key)
                .bind(window_start.as_millis())
                .fetch_one(&mut *tx)
                .await
                .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(count_u32(n))
    }
}

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
    let conn = connect_when_not_busy(&options)
        .await
        .map_err(|e| match from_sqlx(e) {
            StoreError::Database(m) | StoreError::Unavailable(m) => StoreError::Unavailable(
                format!("cannot open SQLite database {}: {m}", path.display()),
            ),
            other => other,
        })?;
    migrate::run::<Sqlite>(conn, None).await?;
    Ok(engine::pool(options))
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
