//! [`Leadership`]: which of the processes on one database runs the scheduled jobs.
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

use crate::error::{from_sqlx, StoreError};
use crate::{Pool, Store};

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
fn lock_path(db: &Path) -> PathBuf {
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
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut conn = PgConnection::connect_with(&pool.connect_options())
                    .await
                    .map_err(from_sqlx)?;
                let got: bool = sqlx::query_scalar(
                    "SELECT pg_try_advisory_lock(hashtextextended(\
                     'switchboard jobs:' || current_schema(), 0))",
                )
                .fetch_one(&mut conn)
                .await
                .map_err(from_sqlx)?;
                if got {
                    Ok(Some(Leadership {
                        held: Held::Postgres(conn),
                    }))
                } else {
                    let _ = conn.close().await;
                    Ok(None)
                }
            }
            Pool::Sqlite(pool) => {
                let path = lock_path(pool.connect_options().get_filename());
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| {
                        StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
                    })?;
                match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                    Ok(lock) => Ok(Some(Leadership {
                        held: Held::Sqlite(lock),
                    })),
                    Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
                    Err((_, e)) => Err(StoreError::Unavailable(format!(
                        "cannot lock {}: {e}",
                        path.display()
                    ))),
                }
            }
        }
    }
}
