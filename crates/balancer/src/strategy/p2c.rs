//! Power of two random choices over peak-EWMA latency: pick two healthy backends at random and
//! send to the cheaper, where cost is the latency average times (requests in flight + 1),
//! over weight. For backends of unequal speed: a slow one is chosen less without being
//! starved, and a burst of load spreads out because in-flight requests count immediately.

use std::sync::Arc;

use super::{healthy, PickContext, Strategy};
use crate::Backend;

/// Two random choices, the cheaper wins.
#[derive(Debug, Default)]
pub struct PowerOfTwo;

fn cost(b: &Backend) -> f64 {
    b.ewma().as_micros() as f64 * (b.in_flight() + 1) as f64 / f64::from(b.weight())
}

impl Strategy for PowerOfTwo {
    fn name(&self) -> &'static str {
        "p2c"
    }

    fn pick(&self, backends: &[Arc<Backend>], _: &PickContext) -> Option<usize> {
        let candidates: Vec<usize> = healthy(backends).collect();
        match candidates.len() {
            0 => None,
            1 => Some(candidates[0]),
            n => {
                let a = fastrand::usize(..n);
                let mut b = fastrand::usize(..n - 1);
                if b >= a {
                    b += 1;
                }
                let (a, b) = (candidates[a], candidates[b]);
                Some(if cost(&backends[b]) < cost(&backends[a]) {
                    b
                } else {
                    a
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::strategy::testing::backends;

    #[test]
    fn a_slow_backend_gets_less() {
        let b = backends(&[1, 1, 1]);
        b[0].observe_latency(Duration::from_millis(100));
        b[1].observe_latency(Duration::from_millis(5));
        b[2].observe_latency(Duration::from_millis(5));
        let mut n = [0; 3];
        for _ in 0..3_000 {
            n[PowerOfTwo.pick(&b, &PickContext::default()).unwrap()] += 1;
        }
        // The slow one wins only when drawn with itself, which never happens: it loses every
        // pairing, and is picked in none.
        assert_eq!(n[0], 0, "{n:?}");
        assert!(n[1] > 1_200 && n[2] > 1_200, "{n:?}");
    }

    #[test]
    fn load_in_flight_counts_at_once() {
        let b = backends(&[1, 1]);
        let _held: Vec<_> = (0..5).map(|_| b[0].lease()).collect();
        for _ in 0..20 {
            assert_eq!(PowerOfTwo.pick(&b, &PickContext::default()), Some(1));
        }
        b[1].set_healthy(false);
        assert_eq!(PowerOfTwo.pick(&b, &PickContext::default()), Some(0));
    }
}
