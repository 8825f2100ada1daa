//! [`Leadership`]: which of the processes on one database runs the scheduled jobs.
//!
//! Each engine takes it its own way (`Engine::try_lead`):
//!
//! - **PostgreSQL**: a session-level advisory lock (`pg_try_advisory_lock`), keyed by the
//!   schema the store runs in, held on a connection of its own outside the pool. The server
//!   lets it go the moment that connection ends, so a process that is killed hands over
//!   without anyone waiting for a timeout.
//! - **SQLite**: an exclusive `flock` on a file beside the database (`NAME.db-jobs.lock`): the
//!   process that holds it owns the file's jobs. The kernel drops it when the process ends.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use sqlx::{Connection, PgConnection};

use crate::engine::Engine;
use crate::error::StoreError;
use crate::Store;

/// Held by the one process that runs the jobs; dropping it lets another take over.
pub struct Leadership {
    held: Held,
}

enum Held {
    Postgres(PgConnection),
    Sqlite(#[allow(dead_code)] Flock<File>),
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.held {
            Held::Postgres(_) => "Leadership(advisory lock)",
            Held::Sqlite(_) => "Leadership(file lock)",
        })
    }
}

impl Leadership {
    /// Held through an advisory lock on `conn`.
    pub(crate) fn connection(conn: PgConnection) -> Leadership {
        Leadership {
            held: Held::Postgres(conn),
        }
    }

    /// Held through a lock on a file.
    pub(crate) fn file(lock: Flock<File>) -> Leadership {
        Leadership {
            held: Held::Sqlite(lock),
        }
    }

    /// Whether it is still held. A PostgreSQL lock is lost with its connection (the server
    /// restarted, the network went away): this asks the server; a file lock cannot be lost.
    pub async fn still_held(&mut self) -> bool {
        match &mut self.held {
            Held::Postgres(conn) => conn.ping().await.is_ok(),
            Held::Sqlite(_) => true,
        }
    }

    /// Lets go (also done by dropping it), closing the lock's connection cleanly.
    pub async fn release(self) {
        if let Held::Postgres(conn) = self.held {
            let _ = conn.close().await;
        }
    }
}

/// The lock file beside the SQLite database at `db`.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-jobs.lock");
    db.with_file_name(name)
}

/// Whether a running process has the SQLite database at `db` open as its jobs' leader (a
/// server runs on it): a restore must not replace the file under it.
pub fn sqlite_in_use(db: &Path) -> bool {
    let Ok(file) = OpenOptions::new().write(true).open(lock_path(db)) else {
        return false;
    };
    matches!(
        Flock::lock(file, FlockArg::LockExclusiveNonblock),
        Err((_, nix::errno::Errno::EWOULDBLOCK))
    )
}

impl Store {
    /// Tries, without waiting, to become the process that runs this database's jobs: `None` if
    /// another holds it.
    pub async fn try_lead(&self) -> Result<Option<Leadership>, StoreError> {
        on_engine!(self, |pool| Engine::try_lead(pool).await)
    }
}
