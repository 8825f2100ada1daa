//! [`JobError`]: why a job, a backup or a restore did not happen, in one line.

use std::io;

use switchboard_store::StoreError;

/// Why a job failed. Every message is one line, fit for a terminal, a log and the job's record.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The file does not start like a backup.
    #[error("{0} is not a switchboard backup")]
    NotABackup(String),
    /// The file ends before its trailer: a copy or a write cut short.
    #[error("{0} is truncated: it ends before its checksum")]
    Truncated(String),
    /// The file is whole but its contents are not what was written.
    #[error("corrupt backup {0}")]
    Corrupt(String),
    /// Reading or writing a file failed.
    #[error("{0}: {1}")]
    Io(String, #[source] io::Error),
    /// The database said no.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A PostgreSQL tool (`pg_dump`, `psql`) is missing or failed.
    #[error("{0}")]
    Tool(String),
    /// The operation would do harm, and was not done (a restore over a database in use).
    #[error("{0}")]
    Refused(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
    /// Shutdown came first.
    #[error("stopped: the server is shutting down")]
    Cancelled,
}

impl JobError {
    /// An I/O error, with what was being done.
    pub(crate) fn io(what: String, error: io::Error) -> JobError {
        JobError::Io(what, error)
    }
}
