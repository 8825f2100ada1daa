//! [`Pool`]: the backends and the strategy, as every mode shares them. Both can be replaced
//! while traffic flows (a reload, a strategy switched from the admin API): readers take a
//! snapshot, so a pick never sees a half-changed pool.

use std::sync::{Arc, RwLock};

use crate::{Backend, PickContext, Strategy, StrategyKind};

/// The backends in configuration order, and how one is chosen.
#[derive(Debug)]
pub struct Pool {
    backends: RwLock<Arc<Vec<Arc<Backend>>>>,
    strategy: RwLock<(StrategyKind, Arc<dyn Strategy>)>,
}

impl Pool {
    /// A pool of `backends` choosing with `kind`.
    pub fn new(backends: Vec<Arc<Backend>>, kind: StrategyKind) -> Pool {
        Pool {
            backends: RwLock::new(Arc::new(backends)),
            strategy: RwLock::new((kind, Arc::from(kind.build()))),
        }
    }

    /// The backends now.
    pub fn backends(&self) -> Arc<Vec<Arc<Backend>>> {
        self.backends
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many backends there are.
    pub fn len(&self) -> usize {
        self.backends().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The strategy in use.
    pub fn strategy(&self) -> StrategyKind {
        self.strategy.read().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Switches strategy; requests already placed are not moved.
    pub fn set_strategy(&self, kind: StrategyKind) {
        *self.strategy.write().unwrap_or_else(|p| p.into_inner()) = (kind, Arc::from(kind.build()));
    }

    /// Replaces the backends. A backend whose address is in both keeps its state (health,
    /// counts, latency): pass it back from [`backends`](Self::backends).
    pub fn set_backends(&self, backends: Vec<Arc<Backend>>) {
        *self.backends.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(backends);
    }

    /// A healthy backend for a request, or `None` when none is.
    pub fn pick(&self, ctx: &PickContext) -> Option<Arc<Backend>> {
        let backends = self.backends();
        let strategy = self
            .strategy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone();
        strategy.pick(&backends, ctx).map(|i| backends[i].clone())
    }

    /// A backend for a request sent again after `failed` failed it: the strategy's choice
    /// among the others (HAProxy's `redispatch`), or `failed` itself when there is no other.
    /// A backend that just died has the fewest requests in flight (they all failed), so
    /// least connections would otherwise hand the request straight back to it. Each strategy
    /// sees the others as if `failed` were down for this one pick; their state is kept by
    /// address or is only a tie-break, so nothing else shifts. Allocates: retries only.
    pub fn pick_other(&self, ctx: &PickContext, failed: &Arc<Backend>) -> Option<Arc<Backend>> {
        let backends = self.backends();
        let others: Vec<Arc<Backend>> = backends
            .iter()
            .filter(|b| !Arc::ptr_eq(b, failed))
            .cloned()
            .collect();
        let strategy = self
            .strategy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone();
        match strategy.pick(&others, ctx) {
            Some(i) => Some(others[i].clone()),
            None => strategy.pick(&backends, ctx).map(|i| backends[i].clone()),
        }
    }
}
