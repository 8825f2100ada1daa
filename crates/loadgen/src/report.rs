//! A run's result: what `--json` prints and what the table shows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::stats::Stats;

/// A finished run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The URL, or the echo server's address.
    pub target: String,
    /// `http/1.1`, `http/1.1+tls`, `h2c`, `h2` (over TLS), `echo-tcp` or `echo-udp`.
    pub mode: &'static str,
    /// Connections (UDP: sockets).
    pub connections: usize,
    /// Threads.
    pub threads: usize,
    /// The requested rate, requests per second in all; `null` without `--rate`.
    pub rate: Option<f64>,
    /// How long the run took, in seconds.
    pub duration_secs: f64,
    /// Completed requests (HTTP: any status) or round trips.
    pub requests: u64,
    /// `requests` per second.
    pub requests_per_sec: f64,
    /// Bytes received.
    pub bytes: u64,
    /// `bytes` per second.
    pub bytes_per_sec: f64,
    /// Latency of completed requests, in milliseconds.
    pub latency_ms: LatencySummary,
    /// Completed requests by HTTP status code (empty for echo).
    pub status: BTreeMap<String, u64>,
    /// Failures by kind.
    pub errors: Errors,
    /// Connections that opened (UDP: sockets that got an answer); zero means the server
    /// could not be reached at all.
    pub connected: u64,
    /// The first connect error, if any.
    pub connect_error: Option<String>,
    /// Every latency, in nanoseconds, for the plot.
    #[serde(skip)]
    pub histogram: Histogram<u64>,
}

/// Latency percentiles, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LatencySummary {
    /// The smallest.
    pub min: f64,
    /// The mean.
    pub mean: f64,
    /// The standard deviation.
    pub stdev: f64,
    /// The median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// The largest.
    pub max: f64,
}

/// Failures by kind.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Errors {
    /// Connections that could not be opened.
    pub connect: u64,
    /// Reading failed, or the server closed mid-answer.
    pub read: u64,
    /// Sending failed.
    pub write: u64,
    /// No answer within the timeout (UDP: lost datagrams).
    pub timeout: u64,
    /// Answers that were not HTTP, or not the bytes sent.
    pub protocol: u64,
    /// All of them.
    pub total: u64,
}

const NS_PER_MS: f64 = 1e6;

impl Report {
    pub(crate) fn new(
        target: String,
        mode: &'static str,
        connections: usize,
        threads: usize,
        rate: Option<f64>,
        elapsed: Duration,
        stats: Stats,
    ) -> Report {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let h = &stats.latency;
        let ms = |ns: u64| ns as f64 / NS_PER_MS;
        let empty = h.is_empty();
        let latency_ms = LatencySummary {
            min: if empty { 0.0 } else { ms(h.min()) },
            mean: if empty { 0.0 } else { h.mean() / NS_PER_MS },
            stdev: if empty { 0.0 } else { h.stdev() / NS_PER_MS },
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: if empty { 0.0 } else { ms(h.max()) },
        };
        let e = stats.errors;
        Report {
            target,
            mode,
            connections,
            threads: threads.clamp(1, connections.max(1)),
            rate,
            duration_secs: secs,
            requests: stats.requests,
            requests_per_sec: stats.requests as f64 / secs,
            bytes: stats.bytes,
            bytes_per_sec: stats.bytes as f64 / secs,
            latency_ms,
            status: stats
                .status()
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            errors: Errors {
                connect: e[0],
                read: e[1],
                write: e[2],
                timeout: e[3],
                protocol: e[4],
                total: e.iter().sum(),
            },
            connected: stats.connected,
            connect_error: stats.first_connect_error,
            histogram: stats.latency,
        }
    }

    /// The report as one JSON object.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("serializable")
    }

    /// The report as a table for people.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let what = if self.mode.starts_with("echo") {
            "round trips"
        } else {
            "requests"
        };
        let _ = writeln!(
            s,
            "{} {} in {:.2}s, {} connections, {} threads{}",
            self.mode,
            self.target,
            self.duration_secs,
            self.connections,
            self.threads,
            self.rate.map_or(String::new(), |r| format!(
                ", rate {r}/s (latency from schedule)"
            )),
        );
        let _ = writeln!(
            s,
            "  {:<12} {} ({:.1}/s)",
            what, self.requests, self.requests_per_sec
        );
        let _ = writeln!(
            s,
            "  {:<12} {} ({}/s)",
            "received",
            bytes(self.bytes as f64),
            bytes(self.bytes_per_sec)
        );
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "  {:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency", "min", "mean", "stdev", "p50", "p90", "p99", "p99.9", "max"
        );
        let _ = writeln!(
            s,
            "  {:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "",
            millis(l.min),
            millis(l.mean),
            millis(l.stdev),
            millis(l.p50),
            millis(l.p90),
            millis(l.p99),
            millis(l.p99_9),
            millis(l.max)
        );
        if !self.status.is_empty() {
            let statuses: Vec<String> = self
                .status
                .iter()
                .map(|(code, n)| format!("{code}: {n}"))
                .collect();
            let _ = writeln!(s, "  {:<12} {}", "status", statuses.join(", "));
        }
        let e = &self.errors;
        if e.total == 0 {
            let _ = writeln!(s, "  {:<12} none", "errors");
        } else {
            let kinds: Vec<String> = [
                ("connect", e.connect),
                ("read", e.read),
                ("write", e.write),
                ("timeout", e.timeout),
                ("protocol", e.protocol),
            ]
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
            let _ = writeln!(s, "  {:<12} {}", "errors", kinds.join(", "));
        }
        s
    }
}

/// Milliseconds in the unit that reads best: `87us`, `1.25ms`, `1.50s`.
fn millis(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0}us", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.2}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// A byte count in binary units.
fn bytes(b: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(millis(0.087), "87us");
        assert_eq!(millis(1.25), "1.25ms");
        assert_eq!(millis(1500.0), "1.50s");
        assert_eq!(bytes(100.0), "100 B");
        assert_eq!(bytes(1536.0), "1.50 KiB");
    }
}
