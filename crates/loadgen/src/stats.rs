//! What one thread measured: an HDR histogram of latencies, counts by status and errors by
//! kind. Threads keep their own and the engine merges them at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The largest latency the histogram holds, in nanoseconds (an hour); larger ones count as
/// this.
const HIGHEST_NS: u64 = 3_600_000_000_000;

/// Why a request (or round trip) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The connection could not be opened.
    Connect,
    /// Reading the answer failed, or the server closed before answering completely.
    Read,
    /// Sending failed.
    Write,
    /// No complete answer within the timeout (over UDP: a lost datagram).
    Timeout,
    /// The answer was not HTTP, or not what was sent.
    Protocol,
}

/// Counts of one thread's (or, merged, the whole run's) results.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Latencies of completed requests, in nanoseconds, 3 significant figures.
    pub latency: Histogram<u64>,
    /// Completed requests (any status) or round trips.
    pub requests: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Completed requests by HTTP status: an array indexed by the code (a tree lookup per
    /// request costs more than it should); codes past 999 count as 999.
    status: Box<[u64]>,
    /// Failures by kind: connect, read, write, timeout, protocol.
    pub errors: [u64; 5],
    /// Connections opened (UDP: sockets that got at least one answer).
    pub connected: u64,
    /// The first connect error, as a person would say it.
    pub first_connect_error: Option<String>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    /// Empty counts.
    pub fn new() -> Stats {
        Stats {
            latency: Histogram::new_with_bounds(1, HIGHEST_NS, 3).expect("valid bounds"),
            requests: 0,
            bytes: 0,
            status: vec![0; 1000].into_boxed_slice(),
            errors: [0; 5],
            connected: 0,
            first_connect_error: None,
        }
    }

    /// A completed request or round trip.
    pub fn record(&mut self, latency: Duration, status: Option<u16>) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency.saturating_record(ns.max(1));
        self.requests += 1;
        if let Some(status) = status {
            self.status[usize::from(status.min(999))] += 1;
        }
    }

    /// A failure.
    pub fn error(&mut self, kind: ErrorKind) {
        self.errors[kind as usize] += 1;
    }

    /// Adds another thread's counts to these.
    pub fn merge(&mut self, other: &Stats) {
        self.latency.add(&other.latency).expect("same bounds");
        self.requests += other.requests;
        self.bytes += other.bytes;
        for (a, b) in self.status.iter_mut().zip(other.status.iter()) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        self.connected += other.connected;
        if self.first_connect_error.is_none() {
            self.first_connect_error
                .clone_from(&other.first_connect_error);
        }
    }

    /// Completed requests by HTTP status, the codes seen only.
    pub fn status(&self) -> BTreeMap<u16, u64> {
        (0..self.status.len())
            .filter(|&code| self.status[code] > 0)
            .map(|code| (code as u16, self.status[code]))
            .collect()
    }

    /// Failures of every kind.
    pub fn error_total(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// A connect error as one phrase: "connection refused (is the server running?)".
pub(crate) fn describe_connect_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is the server running?)".to_string()
        }
        std::io::ErrorKind::TimedOut => "timed out".to_string(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_lowercase(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_everything() {
        let mut a = Stats::new();
        a.record(Duration::from_millis(1), Some(200));
        a.error(ErrorKind::Timeout);
        let mut b = Stats::new();
        b.record(Duration::from_millis(3), Some(404));
        b.record(Duration::from_millis(5), Some(200));
        b.bytes = 10;
        a.merge(&b);
        assert_eq!(a.requests, 3);
        assert_eq!(a.latency.len(), 3);
        assert_eq!(a.status()[&200], 2);
        assert_eq!(a.status()[&404], 1);
        assert_eq!(a.errors[ErrorKind::Timeout as usize], 1);
        assert_eq!(a.bytes, 10);
        assert!(a.latency.max() >= 4_990_000);
    }
}
