//! Least connections: the backend with the fewest requests in flight relative to its weight
//! (compared exactly, by cross-multiplying), ties broken in round-robin order so equal
//! backends share the load instead of the first one taking it all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{PickContext, Strategy};
use crate::Backend;

/// Fewest in flight relative to weight.
#[derive(Debug, Default)]
pub struct LeastConnections {
    /// Where the round-robin order of tie-breaking starts next.
    cursor: AtomicUsize,
}

impl Strategy for LeastConnections {
    fn name(&self) -> &'static str {
        "least-connections"
    }

    fn pick(&self, backends: &[Arc<Backend>], _: &PickContext) -> Option<usize> {
        let n = backends.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.load(Ordering::Relaxed) % n;
        let mut best: Option<(usize, u64, u64)> = None;
        for offset in 0..n {
            let i = (start + offset) % n;
            let b = &backends[i];
            if !b.is_healthy() {
                continue;
            }
            let (load, weight) = (b.in_flight(), u64::from(b.weight()));
            // load / weight < best_load / best_weight, without division.
            if best.is_none_or(|(_, l, w)| {
                u128::from(load) * u128::from(w) < u128::from(l) * u128::from(weight)
            }) {
                best = Some((i, load, weight));
            }
        }
        let (chosen, _, _) = best?;
        self.cursor.store(chosen + 1, Ordering::Relaxed);
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::backends;

    #[test]
    fn with_two_slow_requests_held_on_a_the_next_ten_go_to_b() {
        let lc = LeastConnections::default();
        let b = backends(&[1, 1]);
        let _slow = [b[0].lease(), b[0].lease()];
        for _ in 0..10 {
            let i = lc.pick(&b, &PickContext::default()).unwrap();
            assert_eq!(i, 1);
            // Each of these requests finishes before the next is sent.
            drop(b[i].lease());
        }
    }

    #[test]
    fn ties_rotate_and_weight_scales_the_load() {
        let lc = LeastConnections::default();
        let b = backends(&[1, 1, 1]);
        let seq: Vec<_> = (0..6)
            .map(|_| lc.pick(&b, &PickContext::default()).unwrap())
            .collect();
        assert_eq!(seq, [0, 1, 2, 0, 1, 2]);

        // Weight 3 against 1: three in flight on the heavy one weigh as one on the light one.
        let b = backends(&[3, 1]);
        let mut held = Vec::new();
        for _ in 0..8 {
            let i = lc.pick(&b, &PickContext::default()).unwrap();
            held.push(b[i].lease());
        }
        assert_eq!((b[0].in_flight(), b[1].in_flight()), (6, 2));
    }

    #[test]
    fn down_backends_get_nothing() {
        let lc = LeastConnections::default();
        let b = backends(&[1, 1]);
        b[1].set_healthy(false);
        let _busy = [b[0].lease(), b[0].lease()];
        assert_eq!(lc.pick(&b, &PickContext::default()), Some(0));
        b[0].set_healthy(false);
        assert_eq!(lc.pick(&b, &PickContext::default()), None);
    }
}
