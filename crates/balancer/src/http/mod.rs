//! HTTP mode: [`HttpProxy`], the service the `switchboard-http` server runs in front of the
//! backends, and the pooled connections it sends through.
//!
//! - `proxy.rs`: the service: smuggling checks, backend choice, retries, forwarding headers,
//!   the answer relayed back.
//! - `client.rs`: the HTTP/1.1 client for backends, run inline in the proxying task (no task
//!   or channel per connection; why it is not hyper's is said there).
//! - `upstream.rs`: the idle connections, pooled per backend.
//! - `upgrade.rs`: `Upgrade` requests over a connection of their own (hyper's client, which
//!   hands the upgraded stream over).
//! - `budget.rs`: the retry budget. `access_log.rs`: the access log.

mod access_log;
mod budget;
mod client;
mod headers;
mod proxy;
mod response_head;
mod upgrade;
mod upstream;

pub use access_log::LogFormat;
pub use proxy::{HttpProxy, HttpProxyConfig, ProxyBody};
