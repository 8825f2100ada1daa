//! The scheduler every server runs, of which one at a time is active per database.
//!
//! A scheduler first becomes the leader ([`Store::try_lead`]: a PostgreSQL advisory lock, or a
//! file lock beside a SQLite database); the others try again every `retry`. Killing the
//! leader frees its lock at once, and another server takes over at its next try. As leader it
//! marks runs left `running` by a predecessor as interrupted, then loops: each job's next slot
//! (its cron time), a sleep until the earliest, the jobs that are due run one after another,
//! and every `check` a look that the lock is still held.
//!
//! Each scheduled run is recorded with its slot, and the database lets a slot have only one
//! run: were two schedulers ever to think themselves leaders, a slot would still run once.
//! A slot missed while no server ran (the latest one after the last recorded) runs once as
//! soon as a leader starts; older missed slots are not made up for.

use std::time::Duration;

use switchboard_net::Shutdown;
use switchboard_store::{JobTrigger, Leadership, Store, Timestamp};

use crate::task::{run_recorded, Clock, Task};
use crate::{Cancel, Schedule};

/// A job and when it is due.
#[derive(Debug, Clone)]
pub struct Job {
    /// What it does.
    pub task: Task,
    /// When.
    pub schedule: Schedule,
}

/// Everything a scheduler needs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// This server's name, recorded with each run it makes.
    pub runner: String,
    /// The jobs.
    pub jobs: Vec<Job>,
    /// Wall-clock time, which schedules are read against.
    pub clock: Clock,
    /// How often a scheduler that is not the leader tries to become it.
    pub retry: Duration,
    /// How often the leader checks that it still holds its lock (and the clock).
    pub check: Duration,
}

impl SchedulerConfig {
    /// `jobs` for `runner`, on the system clock, trying for the lead every 5 s.
    pub fn new(runner: String, jobs: Vec<Job>) -> SchedulerConfig {
        SchedulerConfig {
            runner,
            jobs,
            clock: Clock::system(),
            retry: Duration::from_secs(5),
            check: Duration::from_secs(5),
        }
    }
}

/// Runs the scheduler until `shutdown`. A job running then is asked to stop, and recorded as
/// interrupted.
pub async fn run(store: Store, config: SchedulerConfig, shutdown: Shutdown) {
    if config.jobs.is_empty() {
        return;
    }
    loop {
        let lead = tokio::select! {
            _ = shutdown.wait() => return,
            lead = store.try_lead() => lead,
        };
        match lead {
            Ok(Some(leadership)) => {
                tracing::info!(runner = %config.runner, "this server runs the scheduled jobs");
                if lead_until_lost(&store, &config, leadership, &shutdown).await {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot try for the jobs' lock"),
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(config.retry) => {}
        }
    }
}

/// When `job` is due next, seen from `now`: a missed slot (later than the last recorded) at
/// once, else the next one after `now`.
fn first_due(schedule: &Schedule, last: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
    match (last, schedule.latest_until(now)) {
        (Some(last), Some(latest)) if latest > last => Some(latest),
        _ => schedule.next_after(now),
    }
}

/// Runs the jobs while the lock holds; `true` if it stopped for shutdown.
async fn lead_until_lost(
    store: &Store,
    config: &SchedulerConfig,
    mut leadership: Leadership,
    shutdown: &Shutdown,
) -> bool {
    let clock = &config.clock;
    match store.interrupt_running_jobs(clock.now()).await {
        Ok(n) if n > 0 => tracing::warn!(runs = n, "runs left unfinished by a stopped server"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot mark unfinished runs"),
    }
    let mut due = Vec::with_capacity(config.jobs.len());
    for job in &config.jobs {
        let last = match store.last_job_slot(job.task.name()).await {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the jobs' last runs");
                leadership.release().await;
                return false;
            }
        };
        due.push(first_due(&job.schedule, last, clock.now()));
    }
    loop {
        for (job, slot) in config.jobs.iter().zip(due.iter_mut()) {
            let Some(at) = *slot else { continue };
            if at > clock.now() {
                continue;
            }
            let cancel = Cancel::default();
            let run = run_recorded(
                &job.task,
                store,
                JobTrigger::Schedule,
                &config.runner,
                Some(at),
                clock,
                &cancel,
            );
            tokio::pin!(run);
            let recorded = tokio::select! {
                recorded = &mut run => recorded,
                _ = shutdown.wait() => {
                    cancel.cancel();
                    let _ = run.await;
                    leadership.release().await;
                    return true;
                }
            };
            match recorded {
                Ok(Some(_)) => {}
                Ok(None) => tracing::debug!(job = job.task.name(), "slot already run elsewhere"),
                Err(e) => {
                    tracing::warn!(job = job.task.name(), error = %e, "cannot record the run")
                }
            }
            // The next slot after this one and after now: a long run skips the slots it
            // overran rather than running them back to back.
            *slot = job.schedule.next_after(at.max(clock.now()));
        }
        let now = clock.now();
        let wait = due
            .iter()
            .flatten()
            .map(|at| {
                Duration::from_millis(u64::try_from(at.as_millis() - now.as_millis()).unwrap_or(0))
            })
            .min()
            .unwrap_or(config.check)
            .min(config.check);
        tokio::select! {
            _ = shutdown.wait() => {
                leadership.release().await;
                return true;
            }
            _ = tokio::time::sleep(wait) => {}
        }
        if !leadership.still_held().await {
            tracing::warn!("lost the jobs' lock; another server may take over");
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_slot_runs_once_at_once() {
        let hourly: Schedule = "0 * * * *".parse().unwrap();
        let hour = 3_600_000;
        let base = 1_795_312_800_000; // 02:00
        let now = Timestamp::from_millis(base + 30 * 60_000); // 02:30
                                                              // Nothing ever ran: wait for 03:00.
        assert_eq!(
            first_due(&hourly, None, now),
            Some(Timestamp::from_millis(base + hour))
        );
        // 02:00 ran: wait for 03:00.
        let ran = Some(Timestamp::from_millis(base));
        assert_eq!(
            first_due(&hourly, ran, now),
            Some(Timestamp::from_millis(base + hour))
        );
        // Only 23:00 ran: 02:00 (not 00:00 and 01:00 too) is due now.
        let ran = Some(Timestamp::from_millis(base - 3 * hour));
        assert_eq!(
            first_due(&hourly, ran, now),
            Some(Timestamp::from_millis(base))
        );
    }
}
