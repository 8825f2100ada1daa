//! The retry budget: replays (a bodiless idempotent request sent again after a failure) may
//! add at most a fifth to the traffic, so a failing backend cannot turn into a retry storm.
//! Every request earns 0.2 of a retry, up to a reserve of 100; every replay spends one.

use std::sync::atomic::{AtomicU64, Ordering};

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
}
