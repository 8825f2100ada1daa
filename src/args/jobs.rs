//! The flags of the scheduled jobs (`serve` and `up`) and of the commands that run them by
//! hand: `backup now`, `backup list`, `restore`, `report now`.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};

/// How many backups to keep (see `switchboard serve --help`).
#[derive(Debug, Default, Clone, ClapArgs)]
pub struct RetentionArgs {
    /// After each backup, keep the N newest [default: all, unless another rule is set].
    #[arg(long, env = "SWITCHBOARD_KEEP_LAST", value_name = "N")]
    pub keep_last: Option<u32>,

    /// Keep the newest backup of each of the N latest days that have backups.
    #[arg(long, env = "SWITCHBOARD_KEEP_DAILY", value_name = "N")]
    pub keep_daily: Option<u32>,

    /// Keep the newest backup of each of the N latest ISO weeks that have backups.
    #[arg(long, env = "SWITCHBOARD_KEEP_WEEKLY", value_name = "N")]
    pub keep_weekly: Option<u32>,
}

/// The scheduled jobs' settings, shared by `serve` and `up`. Schedules are cron syntax (five
/// fields, or six with seconds first), in UTC.
#[derive(Debug, Default, Clone, ClapArgs)]
pub struct JobArgs {
    /// Back the database up into this directory, on --backup-schedule. No backups without it.
    #[arg(long, env = "SWITCHBOARD_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,

    /// When backups are taken [default: "0 3 * * *", 03:00 UTC daily].
    #[arg(long, env = "SWITCHBOARD_BACKUP_SCHEDULE", value_name = "CRON")]
    pub backup_schedule: Option<String>,

    #[command(flatten)]
    pub retention: RetentionArgs,

    /// Write the daily report (JSON and HTML) into this directory, on --report-schedule. No
    /// reports without it.
    #[arg(long, env = "SWITCHBOARD_REPORT_DIR", value_name = "DIR")]
    pub report_dir: Option<PathBuf>,

    /// When the report of the day before is written [default: "5 0 * * *"].
    #[arg(long, env = "SWITCHBOARD_REPORT_SCHEDULE", value_name = "CRON")]
    pub report_schedule: Option<String>,

    /// When expired sessions, old login failures and old feed events are deleted
    /// [default: "*/10 * * * *"].
    #[arg(long, env = "SWITCHBOARD_CLEANUP_SCHEDULE", value_name = "CRON")]
    pub cleanup_schedule: Option<String>,
}

/// Where a job run by hand finds the server's database: its TOML file, or the flags that
/// name the database as `serve`'s do.
#[derive(Debug, ClapArgs)]
pub struct ServerFiles {
    /// The server's TOML file: its database, and the jobs' directories and settings
    /// (backup-dir, report-dir, [jobs.backup] retention).
    #[arg(long, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// sqlite://PATH or postgres://USER@HOST:PORT/DB [default: an SQLite file in --data].
    #[arg(long, env = "SWITCHBOARD_DATABASE", value_name = "URL")]
    pub database: Option<String>,

    /// Data directory for the embedded database [default: ./switchboard-data].
    #[arg(long, env = "SWITCHBOARD_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
}

/// `switchboard backup`.
#[derive(Debug, ClapArgs)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: BackupCommand,
}

/// `switchboard backup now|list`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a backup now, while servers keep running, then apply the retention rules.
    #[command(after_help = "Examples:
  switchboard backup now --backup-dir /var/backups/switchboard
  switchboard backup now --database postgres://postgres@127.0.0.1:5432/app --backup-dir backups --keep-daily 7
  switchboard backup now --config switchboard.toml")]
    Now(BackupNowArgs),
    /// List the backups in the backup directory, oldest first.
    List(BackupListArgs),
}

/// Flags of `switchboard backup now`.
#[derive(Debug, ClapArgs)]
pub struct BackupNowArgs {
    #[command(flatten)]
    pub server: ServerFiles,

    /// Where the backup goes.
    #[arg(long, env = "SWITCHBOARD_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,

    #[command(flatten)]
    pub retention: RetentionArgs,
}

/// Flags of `switchboard backup list`.
#[derive(Debug, ClapArgs)]
pub struct BackupListArgs {
    /// The server's TOML file, for its backup-dir.
    #[arg(long, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The backup directory.
    #[arg(long, env = "SWITCHBOARD_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,

    /// Read every file whole and check its checksum.
    #[arg(long)]
    pub verify: bool,
}

/// Flags of `switchboard restore`.
#[derive(Debug, ClapArgs)]
pub struct RestoreArgs {
    /// The backup file.
    pub file: PathBuf,

    /// The database to restore into: sqlite://PATH or postgres://USER@HOST:PORT/DB. It must be
    /// empty or missing, unless --force. Stop the servers on it first.
    #[arg(long, value_name = "URL")]
    pub database: String,

    /// Replace what the database holds.
    #[arg(long)]
    pub force: bool,
}

/// `switchboard report`.
#[derive(Debug, ClapArgs)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

/// `switchboard report now`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Write a day's report now (today so far, unless --day): report-DAY.json and
    /// report-DAY.html in the report directory.
    #[command(after_help = "Examples:
  switchboard report now --report-dir reports
  switchboard report now --report-dir reports --day 2026-11-21 --database postgres://postgres@127.0.0.1:5432/app")]
    Now(ReportNowArgs),
}

/// Flags of `switchboard report now`.
#[derive(Debug, ClapArgs)]
pub struct ReportNowArgs {
    #[command(flatten)]
    pub server: ServerFiles,

    /// Where the report goes.
    #[arg(long, env = "SWITCHBOARD_REPORT_DIR", value_name = "DIR")]
    pub report_dir: Option<PathBuf>,

    /// The day (UTC), YYYY-MM-DD [default: today].
    #[arg(long, value_name = "DAY")]
    pub day: Option<String>,
}
