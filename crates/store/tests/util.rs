//! Test helpers: fresh SQLite files, fresh PostgreSQL schemas, and `both_backends!`.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor, PgConnection};
use switchboard_store::{Store, Timestamp};

/// The environment variable naming the PostgreSQL server to test against.
pub const POSTGRES_VAR: &str = "SWITCHBOARD_TEST_POSTGRES";

/// A moment in the tests' timeline: `offset` milliseconds after 2026-11-22T02:00:00Z.
pub fn t(offset: i64) -> Timestamp {
    Timestamp::from_millis(1_795_312_800_000 + offset)
}

/// A session token hash, distinct per `n`.
pub fn token(n: u8) -> [u8; 32] {
    let mut hash = [n; 32];
    hash[0] = 0xa5; // not all-equal bytes, in case a backend treated those specially
    hash
}

/// A name no other test, run or process uses: `prefix_PID_COUNTER_NANOS`, lower case.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A directory under the system's temp dir, removed (with its contents) when dropped, even
/// when the test panics.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a new, empty directory.
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(unique("switchboard_store_test"));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Where the directory is.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A `sqlite://` URL for `name` inside this directory.
    pub fn sqlite_url(&self, name: &str) -> String {
        format!("sqlite://{}", self.0.join(name).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store on a new SQLite file, and the directory that holds it.
pub async fn sqlite_store() -> (Store, TempDir) {
    let dir = TempDir::new();
    let store = Store::open(&dir.sqlite_url("store.db")).await.unwrap();
    (store, dir)
}

/// A PostgreSQL schema reserved for one test.
#[derive(Clone)]
pub struct PgTarget {
    /// The server, from `SWITCHBOARD_TEST_POSTGRES`.
    pub url: String,
    /// A schema name no other test uses; created by the first open, dropped at the end.
    pub schema: String,
}

impl PgTarget {
    /// A fresh schema name on the server in `SWITCHBOARD_TEST_POSTGRES`; `None` (having said
    /// so on stderr) when the variable is not set.
    pub fn new(test: &str) -> Option<PgTarget> {
        match std::env::var(POSTGRES_VAR) {
            Ok(url) if !url.trim().is_empty() => Some(PgTarget {
                url,
                schema: unique("sbtest"),
            }),
            _ => {
                // Straight to the process's stderr, past libtest's capture, so it is seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: {POSTGRES_VAR} is not set; PostgreSQL variant of {test} did not run"
                );
                None
            }
        }
    }

    /// Opens a store in this schema, failing the test (not skipping it) when it cannot.
    pub async fn open(&self) -> Store {
        Store::open_postgres_in_schema(&self.url, &self.schema)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{POSTGRES_VAR} is set to {:?} but opening it failed: {e}",
                    self.url
                )
            })
    }

    /// A plain connection, for looking behind the store's back.
    pub async fn raw(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.unwrap_or_else(|e| {
            panic!(
                "{POSTGRES_VAR} is set to {:?} but connecting failed: {e}",
                self.url
            )
        })
    }

    async fn drop_schema(&self) {
        let mut conn = self.raw().await;
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        conn.execute(sqlx::raw_sql(&drop)).await.unwrap();
        let _ = conn.close().await;
    }
}

/// Runs `body` with a fresh schema when `SWITCHBOARD_TEST_POSTGRES` is set, and drops the
/// schema afterwards, whether `body` passed or panicked.
pub async fn with_postgres<F, Fut>(test: &str, body: F)
where
    F: FnOnce(PgTarget) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(target) = PgTarget::new(test) else {
        return;
    };
    match tokio::spawn(body(target.clone())).await {
        Ok(()) => target.drop_schema().await,
        Err(error) => {
            // Clean up if possible, but report the test's own failure, not the cleanup's.
            let cleanup = tokio::spawn(async move { target.drop_schema().await }).await;
            if cleanup.is_err() {
                eprintln!("could not drop the test schema either");
            }
            if error.is_panic() {
                std::panic::resume_unwind(error.into_panic());
            }
            panic!("test task failed: {error}");
        }
    }
}

/// For each `async fn NAME(store: &Store)` listed, a module `NAME` with two tests, `sqlite`
/// and `postgres`, each running it on a store of its own.
macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = crate::util::sqlite_store().await;
                super::$test(&store).await;
                store.close().await;
            }

            #[tokio::test]
            async fn postgres() {
                crate::util::with_postgres(module_path!(), |target| async move {
                    let store = target.open().await;
                    super::$test(&store).await;
                    store.close().await;
                })
                .await;
            }
        }
    )*};
}
