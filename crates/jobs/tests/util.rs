//! Test helpers: a place for a database of either engine, and `both_engines!`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use switchboard_store::{Backend, Store, Timestamp};
use switchboard_testkit::PgDatabase;

/// A moment in the tests' timeline: `offset` milliseconds after 2026-11-22T02:00:00Z.
pub fn t(offset: i64) -> Timestamp {
    Timestamp::from_millis(1_795_312_800_000 + offset)
}

/// A directory of the test's own, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "switchboard_jobs_{tag}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where a test's databases live: a directory for SQLite files, or a PostgreSQL database
/// (with siblings for restores).
pub struct Place {
    pub backend: Backend,
    pub dir: TempDir,
    pg: Option<PgDatabase>,
    siblings: Vec<PgDatabase>,
}

impl Place {
    /// A place on `backend`; `None` when PostgreSQL is not available (the skip is said).
    pub fn new(backend: Backend, test: &str) -> Option<Place> {
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create(test)?),
        };
        Some(Place {
            backend,
            dir: TempDir::new(test.rsplit("::").next().unwrap_or("test")),
            pg,
            siblings: Vec::new(),
        })
    }

    /// The main database's URL.
    pub fn url(&self) -> String {
        match &self.pg {
            Some(pg) => pg.url.clone(),
            None => format!("sqlite://{}", self.dir.path().join("main.db").display()),
        }
    }

    /// A URL for another, empty database on the same engine, named `name`.
    pub fn other(&mut self, name: &str) -> String {
        match &self.pg {
            Some(pg) => {
                let db = pg.sibling(name);
                let url = db.url.clone();
                self.siblings.push(db);
                url
            }
            None => format!(
                "sqlite://{}",
                self.dir.path().join(format!("{name}.db")).display()
            ),
        }
    }

    /// Where backups go.
    pub fn backups(&self) -> PathBuf {
        self.dir.path().join("backups")
    }
}

/// Every username in `store`.
pub async fn usernames(store: &Store) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    let mut after = None;
    loop {
        let page = store.list_users(1000, after).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        names.extend(page.into_iter().map(|u| u.username));
    }
    names
}

/// For each `async fn NAME(place: Place)` listed, a module `NAME` with two tests, `sqlite` and
/// `postgres`.
macro_rules! both_engines {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let place = crate::util::Place::new(switchboard_store::Backend::Sqlite, module_path!())
                    .expect("SQLite is always there");
                super::$test(place).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(place) = crate::util::Place::new(switchboard_store::Backend::Postgres, module_path!()) else {
                    return;
                };
                super::$test(place).await;
            }
        }
    )*};
}
