//! The clean-up job: dead sessions, login failures older than the throttling window and the
//! feed's events older than its retention, deleted in batches; job runs and request statistics past the history kept.
//!
//! Each delete takes at most `batch` rows, and the job yields between batches, so a backlog of
//! a million expired sessions never holds SQLite's write lock (or a PostgreSQL transaction)
//! long enough to stall the requests being served meanwhile.

use switchboard_store::{Store, Timestamp};

use crate::error::JobError;
use crate::task::{CleanupTask, Done};
use crate::Cancel;

/// Runs the clean-up once, at `now`.
pub async fn run(
    store: &Store,
    task: &CleanupTask,
    now: Timestamp,
    cancel: &Cancel,
) -> Result<Done, JobError> {
    let batch = task.batch.max(1);
    let idle_cutoff = now.saturating_sub(task.session_idle);
    let forgotten = now.saturating_sub(task.throttle_window);
    let mut sessions = 0;
    loop {
        let n = store
            .delete_expired_sessions_batch(now, idle_cutoff, batch)
            .await?;
        sessions += n;
        if n < u64::from(batch) {
            break;
        }
        between_batches(cancel).await?;
    }
    let mut failures = 0;
    loop {
        let n = store.prune_login_failures_batch(forgotten, batch).await?;
        failures += n;
        if n < u64::from(batch) {
            break;
        }
        between_batches(cancel).await?;
    }
    let feed_cutoff = now.saturating_sub(task.feed_retention);
    let mut events = 0;
    loop {
        let n = store.prune_feed_events_batch(feed_cutoff, batch).await?;
        events += n;
        if n < u64::from(batch) {
            break;
        }
        between_batches(cancel).await?;
    }
    let history = now.saturating_sub(task.keep_history);
    let runs = store.prune_job_runs(history).await?;
    let stats = store.prune_request_stats(history).await?;
    Ok(Done {
        bytes: None,
        detail: format!(
            "deleted {sessions} expired sessions, {failures} old login failures, {events} old \
             feed events, {runs} old job runs, {stats} old request statistics"
        ),
    })
}

async fn between_batches(cancel: &Cancel) -> Result<(), JobError> {
    if cancel.is_cancelled() {
        return Err(JobError::Cancelled);
    }
    tokio::task::yield_now().await;
    Ok(())
}
