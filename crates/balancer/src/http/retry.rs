//! What happens after a failed attempt: [`next`] decides, from whose fault it was and how
//! much of the request was sent, whether the request goes to another backend or the client
//! gets the failure.
//!
//! - Not the backend's fault (the client's body, or the balancer's): never sent again, and
//!   nothing held against the backend.
//! - Not one byte written (the connection failed on the first write): sent elsewhere, whole,
//!   whatever its method.
//! - A reset (or a close before the answer) of a bodiless idempotent request, or no answer
//!   within the response timeout ([`after_timeout`], as nginx's `proxy_next_upstream timeout`):
//!   sent once more, within the [`RetryBudget`], on a new connection (the pooled ones of a
//!   backend that was killed are dead too; a new one is refused, and the request goes on to
//!   another backend whole). A malformed answer is not retried: it would
//!   most likely come again. Any other request that may have reached a backend is never sent
//!   twice.
//!
//! The retry budget: replays may add at most a fifth to the traffic, so a failing backend
//! cannot turn into a retry storm. Every request earns 0.2 of a retry, up to a reserve of
//! 100; every replay spends one.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use http::Method;

use super::client::{Failure, Fault, Outgoing};

/// What to do after a failed attempt.
#[derive(Debug)]
pub(super) enum Next {
    /// Not one byte reached the backend: the request, whole, goes to another one.
    Resend(Outgoing),
    /// A bodiless idempotent request was reset: sent once more (a retry spent).
    Replay(Outgoing),
    /// The client gets the failure.
    Fail(Failure),
}

/// A request's replays: whether it may be sent again after a reset, and how often still.
#[derive(Debug)]
pub(super) struct Replays {
    left: u32,
}

impl Replays {
    /// A bodiless idempotent request may be sent once more after a reset; any other, never.
    pub(super) fn new(method: &Method, bodiless: bool) -> Replays {
        Replays {
            left: u32::from(is_idempotent(method) && bodiless),
        }
    }

    /// A copy of `out` to replay, made before it is sent, if it may be replayed at all.
    pub(super) fn copy(&self, out: &Outgoing) -> Option<Outgoing> {
        if self.left > 0 {
            out.replay()
        } else {
            None
        }
    }
}

/// Decides what follows a failed attempt; `replay` is what [`Replays::copy`] made of the
/// request before the attempt.
pub(super) fn next(
    mut failure: Failure,
    replay: Option<Outgoing>,
    replays: &mut Replays,
    budget: &RetryBudget,
) -> Next {
    if failure.fault != Fault::Backend {
        return Next::Fail(failure);
    }
    if let Some(out) = failure.unsent.take() {
        return Next::Resend(out);
    }
    match replay {
        Some(again) if is_reset(&failure.cause) && replays.left > 0 && budget.spend() => {
            replays.left -= 1;
            Next::Replay(again)
        }
        _ => Next::Fail(failure),
    }
}

/// What follows a backend that did not answer within the response timeout: the replay of a
/// bodiless idempotent request (within the budget), or `None`: the client gets a 504.
pub(super) fn after_timeout(
    replay: Option<Outgoing>,
    replays: &mut Replays,
    budget: &RetryBudget,
) -> Option<Outgoing> {
    let again = replay.filter(|_| replays.left > 0 && budget.spend())?;
    replays.left -= 1;
    Some(again)
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// Whether a failure is the connection going away (reset, closed, broken), as opposed to an
/// answer that could not be understood.
fn is_reset(e: &io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    )
}

/// Thousandths of a retry earned per request.
const EARN: u64 = 200;
/// Thousandths of a retry one replay costs.
const COST: u64 = 1000;
/// The most that can be saved up, in thousandths.
const RESERVE: u64 = 100 * COST;

/// A shared budget of retries.
#[derive(Debug)]
pub struct RetryBudget {
    milli: AtomicU64,
}

impl Default for RetryBudget {
    /// Starts with ten retries in hand, so the first failures can be retried.
    fn default() -> Self {
        RetryBudget {
            milli: AtomicU64::new(10 * COST),
        }
    }
}

impl RetryBudget {
    /// A request was made.
    pub fn earn(&self) {
        let _ = self
            .milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some((m + EARN).min(RESERVE))
            });
    }

    /// Takes one retry if the budget has it.
    pub fn spend(&self) -> bool {
        self.milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                m.checked_sub(COST)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_at_most_a_fifth_of_requests_once_the_start_is_spent() {
        let budget = RetryBudget::default();
        let mut granted = 0;
        while budget.spend() {
            granted += 1;
        }
        assert_eq!(granted, 10);
        for _ in 0..100 {
            budget.earn();
        }
        let mut again = 0;
        while budget.spend() {
            again += 1;
        }
        assert_eq!(again, 20);
    }

    async fn get() -> Outgoing {
        let mut body = switchboard_http::RequestBody::default();
        let uri = http::Uri::from_static("/");
        Outgoing::encode(&Method::GET, &uri, &http::HeaderMap::new(), &mut body)
            .await
            .unwrap()
    }

    fn failure(fault: Fault, kind: io::ErrorKind, unsent: Option<Outgoing>) -> Failure {
        Failure {
            fault,
            sent: unsent.is_none(),
            unsent,
            cause: io::Error::from(kind),
        }
    }

    #[tokio::test]
    async fn a_reset_get_is_replayed_once_and_a_post_never() {
        let budget = RetryBudget::default();
        let mut replays = Replays::new(&Method::GET, true);
        let out = get().await;
        let reset = || failure(Fault::Backend, io::ErrorKind::ConnectionReset, None);
        let copy = replays.copy(&out);
        assert!(matches!(
            next(reset(), copy, &mut replays, &budget),
            Next::Replay(_)
        ));
        // Only once: the second reset is the client's answer.
        let copy = replays.copy(&out);
        assert!(copy.is_none());
        assert!(matches!(
            next(reset(), copy, &mut replays, &budget),
            Next::Fail(_)
        ));

        let mut post = Replays::new(&Method::POST, true);
        let copy = post.copy(&out);
        assert!(matches!(
            next(reset(), copy, &mut post, &budget),
            Next::Fail(_)
        ));
        let mut with_body = Replays::new(&Method::PUT, false);
        let copy = with_body.copy(&out);
        assert!(matches!(
            next(reset(), copy, &mut with_body, &budget),
            Next::Fail(_)
        ));
    }

    #[tokio::test]
    async fn a_request_not_one_byte_of_which_was_sent_goes_elsewhere_whatever_its_method() {
        let budget = RetryBudget::default();
        let mut post = Replays::new(&Method::POST, false);
        let unsent = failure(Fault::Backend, io::ErrorKind::BrokenPipe, Some(get().await));
        assert!(matches!(
            next(unsent, None, &mut post, &budget),
            Next::Resend(_)
        ));
    }

    #[tokio::test]
    async fn a_malformed_answer_or_a_fault_not_the_backends_is_not_retried() {
        let budget = RetryBudget::default();
        let out = get().await;
        let mut replays = Replays::new(&Method::GET, true);
        let malformed = failure(Fault::Backend, io::ErrorKind::InvalidData, None);
        let copy = replays.copy(&out);
        assert!(matches!(
            next(malformed, copy, &mut replays, &budget),
            Next::Fail(_)
        ));
        for fault in [Fault::Client, Fault::Balancer] {
            let mut replays = Replays::new(&Method::GET, true);
            let theirs = failure(fault, io::ErrorKind::ConnectionReset, Some(get().await));
            let copy = replays.copy(&out);
            match next(theirs, copy, &mut replays, &budget) {
                Next::Fail(f) => assert_eq!(f.fault, fault),
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_get_that_timed_out_is_replayed_once_and_a_post_never() {
        let budget = RetryBudget::default();
        let out = get().await;
        let mut replays = Replays::new(&Method::GET, true);
        let copy = replays.copy(&out);
        assert!(after_timeout(copy, &mut replays, &budget).is_some());
        let copy = replays.copy(&out);
        assert!(after_timeout(copy, &mut replays, &budget).is_none());
        let mut post = Replays::new(&Method::POST, true);
        let copy = post.copy(&out);
        assert!(after_timeout(copy, &mut post, &budget).is_none());
    }

    #[tokio::test]
    async fn an_empty_budget_stops_replays() {
        let budget = RetryBudget::default();
        while budget.spend() {}
        let out = get().await;
        let mut replays = Replays::new(&Method::GET, true);
        let reset = failure(Fault::Backend, io::ErrorKind::ConnectionReset, None);
        let copy = replays.copy(&out);
        assert!(matches!(
            next(reset, copy, &mut replays, &budget),
            Next::Fail(_)
        ));
    }
}
