//! Active health checks: every backend is probed on an interval (an HTTP GET of a path that
//! must answer 2xx in a head that parses by `switchboard-wire`'s rules, or a TCP connect), within a timeout; `rise` consecutive successes bring it
//! up, `fall` consecutive failures take it down. Passive checks live on [`Backend::eject`]:
//! the proxies eject a backend that refused or reset a connection, for a back-off period.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use switchboard_wire::response::{self, Asked};

use crate::Backend;

/// Room read at a time for a check's answer: a small head fits whole.
const HEAD_READ: usize = 1024;
/// The largest answer head a check reads, as for the proxy's answers.
const MAX_HEAD: usize = 64 * 1024;

/// What a check does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `GET path` over HTTP/1.1; healthy on a 2xx status.
    Http {
        /// The path to ask for, e.g. `/healthz`.
        path: String,
    },
    /// A TCP connect; healthy when it is accepted.
    Tcp,
}

/// How backends are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// The probe.
    pub probe: Probe,
    /// Time between checks of one backend.
    pub interval: Duration,
    /// A check not done within this fails.
    pub timeout: Duration,
    /// Consecutive successes that bring a down backend up.
    pub rise: u32,
    /// Consecutive failures that take an up backend down.
    pub fall: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            probe: Probe::Tcp,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
        }
    }
}

/// Checks one backend once.
pub async fn check(backend: &Backend, config: &HealthConfig) -> bool {
    timeout(config.timeout, probe(&backend.addr, &config.probe))
        .await
        .unwrap_or(false)
}

async fn probe(addr: &str, probe: &Probe) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let Probe::Http { path } = probe else {
        return true;
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: switchboard-health\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    // The answer's head, read whole and parsed by the rules the proxy reads backends with:
    // a 2xx in a head that parses is healthy; a malformed head is not, whatever its status.
    let mut buf = Vec::with_capacity(HEAD_READ);
    loop {
        match response::parse_status(&buf, Asked::default(), MAX_HEAD) {
            Ok(Some(status)) if status.is_interim() => {
                buf.drain(..status.len);
                continue;
            }
            Ok(Some(status)) => return status.code.is_success(),
            Ok(None) => {}
            Err(_) => return false,
        }
        buf.reserve(HEAD_READ);
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// Checks `backend` forever on `config.interval`, folding results into its state. Spawn one
/// per backend; abort it when the backend goes away.
pub async fn run(backend: Arc<Backend>, config: HealthConfig) {
    let mut ticks = tokio::time::interval(config.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let ok = check(&backend, &config).await;
        match backend.record_check(ok, config.rise, config.fall) {
            Some(true) => tracing::info!(backend = %backend.addr, "backend up"),
            Some(false) => tracing::warn!(backend = %backend.addr, "backend down"),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rise_and_fall_count_consecutive_results() {
        let b = Backend::new("127.0.0.1:1", 1);
        assert_eq!(b.record_check(false, 2, 3), None);
        assert_eq!(b.record_check(false, 2, 3), None);
        assert_eq!(
            b.record_check(true, 2, 3),
            None,
            "a success breaks the streak"
        );
        assert_eq!(b.record_check(false, 2, 3), None);
        assert_eq!(b.record_check(false, 2, 3), None);
        assert_eq!(b.record_check(false, 2, 3), Some(false));
        assert!(!b.is_healthy());
        assert_eq!(b.record_check(true, 2, 3), None);
        assert_eq!(b.record_check(true, 2, 3), Some(true));
        assert!(b.is_healthy());
    }

    #[tokio::test(start_paused = true)]
    async fn ejection_lasts_the_back_off() {
        let b = Backend::new("127.0.0.1:1", 1);
        b.eject(Duration::from_secs(5));
        assert!(!b.is_healthy() && b.is_up());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.is_healthy());
    }
}
