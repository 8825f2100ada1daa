//! How every Switchboard HTTP server accepts connections and speaks HTTP.
//!
//! The application server and the load balancer both serve HTTP/1.1 (with keep-alive), HTTP/2
//! over TLS (chosen by ALPN) and HTTP/2 with prior knowledge on plain TCP (h2c), under the same
//! limits and the same shutdown. That is written once, here; a server brings only its
//! [`Service`](tower_service::Service) over `Request<`[`RequestBody`]`>` (an `axum::Router`
//! works as it is).
//!
//! # Layout
//!
//! - [`Limits`] (`limits.rs`): the transport limits: header-read timeout (slowloris),
//!   body-read timeout with a minimum rate, header size, keep-alive idle timeout, connection
//!   cap, shutdown grace.
//! - [`Tls`] and [`tls_config`] (`tls.rs`): a rustls `ServerConfig` (ring, ALPN `h2` and
//!   `http/1.1`) from PEM files or a fresh self-signed certificate, with [`TlsError`]s that
//!   read as one line ("certificate and key do not match").
//! - [`HttpServer`] (`server.rs`): binds through [`switchboard_net::bind_tcp`], accepts, caps
//!   connections with a [`ConnectionLimit`](switchboard_net::ConnectionLimit) (seen from
//!   outside as a [`ConnectionGauge`]), and drains on [`Shutdown`](switchboard_net::Shutdown).
//! - [`RequestBody`] (`body.rs`): the body every service receives, over either protocol: an
//!   `http_body::Body` of `Bytes`, failing with a [`BodyError`].
//! - `h1/`: HTTP/1.1, this crate's own codec (the connection loop and response encoding;
//!   request heads and bodies read by `switchboard-wire`, the workspace's one set of HTTP/1
//!   rules); see its overview for why it is not hyper's. [`upgrade`]: a request that asks to switch protocols carries an
//!   [`OnUpgrade`](upgrade::OnUpgrade) that yields the connection's stream once a 101 is
//!   written.
//! - [`origin`]: `switchboard-wire`'s, re-exported: whether a request is cross-site, whether
//!   the host it names could be a rebound DNS name.
//! - `conn.rs`: one connection's life: TLS handshake, protocol detection, the HTTP/1 codec or
//!   hyper's HTTP/2 connection, and the timers that end it.
//! - `activity.rs`: what a connection is doing (requests in flight, when the last response
//!   ended, when the next request's first byte came) and the verdict of its timers.
//! - `io.rs`: an HTTP/2 connection's byte stream as hyper sees it: the bytes read during
//!   protocol detection replayed first, and every byte counted as progress.
//! - `service.rs`: the HTTP/2 wrapper around the caller's service: it inserts [`PeerAddr`]
//!   and [`Scheme`] (`switchboard-net`'s) into each request's extensions and counts requests
//!   in flight (the HTTP/1 codec does both itself).
//!
//! # How a connection flows
//!
//! 1. The accept loop takes a connection, or closes it at once when `max_connections` are
//!    open. It sets `TCP_NODELAY` and spawns a task that holds the connection's permit.
//! 2. With TLS, the handshake runs; ALPN says `h2` or `http/1.1`. Without ALPN (plain TCP),
//!    the first bytes decide: the HTTP/2 preface means h2c, anything else HTTP/1.
//! 3. The HTTP/1 codec or hyper's HTTP/2 server drives the connection. Each request is
//!    stamped and counted in flight until its response body has been sent (or dropped).
//! 4. The connection task watches three clocks: the first request must arrive (TLS handshake
//!    and headers included) within `header_read_timeout` of the accept; on HTTP/1, a later
//!    request's headers must be complete within `header_read_timeout` of its first byte;
//!    with no request in flight for `idle_timeout` since the last response ended (and no
//!    HTTP/1 request begun), the connection is shut down gracefully. A response being sent
//!    must make progress: when no byte moves either way for an idle period while one is (a
//!    client that never reads, an HTTP/2 window held at zero), or a graceful close has not
//!    finished an idle period after it was asked for, the connection is dropped. The timer
//!    and the shutdown signals wake the task through a waker of their own that records it,
//!    so the wake-up every request causes polls the connection alone.
//! 5. On shutdown the listener closes at once; every connection is asked to shut down
//!    gracefully (HTTP/1 closes when idle or after the response in progress; HTTP/2 sends
//!    GOAWAY and finishes its open streams); after `grace`, whatever is left is dropped.
//!
//! Why the clocks are ours and not hyper's: hyper's HTTP/1 `header_read_timeout` also runs
//! while a keep-alive connection waits for its next request, so it would close idle
//! connections after the header timeout rather than the idle one; and hyper-util's `auto`
//! builder neither says which protocol it chose nor exposes HTTP/1's `max_header_size`. So
//! this crate detects the protocol itself (ALPN, or the h2 preface) and runs hyper's HTTP/2
//! server directly.
//!
//! Why HTTP/1 is ours and not hyper's: hyper's HTTP/1 connection keeps an 8 KiB read and an
//! 8 KiB write buffer for its whole life; 10,000 idle keep-alive connections cost the
//! application server 220 MiB (nginx: 5 MiB). The codec in `h1/` holds no buffer while a
//! connection waits, and writes a small response (head and body) in one write.
//!
//! HTTP/1 connections accept upgrades: a service that answers 101 to a request carrying an
//! [`OnUpgrade`](upgrade::OnUpgrade) takes the connection over (the balancer's WebSocket
//! pass-through); from then on it is the service's, outside the connection cap and the drain.
//!
//! # Invariants
//!
//! - One connection's failure (a bad handshake, a protocol error, a reset) is logged at debug
//!   and never touches another connection or the accept loop.
//! - Every task this crate spawns (connections, HTTP/2 streams) is tracked, so
//!   [`HttpServer::serve`] returns only when all of them are gone, and no later than `grace`
//!   after shutdown (plus the moment it takes to drop them).
//! - No per-request logging here: the application does that.
//! - Time comes from tokio's clock.
#![forbid(unsafe_code)]

mod activity;
mod body;
mod conn;
mod h1;
mod io;
mod limits;
pub use switchboard_wire::origin;
mod server;
mod service;
mod tls;
mod transport;
pub mod upgrade;

pub use body::{BodyError, RequestBody};
pub use limits::{Limits, MIN_BODY_RATE};
pub use server::{ConnectionGauge, HttpServer};
/// Re-exported from `switchboard-net`, where code that reads them without a server finds them.
pub use switchboard_net::{PeerAddr, Scheme};
pub use tls::{tls_config, tls_config_with_cert, Tls, TlsError};
