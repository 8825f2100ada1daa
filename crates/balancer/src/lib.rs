//! The load balancer: backends, their state, and the strategies that choose between them.
//!
//! # Layout
//!
//! - [`Backend`] (`backend.rs`): one upstream server, its weight, and its live state kept in
//!   atomics: healthy or not, requests in flight, totals, errors, peak-EWMA latency. A
//!   [`Lease`] counts a request in flight from the moment a backend is chosen until it is
//!   dropped, and records the outcome.
//! - [`latency`]: each backend's answer times over the last ten seconds (a ring of per-second
//!   atomic histograms), for the p50 and p99 of `/status` and the dashboard.
//! - [`Strategy`] (`strategy/`): one small trait, one file per strategy. A strategy sees the
//!   backends (in configuration order) and the request's [`PickContext`], and returns the
//!   index of the backend to use among the healthy ones, or `None` when none is healthy.
//!   - [`SmoothRoundRobin`]: nginx's smooth weighted round robin.
//!   - [`LeastConnections`]: fewest in flight relative to weight, ties in round-robin order.
//!   - [`IpHash`]: weighted rendezvous hashing of the client's full address: removing one of
//!     N backends moves only the clients that were on it (about 1/N).
//!   - [`PowerOfTwo`]: two random choices, the one with the lower peak-EWMA latency times
//!     requests in flight, over weight.
//!
//! - [`Pool`] (`pool.rs`): the backends and the strategy, both replaceable while traffic
//!   flows (reload, a strategy switched at run time).
//! - `tcp.rs`: TCP mode, a byte-level proxy leasing a backend per connection, failing over
//!   from a refusing backend (ejected for a back-off) to the next.
//! - `health.rs`: active checks (HTTP GET expecting 2xx, or a TCP connect; interval, timeout,
//!   rise and fall); passive ejection is [`Backend::eject`].
//!
//! - [`admin`]: the admin API, `GET /status` (JSON), `GET /metrics` (Prometheus), `GET /events`
//!   (server-sent status), `GET /history` (the last three minutes) and the dashboard page.
//! - [`http`]: HTTP mode, [`http::HttpProxy`], run by the `switchboard-http` server.
//!
//! - [`Balancer`] (`balancer.rs`): the above assembled. A [`BalancerConfig`] names the bound
//!   listeners (a [`Frontend`], HTTP or TCP mode, and the admin API's server), the backends,
//!   the strategy and the health checks; [`Balancer::run`] runs the checks, the admin API and
//!   the proxy until shutdown and returns once they have drained. [`Reload`] changes the
//!   backends, strategy and checks of a running balancer.
//!
//! Strategies know nothing of sockets or HTTP; the proxies lease a backend, send, and report
//! the outcome on the lease.
#![forbid(unsafe_code)]

pub mod admin;
mod backend;
mod balancer;
pub mod health;
pub mod http;
mod latency;
mod pool;
mod strategy;
pub mod tcp;

pub use backend::{Backend, Lease, Outcome};
pub use balancer::{Balancer, BalancerConfig, Frontend, Reload};
pub use pool::Pool;
pub use strategy::{
    IpHash, LeastConnections, PickContext, PowerOfTwo, SmoothRoundRobin, Strategy, StrategyKind,
};
