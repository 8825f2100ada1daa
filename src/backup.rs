//! `switchboard backup now`, `switchboard backup list`, `switchboard restore` and
//! `switchboard report now`: the scheduled jobs, run by hand.

use std::path::PathBuf;

use switchboard_jobs::{
    format, report, restore, retention, run_recorded, BackupTask, Cancel, Clock, Task,
};
use switchboard_store::JobTrigger;
use tokio::time::Instant;

use crate::args::{BackupListArgs, BackupNowArgs, ReportNowArgs, RestoreArgs, ServerFiles};
use crate::failure::Failure;
use crate::runtime;
use crate::serve::{database_url, open_store, FileConfig};

fn file(config: &Option<PathBuf>) -> Result<FileConfig, Failure> {
    match config {
        Some(path) => FileConfig::load(path),
        None => Ok(FileConfig::default()),
    }
}

/// `1.2 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The URL with any password replaced by `***`, for printing.
fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{}", &rest[end..])
        }
        _ => url.to_owned(),
    }
}

/// The server's TOML file (or an empty one) and the database URL the flags and it name.
fn server_files(flags: ServerFiles) -> Result<(FileConfig, String), Failure> {
    let file = file(&flags.config)?;
    let url = database_url(
        flags.database.or(file.database.clone()),
        flags.data.or(file.data.clone()),
    );
    Ok((file, url))
}

/// Takes a backup now and applies the retention rules; the run is recorded like a scheduled
/// one, as manual.
pub fn now(args: BackupNowArgs) -> Result<(), Failure> {
    let (file, url) = server_files(args.server)?;
    let dir = args.backup_dir.or(file.backup_dir).ok_or_else(|| {
        Failure::usage("no backup directory: give --backup-dir DIR (or backup-dir in --config)")
    })?;
    let rules = crate::jobs::retention(&args.retention, file.jobs.as_ref());
    runtime::single()?.block_on(async {
        let store = open_store(&url).await?;
        let task = Task::Backup(BackupTask {
            dir: dir.clone(),
            retention: rules,
            database_url: url.clone(),
        });
        let started = Instant::now();
        let runner = format!("backup now (pid {})", std::process::id());
        let result = run_recorded(
            &task,
            &store,
            JobTrigger::Manual,
            &runner,
            None,
            &Clock::system(),
            &Cancel::default(),
        )
        .await;
        store.close().await;
        let done = match result {
            Ok(Some(Ok(done))) => done,
            Ok(Some(Err(e))) => return Err(Failure::runtime(format!("backup failed: {e}"))),
            Ok(None) => return Err(Failure::runtime("backup failed: the run was not recorded")),
            Err(e) => return Err(Failure::runtime(format!("backup failed: {e}"))),
        };
        println!(
            "backup written in {}: {} ({}, {:.2} s)",
            dir.display(),
            done.detail,
            size(done.bytes.unwrap_or(0)),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

/// Lists the backup directory, oldest first; with `--verify`, each file's checksum too.
pub fn list(args: BackupListArgs) -> Result<(), Failure> {
    let file = file(&args.config)?;
    let dir = args.backup_dir.or(file.backup_dir).ok_or_else(|| {
        Failure::usage("no backup directory: give --backup-dir DIR (or backup-dir in --config)")
    })?;
    let entries = retention::list(&dir).map_err(Failure::runtime)?;
    if entries.is_empty() {
        println!("no backups in {}", dir.display());
        return Ok(());
    }
    let mut bad = 0;
    println!(
        "{:<56} {:<8} {:>6} {:<24} {:>10}{}",
        "NAME",
        "ENGINE",
        "SCHEMA",
        "TAKEN",
        "SIZE",
        if args.verify { "  CHECK" } else { "" }
    );
    for entry in &entries {
        let name = entry.path.file_name().unwrap_or_default().to_string_lossy();
        let (engine, schema, taken) = match &entry.header {
            Ok(h) => (
                h.engine.clone(),
                h.schema_version.to_string(),
                h.created_at.clone(),
            ),
            Err(_) => ("?".into(), "?".into(), "?".into()),
        };
        let check = if args.verify {
            match format::verify(&entry.path) {
                Ok(_) => "  ok".to_owned(),
                Err(e) => {
                    bad += 1;
                    format!("  {e}")
                }
            }
        } else {
            match &entry.header {
                Err(e) => format!("  {e}"),
                Ok(_) => String::new(),
            }
        };
        println!(
            "{name:<56} {engine:<8} {schema:>6} {taken:<24} {:>10}{check}",
            size(entry.file_bytes)
        );
    }
    if bad > 0 {
        return Err(Failure::runtime(format!(
            "{bad} backups failed their check"
        )));
    }
    Ok(())
}

/// Restores a backup, after checking it; says what it restored.
pub fn restore(args: RestoreArgs) -> Result<(), Failure> {
    runtime::single()?.block_on(async {
        let restored = restore::restore(&args.file, &args.database, args.force)
            .await
            .map_err(|e| Failure::runtime(format!("restore refused: {e}")))?;
        let tables: Vec<String> = restored
            .tables
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        println!(
            "restored {} backup {} (taken {}, schema {}) into {}{}: {}",
            restored.header.engine,
            args.file.file_name().unwrap_or_default().to_string_lossy(),
            restored.header.created_at,
            restored.header.schema_version,
            shown(&args.database),
            if restored.replaced {
                ", replacing what was there"
            } else {
                ""
            },
            tables.join(", ")
        );
        if restored.schema_version != restored.header.schema_version {
            println!(
                "the database was migrated from schema {} to {}",
                restored.header.schema_version, restored.schema_version
            );
        }
        Ok(())
    })
}

/// Writes a day's report now: today so far, or `--day`.
pub fn report_now(args: ReportNowArgs) -> Result<(), Failure> {
    let (file, url) = server_files(args.server)?;
    let dir = args.report_dir.or(file.report_dir).ok_or_else(|| {
        Failure::usage("no report directory: give --report-dir DIR (or report-dir in --config)")
    })?;
    let now = Clock::system().now();
    let day = match &args.day {
        Some(day) => report::parse_day(day).map_err(|e| Failure::usage(format!("--day: {e}")))?,
        None => report::day_of(now),
    };
    runtime::single()?.block_on(async {
        let store = open_store(&url).await?;
        let written = report::write(&store, &dir, day, now).await;
        store.close().await;
        let written = written.map_err(|e| Failure::runtime(format!("report failed: {e}")))?;
        println!(
            "report for {} written: {} and {}",
            written.day,
            written.json.display(),
            written.html.display()
        );
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            super::shown("postgres://ann:secret@db:5432/app"),
            "postgres://ann:***@db:5432/app"
        );
        assert_eq!(super::shown("sqlite://data/app.db"), "sqlite://data/app.db");
        assert_eq!(super::size(1536), "1.5 KiB");
    }
}
