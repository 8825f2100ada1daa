//! [`Backend`]: one upstream server and its live state.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::latency::RecentLatency;

/// One upstream server as the balancer sees it. Shared (`Arc`) between the strategies, the
/// proxies, the health checker and the admin API; every field that changes is an atomic.
#[derive(Debug)]
pub struct Backend {
    /// Where it listens (`HOST:PORT`), as configured.
    pub addr: String,
    /// Its share of the traffic relative to the others (at least 1); changeable while
    /// traffic flows.
    weight: AtomicU32,
    /// Drained by an operator: no new traffic, requests in flight finish.
    drained: AtomicBool,
    /// A name for people (`server-1`), when whoever runs it gave one.
    pub name: Option<String>,
    /// How many times whoever runs it restarted it.
    restarts: AtomicU64,
    healthy: AtomicBool,
    /// Consecutive check results: positive counts successes, negative failures.
    streak: AtomicI64,
    /// Passive ejection: no traffic before this many micros since `created` (0: none).
    ejected_until: AtomicU64,
    in_flight: AtomicU64,
    total: AtomicU64,
    errors: AtomicU64,
    /// Peak-EWMA latency in microseconds, and when it was last updated (micros since
    /// `created`).
    ewma_micros: AtomicU64,
    ewma_at: AtomicU64,
    /// Answer times over the last few seconds, for percentiles.
    recent: RecentLatency,
    created: Instant,
}

/// How a leased request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The backend answered (whatever the status).
    Answered,
    /// The backend failed (refused, reset, timed out).
    Failed,
    /// Given up for a reason not the backend's (the client's body was malformed or cut
    /// short, the client went away): counted neither as an answer nor as a failure.
    Abandoned,
}

/// The decay time of the latency average: a sample's weight halves in about this times ln 2.
const EWMA_DECAY: Duration = Duration::from_secs(10);

/// The latency a backend with no samples is assumed to have: low, so a new backend is tried.
const DEFAULT_EWMA_MICROS: u64 = 1_000;

impl Backend {
    /// A healthy backend at `addr` with `weight` (0 is taken as 1).
    pub fn new(addr: impl Into<String>, weight: u32) -> Arc<Backend> {
        Self::build(addr.into(), weight, None)
    }

    /// A healthy backend with a name for people.
    pub fn named(addr: impl Into<String>, weight: u32, name: impl Into<String>) -> Arc<Backend> {
        Self::build(addr.into(), weight, Some(name.into()))
    }

    fn build(addr: String, weight: u32, name: Option<String>) -> Arc<Backend> {
        Arc::new(Backend {
            addr,
            weight: AtomicU32::new(weight.max(1)),
            drained: AtomicBool::new(false),
            name,
            restarts: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            streak: AtomicI64::new(0),
            ejected_until: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            total: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            ewma_micros: AtomicU64::new(DEFAULT_EWMA_MICROS),
            ewma_at: AtomicU64::new(0),
            recent: RecentLatency::default(),
            created: Instant::now(),
        })
    }

    /// The token that names it in a sticky cookie: a hash of its address, so the cookie does
    /// not tell clients where backends are.
    pub fn sticky_token(&self) -> String {
        format!(
            "{:016x}",
            crate::strategy::ip_hash::hash(b"sticky", self.addr.as_bytes())
        )
    }

    /// Its weight now.
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Changes its weight (0 is taken as 1).
    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight.max(1), Ordering::Relaxed);
    }

    /// Whether an operator drained it.
    pub fn is_drained(&self) -> bool {
        self.drained.load(Ordering::Relaxed)
    }

    /// Drains it (no new traffic) or takes it back.
    pub fn set_drained(&self, drained: bool) {
        self.drained.store(drained, Ordering::Relaxed);
    }

    /// Whether it may get traffic: up by its checks, not ejected for recent failures, and not
    /// drained.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire) && !self.is_ejected() && !self.is_drained()
    }

    /// Whether its checks say it is up (ejection aside).
    pub fn is_up(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    fn micros_now(&self) -> u64 {
        self.created.elapsed().as_micros() as u64
    }

    /// Whether it is ejected for recent failures.
    pub fn is_ejected(&self) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until != 0 && self.micros_now() < until
    }

    /// Passive health: takes it out of rotation for `back_off` (after a connect failure or a
    /// reset), without waiting for the active checks.
    pub fn eject(&self, back_off: Duration) {
        let until = self.micros_now() + back_off.as_micros() as u64;
        self.ejected_until
            .fetch_max(until.max(1), Ordering::Relaxed);
    }

    /// Folds one active check's result in: `rise` consecutive successes bring a down backend
    /// up, `fall` consecutive failures take an up backend down. Returns the new state when it
    /// changed.
    pub fn record_check(&self, ok: bool, rise: u32, fall: u32) -> Option<bool> {
        let streak = if ok {
            self.streak
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(s.max(0) + 1))
                .map_or(1, |s| s.max(0) + 1)
        } else {
            self.streak
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(s.min(0) - 1))
                .map_or(-1, |s| s.min(0) - 1)
        };
        let up = self.is_up();
        if !up && streak >= i64::from(rise.max(1)) {
            self.set_healthy(true);
            return Some(true);
        }
        if up && -streak >= i64::from(fall.max(1)) {
            self.set_healthy(false);
            return Some(false);
        }
        None
    }

    /// Marks it up or down.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Release);
    }

    /// Counts a restart of the process behind it.
    pub fn record_restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// Restarts of the process behind it.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Requests sent to it and not yet finished.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Requests it was given, all told.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Requests that failed on it.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The peak-EWMA latency.
    pub fn ewma(&self) -> Duration {
        Duration::from_micros(self.ewma_micros.load(Ordering::Relaxed))
    }

    /// The given quantiles of its answer times over the last
    /// [`WINDOW_SECONDS`](crate::latency::WINDOW_SECONDS) seconds, or `None` when it answered
    /// nothing in that time.
    pub fn recent_latency<const N: usize>(&self, quantiles: [f64; N]) -> Option<[Duration; N]> {
        self.recent
            .quantiles(self.created.elapsed().as_secs(), quantiles)
    }

    /// Takes it out of rotation at once, its streak of checks reset: whoever runs it knows the
    /// process behind it is gone (it exited), without waiting for the checks to fail.
    pub fn mark_down(&self) {
        self.streak.store(0, Ordering::Relaxed);
        self.set_healthy(false);
    }

    /// Counts a request in flight on this backend until the lease is dropped.
    pub fn lease(self: &Arc<Self>) -> Lease {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.total.fetch_add(1, Ordering::Relaxed);
        Lease {
            backend: self.clone(),
            started: Instant::now(),
            done: false,
            dropped: Outcome::Failed,
        }
    }

    /// Folds a latency sample into the peak-EWMA: a sample above the average replaces it at
    /// once (peak), one below pulls it down by a weight that grows with the time since the
    /// last sample.
    pub fn observe_latency(&self, latency: Duration) {
        let elapsed = self.created.elapsed();
        self.recent.record(elapsed.as_secs(), latency);
        let now = elapsed.as_micros() as u64;
        let sample = latency.as_micros() as u64;
        let before = self.ewma_micros.load(Ordering::Relaxed);
        let last = self.ewma_at.swap(now, Ordering::Relaxed);
        let next = if sample >= before {
            sample
        } else {
            let elapsed = now.saturating_sub(last) as f64;
            let keep = (-elapsed / EWMA_DECAY.as_micros() as f64).exp();
            (before as f64 * keep + sample as f64 * (1.0 - keep)) as u64
        };
        self.ewma_micros.store(next.max(1), Ordering::Relaxed);
    }
}

/// A request in flight on a backend. Report how it ended with [`finish`](Self::finish);
/// dropped unfinished, it counts as failed (or as abandoned, when asked:
/// [`abandon_if_dropped`](Self::abandon_if_dropped)).
#[derive(Debug)]
pub struct Lease {
    backend: Arc<Backend>,
    started: Instant,
    done: bool,
    /// What being dropped unfinished records.
    dropped: Outcome,
}

impl Lease {
    /// The backend leased.
    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }

    /// Dropped unfinished from now on, it records [`Outcome::Abandoned`], not a failure: for a
    /// request whose every failure is reported, so that only its client (going away) or the
    /// server (stopping) can cancel it.
    pub fn abandon_if_dropped(&mut self) {
        self.dropped = Outcome::Abandoned;
    }

    /// Records the outcome and, for an answer, the latency.
    pub fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    /// Records that the backend answered (its latency is the time to now) while the request
    /// stays in flight until the lease is dropped (a response body still streaming).
    pub fn answered(&mut self) {
        self.record(Outcome::Answered);
    }

    /// The answer broke off after it began (its latency recorded by
    /// [`answered`](Self::answered)): the backend failed mid-answer, counted as its error.
    pub fn broke_off(mut self) {
        self.done = true;
        self.backend.errors.fetch_add(1, Ordering::Relaxed);
    }

    fn record(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        match outcome {
            Outcome::Answered => self.backend.observe_latency(self.started.elapsed()),
            Outcome::Failed => {
                self.backend.errors.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Abandoned => {}
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.record(self.dropped);
        self.backend.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn leases_count_in_flight_and_outcomes() {
        let b = Backend::new("127.0.0.1:1", 1);
        let one = b.lease();
        let two = b.lease();
        assert_eq!(b.in_flight(), 2);
        tokio::time::advance(Duration::from_millis(50)).await;
        one.finish(Outcome::Answered);
        drop(two);
        assert_eq!(b.in_flight(), 0);
        assert_eq!((b.total(), b.errors()), (2, 1));
        assert_eq!(
            b.ewma(),
            Duration::from_millis(50),
            "a higher sample is taken at once"
        );
        let [p50] = b.recent_latency([0.5]).unwrap();
        assert!(
            p50.abs_diff(Duration::from_millis(50)) < Duration::from_millis(3),
            "{p50:?}"
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(
            b.recent_latency([0.5]).is_none(),
            "the sample has left the window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_request_counts_neither_an_error_nor_a_latency() {
        let b = Backend::new("127.0.0.1:1", 1);
        let before = b.ewma();
        let lease = b.lease();
        tokio::time::advance(Duration::from_secs(5)).await;
        lease.finish(Outcome::Abandoned);
        assert_eq!((b.in_flight(), b.total(), b.errors()), (0, 1, 0));
        assert_eq!(b.ewma(), before);
        assert!(b.recent_latency([0.5]).is_none());
        let mut lease = b.lease();
        lease.abandon_if_dropped();
        drop(lease);
        assert_eq!((b.in_flight(), b.total(), b.errors()), (0, 2, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_latency_average_decays_toward_lower_samples() {
        let b = Backend::new("127.0.0.1:1", 1);
        b.observe_latency(Duration::from_millis(100));
        tokio::time::advance(Duration::from_secs(10)).await;
        b.observe_latency(Duration::from_millis(10));
        let ewma = b.ewma().as_millis();
        // After one decay time, the old value keeps about 1/e of its weight.
        assert!((40..=50).contains(&ewma), "{ewma}");
    }
}
