//! What a connection tells about the client behind each request on it: its address, and
//! whether it came over TLS. Servers put them in every request's extensions.

use std::net::SocketAddr;

/// The client's address, in every request's extensions (`req.extensions().get::<PeerAddr>()`,
/// or axum's `Extension<PeerAddr>`). It is the TCP peer (or the client a trusted proxy named
/// in its PROXY protocol header): behind an HTTP proxy, the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// Whether the request came over TLS, in every request's extensions (for Secure cookies,
/// HSTS, absolute URLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}
