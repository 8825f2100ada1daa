//! [`History`]: the last few minutes of every backend's traffic, one sample a second, so a
//! dashboard opened late (or reloaded) draws what happened before it was opened.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::AdminState;

/// Samples kept: three minutes, one a second.
pub const SECONDS: usize = 180;

/// One second's view of the backends.
#[derive(Debug, Clone)]
struct Sample {
    /// Milliseconds since the Unix epoch.
    at: u64,
    /// Per backend: address, requests given so far, p99 over the last 10 s (ms).
    backends: Vec<(String, u64, Option<f64>)>,
}

/// The samples, oldest first.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    /// Takes one sample of `state`'s backends now.
    pub fn record(&self, state: &AdminState) {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let backends = state
            .pool
            .backends()
            .iter()
            .map(|b| {
                let p99 = b.recent_latency([0.99]).map(|[q]| q.as_secs_f64() * 1000.0);
                (b.addr.clone(), b.total(), p99)
            })
            .collect();
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == SECONDS {
            samples.pop_front();
        }
        samples.push_back(Sample { at, backends });
    }

    /// The samples as JSON: `{"interval_ms": 1000, "samples": [{"at": ms, "backends":
    /// [{"addr", "total", "p99_ms"}]}]}`, oldest first.
    pub fn json(&self) -> Value {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let samples: Vec<Value> = samples
            .iter()
            .map(|s| {
                json!({
                    "at": s.at,
                    "backends": s.backends.iter().map(|(addr, total, p99)| json!({
                        "addr": addr, "total": total, "p99_ms": p99,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "interval_ms": 1000, "samples": samples })
    }

    /// Samples `state` every second until its shutdown.
    pub async fn keep(self: Arc<Self>, state: AdminState) {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = ticks.tick() => self.record(&state),
                () = state.shutdown.wait() => return,
            }
        }
    }
}
