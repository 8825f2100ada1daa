//! Schema migrations, one list per engine, applied by [`Store::open`](crate::Store::open).
//!
//! The SQL lives in `migrations/<engine>/NNNN_name.sql` and is compiled in with
//! `include_str!`. A small runner here applies it rather than `sqlx::migrate!`, for two reasons:
//!
//! - `sqlx::migrate!` needs sqlx's `macros` feature, which adds a proc-macro crate and its whole
//!   build-time tree; `include_str!` embeds the same files for free.
//! - Several server processes may open one database at the same moment. This runner takes the
//!   database's write lock *before* it reads which migrations ran (SQLite: `BEGIN IMMEDIATE`;
//!   PostgreSQL: a transaction-scoped advisory lock per schema, the engine's
//!   [`Engine::lock_for_migrations`]), and applies everything in that same transaction. The
//!   second process waits, then finds nothing to do. sqlx's SQLite migrator reads the applied
//!   list outside any lock, so two processes can both try to apply the same migration.
//!
//! [`run`] is the one function in the crate generic over sqlx's `Database`, with the bounds
//! that takes written out once; the queries use `on_engine!` instead (see the crate overview).
//! (`RawSql` is run through `Executor::execute` rather than its own generic `async fn execute`,
//! whose future is not `Send` for a borrowed connection, which would make `Store::open`'s future
//! unusable with `tokio::spawn`.)
//!
//! Applied migrations are recorded in `switchboard_migrations` with a checksum of their SQL; a
//! file edited after it ran is reported instead of silently diverging. A database carrying a
//! migration this build does not know (a newer build ran it) is used as-is, with a warning, so
//! an older process can still restart during a rolling upgrade.

use std::time::SystemTime;

use sqlx::{ColumnIndex, Connection, Decode, Encode, Executor, IntoArguments, Row, Type};

use crate::engine::Engine;
use crate::error::{from_sqlx, StoreError};
use crate::Timestamp;

/// One schema change.
pub(crate) struct Migration {
    /// Applied in ascending order; never reused.
    pub(crate) version: i64,
    /// For the record and for messages.
    pub(crate) name: &'static str,
    /// Any number of statements.
    pub(crate) sql: &'static str,
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "jobs",
        sql: include_str!("../migrations/sqlite/0002_jobs.sql"),
    },
    Migration {
        version: 3,
        name: "feed",
        sql: include_str!("../migrations/sqlite/0003_feed.sql"),
    },
    Migration {
        version: 4,
        name: "feed_pruned",
        sql: include_str!("../migrations/sqlite/0004_feed_pruned.sql"),
    },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "jobs",
        sql: include_str!("../migrations/postgres/0002_jobs.sql"),
    },
    Migration {
        version: 3,
        name: "feed",
        sql: include_str!("../migrations/postgres/0003_feed.sql"),
    },
    Migration {
        version: 4,
        name: "feed_pruned",
        sql: include_str!("../migrations/postgres/0004_feed_pruned.sql"),
    },
];

/// The bookkeeping table; the same SQL works on both engines.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS switchboard_migrations (
    version    BIGINT NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    checksum   BIGINT NOT NULL,
    applied_at BIGINT NOT NULL
)";
const SELECT_APPLIED: &str =
    "SELECT version, checksum FROM switchboard_migrations ORDER BY version";
const INSERT_APPLIED: &str =
    "INSERT INTO switchboard_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)";

/// Applies `E`'s pending migrations on `conn` in one transaction that holds the engine's
/// migration lock throughout (creating `schema` first, if given), then closes `conn`.
pub(crate) async fn run<E>(mut conn: E::Connection, schema: Option<&str>) -> Result<(), StoreError>
where
    E: Engine,
    for<'c> &'c mut E::Connection: Executor<'c, Database = E>,
    for<'q> E::Arguments<'q>: IntoArguments<'q, E>,
    for<'q> i64: Encode<'q, E> + Type<E>,
    for<'q> &'q str: Encode<'q, E> + Type<E>,
    for<'r> i64: Decode<'r, E>,
    usize: ColumnIndex<E::Row>,
{
    let migrated = async {
        let mut tx = conn.begin_with(E::BEGIN_WRITE).await.map_err(from_sqlx)?;
        E::lock_for_migrations(&mut tx, schema).await?;
        (&mut *tx)
            .execute(sqlx::raw_sql(CREATE_TABLE))
            .await
            .map_err(from_sqlx)?;
        let applied = applied(sqlx::query(SELECT_APPLIED).fetch_all(&mut *tx).await)?;
        for migration in pending(E::MIGRATIONS, &applied)? {
            (&mut *tx)
                .execute(sqlx::raw_sql(migration.sql))
                .await
                .map_err(|e| failed(migration, e))?;
            sqlx::query(INSERT_APPLIED)
                .bind(migration.version)
                .bind(migration.name)
                .bind(checksum(migration.sql))
                .bind(now_millis())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
            tracing::info!(
                version = migration.version,
                name = migration.name,
                engine = E::NAME,
                "applied migration"
            );
        }
        tx.commit().await.map_err(from_sqlx)
    }
    .await;
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %e, engine = E::NAME, "closing the migration connection");
    }
    migrated
}

/// The (version, checksum) pairs from `SELECT_APPLIED`. (Collected before the migrations run:
/// a `for` over the query's future would keep its temporaries alive across the awaits in the
/// loop, and the future of `Store::open` would no longer be `Send`.)
fn applied<R: Row>(rows: Result<Vec<R>, sqlx::Error>) -> Result<Vec<(i64, i64)>, StoreError>
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut applied = Vec::new();
    for row in rows.map_err(from_sqlx)? {
        applied.push((
            row.try_get(0).map_err(from_sqlx)?,
            row.try_get(1).map_err(from_sqlx)?,
        ));
    }
    Ok(applied)
}

/// The migrations in `known` that are not in `applied` (version, checksum), in order; or an
/// error if an applied migration's SQL has changed since.
fn pending<'a>(
    known: &'a [Migration],
    applied: &[(i64, i64)],
) -> Result<Vec<&'a Migration>, StoreError> {
    for &(version, recorded) in applied {
        match known.iter().find(|m| m.version == version) {
            Some(m) if checksum(m.sql) != recorded => {
                return Err(StoreError::Database(format!(
                    "migration {version} ({}) was changed after it was applied to this database; \
                     restore the original file and put the change in a new migration",
                    m.name
                )));
            }
            Some(_) => {}
            None => tracing::warn!(
                version,
                "the database has a migration this build does not know (was it opened by a newer \
                 build?); continuing with the schema as it is"
            ),
        }
    }
    Ok(known
        .iter()
        .filter(|m| !applied.iter().any(|&(v, _)| v == m.version))
        .collect())
}

fn failed(migration: &Migration, error: sqlx::Error) -> StoreError {
    match from_sqlx(error) {
        StoreError::Database(message) => StoreError::Database(format!(
            "migration {} ({}) failed: {message}",
            migration.version, migration.name
        )),
        other => other,
    }
}

/// 64-bit FNV-1a of the SQL, ignoring carriage returns so a checkout with CRLF line endings
/// does not look like an edited migration. Also derives the PostgreSQL advisory lock key.
pub(crate) fn checksum(text: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes().filter(|&b| b != b'\r') {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

fn now_millis() -> i64 {
    Timestamp::from_system_time(SystemTime::now()).as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[Migration] = &[
        Migration {
            version: 1,
            name: "one",
            sql: "CREATE TABLE a (x INT);",
        },
        Migration {
            version: 2,
            name: "two",
            sql: "CREATE TABLE b (x INT);",
        },
    ];

    #[test]
    fn fresh_database_gets_everything_in_order() {
        let versions: Vec<_> = pending(KNOWN, &[])
            .unwrap()
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(versions, [1, 2]);
    }

    #[test]
    fn applied_migrations_are_skipped() {
        let applied = [(1, checksum(KNOWN[0].sql))];
        let versions: Vec<_> = pending(KNOWN, &applied)
            .unwrap()
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(versions, [2]);
        let all = [
            (1, checksum(KNOWN[0].sql)),
            (2, checksum(KNOWN[1].sql)),
            (3, 0),
        ];
        assert!(pending(KNOWN, &all).unwrap().is_empty());
    }

    #[test]
    fn an_edited_migration_is_an_error() {
        let err = pending(KNOWN, &[(1, 12345)]).err().unwrap();
        assert!(
            err.to_string().contains("migration 1 (one) was changed"),
            "{err}"
        );
    }

    #[test]
    fn checksum_ignores_carriage_returns_only() {
        assert_eq!(checksum("a;\r\nb;"), checksum("a;\nb;"));
        assert_ne!(checksum("a;"), checksum("b;"));
        for m in SQLITE.iter().chain(POSTGRES) {
            assert!(!m.sql.trim().is_empty());
        }
    }
}
