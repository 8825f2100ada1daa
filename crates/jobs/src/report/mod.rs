//! The daily report: one UTC day of the system in figures, written as JSON
//! (`report-YYYY-MM-DD.json`) and as a self-contained HTML page with SVG charts
//! (`report-YYYY-MM-DD.html`: no script, no stylesheet or font from anywhere else).
//!
//! The figures come from the database, so they cover every server on it: new users from the
//! users table; requests, statuses and response times from the hourly request statistics
//! the servers flush there (see the store's `stats.rs`). Sign-ins are `POST /login`
//! answered 200 (JSON) or 303 (the form), failed sign-ins those answered 401, throttled ones
//! 429. Percentiles come from the histogram's buckets (each at most 12.5% wide; the middle of
//! the bucket is reported). The application has no posts, so the report has none.

mod html;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use switchboard_store::{bucket_range, Store, Timestamp};

use crate::error::JobError;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// One route's day.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteDay {
    /// The route, as the metrics label it.
    pub route: String,
    /// Requests answered.
    pub requests: u64,
    /// Of which answered 4xx.
    pub client_errors: u64,
    /// Of which answered 5xx.
    pub server_errors: u64,
    /// Median response time, milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile response time, milliseconds.
    pub p99_ms: Option<f64>,
}

/// One hour's requests.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HourCount {
    /// The hour's start, RFC 3339.
    pub hour: String,
    /// Requests answered.
    pub requests: u64,
    /// Of which 4xx.
    pub client_errors: u64,
    /// Of which 5xx.
    pub server_errors: u64,
}

/// A day of the system.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Its first instant, RFC 3339.
    pub from: String,
    /// The instant after its last (or now, for today).
    pub to: String,
    /// When the report was made.
    pub generated_at: String,
    /// Accounts created.
    pub new_users: u64,
    /// Sign-ins that succeeded.
    pub sign_ins: u64,
    /// Sign-ins refused for a wrong name or password.
    pub sign_in_failures: u64,
    /// Sign-ins refused by the throttle.
    pub sign_ins_throttled: u64,
    /// Requests answered, all routes.
    pub requests: u64,
    /// Of which 4xx.
    pub client_errors: u64,
    /// Of which 5xx.
    pub server_errors: u64,
    /// Per route, busiest first.
    pub routes: Vec<RouteDay>,
    /// Per hour, all 24.
    pub hours: Vec<HourCount>,
    /// Requests by status.
    pub statuses: BTreeMap<u16, u64>,
}

/// The files a report was written to.
#[derive(Debug, Clone)]
pub struct Written {
    /// The day.
    pub day: String,
    /// The JSON file.
    pub json: PathBuf,
    /// The HTML file.
    pub html: PathBuf,
    /// Their sizes, added.
    pub bytes: u64,
}

/// The UTC day (days since the Unix epoch) that `t` falls on.
pub fn day_of(t: Timestamp) -> i64 {
    t.as_millis().div_euclid(DAY_MS)
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_day(text: &str) -> Result<i64, String> {
    let bad = || format!("'{text}' is not a day; write it as YYYY-MM-DD");
    let mut parts = text.trim().splitn(3, '-');
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (next()?, next()?, next()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let number = days_from_civil(year, month, day);
    // 31 February and the like come back as another day.
    if Timestamp::from_millis(number * DAY_MS).to_rfc3339()[..10]
        != format!("{year:04}-{month:02}-{day:02}")
    {
        return Err(bad());
    }
    Ok(number)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Gathers the report of `day` as the database has it at `now`.
pub async fn gather(store: &Store, day: i64, now: Timestamp) -> Result<Report, JobError> {
    let from = Timestamp::from_millis(day * DAY_MS);
    let end = Timestamp::from_millis((day + 1) * DAY_MS);
    let to = if now < end && now > from { now } else { end };
    let counts = store.request_counts(from, end).await?;
    let latency = store.request_latency(from, end).await?;
    let new_users = store.count_users_created(from, to).await?;

    let mut routes: BTreeMap<&str, RouteDay> = BTreeMap::new();
    let mut hours: Vec<HourCount> = (0..24)
        .map(|h| HourCount {
            hour: Timestamp::from_millis(from.as_millis() + h * HOUR_MS).to_rfc3339(),
            requests: 0,
            client_errors: 0,
            server_errors: 0,
        })
        .collect();
    let mut statuses = BTreeMap::new();
    let (mut sign_ins, mut failures, mut throttled) = (0, 0, 0);
    for c in &counts {
        let route = routes.entry(&c.route).or_insert_with(|| RouteDay {
            route: c.route.clone(),
            requests: 0,
            client_errors: 0,
            server_errors: 0,
            p50_ms: None,
            p99_ms: None,
        });
        let hour = usize::try_from((c.hour.as_millis() - from.as_millis()) / HOUR_MS)
            .unwrap_or(0)
            .min(23);
        let (client, server) = match c.status {
            400..=499 => (c.count, 0),
            500..=599 => (0, c.count),
            _ => (0, 0),
        };
        route.requests += c.count;
        route.client_errors += client;
        route.server_errors += server;
        hours[hour].requests += c.count;
        hours[hour].client_errors += client;
        hours[hour].server_errors += server;
        *statuses.entry(c.status).or_insert(0) += c.count;
        if c.route == "/login" && c.method == "POST" {
            match c.status {
                200 | 303 => sign_ins += c.count,
                401 => failures += c.count,
                429 => throttled += c.count,
                _ => {}
            }
        }
    }
    let mut histograms: BTreeMap<&str, Vec<(u32, u64)>> = BTreeMap::new();
    for l in &latency {
        histograms
            .entry(&l.route)
            .or_default()
            .push((l.bucket, l.count));
    }
    for (route, histogram) in histograms {
        if let Some(day) = routes.get_mut(route) {
            day.p50_ms = percentile(&histogram, 0.50);
            day.p99_ms = percentile(&histogram, 0.99);
        }
    }
    let mut routes: Vec<RouteDay> = routes.into_values().collect();
    routes.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.route.cmp(&b.route)));
    Ok(Report {
        day: from.to_rfc3339()[..10].to_owned(),
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
        generated_at: now.to_rfc3339(),
        new_users,
        sign_ins,
        sign_in_failures: failures,
        sign_ins_throttled: throttled,
        requests: routes.iter().map(|r| r.requests).sum(),
        client_errors: routes.iter().map(|r| r.client_errors).sum(),
        server_errors: routes.iter().map(|r| r.server_errors).sum(),
        routes,
        hours,
        statuses,
    })
}

/// The `q` quantile of a histogram of (bucket, count), in milliseconds: the middle of the
/// bucket the quantile falls in.
fn percentile(histogram: &[(u32, u64)], q: f64) -> Option<f64> {
    let total: u64 = histogram.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for &(bucket, n) in histogram {
        seen += n;
        if seen >= rank {
            let (low, high) = bucket_range(bucket);
            let micros = (low + high) as f64 / 2.0;
            return Some(micros.round() / 1000.0);
        }
    }
    None
}

/// Gathers the report of `day` and writes its two files into `dir` (created if missing),
/// replacing an earlier report of the same day.
pub async fn write(
    store: &Store,
    dir: &Path,
    day: i64,
    now: Timestamp,
) -> Result<Written, JobError> {
    let report = gather(store, day, now).await?;
    std::fs::create_dir_all(dir)
        .map_err(|e| JobError::io(format!("cannot create {}", dir.display()), e))?;
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| JobError::Failed(format!("cannot write the report: {e}")))?;
    let page = html::render(&report);
    let json_path = dir.join(format!("report-{}.json", report.day));
    let html_path = dir.join(format!("report-{}.html", report.day));
    replace(&json_path, &json)?;
    replace(&html_path, page.as_bytes())?;
    Ok(Written {
        day: report.day,
        json: json_path,
        html: html_path,
        bytes: (json.len() + page.len()) as u64,
    })
}

/// The scheduled report: the day before the one `now` is in, which is over.
pub async fn write_daily(store: &Store, dir: &Path, now: Timestamp) -> Result<Written, JobError> {
    write(store, dir, day_of(now) - 1, now).await
}

/// Writes `path` whole or not at all: a temporary name, then a rename.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), JobError> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let partial = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            JobError::io(format!("cannot write {}", path.display()), e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::latency_bucket;

    #[test]
    fn days() {
        assert_eq!(parse_day("1970-01-01"), Ok(0));
        let d = parse_day("2026-11-22").unwrap();
        assert_eq!(
            Timestamp::from_millis(d * DAY_MS).to_rfc3339(),
            "2026-11-22T00:00:00.000Z"
        );
        assert!(parse_day("2026-02-31").is_err());
        assert!(parse_day("yesterday").is_err());
        assert_eq!(day_of(Timestamp::from_millis(d * DAY_MS + 5)), d);
    }

    #[test]
    fn percentiles_land_in_their_bucket() {
        // 99 requests at about 1 ms, one at about 100 ms.
        let histogram = vec![(latency_bucket(1000), 99), (latency_bucket(100_000), 1)];
        let p50 = percentile(&histogram, 0.5).unwrap();
        let p99 = percentile(&histogram, 0.99).unwrap();
        let p100 = percentile(&histogram, 1.0).unwrap();
        assert!((0.9..1.1).contains(&p50), "{p50}");
        assert_eq!(p99, p50, "the 99th of 100 is still a fast one");
        assert!((90.0..110.0).contains(&p100), "{p100}");
        assert_eq!(percentile(&[], 0.5), None);
    }
}
