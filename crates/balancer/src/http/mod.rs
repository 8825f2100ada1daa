//! HTTP mode: [`HttpProxy`], the service the `switchboard-http` server runs in front of the
//! backends, and the pooled connections it sends through.
//!
//! The files depend on each other one way only, top to bottom:
//!
//! - `proxy.rs`: the service: smuggling checks, backend choice, one attempt after another
//!   until an answer, the answer relayed back. Uses everything below.
//! - `upgrade.rs`: `Upgrade` requests over a connection of their own (hyper's client, which
//!   hands the upgraded stream over with what it read past the 101; rare, and off the hot
//!   path, so not worth a second request writer here).
//! - `relay.rs`: the backend's answer streamed to the client, its connection given back.
//! - `retry.rs`: what follows a failed attempt (resend, replay or fail), and the retry budget.
//! - `sticky.rs`: the cookie that pins a client to a backend.
//! - `answer.rs`: the proxy's own JSON answers, and the status for each kind of failure.
//! - `upstream.rs`: the idle connections, pooled per backend.
//! - `client.rs`: the HTTP/1.1 client for backends, run inline in the proxying task (no task
//!   or channel per connection; why it is not hyper's is said there), and its [`Failure`]
//!   type that says who failed.
//! - `response_head.rs`: a backend's response head parsed and its framing decided, by
//!   `switchboard-wire`'s rules (the server's and the load generator's too).
//! - `headers.rs`: a request head rewritten for a backend (hop-by-hop out, forwarding in), and
//!   its framing fields checked by `switchboard-wire`'s rules whichever protocol it came by.
//! - `config.rs`: [`HttpProxyConfig`]. `access_log.rs`: the access log.
//!
//! [`Failure`]: client::Failure

mod access_log;
mod answer;
mod client;
mod config;
mod headers;
mod proxy;
mod relay;
mod response_head;
mod retry;
mod sticky;
mod upgrade;
mod upstream;

pub use access_log::LogFormat;
pub use answer::ProxyBody;
pub use config::HttpProxyConfig;
pub use proxy::HttpProxy;
