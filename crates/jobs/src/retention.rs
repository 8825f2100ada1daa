//! Which backups to keep, and the directory listing that rules are applied to.
//!
//! The rules are the ones restic and borg use, and they add up (a backup kept by any rule
//! stays):
//!
//! - `keep_last = N`: the N newest backups.
//! - `keep_daily = N`: for each of the N most recent days (UTC) that have a backup, the
//!   newest backup of that day.
//! - `keep_weekly = N`: the same for ISO weeks (Monday to Sunday, UTC).
//!
//! Days without backups are not counted, so a server that was down for a month still has its
//! dailies afterwards. The newest backup is always kept, whatever the rules; so is one dated
//! after `now` (a clock that went back is no reason to delete anything). With no rule at all,
//! everything is kept. A backup's time is the one in its header, never the file's mtime,
//! which a copy changes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use switchboard_store::Timestamp;

use crate::backup::SUFFIX;
use crate::error::JobError;
use crate::format::{self, Header};

const DAY_MS: i64 = 86_400_000;

/// The retention rules; `None` means the rule is not used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep the N newest.
    pub keep_last: Option<u32>,
    /// Keep the newest of each of the N most recent days that have backups.
    pub keep_daily: Option<u32>,
    /// Keep the newest of each of the N most recent ISO weeks that have backups.
    pub keep_weekly: Option<u32>,
}

impl Retention {
    /// True when no rule is set: nothing is ever deleted.
    pub fn keeps_everything(&self) -> bool {
        self.keep_last.is_none() && self.keep_daily.is_none() && self.keep_weekly.is_none()
    }

    /// For each of `times` (in any order), whether it is kept at `now`.
    pub fn select(&self, times: &[Timestamp], now: Timestamp) -> Vec<bool> {
        let mut keep = vec![self.keeps_everything(); times.len()];
        let mut newest_first: Vec<usize> = (0..times.len()).collect();
        newest_first.sort_by(|&a, &b| times[b].cmp(&times[a]).then(a.cmp(&b)));
        if let Some(&newest) = newest_first.first() {
            keep[newest] = true;
        }
        for &i in &newest_first {
            if times[i] > now {
                keep[i] = true;
            }
        }
        for &i in newest_first
            .iter()
            .take(self.keep_last.unwrap_or(0) as usize)
        {
            keep[i] = true;
        }
        let day = |t: Timestamp| t.as_millis().div_euclid(DAY_MS);
        // 1970-01-01 was a Thursday: shifting by 3 days makes weeks start on Mondays.
        let week = |t: Timestamp| (day(t) + 3).div_euclid(7);
        for (rule, period) in [
            (self.keep_daily, &day as &dyn Fn(Timestamp) -> i64),
            (self.keep_weekly, &week),
        ] {
            let Some(n) = rule else { continue };
            let mut seen = HashSet::new();
            for &i in &newest_first {
                if seen.len() >= n as usize {
                    break;
                }
                if seen.insert(period(times[i])) {
                    keep[i] = true;
                }
            }
        }
        keep
    }
}

/// A file in a backup directory.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where it is.
    pub path: PathBuf,
    /// Its size.
    pub file_bytes: u64,
    /// Its header, or why it could not be read.
    pub header: Result<Header, String>,
}

/// Every backup file in `dir` (named `*.backup`, not hidden), sorted by name, which is time
/// order. A file whose header cannot be read is listed with the reason.
pub fn list(dir: &Path) -> Result<Vec<Entry>, JobError> {
    let read = std::fs::read_dir(dir).map_err(|e| {
        JobError::io(
            format!("cannot read the backup directory {}", dir.display()),
            e,
        )
    })?;
    let mut entries = Vec::new();
    for item in read {
        let item = item.map_err(|e| JobError::io(format!("cannot read {}", dir.display()), e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(SUFFIX) {
            continue;
        }
        let path = item.path();
        let file_bytes = item.metadata().map(|m| m.len()).unwrap_or(0);
        let header = format::read_header(&path).map_err(|e| e.to_string());
        entries.push(Entry {
            path,
            file_bytes,
            header,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Deletes the backups in `dir` that `rules` do not keep at `now`, each engine's backups
/// judged apart; returns the files deleted. Files whose header cannot be read are never
/// deleted: they are not known to be backups.
pub fn apply(dir: &Path, rules: &Retention, now: Timestamp) -> Result<Vec<PathBuf>, JobError> {
    if rules.keeps_everything() {
        return Ok(Vec::new());
    }
    let entries = list(dir)?;
    let mut engines: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.header.as_ref().ok().map(|h| h.engine.as_str()))
        .collect();
    engines.sort_unstable();
    engines.dedup();
    let mut deleted = Vec::new();
    for engine in engines {
        let of_engine: Vec<(&Entry, Timestamp)> = entries
            .iter()
            .filter_map(|e| match &e.header {
                Ok(h) if h.engine == engine => Some((e, h.created_at())),
                _ => None,
            })
            .collect();
        let times: Vec<Timestamp> = of_engine.iter().map(|(_, t)| *t).collect();
        for ((entry, _), keep) in of_engine.iter().zip(rules.select(&times, now)) {
            if keep {
                continue;
            }
            std::fs::remove_file(&entry.path)
                .map_err(|e| JobError::io(format!("cannot delete {}", entry.path.display()), e))?;
            tracing::info!(file = %entry.path.display(), "old backup deleted");
            deleted.push(entry.path.clone());
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 00:00 UTC, a Monday.
    const MONDAY: i64 = 1_795_392_000_000;
    const HOUR: i64 = 3_600_000;

    fn at(day: i64, hour: i64) -> Timestamp {
        Timestamp::from_millis(MONDAY + day * DAY_MS + hour * HOUR)
    }

    fn kept(rules: Retention, times: &[Timestamp], now: Timestamp) -> Vec<Timestamp> {
        let keep = rules.select(times, now);
        let mut out: Vec<Timestamp> = times
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(t, _)| *t)
            .collect();
        out.sort();
        out
    }

    #[test]
    fn monday_is_monday() {
        assert_eq!(at(0, 0).to_rfc3339(), "2026-11-23T00:00:00.000Z");
    }

    #[test]
    fn no_rules_keep_everything() {
        let times = [at(0, 1), at(0, 2), at(-40, 0)];
        assert_eq!(kept(Retention::default(), &times, at(1, 0)).len(), 3);
    }

    #[test]
    fn keep_last_keeps_the_newest_n() {
        let times: Vec<_> = (0..10).map(|h| at(0, h)).collect();
        let rules = Retention {
            keep_last: Some(3),
            ..Retention::default()
        };
        assert_eq!(
            kept(rules, &times, at(1, 0)),
            vec![at(0, 7), at(0, 8), at(0, 9)]
        );
    }

    #[test]
    fn daily_keeps_the_last_of_each_recent_day_that_has_backups() {
        // Two a day for 10 days, then a gap of 5 days, then today.
        let mut times = Vec::new();
        for day in 0..10 {
            times.push(at(day, 3));
            times.push(at(day, 15));
        }
        times.push(at(15, 3));
        let rules = Retention {
            keep_daily: Some(4),
            ..Retention::default()
        };
        assert_eq!(
            kept(rules, &times, at(15, 4)),
            vec![at(7, 15), at(8, 15), at(9, 15), at(15, 3)],
            "the gap days do not count"
        );
    }

    #[test]
    fn weekly_keeps_the_last_of_each_iso_week() {
        // One a day for three weeks, Monday to Sunday.
        let times: Vec<_> = (0..21).map(|d| at(d, 3)).collect();
        let rules = Retention {
            keep_weekly: Some(2),
            ..Retention::default()
        };
        // Sundays are days 6, 13, 20.
        assert_eq!(kept(rules, &times, at(21, 0)), vec![at(13, 3), at(20, 3)]);
    }

    #[test]
    fn rules_add_up_and_the_newest_and_the_future_always_stay() {
        let times: Vec<_> = (0..21).map(|d| at(d, 3)).collect();
        let rules = Retention {
            keep_last: Some(2),
            keep_daily: Some(3),
            keep_weekly: Some(3),
        };
        assert_eq!(
            kept(rules, &times, at(21, 0)),
            vec![at(6, 3), at(13, 3), at(18, 3), at(19, 3), at(20, 3)]
        );
        let rules = Retention {
            keep_last: Some(0),
            ..Retention::default()
        };
        assert_eq!(kept(rules, &times, at(21, 0)), vec![at(20, 3)]);
        assert_eq!(
            kept(rules, &times, at(19, 0)),
            vec![at(19, 3), at(20, 3)],
            "backups after now are kept"
        );
    }
}
