//! [`Limits`]: what one client may cost the server.

use std::time::Duration;

/// Bytes per second a request body must keep up, beyond [`Limits::body_read_timeout`]: each
/// this many bytes received earn the body one more second.
pub const MIN_BODY_RATE: u64 = 500;

/// Transport limits, the same for every Switchboard HTTP server.
///
/// A zero `header_read_timeout`, `body_read_timeout` or `idle_timeout` turns that limit off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long a client has to send complete request headers (slowloris protection). The
    /// first request's clock starts at the accept and covers the TLS handshake; on HTTP/1, a
    /// later request's clock starts at its first byte. A client past it is disconnected
    /// without a response. Default 10 s.
    pub header_read_timeout: Duration,
    /// How long a request body may take to arrive (HTTP/1), counted from when the service
    /// first waits for bytes the client has not sent, and extended by one second for every
    /// [`MIN_BODY_RATE`] bytes that came (Apache's `mod_reqtimeout` rule): a body trickled
    /// slowly fails with a timeout ([`BodyError::is_timeout`](crate::BodyError::is_timeout)),
    /// which the application answers 408, and the connection closes; an upload at any
    /// ordinary speed is not cut short. Default 10 s.
    pub body_read_timeout: Duration,
    /// The largest request head accepted: request line and headers on HTTP/1, the decoded
    /// header list on HTTP/2. Past it, HTTP/1 answers `431 Request Header Fields Too Large`
    /// and closes the connection; HTTP/2 answers 431 on that stream and refuses it, and the
    /// connection goes on. Default 16 KiB.
    pub max_header_bytes: usize,
    /// How long a keep-alive connection may sit with no request in flight before it is shut
    /// down gracefully. Default 60 s.
    pub idle_timeout: Duration,
    /// How many connections may be open at once; a connection past it is closed as soon as
    /// it is accepted. Default 10 000.
    pub max_connections: usize,
    /// On shutdown, how long requests in flight may take to finish before their connections
    /// are dropped. Default 10 s.
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            grace: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// The header-read timeout, or `None` when turned off.
    pub(crate) fn header_timeout(&self) -> Option<Duration> {
        Some(self.header_read_timeout).filter(|d| !d.is_zero())
    }

    /// The body-read timeout, or `None` when turned off.
    pub(crate) fn body_timeout(&self) -> Option<Duration> {
        Some(self.body_read_timeout).filter(|d| !d.is_zero())
    }

    /// The idle timeout, or `None` when turned off.
    pub(crate) fn idle(&self) -> Option<Duration> {
        Some(self.idle_timeout).filter(|d| !d.is_zero())
    }
}
