//! What backups and restores need from the database, and nothing more: the schema version, a
//! consistent copy of a SQLite file taken while it keeps taking writes, and a look at a
//! database before anything is written to it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::engine::Engine;
use crate::error::{from_sqlx, StoreError};
use crate::{migrate, parse_url, Backend, Pool, Store, Target};

/// What is in a database that may be restored into, found without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// The SQLite file does not exist yet.
    Missing,
    /// The database exists; these are its tables (outside PostgreSQL's system schemas), by
    /// name, sorted. Empty means there is nothing to overwrite.
    Tables(Vec<String>),
}

/// The newest schema version this build knows for `backend`: what [`Store::open`] migrates to.
pub fn latest_schema_version(backend: Backend) -> i64 {
    let list = match backend {
        Backend::Sqlite => migrate::SQLITE,
        Backend::Postgres => migrate::POSTGRES,
    };
    list.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Which backend a URL names (checked as [`Store::open`] checks it), and for SQLite the file.
pub fn url_target(url: &str) -> Result<(Backend, Option<PathBuf>), StoreError> {
    Ok(match parse_url(url)? {
        Target::Sqlite(path) => (Backend::Sqlite, Some(PathBuf::from(path))),
        Target::Postgres => (Backend::Postgres, None),
    })
}

/// Looks at the database at `url` without creating, migrating or writing anything.
///
/// [`StoreError::Unavailable`] when a PostgreSQL server cannot be reached or the database
/// does not exist.
pub async fn contents(url: &str) -> Result<Contents, StoreError> {
    match parse_url(url)? {
        Target::Sqlite(path) => {
            if !Path::new(path).exists() {
                return Ok(Contents::Missing);
            }
            let mut conn = SqliteConnectOptions::new()
                .filename(path)
                .read_only(true)
                .connect()
                .await
                .map_err(from_sqlx)?;
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_schema WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .fetch_all(&mut conn)
            .await
            .map_err(from_sqlx)?;
            let _ = conn.close().await;
            Ok(Contents::Tables(tables))
        }
        Target::Postgres => {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::BadUrl(format!("cannot parse the PostgreSQL URL: {e}")))?;
            let mut conn = sqlx::PgConnection::connect_with(&options)
                .await
                .map_err(|e| match from_sqlx(e) {
                    StoreError::Database(m) => StoreError::Unavailable(m),
                    other => other,
                })?;
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1",
            )
            .fetch_all(&mut conn)
            .await
            .map_err(from_sqlx)?;
            let _ = conn.close().await;
            Ok(Contents::Tables(tables))
        }
    }
}

/// Runs SQLite's `PRAGMA integrity_check` on the file at `path`, read-only: `Ok` if it says
/// `ok`, else [`StoreError::Database`] with its first complaint.
pub async fn check_sqlite_file(path: &Path) -> Result<(), StoreError> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(from_sqlx)?;
    let verdict: Result<Vec<String>, _> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await;
    let _ = conn.close().await;
    let verdict = verdict.map_err(from_sqlx)?;
    match verdict.first().map(String::as_str) {
        Some("ok") => Ok(()),
        Some(first) => Err(StoreError::Database(format!(
            "integrity check failed: {first}"
        ))),
        None => Err(StoreError::Database("integrity check said nothing".into())),
    }
}

/// The engine's [`Engine::TABLES`], found from its pool's type.
fn tables_of<E: Engine>(_: &sqlx::Pool<E>) -> &'static str {
    E::TABLES
}

impl Store {
    /// The schema version the database is at: the newest migration applied to it.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT max(version) FROM switchboard_migrations";
        let version: Option<i64> =
            on_engine!(self, |pool| sqlx::query_scalar(SQL).fetch_one(pool).await)
                .map_err(from_sqlx)?;
        Ok(version.unwrap_or(0))
    }

    /// Every table in the store's schema but the migrations' record, with its row count, by
    /// name: what a restore reports it restored.
    pub async fn row_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let tables: Vec<String> = on_engine!(self, |pool| sqlx::query_scalar(tables_of(pool))
            .fetch_all(pool)
            .await)
        .map_err(from_sqlx)?;
        let mut counts = Vec::with_capacity(tables.len());
        for table in tables {
            // A name from the catalog, quoted as an identifier: safe to splice.
            let sql = format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\""));
            let n: i64 = on_engine!(self, |pool| sqlx::query_scalar(&sql).fetch_one(pool).await)
                .map_err(from_sqlx)?;
            counts.push((table, u64::try_from(n).unwrap_or(0)));
        }
        Ok(counts)
    }

    /// The SQLite file this store runs on; `None` on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match &self.pool {
            Pool::Sqlite(pool) => Some(pool.connect_options().get_filename().to_path_buf()),
            Pool::Postgres(_) => None,
        }
    }

    /// Writes a consistent copy of the SQLite database to `dest` (which must not exist) with
    /// `VACUUM INTO`, while other connections and processes keep writing: the copy is the
    /// database as of one read transaction, compacted, and never a copy of the live file.
    ///
    /// [`StoreError::Database`] on PostgreSQL (its backups are `pg_dump`'s).
    pub async fn snapshot_sqlite(&self, dest: &Path) -> Result<(), StoreError> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(StoreError::Database(
                "a SQLite snapshot of a PostgreSQL database was asked for".into(),
            ));
        };
        let dest = dest.to_str().ok_or_else(|| {
            StoreError::Database(format!("{} is not a UTF-8 path", dest.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(dest)
            .execute(pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }
}
