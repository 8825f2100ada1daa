//! A cap on open connections, shared by async tasks and OS threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts open connections against a maximum.
///
/// Cloning is cheap and every clone shares one count. [`try_acquire`](Self::try_acquire) never
/// waits: a server past its limit answers "busy" at once rather than queueing clients it cannot
/// serve.
#[derive(Clone, Debug)]
pub struct ConnectionLimit {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max: usize,
    open: AtomicUsize,
}

/// One open connection's slot. Dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionPermit {
    inner: Arc<Inner>,
}

impl ConnectionLimit {
    /// A limit of `max` connections open at once.
    pub fn new(max: usize) -> Self {
        ConnectionLimit {
            inner: Arc::new(Inner {
                max,
                open: AtomicUsize::new(0),
            }),
        }
    }

    /// Takes a slot, or returns `None` when `max` connections are already open.
    pub fn try_acquire(&self) -> Option<ConnectionPermit> {
        let mut open = self.inner.open.load(Ordering::Relaxed);
        loop {
            if open >= self.inner.max {
                return None;
            }
            match self.inner.open.compare_exchange_weak(
                open,
                open + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(ConnectionPermit {
                        inner: self.inner.clone(),
                    })
                }
                Err(now) => open = now,
            }
        }
    }

    /// How many connections are open now.
    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::Relaxed)
    }

    /// The maximum.
    pub fn max(&self) -> usize {
        self.inner.max
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.inner.open.fetch_sub(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_counted_and_returned() {
        let limit = ConnectionLimit::new(2);
        let a = limit.try_acquire().expect("first");
        let b = limit.try_acquire().expect("second");
        assert!(limit.try_acquire().is_none(), "third is over the limit");
        assert_eq!(limit.open(), 2);
        drop(a);
        let c = limit.try_acquire().expect("a slot came back");
        drop((b, c));
        assert_eq!(limit.open(), 0);
    }
}
