//! [`Schedule`]: when a job is due, in cron syntax, parsed by the `croner` crate.
//!
//! Five fields (`minute hour day-of-month month day-of-week`, as crontab has them) or six with
//! seconds first; the usual `@daily`-style nicknames too. Times are UTC: servers in different
//! zones agree on when a job is due, and on which day a report is about.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use switchboard_store::Timestamp;

/// A parsed cron schedule.
#[derive(Clone)]
pub struct Schedule {
    cron: Cron,
    text: String,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?})", self.text)
    }
}

impl fmt::Display for Schedule {
    /// The schedule as it was written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Schedule {
    type Err = String;

    /// Parses cron syntax; the error says what was wrong, in one line.
    fn from_str(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(text)
            .map_err(|e| {
                format!(
                    "'{text}' is not a cron schedule ({e}); try \"0 3 * * *\" (every day at 03:00 \
                     UTC) or \"*/15 * * * *\""
                )
            })?;
        Ok(Schedule {
            cron,
            text: text.to_owned(),
        })
    }
}

fn to_chrono(t: Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(t.as_millis())
}

fn from_chrono(t: DateTime<Utc>) -> Timestamp {
    Timestamp::from_millis(t.timestamp_millis())
}

impl Schedule {
    /// The first time the schedule is due strictly after `t`; `None` if it never is again.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let t = to_chrono(t)?;
        self.cron
            .find_next_occurrence(&t, false)
            .ok()
            .map(from_chrono)
    }

    /// The latest time the schedule was due at or before `t`.
    pub fn latest_until(&self, t: Timestamp) -> Option<Timestamp> {
        let t = to_chrono(t)?;
        self.cron
            .find_previous_occurrence(&t, true)
            .ok()
            .map(from_chrono)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22T02:00:00Z.
    const T: i64 = 1_795_312_800_000;

    #[test]
    fn daily_at_three() {
        let s: Schedule = "0 3 * * *".parse().unwrap();
        let next = s.next_after(Timestamp::from_millis(T)).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-22T03:00:00.000Z");
        let after = s.next_after(next).unwrap();
        assert_eq!(after.to_rfc3339(), "2026-11-23T03:00:00.000Z");
        assert_eq!(s.latest_until(next), Some(next), "inclusive");
        assert_eq!(
            s.latest_until(Timestamp::from_millis(T))
                .unwrap()
                .to_rfc3339(),
            "2026-11-21T03:00:00.000Z"
        );
    }

    #[test]
    fn seconds_are_optional() {
        let s: Schedule = "*/2 * * * * *".parse().unwrap();
        let next = s.next_after(Timestamp::from_millis(T + 500)).unwrap();
        assert_eq!(next.as_millis(), T + 2000);
        assert!("@daily".parse::<Schedule>().is_ok());
    }

    #[test]
    fn nonsense_is_refused_in_words() {
        let err = "0 25 * * *".parse::<Schedule>().unwrap_err();
        assert!(
            err.starts_with("'0 25 * * *' is not a cron schedule"),
            "{err}"
        );
        assert!("every day".parse::<Schedule>().is_err());
    }
}
