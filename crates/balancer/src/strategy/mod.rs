//! [`Strategy`]: how the balancer chooses a backend for a request. One file per strategy.

pub(crate) mod ip_hash;
mod least_connections;
mod p2c;
mod round_robin;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

pub use ip_hash::IpHash;
pub use least_connections::LeastConnections;
pub use p2c::PowerOfTwo;
pub use round_robin::SmoothRoundRobin;

use crate::Backend;

/// What a strategy may know about the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct PickContext {
    /// The client's address (for `ip-hash`), as the balancer trusts it.
    pub client: Option<IpAddr>,
}

/// Chooses a backend. Implementations keep whatever state they need behind `&self`.
pub trait Strategy: Send + Sync + fmt::Debug {
    /// The name used on the command line and in `/status`.
    fn name(&self) -> &'static str;

    /// The index in `backends` of the backend to use, among the healthy ones; `None` when no
    /// backend is healthy.
    fn pick(&self, backends: &[Arc<Backend>], ctx: &PickContext) -> Option<usize>;
}

/// The strategies by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyKind {
    /// `round-robin`.
    RoundRobin,
    /// `least-connections`.
    LeastConnections,
    /// `ip-hash`.
    IpHash,
    /// `p2c`.
    PowerOfTwo,
}

impl StrategyKind {
    /// Every strategy, in the order `--help` lists them.
    pub const ALL: [StrategyKind; 4] = [
        StrategyKind::RoundRobin,
        StrategyKind::LeastConnections,
        StrategyKind::IpHash,
        StrategyKind::PowerOfTwo,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::RoundRobin => "round-robin",
            StrategyKind::LeastConnections => "least-connections",
            StrategyKind::IpHash => "ip-hash",
            StrategyKind::PowerOfTwo => "p2c",
        }
    }

    /// A fresh strategy of this kind.
    pub fn build(self) -> Box<dyn Strategy> {
        match self {
            StrategyKind::RoundRobin => Box::new(SmoothRoundRobin::default()),
            StrategyKind::LeastConnections => Box::new(LeastConnections::default()),
            StrategyKind::IpHash => Box::new(IpHash),
            StrategyKind::PowerOfTwo => Box::new(PowerOfTwo),
        }
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StrategyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StrategyKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown strategy '{s}' (expected round-robin, least-connections, ip-hash or p2c)")
            })
    }
}

/// The indices of the healthy backends, in order.
fn healthy(backends: &[Arc<Backend>]) -> impl Iterator<Item = usize> + '_ {
    backends
        .iter()
        .enumerate()
        .filter(|(_, b)| b.is_healthy())
        .map(|(i, _)| i)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Backends with these weights, at made-up addresses.
    pub fn backends(weights: &[u32]) -> Vec<Arc<Backend>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| Backend::new(format!("10.0.0.{}:80", i + 1), *w))
            .collect()
    }

    #[test]
    fn names_round_trip() {
        for kind in StrategyKind::ALL {
            assert_eq!(kind.name().parse::<StrategyKind>(), Ok(kind));
            assert_eq!(kind.build().name(), kind.name());
        }
        assert!("random".parse::<StrategyKind>().is_err());
    }
}
