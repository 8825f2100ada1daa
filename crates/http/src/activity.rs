//! [`Activity`]: what one connection is doing, as its timers need to know it.
//!
//! Written by the wrapper service (a request started, a response finished) and by the
//! connection's reader (HTTP/1: the first byte of the next request came); read by the
//! connection task when a timer fires. Times are milliseconds since the accept, in atomics,
//! because HTTP/2 finishes responses on other tasks.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Wake;
use std::time::Duration;

use atomic_waker::AtomicWaker;
use tokio::time::Instant;

use crate::Limits;

/// No time recorded.
const NONE: u64 = u64::MAX;

/// While the server drains, how long a keep-alive connection is kept after its last response
/// (or an HTTP/1 connection after its accept, before its first request), so that a request
/// the client sent as the server began to shut down is answered (with `Connection: close`)
/// rather than met with a close: a busy client sends its next request at once, and closing
/// under it is the race RFC 9112 §9.3.1 leaves clients to retry. A connection quiet for
/// longer closes at once.
pub(crate) const DRAIN_QUIET: Duration = Duration::from_millis(500);

/// One connection's activity.
#[derive(Debug)]
pub(crate) struct Activity {
    /// When the connection was accepted: the origin of every time below.
    accepted: Instant,
    /// Requests whose response has not yet been sent (or dropped).
    in_flight: AtomicUsize,
    /// Of those, the ones whose response has started (the service answered; the body is
    /// being sent).
    responding: AtomicUsize,
    /// Whether any request has reached the service.
    served_any: AtomicBool,
    /// When the last response finished.
    quiet_since: AtomicU64,
    /// HTTP/1: when the first byte of a request not yet dispatched arrived, or [`NONE`].
    head_since: AtomicU64,
    /// Set when `head_since` is set, so the connection task arms the header timer. A flag,
    /// not a notification: the reader that sets it runs inside the connection task's own
    /// poll, which looks at the flag right after.
    head_started: AtomicBool,
    /// Counts reads and writes that moved bytes, either way.
    progress: AtomicU64,
    /// `progress` when a timer last looked at a connection with a request in flight.
    progress_seen: AtomicU64,
    /// How the connection task's timer and signals wake it (the activity is their waker).
    /// Here rather than in an allocation of its own: one fewer per connection.
    pub(crate) quiet: QuietWaker,
}

/// What a connection's timers say now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing to do before this instant (`None`: until something changes).
    Wait(Option<Instant>),
    /// Nothing in flight for `idle_timeout` (while draining, for [`DRAIN_QUIET`] or the idle
    /// timeout, whichever is shorter): shut the connection down gracefully.
    Idle,
    /// Request headers took longer than `header_read_timeout`: drop the connection.
    HeaderTimeout,
    /// A request in flight and not a byte moved either way for `idle_timeout` (a client that
    /// does not read its response, an HTTP/2 window held at zero): drop the connection.
    Stalled,
}

impl Activity {
    pub(crate) fn new(accepted: Instant) -> Arc<Self> {
        Arc::new(Activity {
            accepted,
            in_flight: AtomicUsize::new(0),
            responding: AtomicUsize::new(0),
            served_any: AtomicBool::new(false),
            quiet_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            head_started: AtomicBool::new(false),
            progress: AtomicU64::new(0),
            progress_seen: AtomicU64::new(NONE),
            quiet: QuietWaker {
                // Woken at first, so that the first poll registers every branch.
                woken: AtomicBool::new(true),
                task: AtomicWaker::new(),
            },
        })
    }

    /// When the connection was accepted.
    pub(crate) fn accepted(&self) -> Instant {
        self.accepted
    }

    fn now_ms(&self) -> u64 {
        let ms = Instant::now().duration_since(self.accepted).as_millis();
        u64::try_from(ms).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.accepted + Duration::from_millis(ms)
    }

    /// A request reached the service; the guard marks its end.
    pub(crate) fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        if !self.served_any.load(Ordering::Relaxed) {
            self.served_any.store(true, Ordering::Relaxed);
        }
        if self.head_since.load(Ordering::Relaxed) != NONE {
            self.head_since.store(NONE, Ordering::Relaxed);
        }
        RequestGuard {
            activity: self.clone(),
            responding: false,
        }
    }

    /// Bytes moved, either way.
    pub(crate) fn moved(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// HTTP/1: bytes arrived. With nothing in flight, they start the next request's head.
    pub(crate) fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Relaxed) == NONE
        {
            self.head_since.store(self.now_ms(), Ordering::Relaxed);
            self.head_started.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a request head has started since the last call.
    pub(crate) fn take_head_started(&self) -> bool {
        self.head_started.load(Ordering::Relaxed)
            && self.head_started.swap(false, Ordering::Relaxed)
    }

    /// Whether no request is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Judges the connection at `now`; `draining`: the server is shutting down.
    pub(crate) fn verdict(&self, now: Instant, limits: &Limits, draining: bool) -> Verdict {
        let header = limits.header_timeout();
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // A request runs. The service may take its time (the application bounds that), but
            // once a response is being sent, bytes must move: look again an idle period later,
            // and if by then nothing moved either way since this look, the connection is
            // stalled. Only timers look while a request is in flight, and each re-arms an
            // idle period ahead, so two looks seeing the same count are an idle period apart.
            let Some(idle) = limits.idle() else {
                return Verdict::Wait(None);
            };
            let progress = self.progress.load(Ordering::Relaxed);
            let seen = self.progress_seen.swap(progress, Ordering::Relaxed);
            if seen == progress && self.responding.load(Ordering::Acquire) > 0 {
                return Verdict::Stalled;
            }
            return Verdict::Wait(Some(now + idle));
        }
        // Never wait longer than an idle period: a request that arrives meanwhile is looked
        // at (for progress, above) within one.
        let expired = |deadline: Instant, verdict: Verdict| {
            if now >= deadline {
                verdict
            } else {
                Verdict::Wait(Some(match limits.idle() {
                    Some(idle) => deadline.min(now + idle),
                    None => deadline,
                }))
            }
        };
        if let Some(limit) = header {
            if !self.served_any.load(Ordering::Relaxed) {
                return expired(self.accepted + limit, Verdict::HeaderTimeout);
            }
            let head_since = self.head_since.load(Ordering::Relaxed);
            if head_since != NONE {
                return expired(self.at(head_since) + limit, Verdict::HeaderTimeout);
            }
        }
        let idle = match (limits.idle(), draining) {
            (Some(idle), true) => Some(idle.min(DRAIN_QUIET)),
            (None, true) => Some(DRAIN_QUIET),
            (idle, false) => idle,
        };
        match idle {
            Some(idle) => expired(
                self.at(self.quiet_since.load(Ordering::Relaxed)) + idle,
                Verdict::Idle,
            ),
            None => Verdict::Wait(None),
        }
    }
}

/// What the connection task's quiet branches (its timer, the two shutdown signals) wake it
/// through: it notes that one of them woke, then wakes the task.
#[derive(Debug)]
pub(crate) struct QuietWaker {
    pub(crate) woken: AtomicBool,
    pub(crate) task: AtomicWaker,
}

impl Wake for Activity {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.quiet.woken.store(true, Ordering::Release);
        self.quiet.task.wake();
    }
}

/// Held from the moment a request reaches the service until its response body is finished.
#[derive(Debug)]
pub(crate) struct RequestGuard {
    activity: Arc<Activity>,
    responding: bool,
}

impl RequestGuard {
    /// The service answered: the response is being sent from now on.
    pub(crate) fn responding(&mut self) {
        if !self.responding {
            self.responding = true;
            self.activity.responding.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        // Stamp the time before the count drops, so a reader that sees zero in flight also
        // sees this response's end.
        let now = self.activity.now_ms();
        self.activity.quiet_since.store(now, Ordering::Relaxed);
        if self.responding {
            self.activity.responding.fetch_sub(1, Ordering::AcqRel);
        }
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ..Limits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_clocks_follow_the_requests() {
        let start = Instant::now();
        let activity = Activity::new(start);
        let limits = limits();
        let secs = |n| start + Duration::from_secs(n);

        // The first request must come within the header timeout of the accept.
        assert_eq!(
            activity.verdict(start, &limits, false),
            Verdict::Wait(Some(secs(10)))
        );
        assert_eq!(
            activity.verdict(secs(10), &limits, false),
            Verdict::HeaderTimeout
        );

        tokio::time::advance(Duration::from_secs(1)).await;
        let guard = activity.request_started();
        assert_eq!(
            activity.verdict(secs(1), &limits, false),
            Verdict::Wait(Some(secs(61)))
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(guard);
        // Idle counts from the end of the response.
        assert_eq!(
            activity.verdict(secs(2), &limits, false),
            Verdict::Wait(Some(secs(62)))
        );
        assert_eq!(activity.verdict(secs(62), &limits, false), Verdict::Idle);

        // A byte of the next request starts its header clock.
        tokio::time::advance(Duration::from_secs(3)).await;
        activity.bytes_read();
        assert_eq!(
            activity.verdict(secs(5), &limits, false),
            Verdict::Wait(Some(secs(15)))
        );
        assert_eq!(
            activity.verdict(secs(15), &limits, false),
            Verdict::HeaderTimeout
        );
        let _guard = activity.request_started();
        assert_eq!(
            activity.verdict(secs(6), &limits, false),
            Verdict::Wait(Some(secs(66)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_turns_a_limit_off() {
        let start = Instant::now();
        let activity = Activity::new(start);
        let off = Limits {
            header_read_timeout: Duration::ZERO,
            idle_timeout: Duration::ZERO,
            ..Limits::default()
        };
        assert_eq!(activity.verdict(start, &off, false), Verdict::Wait(None));
        drop(activity.request_started());
        activity.bytes_read();
        assert_eq!(
            activity.verdict(start + Duration::from_secs(3600), &off, false),
            Verdict::Wait(None)
        );
    }
}
