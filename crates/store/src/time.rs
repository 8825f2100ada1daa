//! [`Timestamp`]: milliseconds since the Unix epoch, supplied by the caller.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time: milliseconds since the Unix epoch (1970-01-01T00:00:00Z), UTC.
///
/// The store never reads a clock for anything it decides: the application passes `now` into
/// every call that depends on time, so tests control the clock and every server process sharing
/// one database judges expiry the same way. Stored as a 64-bit integer in both backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

const MILLIS_PER_DAY: i64 = 86_400_000;

impl Timestamp {
    /// 1970-01-01T00:00:00.000Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The timestamp `millis` milliseconds after the Unix epoch (before it, if negative).
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Converts a wall-clock time, saturating at the ends of the `i64` range.
    ///
    /// This is how the application turns `SystemTime::now()` into the `now` it passes in.
    pub fn from_system_time(time: SystemTime) -> Timestamp {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Timestamp(duration_millis(after)),
            Err(before) => Timestamp(duration_millis(before.duration()).saturating_neg()),
        }
    }

    /// `self + duration`, saturating at the far future (e.g. a session's `expires_at`).
    pub fn saturating_add(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_millis(duration)))
    }

    /// `self - duration`, saturating at the far past (e.g. an idle cutoff, `now - idle timeout`).
    pub fn saturating_sub(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(duration_millis(duration)))
    }

    /// Formats as RFC 3339 in UTC with millisecond precision: `2026-11-22T02:00:00.123Z`.
    ///
    /// Years outside 0000..=9999 (more than ~8000 years from now) cannot be written in RFC 3339;
    /// they come out in ISO 8601's expanded form with a sign (`+10000-01-01T...`,
    /// `-0001-12-31T...`) rather than failing.
    pub fn to_rfc3339(&self) -> String {
        let days = self.0.div_euclid(MILLIS_PER_DAY);
        let millis_of_day = self.0.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let hour = millis_of_day / 3_600_000;
        let minute = millis_of_day / 60_000 % 60;
        let second = millis_of_day / 1000 % 60;
        let millis = millis_of_day % 1000;
        let year = if (0..=9999).contains(&year) {
            format!("{year:04}")
        } else {
            format!("{year:+05}")
        };
        format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
    }
}

impl fmt::Display for Timestamp {
    /// Same as [`Timestamp::to_rfc3339`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Whole milliseconds in `duration`, saturating at `i64::MAX`.
pub(crate) fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// Howard Hinnant's `civil_from_days` (<http://howardhinnant.github.io/date_algorithms.html>):
/// shift the epoch to 0000-03-01 so the leap day ends the year, split into 400-year eras of
/// 146097 days, then find the year of the era, the day of the year and the month from it.
/// Exact for every `i64` day count that a millisecond `i64` can produce.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in small ranges by construction, so the casts cannot truncate.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> String {
        Timestamp::from_millis(millis).to_rfc3339()
    }

    #[test]
    fn known_instants() {
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(at(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
        assert_eq!(at(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(at(1_709_251_200_000), "2024-03-01T00:00:00.000Z");
        assert_eq!(at(1_795_312_800_123), "2026-11-22T02:00:00.123Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn before_the_epoch() {
        assert_eq!(at(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(at(-86_400_000), "1969-12-31T00:00:00.000Z");
        // 1900 is not a leap year: Feb 28th is followed by March 1st.
        assert_eq!(at(-2_203_891_200_001), "1900-02-28T23:59:59.999Z");
        assert_eq!(at(-2_203_891_200_000), "1900-03-01T00:00:00.000Z");
        assert_eq!(at(-62_167_219_200_000), "0000-01-01T00:00:00.000Z");
        assert_eq!(at(-62_167_219_200_001), "-0001-12-31T23:59:59.999Z");
    }

    #[test]
    fn extremes_do_not_panic() {
        assert_eq!(at(253_402_300_800_000), "+10000-01-01T00:00:00.000Z");
        assert!(at(i64::MAX).ends_with('Z'));
        assert!(at(i64::MIN).starts_with('-'));
    }

    /// Inverse of `civil_from_days`, from the same paper, to check every day round-trips.
    fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
        let (month, day) = (i64::from(month), i64::from(day));
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let mp = if month > 2 { month - 3 } else { month + 9 };
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    #[test]
    fn every_day_of_a_millennium_round_trips_in_order() {
        let mut previous = civil_from_days(-200_000);
        for days in -199_999..200_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert!(
                (y, m, d) > previous,
                "{days}: {:?} after {previous:?}",
                (y, m, d)
            );
            previous = (y, m, d);
        }
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_millis(1_000);
        assert_eq!(
            t.saturating_add(Duration::from_millis(500)).as_millis(),
            1_500
        );
        assert_eq!(t.saturating_sub(Duration::from_secs(2)).as_millis(), -1_000);
        assert_eq!(t.saturating_add(Duration::MAX).as_millis(), i64::MAX);
        assert_eq!(
            Timestamp::from_millis(i64::MIN + 1)
                .saturating_sub(Duration::MAX)
                .as_millis(),
            i64::MIN
        );
        assert_eq!(
            Timestamp::from_system_time(UNIX_EPOCH + Duration::from_millis(42)).as_millis(),
            42
        );
        assert_eq!(
            Timestamp::from_system_time(UNIX_EPOCH - Duration::from_millis(42)).as_millis(),
            -42
        );
        assert_eq!(t.to_string(), "1970-01-01T00:00:01.000Z");
    }
}
