//! [`RecentLatency`]: a backend's answer times over the last few seconds, for the p50 and p99
//! that `/status` and the dashboard show.
//!
//! Written here rather than taken from `hdrhistogram`: a sample is recorded on every proxied
//! request, from many tasks at once, and an HdrHistogram needs `&mut` (a lock per request).
//! This is a fixed log-linear histogram of atomic counters (relaxed adds, no lock), one per
//! second in a small ring, so that old seconds fall out of the window by themselves.
//!
//! Buckets: exact below 8 µs, then eight per power of two (each about 12% wide), up to about
//! 36 minutes; a quantile is reported as the middle of its bucket, so within about 6% of the
//! true value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How many one-second slots the window holds (the current second included).
pub const WINDOW_SECONDS: u64 = 10;

/// Sub-buckets per power of two, as a bit count (8 sub-buckets).
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// The largest power of two with buckets of its own (2^31 µs is about 36 minutes); larger
/// samples land in the last bucket.
const MAX_EXP: u32 = 31;
const BUCKETS: usize = (MAX_EXP as usize - SUB_BITS as usize + 2) * SUB;

/// One second's counts, and which second it holds.
#[derive(Debug)]
struct Slot {
    second: AtomicU64,
    counts: Box<[AtomicU64]>,
}

/// A sliding window of latency histograms, one per second.
#[derive(Debug)]
pub struct RecentLatency {
    slots: Box<[Slot]>,
}

impl Default for RecentLatency {
    fn default() -> Self {
        let slots = (0..WINDOW_SECONDS)
            .map(|_| Slot {
                // No second is u64::MAX, so every slot starts stale.
                second: AtomicU64::new(u64::MAX),
                counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            })
            .collect();
        RecentLatency { slots }
    }
}

/// The bucket a sample of `micros` falls in.
fn bucket(micros: u64) -> usize {
    if micros < SUB as u64 {
        return micros as usize;
    }
    let exp = (63 - micros.leading_zeros()).min(MAX_EXP);
    let micros = micros.min((1 << (MAX_EXP + 1)) - 1);
    let mantissa = (micros >> (exp - SUB_BITS)) as usize & (SUB - 1);
    (exp - SUB_BITS + 1) as usize * SUB + mantissa
}

/// The middle of a bucket, in microseconds.
fn middle(index: usize) -> f64 {
    if index < SUB {
        return index as f64;
    }
    let exp = (index / SUB) as u32 + SUB_BITS - 1;
    let width = 1u64 << (exp - SUB_BITS);
    let low = ((SUB + index % SUB) as u64) << (exp - SUB_BITS);
    low as f64 + width as f64 / 2.0
}

impl RecentLatency {
    /// Records one answer time, in the second `now` (whole seconds on any steady clock).
    pub fn record(&self, now: u64, latency: Duration) {
        let slot = &self.slots[(now % WINDOW_SECONDS) as usize];
        let held = slot.second.load(Ordering::Acquire);
        if held != now
            && slot
                .second
                .compare_exchange(held, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // This slot held a second that has left the window: start it afresh. A sample
            // another task adds between the swap and the clearing is lost; the window is for
            // people to read, and one sample in thousands does not move a percentile.
            for count in slot.counts.iter() {
                count.store(0, Ordering::Relaxed);
            }
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        slot.counts[bucket(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// The given quantiles (each in 0..=1) of the samples recorded in the last
    /// [`WINDOW_SECONDS`] seconds up to `now`, or `None` when there were none.
    pub fn quantiles<const N: usize>(&self, now: u64, qs: [f64; N]) -> Option<[Duration; N]> {
        let mut counts = vec![0u64; BUCKETS];
        for slot in self.slots.iter() {
            let second = slot.second.load(Ordering::Acquire);
            if second > now || now - second >= WINDOW_SECONDS {
                continue;
            }
            for (sum, count) in counts.iter_mut().zip(slot.counts.iter()) {
                *sum += count.load(Ordering::Relaxed);
            }
        }
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        Some(qs.map(|q| {
            // The rank of the sample at quantile q (1-based), as HdrHistogram counts it.
            let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            let index = counts
                .iter()
                .position(|&c| {
                    seen += c;
                    seen >= rank
                })
                .unwrap_or(BUCKETS - 1);
            Duration::from_secs_f64(middle(index) / 1e6)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_narrow() {
        let mut last = 0;
        for micros in [0, 1, 7, 8, 9, 15, 16, 100, 1_000, 12_345, 1 << 20, 1 << 31] {
            let b = bucket(micros);
            assert!(b >= last, "{micros}");
            last = b;
            let mid = middle(b);
            let error = (mid - micros as f64).abs() / (micros.max(1) as f64);
            assert!(error <= 0.07, "{micros} -> {mid}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_come_from_the_window() {
        let recent = RecentLatency::default();
        assert!(recent.quantiles(0, [0.5]).is_none());
        for i in 1..=100u64 {
            recent.record(5, Duration::from_millis(i));
        }
        let [p50, p99] = recent.quantiles(5, [0.5, 0.99]).unwrap();
        let (p50, p99) = (p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
        assert!((47.0..=53.0).contains(&p50), "{p50}");
        assert!((93.0..=105.0).contains(&p99), "{p99}");
        // Still in the window nine seconds later, gone at ten.
        assert!(recent.quantiles(14, [0.5]).is_some());
        assert!(recent.quantiles(15, [0.5]).is_none());
        // A slot reused for a later second starts empty.
        recent.record(15, Duration::from_micros(10));
        let [p50] = recent.quantiles(15, [0.5]).unwrap();
        assert!(p50 < Duration::from_micros(12), "{p50:?}");
    }
}
