//! Request metrics in the Prometheus text format.
//!
//! Hand-written rather than built on a metrics crate because the hot path must stay cheap: the
//! routes are the route table's (`routes/mod.rs`), a fixed list known at build time, so a
//! request is counted by its [`RouteId`]'s index into atomics, with no hashing, locking or
//! allocation. Status codes are few; they sit in a small locked map updated once per request
//! (uncontended, tens of nanoseconds).

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

/// The application's request metrics.
pub struct Metrics {
    /// (route, method, status) -> count, in the table's order.
    requests: Mutex<BTreeMap<(RouteId, &'static str, u16), u64>>,
    /// By [`RouteId::index`].
    latency: Vec<Histogram>,
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
        h.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
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
