//! Request metrics in the Prometheus text format.
//!
//! Hand-written rather than built on a metrics crate because the hot path must stay cheap: the
//! routes are the route table's (`routes/mod.rs`), a fixed list known at build time, so a
//! request is counted by its [`RouteId`]'s index into atomics, with no hashing, locking or
//! allocation. Status codes are few; they sit in a small locked map updated once per request
//! (uncontended, tens of nanoseconds).
//!
//! The same counts, and response times in finer buckets, are flushed to the database every
//! few seconds as per-hour deltas (`App::flush_request_stats`), where the daily report reads
//! them for every server at once. The jobs' figures come from their runs in the database.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::routes::RouteId;

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

/// Buckets of the fine histograms flushed to the database (the store's `latency_bucket`
/// scheme; 256 covers well over an hour).
const FINE_BUCKETS: usize = 256;

/// The application's request metrics.
pub struct Metrics {
    /// (route, method, status) -> count, in the table's order.
    requests: Mutex<BTreeMap<(RouteId, &'static str, u16), u64>>,
    /// By [`RouteId::index`].
    latency: Vec<Histogram>,
    /// Per route, response times since the last flush, in the store's finer buckets.
    fine: Vec<Vec<AtomicU64>>,
    /// `requests` as of the last flush that reached the database.
    flushed: Mutex<BTreeMap<(RouteId, &'static str, u16), u64>>,
}

/// What was counted since the last flush: (route, method, status, count) and (route, bucket,
/// count).
pub(crate) struct Deltas {
    pub(crate) counts: Vec<(&'static str, &'static str, u16, u64)>,
    pub(crate) latency: Vec<(&'static str, u32, u64)>,
    snapshot: BTreeMap<(RouteId, &'static str, u16), u64>,
    taken: Vec<(usize, usize, u64)>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            latency: RouteId::all().map(|_| Histogram::new()).collect(),
            fine: RouteId::all()
                .map(|_| (0..FINE_BUCKETS).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            flushed: Mutex::new(BTreeMap::new()),
        }
    }
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, route: RouteId, method: &axum::http::Method, status: u16, took: Duration) {
        {
            let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            *requests
                .entry((route, method_label(method), status))
                .or_insert(0) += 1;
        }
        let h = &self.latency[route.index()];
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        let micros = took.as_micros() as u64;
        h.sum_micros.fetch_add(micros, Ordering::Relaxed);
        let fine = (switchboard_store::latency_bucket(micros) as usize).min(FINE_BUCKETS - 1);
        self.fine[route.index()][fine].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes what was counted since the last flush. Hand the result back to
    /// [`Metrics::flushed`] once it is in the database, or to [`Metrics::unflushed`] if it
    /// could not be written, so the next flush carries it.
    pub(crate) fn deltas(&self) -> Deltas {
        let snapshot = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let flushed = self.flushed.lock().unwrap_or_else(|p| p.into_inner());
        let counts = snapshot
            .iter()
            .filter_map(|(&(route, method, status), &n)| {
                let before = flushed.get(&(route, method, status)).copied().unwrap_or(0);
                (n > before).then(|| (route.label(), method, status, n - before))
            })
            .collect();
        let mut taken = Vec::new();
        let mut latency = Vec::new();
        for (route, buckets) in RouteId::all().zip(&self.fine) {
            for (bucket, n) in buckets.iter().enumerate() {
                let n = n.swap(0, Ordering::Relaxed);
                if n > 0 {
                    taken.push((route.index(), bucket, n));
                    latency.push((route.label(), bucket as u32, n));
                }
            }
        }
        Deltas {
            counts,
            latency,
            snapshot,
            taken,
        }
    }

    /// `deltas` reached the database.
    pub(crate) fn flushed(&self, deltas: Deltas) {
        *self.flushed.lock().unwrap_or_else(|p| p.into_inner()) = deltas.snapshot;
    }

    /// `deltas` did not reach the database: they go back, for the next flush.
    pub(crate) fn unflushed(&self, deltas: Deltas) {
        for (route, bucket, n) in deltas.taken {
            self.fine[route][bucket].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition, with the gauges given.
    pub fn render(&self, open_connections: Option<usize>, active_sessions: Option<u64>) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP switchboard_http_requests_total Requests answered, by route, method and status.\n");
        out.push_str("# TYPE switchboard_http_requests_total counter\n");
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for ((route, method, status), n) in &requests {
            let _ = writeln!(
                out,
                "switchboard_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                route.label()
            );
        }
        out.push_str("# HELP switchboard_http_request_duration_seconds Time to answer a request, by route.\n");
        out.push_str("# TYPE switchboard_http_request_duration_seconds histogram\n");
        for (route, h) in RouteId::all().map(RouteId::label).zip(&self.latency) {
            let count = h.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&h.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "switchboard_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "switchboard_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "switchboard_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "switchboard_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        if let Some(open) = open_connections {
            out.push_str("# HELP switchboard_http_open_connections Client connections open now.\n");
            out.push_str("# TYPE switchboard_http_open_connections gauge\n");
            let _ = writeln!(out, "switchboard_http_open_connections {open}");
        }
        if let Some(active) = active_sessions {
            out.push_str("# HELP switchboard_sessions_active Sessions neither idle nor past their lifetime.\n");
            out.push_str("# TYPE switchboard_sessions_active gauge\n");
            let _ = writeln!(out, "switchboard_sessions_active {active}");
        }
        out
    }
}

/// The scheduled jobs' figures, from their runs in the database: runs by outcome, and the
/// latest run's time, duration, outcome and size.
pub fn render_jobs(summaries: &[switchboard_store::JobSummary]) -> String {
    let mut out = String::new();
    if summaries.is_empty() {
        return out;
    }
    out.push_str("# HELP switchboard_job_runs Runs of each scheduled job recorded in the database, by outcome.\n");
    out.push_str("# TYPE switchboard_job_runs gauge\n");
    for s in summaries {
        for (outcome, n) in &s.runs {
            let _ = writeln!(
                out,
                "switchboard_job_runs{{job=\"{}\",outcome=\"{}\"}} {n}",
                s.job,
                outcome.as_str()
            );
        }
    }
    out.push_str(
        "# HELP switchboard_job_last_run_timestamp_seconds When each job's latest run started.\n",
    );
    out.push_str("# TYPE switchboard_job_last_run_timestamp_seconds gauge\n");
    for s in summaries {
        let _ = writeln!(
            out,
            "switchboard_job_last_run_timestamp_seconds{{job=\"{}\"}} {}",
            s.job,
            s.last.started_at.as_millis() as f64 / 1000.0
        );
    }
    out.push_str("# HELP switchboard_job_last_run_ok Whether each job's latest finished run succeeded (1) or not (0).\n");
    out.push_str("# TYPE switchboard_job_last_run_ok gauge\n");
    for s in summaries {
        if s.last.outcome != switchboard_store::JobOutcome::Running {
            let ok = u8::from(s.last.outcome == switchboard_store::JobOutcome::Ok);
            let _ = writeln!(out, "switchboard_job_last_run_ok{{job=\"{}\"}} {ok}", s.job);
        }
    }
    out.push_str("# HELP switchboard_job_last_success_timestamp_seconds When each job last finished successfully.\n");
    out.push_str("# TYPE switchboard_job_last_success_timestamp_seconds gauge\n");
    for s in summaries {
        if let Some(at) = s.last_success {
            let _ = writeln!(
                out,
                "switchboard_job_last_success_timestamp_seconds{{job=\"{}\"}} {}",
                s.job,
                at.as_millis() as f64 / 1000.0
            );
        }
    }
    out.push_str("# HELP switchboard_job_last_duration_seconds How long each job's latest finished run took.\n");
    out.push_str("# TYPE switchboard_job_last_duration_seconds gauge\n");
    for s in summaries {
        if let Some(end) = s.last.finished_at {
            let secs = (end.as_millis() - s.last.started_at.as_millis()) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "switchboard_job_last_duration_seconds{{job=\"{}\"}} {secs}",
                s.job
            );
        }
    }
    out.push_str(
        "# HELP switchboard_job_last_bytes The size of what each job's latest run wrote.\n",
    );
    out.push_str("# TYPE switchboard_job_last_bytes gauge\n");
    for s in summaries {
        if let Some(bytes) = s.last.bytes {
            let _ = writeln!(
                out,
                "switchboard_job_last_bytes{{job=\"{}\"}} {bytes}",
                s.job
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.record(
            RouteId::of("/add"),
            &Method::GET,
            200,
            Duration::from_micros(300),
        );
        m.record(
            RouteId::of("/add"),
            &Method::GET,
            400,
            Duration::from_millis(3),
        );
        m.record(
            RouteId::of("/nope"),
            &Method::GET,
            404,
            Duration::from_millis(1),
        );
        let text = m.render(Some(2), Some(1));
        assert!(text.contains(
            "switchboard_http_requests_total{route=\"/add\",method=\"GET\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "switchboard_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 1"
        ));
        assert!(text.contains(
            "switchboard_http_request_duration_seconds_bucket{route=\"/add\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "switchboard_http_request_duration_seconds_bucket{route=\"/add\",le=\"0.005\"} 2"
        ));
        assert!(text.contains("switchboard_http_request_duration_seconds_count{route=\"/add\"} 2"));
        assert!(text.contains("switchboard_http_open_connections 2"));
        assert!(text.contains("switchboard_sessions_active 1"));
    }
}
