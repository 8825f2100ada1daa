//! Smooth weighted round robin, nginx's algorithm: every pick adds each backend's weight to its
//! running score, takes the highest, and takes the total back from the winner. A heavy
//! backend gets its share spread out, never in a burst: weights 5, 1, 1 give `a a b a c a a`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{healthy, PickContext, Strategy};
use crate::Backend;

/// Smooth weighted round robin.
#[derive(Debug, Default)]
pub struct SmoothRoundRobin {
    /// Running scores by backend address, so they survive a reload that keeps the backend.
    current: Mutex<HashMap<String, i64>>,
}

impl Strategy for SmoothRoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn pick(&self, backends: &[Arc<Backend>], _: &PickContext) -> Option<usize> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for i in healthy(backends) {
            let weight = i64::from(backends[i].weight());
            let score = current.entry(backends[i].addr.clone()).or_insert(0);
            *score += weight;
            total += weight;
            if best.is_none_or(|(_, top)| *score > top) {
                best = Some((i, *score));
            }
        }
        let (chosen, _) = best?;
        if let Some(score) = current.get_mut(&backends[chosen].addr) {
            *score -= total;
        }
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::backends;

    fn picks(strategy: &SmoothRoundRobin, backends: &[Arc<Backend>], n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| strategy.pick(backends, &PickContext::default()).unwrap())
            .collect()
    }

    #[test]
    fn weights_5_1_1_interleave_as_nginx_does() {
        let rr = SmoothRoundRobin::default();
        assert_eq!(picks(&rr, &backends(&[5, 1, 1]), 7), [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn weights_1_2_3_get_exact_shares_without_bursts() {
        let rr = SmoothRoundRobin::default();
        let b = backends(&[1, 2, 3]);
        let seq = picks(&rr, &b, 600);
        let count = |i| seq.iter().filter(|&&x| x == i).count();
        assert_eq!((count(0), count(1), count(2)), (100, 200, 300));
        // Every window of one cycle (6 picks) holds exactly each backend's weight, and the
        // heaviest never runs twice in a row more than its share allows.
        for window in seq.chunks(6) {
            let mut n = [0; 3];
            window.iter().for_each(|&i| n[i] += 1);
            assert_eq!(n, [1, 2, 3], "{window:?}");
        }
        let longest_run = seq
            .windows(3)
            .filter(|w| w[0] == w[1] && w[1] == w[2])
            .count();
        assert_eq!(longest_run, 0, "no backend three times in a row: {seq:?}");
    }

    #[test]
    fn a_down_backend_is_skipped_and_none_means_none() {
        let rr = SmoothRoundRobin::default();
        let b = backends(&[1, 1, 1]);
        b[1].set_healthy(false);
        let seq = picks(&rr, &b, 6);
        assert!(!seq.contains(&1), "{seq:?}");
        b.iter().for_each(|b| b.set_healthy(false));
        assert_eq!(rr.pick(&b, &PickContext::default()), None);
    }
}
