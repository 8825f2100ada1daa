//! What the scheduled jobs keep in the database: their runs ([`JobRun`]), and the batched
//! deletes the clean-up job makes.
//!
//! Every statement here is the same text on both backends (`$N` placeholders, which SQLite
//! reads as numbered parameters too), run through `on_engine!` (in `lib.rs`).

use crate::error::{from_sqlx, StoreError};
use crate::model::count_u64;
use crate::{Store, Timestamp};

/// How a run came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobTrigger {
    /// Its schedule was due.
    Schedule,
    /// Someone asked for it (`switchboard backup now`).
    Manual,
}

impl JobTrigger {
    /// `"schedule"` or `"manual"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobTrigger::Schedule => "schedule",
            JobTrigger::Manual => "manual",
        }
    }
}

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobOutcome {
    /// Started, not finished.
    Running,
    /// Done.
    Ok,
    /// Ended with an error (in [`JobRun::error`]).
    Failed,
    /// Its process went away before it finished; marked so by the next scheduler to start.
    Interrupted,
}

impl JobOutcome {
    /// `"running"`, `"ok"`, `"failed"` or `"interrupted"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Running => "running",
            JobOutcome::Ok => "ok",
            JobOutcome::Failed => "failed",
            JobOutcome::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Result<JobOutcome, StoreError> {
        Ok(match s {
            "running" => JobOutcome::Running,
            "ok" => JobOutcome::Ok,
            "failed" => JobOutcome::Failed,
            "interrupted" => JobOutcome::Interrupted,
            other => {
                return Err(StoreError::Database(format!(
                    "unknown job outcome {other:?}"
                )))
            }
        })
    }
}

/// One run of a job, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// Assigned by the database.
    pub id: i64,
    /// `backup`, `report`, `cleanup`.
    pub job: String,
    /// Scheduled or asked for.
    pub trigger: JobTrigger,
    /// The server or command that ran it.
    pub runner: String,
    /// The cron slot a scheduled run was for.
    pub scheduled_for: Option<Timestamp>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended, if it has.
    pub finished_at: Option<Timestamp>,
    /// How it ended.
    pub outcome: JobOutcome,
    /// The size of what it wrote (a backup file, a report).
    pub bytes: Option<u64>,
    /// One line on what it did.
    pub detail: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One job's runs, summed up (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// The job.
    pub job: String,
    /// Runs recorded, by outcome.
    pub runs: Vec<(JobOutcome, u64)>,
    /// The latest run, by start time.
    pub last: JobRun,
    /// When its latest successful run ended.
    pub last_success: Option<Timestamp>,
}

type RunRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    i64,
    Option<i64>,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
);

const RUN_COLUMNS: &str = "id, job, triggered_by, runner, scheduled_for, started_at, finished_at, \
                           outcome, bytes, detail, error";

fn run_from_row(row: RunRow) -> Result<JobRun, StoreError> {
    let (id, job, trigger, runner, slot, started, finished, outcome, bytes, detail, error) = row;
    Ok(JobRun {
        id,
        job,
        trigger: if trigger == "manual" {
            JobTrigger::Manual
        } else {
            JobTrigger::Schedule
        },
        runner,
        scheduled_for: slot.map(Timestamp::from_millis),
        started_at: Timestamp::from_millis(started),
        finished_at: finished.map(Timestamp::from_millis),
        outcome: JobOutcome::parse(&outcome)?,
        bytes: bytes.map(count_u64),
        detail,
        error,
    })
}

impl Store {
    /// Records that `job` starts now, and returns the run's id; `None` if `scheduled_for` names
    /// a slot that already has a run (another server took it), in which case nothing is
    /// recorded and the job must not run.
    pub async fn start_job_run(
        &self,
        job: &str,
        trigger: JobTrigger,
        runner: &str,
        scheduled_for: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        const SQL: &str = "INSERT INTO job_runs (job, triggered_by, runner, scheduled_for, \
                           started_at, outcome) VALUES ($1, $2, $3, $4, $5, 'running') \
                           ON CONFLICT (job, scheduled_for) DO NOTHING RETURNING id";
        on_engine!(self, |pool| sqlx::query_scalar(SQL)
            .bind(job)
            .bind(trigger.as_str())
            .bind(runner)
            .bind(scheduled_for.map(Timestamp::as_millis))
            .bind(now.as_millis())
            .fetch_optional(pool)
            .await)
        .map_err(from_sqlx)
    }

    /// Records how run `id` ended.
    pub async fn finish_job_run(
        &self,
        id: i64,
        now: Timestamp,
        outcome: JobOutcome,
        bytes: Option<u64>,
        detail: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE job_runs SET finished_at = $2, outcome = $3, bytes = $4, \
                           detail = $5, error = $6 WHERE id = $1";
        let bytes = bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX));
        on_engine!(self, |pool| sqlx::query(SQL)
            .bind(id)
            .bind(now.as_millis())
            .bind(outcome.as_str())
            .bind(bytes)
            .bind(detail)
            .bind(error)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(from_sqlx)?;
        Ok(())
    }

    /// Marks every run still `running` as `interrupted`: called by a scheduler that has just
    /// become the only one, so whoever was running them is gone. Returns how many.
    pub async fn interrupt_running_jobs(&self, now: Timestamp) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE job_runs SET outcome = 'interrupted', finished_at = $1, \
                           error = 'the process running it stopped before it finished' \
                           WHERE outcome = 'running'";
        let done = on_engine!(self, |pool| sqlx::query(SQL)
            .bind(now.as_millis())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(from_sqlx)?;
        Ok(done)
    }

    /// The latest slot a scheduled run of `job` was recorded for.
    pub async fn last_job_slot(&self, job: &str) -> Result<Option<Timestamp>, StoreError> {
        const SQL: &str = "SELECT max(scheduled_for) FROM job_runs WHERE job = $1";
        let slot: Option<i64> = on_engine!(self, |pool| sqlx::query_scalar(SQL)
            .bind(job)
            .fetch_one(pool)
            .await)
        .map_err(from_sqlx)?;
        Ok(slot.map(Timestamp::from_millis))
    }

    /// Up to `limit` runs, newest first; only `job`'s if given.
    pub async fn job_runs(&self, job: Option<&str>, limit: u32) -> Result<Vec<JobRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM job_runs WHERE ($1 IS NULL OR job = $1) \
             ORDER BY started_at DESC, id DESC LIMIT $2"
        );
        let rows: Vec<RunRow> = on_engine!(self, |pool| sqlx::query_as(&sql)
            .bind(job)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)
        .map_err(from_sqlx)?;
        rows.into_iter().map(run_from_row).collect()
    }

    /// Every job that has runs, with its counts by outcome, latest run and latest success.
    pub async fn job_summaries(&self) -> Result<Vec<JobSummary>, StoreError> {
        const COUNTS: &str =
            "SELECT job, outcome, count(*) FROM job_runs GROUP BY job, outcome ORDER BY job";
        const SUCCESS: &str = "SELECT job, max(finished_at) FROM job_runs WHERE outcome = 'ok' \
                               GROUP BY job";
        let latest = format!(
            "SELECT {RUN_COLUMNS} FROM job_runs r WHERE id = (SELECT id FROM job_runs l \
             WHERE l.job = r.job ORDER BY started_at DESC, id DESC LIMIT 1) ORDER BY job"
        );
        let counts: Vec<(String, String, i64)> =
            on_engine!(self, |pool| sqlx::query_as(COUNTS).fetch_all(pool).await)
                .map_err(from_sqlx)?;
        let successes: Vec<(String, Option<i64>)> =
            on_engine!(self, |pool| sqlx::query_as(SUCCESS).fetch_all(pool).await)
                .map_err(from_sqlx)?;
        let latest: Vec<RunRow> =
            on_engine!(self, |pool| sqlx::query_as(&latest).fetch_all(pool).await)
                .map_err(from_sqlx)?;
        let mut summaries = Vec::new();
        for row in latest {
            let last = run_from_row(row)?;
            let mut runs = Vec::new();
            for (job, outcome, n) in &counts {
                if *job == last.job {
                    runs.push((JobOutcome::parse(outcome)?, count_u64(*n)));
                }
            }
            let last_success = successes
                .iter()
                .find(|(job, _)| *job == last.job)
                .and_then(|(_, at)| at.map(Timestamp::from_millis));
            summaries.push(JobSummary {
                job: last.job.clone(),
                runs,
                last,
                last_success,
            });
        }
        Ok(summaries)
    }

    /// Deletes the runs that started before `before`; returns how many.
    pub async fn prune_job_runs(&self, before: Timestamp) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM job_runs WHERE started_at < $1 AND outcome <> 'running'";
        on_engine!(self, |pool| sqlx::query(SQL)
            .bind(before.as_millis())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(from_sqlx)
    }

    /// Deletes at most `limit` dead sessions (`expires_at <= now` or `last_seen_at <
    /// idle_cutoff`, the rule of [`Store::delete_expired_sessions`]); returns how many. Called
    /// until it returns less than `limit`, it clears them all without one long write lock.
    pub async fn delete_expired_sessions_batch(
        &self,
        now: Timestamp,
        idle_cutoff: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM \
                           sessions WHERE expires_at <= $1 OR last_seen_at < $2 LIMIT $3)";
        on_engine!(self, |pool| sqlx::query(SQL)
            .bind(now.as_millis())
            .bind(idle_cutoff.as_millis())
            .bind(i64::from(limit))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(from_sqlx)
    }

    /// Deletes failures recorded before `before`, about `limit` at a time (a few more when
    /// several share a key and a millisecond); returns how many.
    pub async fn prune_login_failures_batch(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM login_failures WHERE (key, at) IN (SELECT key, at FROM \
                           login_failures WHERE at < $1 LIMIT $2)";
        on_engine!(self, |pool| sqlx::query(SQL)
            .bind(before.as_millis())
            .bind(i64::from(limit))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(from_sqlx)
    }
}
