//! The scheduled jobs' settings: flags and environment (clap), then the TOML file's
//! `backup-dir`, `report-dir` and `[jobs.*]` tables, then defaults; validated into the jobs
//! crate's [`Job`]s.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_app::AppConfig;
use switchboard_jobs::{BackupTask, CleanupTask, Job, ReportTask, Retention, Schedule, Task};

use crate::args::{JobArgs, RetentionArgs};
use crate::failure::Failure;

const BACKUP_SCHEDULE: &str = "0 3 * * *";
const REPORT_SCHEDULE: &str = "5 0 * * *";
const CLEANUP_SCHEDULE: &str = "*/10 * * * *";
/// Rows deleted per statement by the clean-up.
const CLEANUP_BATCH: u32 = 1000;
/// Job runs and request statistics are kept this long.
const HISTORY: Duration = Duration::from_secs(90 * 24 * 3600);

/// The file's `[jobs]` tables.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobsFile {
    backup: Option<BackupFile>,
    report: Option<ScheduleFile>,
    cleanup: Option<CleanupFile>,
}

/// `[jobs.backup]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    schedule: Option<String>,
    #[serde(alias = "keep-last")]
    keep_last: Option<u32>,
    #[serde(alias = "keep-daily")]
    keep_daily: Option<u32>,
    #[serde(alias = "keep-weekly")]
    keep_weekly: Option<u32>,
}

/// `[jobs.report]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    schedule: Option<String>,
}

/// `[jobs.cleanup]`.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupFile {
    schedule: Option<String>,
    batch: Option<u32>,
}

/// The retention rules: each flag (or its variable) over the file's `[jobs.backup]`.
pub fn retention(args: &RetentionArgs, file: Option<&JobsFile>) -> Retention {
    let backup = file.and_then(|f| f.backup.as_ref());
    Retention {
        keep_last: args.keep_last.or(backup.and_then(|b| b.keep_last)),
        keep_daily: args.keep_daily.or(backup.and_then(|b| b.keep_daily)),
        keep_weekly: args.keep_weekly.or(backup.and_then(|b| b.keep_weekly)),
    }
}

fn schedule(
    flag: &str,
    value: Option<String>,
    file: Option<String>,
    default: &str,
) -> Result<Schedule, Failure> {
    value
        .or(file)
        .unwrap_or_else(|| default.to_owned())
        .parse()
        .map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

/// What the file gives beside `[jobs]`.
pub struct FileDirs {
    /// `backup-dir`.
    pub backup_dir: Option<PathBuf>,
    /// `report-dir`.
    pub report_dir: Option<PathBuf>,
}

/// The jobs a server schedules: backups with a backup directory, reports with a report
/// directory, the clean-up always.
pub fn jobs(
    args: JobArgs,
    file: Option<JobsFile>,
    dirs: FileDirs,
    database_url: &str,
    app: &AppConfig,
) -> Result<Vec<Job>, Failure> {
    let file = file.unwrap_or_default();
    let mut jobs = Vec::new();
    if let Some(dir) = args.backup_dir.or(dirs.backup_dir) {
        jobs.push(Job {
            schedule: schedule(
                "--backup-schedule",
                args.backup_schedule,
                file.backup.as_ref().and_then(|b| b.schedule.clone()),
                BACKUP_SCHEDULE,
            )?,
            task: Task::Backup(BackupTask {
                dir,
                retention: retention(&args.retention, Some(&file)),
                database_url: database_url.to_owned(),
            }),
        });
    } else if args.backup_schedule.is_some() {
        return Err(Failure::usage("--backup-schedule needs --backup-dir"));
    }
    if let Some(dir) = args.report_dir.or(dirs.report_dir) {
        jobs.push(Job {
            schedule: schedule(
                "--report-schedule",
                args.report_schedule,
                file.report.as_ref().and_then(|r| r.schedule.clone()),
                REPORT_SCHEDULE,
            )?,
            task: Task::Report(ReportTask { dir }),
        });
    } else if args.report_schedule.is_some() {
        return Err(Failure::usage("--report-schedule needs --report-dir"));
    }
    let cleanup = file.cleanup.unwrap_or_default();
    let batch = cleanup.batch.unwrap_or(CLEANUP_BATCH);
    if batch == 0 {
        return Err(Failure::usage(
            "config file: [jobs.cleanup] batch must be more than zero",
        ));
    }
    jobs.push(Job {
        schedule: schedule(
            "--cleanup-schedule",
            args.cleanup_schedule,
            cleanup.schedule,
            CLEANUP_SCHEDULE,
        )?,
        task: Task::Cleanup(CleanupTask {
            batch,
            session_idle: app.sessions.idle,
            throttle_window: app.throttle.window,
            keep_history: HISTORY,
            feed_retention: app.feed.retention,
        }),
    });
    Ok(jobs)
}

/// The flags that hand `args` on to a child `serve` (what `up` runs).
pub fn to_flags(args: &JobArgs) -> Vec<String> {
    let mut flags = Vec::new();
    let mut push = |flag: &str, value: Option<String>| {
        if let Some(value) = value {
            flags.push(flag.to_owned());
            flags.push(value);
        }
    };
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    push("--backup-dir", path(&args.backup_dir));
    push("--backup-schedule", args.backup_schedule.clone());
    push(
        "--keep-last",
        args.retention.keep_last.map(|n| n.to_string()),
    );
    push(
        "--keep-daily",
        args.retention.keep_daily.map(|n| n.to_string()),
    );
    push(
        "--keep-weekly",
        args.retention.keep_weekly.map(|n| n.to_string()),
    );
    push("--report-dir", path(&args.report_dir));
    push("--report-schedule", args.report_schedule.clone());
    push("--cleanup-schedule", args.cleanup_schedule.clone());
    flags
}
