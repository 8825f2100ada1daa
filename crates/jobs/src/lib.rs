//! Switchboard's scheduled jobs: online backups and restores, retention, the daily report,
//! and the clean-up of expired rows.
//!
//! # Layout
//!
//! - `format.rs`: the backup file (a header naming engine, schema version and time; the
//!   payload compressed with zstd; a trailer with its SHA-256) and [`format::verify`], which
//!   every restore starts with.
//! - `backup.rs`: [`backup::take`], a consistent copy of the live database (SQLite: `VACUUM
//!   INTO`; PostgreSQL: `pg_dump`) into the backup directory, named by time.
//! - `restore.rs`: [`restore::restore`], all or nothing, refusing a non-empty target unless
//!   forced.
//! - `retention.rs`: [`Retention`] (`keep_last`, `keep_daily`, `keep_weekly`), the backup
//!   directory's listing, and the deleting of what the rules do not keep.
//! - `schedule.rs`: [`Schedule`], cron syntax through the `croner` crate, in UTC.
//! - `pgtools.rs`: finding and running `pg_dump` and `psql`.
//! - `report/`: the daily report, gathered from the database (`mod.rs`) and written as JSON
//!   and as a self-contained HTML page with SVG charts (`html.rs`).
//! - `cleanup.rs`: expired sessions, old login failures and old feed events deleted in batches.
//! - `task.rs`: [`Task`], the three jobs, and [`run_recorded`], which runs one with its run
//!   recorded in the database; [`Clock`].
//! - `scheduler.rs`: [`scheduler::run`], which every server runs and one at a time leads
//!   (an advisory lock on PostgreSQL, a file lock beside SQLite), running each [`Job`] at
//!   its [`Schedule`]'s times, each slot once.
//!
//! The library takes typed settings and a store; only the binary reads flags, files and the
//! environment. Time is always passed in (a [`Timestamp`]), so tests can run a month of
//! backups in a second.
#![forbid(unsafe_code)]

pub mod backup;
mod cleanup;
mod error;
pub mod format;
mod pgtools;
pub mod report;
pub mod restore;
pub mod retention;
mod schedule;
pub mod scheduler;
mod task;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use error::JobError;
pub use retention::Retention;
pub use schedule::Schedule;
pub use scheduler::{Job, SchedulerConfig};
pub use switchboard_store::Timestamp;
pub use task::{run_recorded, BackupTask, CleanupTask, Clock, Done, ReportTask, Task};

/// Whether backups of `backend` can be taken here: for PostgreSQL, `pg_dump` must be on the
/// `PATH` (the error says so, and how to get it).
pub fn check_backup_tools(backend: switchboard_store::Backend) -> Result<(), JobError> {
    match backend {
        switchboard_store::Backend::Postgres => pgtools::find("pg_dump").map(|_| ()),
        switchboard_store::Backend::Sqlite => Ok(()),
    }
}

/// Asks a job in progress to stop at its next chance (between chunks of a file). Clones share
/// one flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks every holder to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
