//! What every Switchboard server shares, written once.
//!
//! Each server (the message server, the HTTP application server, the balancer) needs the same
//! handful of things around its protocol code, and gets them here:
//!
//! - [`bind_tcp`] and [`bind_udp`] open listening sockets with a real accept backlog and turn the
//!   operating system's error into a [`BindError`] a person can act on ("address already in
//!   use").
//! - [`resolve`] turns `HOST:PORT` into socket addresses, with a [`ResolveError`] that names the
//!   host.
//! - [`ConnectionLimit`] caps how many connections are open at once; a [`ConnectionPermit`] is
//!   held for a connection's lifetime and gives its slot back when dropped, from a task or from
//!   an OS thread alike.
//! - [`Shutdown`] is the one shutdown signal a server watches: triggered by SIGINT/SIGTERM
//!   ([`Shutdown::on_signals`]) or by a test. It is a cancellation token, so async code awaits
//!   it and blocking code polls it.
//! - [`read_proxy_header`] reads the PROXY protocol's header (versions 1 and 2), by which a
//!   trusted proxy in front says who its client is.
//! - [`accept`] is every server's accept loop step: the next connection, or `None` at
//!   shutdown, shrugging off errors about one connection and pausing on the others.
//! - [`PeerAddr`] and [`Scheme`]: who a request's client is and whether it came over TLS, as
//!   servers stamp them on requests (here, so that code reading them needs no server).
//! - [`FileRegion`]: a response body that is part of an open file, which a server may send
//!   with `sendfile(2)` instead of reading it (here, so that the application needs no server).
#![forbid(unsafe_code)]

mod file;
mod limit;
mod listen;
mod peer;
mod proxy_protocol;
mod shutdown;

pub use file::FileRegion;
pub use limit::{ConnectionLimit, ConnectionPermit};
pub use listen::{
    accept, bind_tcp, bind_udp, is_transient_accept_error, resolve, BindError, ResolveError,
    DEFAULT_BACKLOG, UNSENT_LOW_WATER,
};
pub use peer::{PeerAddr, Scheme};
pub use proxy_protocol::read_proxy_header;
pub use shutdown::Shutdown;
pub use tokio_util::task::TaskTracker;
