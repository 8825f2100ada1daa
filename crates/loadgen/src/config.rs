//! What a run does, typed. The binary builds these from flags; nothing here reads them.

use std::net::SocketAddr;
use std::time::Duration;

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this long; requests still in flight then are abandoned, as wrk does.
    Duration(Duration),
    /// After this many requests (or round trips) in all, each answered or failed.
    Requests(u64),
}

/// A URL that cannot be benchmarked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("'{0}' is not a URL; try http://127.0.0.1:8080/")]
    Malformed(String),
    /// A scheme other than `http` and `https`.
    #[error("'{0}': only http:// and https:// URLs are supported")]
    Scheme(String),
}

/// Where HTTP requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    /// The URL as given, for reports.
    pub url: String,
    /// The host name or address, as written in the URL.
    pub host: String,
    /// The port (80, or 443 for https, when the URL names none).
    pub port: u16,
    /// `https`: every connection speaks TLS.
    pub tls: bool,
    /// The `Host` header's value: the URL's authority.
    pub authority: String,
    /// The path and query, `/` at least.
    pub path: String,
}

impl HttpTarget {
    /// Reads an `http://` URL.
    pub fn parse(url: &str) -> Result<HttpTarget, UrlError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| UrlError::Malformed(url.to_string()))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(_) => return Err(UrlError::Scheme(url.to_string())),
            None => return Err(UrlError::Malformed(url.to_string())),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| UrlError::Malformed(url.to_string()))?;
        if authority.as_str().contains('@') {
            return Err(UrlError::Malformed(url.to_string()));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(HttpTarget {
            url: url.to_string(),
            host,
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            tls,
            authority: authority.as_str().to_string(),
            path: switchboard_wire::encode::origin_form(&uri).into_owned(),
        })
    }
}

/// An HTTP benchmark.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The URL.
    pub target: HttpTarget,
    /// The resolved address requests go to.
    pub addr: SocketAddr,
    /// The request method (`GET`).
    pub method: String,
    /// Extra request headers, in order; a `Host` here replaces the URL's.
    pub headers: Vec<(String, String)>,
    /// The request body (empty for none).
    pub body: Vec<u8>,
    /// Connections kept open, each with one request in flight.
    pub connections: usize,
    /// Threads, each with its own runtime and share of the connections; at most `connections`.
    pub threads: usize,
    /// When the run ends.
    pub stop: Stop,
    /// Reuse connections (HTTP/1.1 keep-alive); without, every request gets a new connection.
    pub keepalive: bool,
    /// HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    pub http2: bool,
    /// A request (connecting included) not answered within this fails as a timeout.
    pub timeout: Duration,
    /// Requests per second in all (open model, latency from the schedule); `None`: as fast as
    /// the server answers (closed model).
    pub rate: Option<f64>,
    /// With https: certificates to trust, PEM (no system roots are loaded: a load generator
    /// is pointed at one's own servers).
    pub ca_pem: Option<Vec<u8>>,
    /// With https: accept any certificate (a self-signed development server).
    pub insecure: bool,
}

/// A message-server benchmark (`switchboard echo serve`, or any RFC 862 echo server).
#[derive(Clone, Debug)]
pub struct EchoConfig {
    /// The server.
    pub addr: SocketAddr,
    /// Connections (TCP) or sockets (UDP).
    pub connections: usize,
    /// Threads, each with its own runtime and share of the connections.
    pub threads: usize,
    /// When the run ends.
    pub stop: Stop,
    /// Bytes per message.
    pub size: usize,
    /// Messages in flight per TCP connection.
    pub pipeline: usize,
    /// UDP: one datagram per round trip.
    pub udp: bool,
    /// A round trip not completed within this is an error (a lost datagram, over UDP).
    pub timeout: Duration,
}

/// What the engine needs from either kind of run.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub connections: usize,
    pub threads: usize,
    pub stop: Stop,
    pub rate: Option<f64>,
}

impl HttpConfig {
    pub(crate) fn plan(&self) -> Plan {
        Plan {
            connections: self.connections,
            threads: self.threads,
            stop: self.stop,
            rate: self.rate,
        }
    }
}

impl EchoConfig {
    pub(crate) fn plan(&self) -> Plan {
        Plan {
            connections: self.connections,
            threads: self.threads,
            stop: self.stop,
            rate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = HttpTarget::parse("http://127.0.0.1:8080/add?a=1&b=2").unwrap();
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, 8080);
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path, "/add?a=1&b=2");
        let t = HttpTarget::parse("http://localhost").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        // A query with no path before it is sent as `/?a=1`, not `?a=1`.
        let t = HttpTarget::parse("http://localhost?a=1").unwrap();
        assert_eq!(t.path, "/?a=1");
        let t = HttpTarget::parse("http://[::1]:9/x").unwrap();
        assert_eq!(t.host, "::1");
        let t = HttpTarget::parse("https://x/").unwrap();
        assert_eq!((t.port, t.tls), (443, true));
        assert!(matches!(
            HttpTarget::parse("ftp://x/"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            HttpTarget::parse("127.0.0.1:80"),
            Err(UrlError::Malformed(_))
        ));
        assert!(HttpTarget::parse("nonsense words").is_err());
    }
}
