//! Wall-clock time for sessions and throttling, which a test can set and move.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_store::Timestamp;

/// The time sessions and throttles are measured against.
///
/// Stored timestamps are wall-clock times (they outlive the process and are shared between
/// servers), so this is not tokio's monotonic clock; a [`Clock::manual`] lets tests move it.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that stands at `start` until [`advance`](Self::advance)d.
    pub fn manual(start: Timestamp) -> Self {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start.as_millis()))),
        }
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        match &self.manual {
            Some(ms) => Timestamp::from_millis(ms.load(Ordering::Relaxed)),
            None => {
                let since = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO);
                Timestamp::from_millis(since.as_millis() as i64)
            }
        }
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(ms) = &self.manual {
            ms.fetch_add(by.as_millis() as i64, Ordering::Relaxed);
        }
    }
}
