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
//!
//! The library takes typed settings and a store; only the binary reads flags, files and the
//! environment. Time is always passed in (a [`Timestamp`]), so tests can run a month of
//! backups in a second.
#![forbid(unsafe_code)]

pub mod backup;
mod error;
pub mod format;
mod pgtools;
pub mod restore;
pub mod retention;
mod schedule;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use error::JobError;
pub use retention::Retention;
pub use schedule::Schedule;
pub use switchboard_store::Timestamp;

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
