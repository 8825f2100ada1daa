//! The jobs themselves ([`Task`]), and running one with its run recorded in the database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchboard_store::{JobOutcome, JobTrigger, Store, StoreError, Timestamp};

use crate::error::JobError;
use crate::{backup, cleanup, report, retention, Cancel, Retention};

/// Where time comes from: the system's clock, or one a test sets.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock::from_fn(|| Timestamp::from_system_time(std::time::SystemTime::now()))
    }

    /// Time as `now` tells it (the application's clock, a test's).
    pub fn from_fn(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

/// A backup into `dir`, then the retention rules applied there.
#[derive(Debug, Clone)]
pub struct BackupTask {
    /// The backup directory.
    pub dir: PathBuf,
    /// What to keep afterwards.
    pub retention: Retention,
    /// The database's URL (`pg_dump` connects to it itself).
    pub database_url: String,
}

/// The daily report into `dir`.
#[derive(Debug, Clone)]
pub struct ReportTask {
    /// The report directory.
    pub dir: PathBuf,
}

/// Expired sessions, forgotten login failures and old feed events deleted, `batch` rows at
/// a time.
#[derive(Debug, Clone, Copy)]
pub struct CleanupTask {
    /// Rows per delete.
    pub batch: u32,
    /// A session unused this long is dead (the application's idle timeout).
    pub session_idle: Duration,
    /// Login failures older than this are forgotten (the throttling window).
    pub throttle_window: Duration,
    /// Job runs and request statistics older than this are deleted.
    pub keep_history: Duration,
    /// The feed's events older than this are deleted (a listener further behind is told to
    /// reload rather than replayed). At least the posting window: the limit counts events.
    pub feed_retention: Duration,
}

/// One of the jobs.
#[derive(Debug, Clone)]
pub enum Task {
    /// `backup`.
    Backup(BackupTask),
    /// `report`.
    Report(ReportTask),
    /// `cleanup`.
    Cleanup(CleanupTask),
}

/// What a job did, for its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The size of what it wrote.
    pub bytes: Option<u64>,
    /// One line on what it did.
    pub detail: String,
}

impl Task {
    /// `backup`, `report` or `cleanup`: the name runs are recorded under.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Backup(_) => "backup",
            Task::Report(_) => "report",
            Task::Cleanup(_) => "cleanup",
        }
    }

    /// Does the job, now.
    pub async fn perform(
        &self,
        store: &Store,
        now: Timestamp,
        cancel: &Cancel,
    ) -> Result<Done, JobError> {
        match self {
            Task::Backup(task) => {
                let file = backup::take(store, &task.database_url, &task.dir, now, cancel).await?;
                let deleted = retention::apply(&task.dir, &task.retention, now)?;
                let name = file.path.file_name().unwrap_or_default().to_string_lossy();
                let mut detail = format!("{name} (sha256 {})", file.sha256);
                if !deleted.is_empty() {
                    detail.push_str(&format!("; {} old backups deleted", deleted.len()));
                }
                Ok(Done {
                    bytes: Some(file.file_bytes),
                    detail,
                })
            }
            Task::Report(task) => {
                let written = report::write_daily(store, &task.dir, now).await?;
                Ok(Done {
                    bytes: Some(written.bytes),
                    detail: format!("report for {}", written.day),
                })
            }
            Task::Cleanup(task) => cleanup::run(store, task, now, cancel).await,
        }
    }
}

/// Runs `task`, recording its start and end in the database under `runner`. `slot` is the
/// cron time a scheduled run is for: `Ok(None)` if that slot already has a run (another server
/// did it) and nothing was done. Otherwise the job's own result, which is also recorded.
pub async fn run_recorded(
    task: &Task,
    store: &Store,
    trigger: JobTrigger,
    runner: &str,
    slot: Option<Timestamp>,
    clock: &Clock,
    cancel: &Cancel,
) -> Result<Option<Result<Done, JobError>>, StoreError> {
    let Some(id) = store
        .start_job_run(task.name(), trigger, runner, slot, clock.now())
        .await?
    else {
        return Ok(None);
    };
    let result = task.perform(store, clock.now(), cancel).await;
    let (outcome, bytes, detail, error) = match &result {
        Ok(done) => (JobOutcome::Ok, done.bytes, Some(done.detail.as_str()), None),
        Err(JobError::Cancelled) => (
            JobOutcome::Interrupted,
            None,
            None,
            Some(JobError::Cancelled.to_string()),
        ),
        Err(e) => (JobOutcome::Failed, None, None, Some(e.to_string())),
    };
    store
        .finish_job_run(id, clock.now(), outcome, bytes, detail, error.as_deref())
        .await?;
    match &result {
        Ok(done) => tracing::info!(job = task.name(), detail = %done.detail, "job done"),
        Err(e) => tracing::warn!(job = task.name(), error = %e, "job failed"),
    }
    Ok(Some(result))
}
