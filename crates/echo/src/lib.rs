//! The message server and client: TCP and UDP echo on raw sockets.
//!
//! # Layout
//!
//! - [`protocol`]: the protocol as a state machine, bytes in and bytes out, no I/O. A
//!   [`Session`] is one client's conversation: raw echo (RFC 862), or lines answered after a
//!   prefix.
//! - [`EchoServer`] (`server.rs`): binds TCP and UDP on one port and runs one of three
//!   concurrency [`Model`]s until a [`Shutdown`](switchboard_net::Shutdown) signal, then drains.
//! - `model_async.rs`: a tokio task per client. `model_blocking.rs`: an OS thread per client
//!   (`threaded`), or one client at a time (`sequential`). The models only move bytes between a
//!   socket and a [`Session`]; none knows the protocol's rules.
//! - `udp.rs`: one loop answering datagrams, the same under every model.
//! - [`client`]: `switchboard echo send`, over TCP or UDP.
//! - `fuzzing` (hidden): the framing's properties, for the fuzz target and the tests.
//!
//! [`EchoConfig`] is the typed configuration; the binary builds it from flags.
#![forbid(unsafe_code)]

pub mod client;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod model_async;
mod model_blocking;
pub mod protocol;
mod server;
mod udp;

pub use config::{EchoConfig, Model};
pub use protocol::Session;
pub use server::EchoServer;
