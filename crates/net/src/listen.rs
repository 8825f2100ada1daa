//! Opening listening sockets, and saying clearly why one could not be opened.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// The accept backlog every listener asks for. The kernel caps it at `net.core.somaxconn`.
/// A deep backlog matters for the sequential model, whose waiting clients sit there.
pub const DEFAULT_BACKLOG: i32 = 4096;

/// How many bytes written to a connection may wait in the kernel, not yet sent, before a write
/// waits (`TCP_NOTSENT_LOWAT`). Without it the kernel takes as much as its send buffer grows
/// to (4 MiB by default) for a client that reads nothing: 1,000 clients asking for a 1 MiB file
/// and never reading it held 1.4 GiB of the kernel's TCP memory, close to where it throttles
/// every connection on the machine. Bytes in flight to a client that does read are not
/// counted, so a fast client on a long path is not slowed.
pub const UNSENT_LOW_WATER: u32 = 128 * 1024;

/// A listening socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {}", describe(.source))]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// The operating system's error.
    #[source]
    pub source: io::Error,
}

/// A `HOST:PORT` could not be turned into an address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Not of the form `HOST:PORT`.
    #[error("'{0}' is not HOST:PORT (for example 127.0.0.1:7007 or localhost:7007)")]
    Malformed(String),
    /// The host name did not resolve.
    #[error("cannot resolve host '{host}': {reason}")]
    Unresolved {
        /// The host part.
        host: String,
        /// What the resolver said.
        reason: String,
    },
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => {
            "address already in use (is another server running there?)".into()
        }
        io::ErrorKind::AddrNotAvailable => "address not available on this machine".into(),
        io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges)".into()
        }
        _ => e.to_string(),
    }
}

/// Binds a TCP listener on `addr` with `SO_REUSEADDR` (so a restarted server can take its port
/// back while old connections sit in TIME_WAIT), [`UNSENT_LOW_WATER`] (which the connections
/// it accepts inherit) and the given backlog. The socket is blocking; async callers set it
/// non-blocking before handing it to tokio.
pub fn bind_tcp(addr: SocketAddr, backlog: i32) -> Result<TcpListener, BindError> {
    let wrap = |source| BindError { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(wrap)?;
    #[cfg(unix)]
    socket.set_reuse_address(true).map_err(wrap)?;
    if addr.is_ipv6() {
        // `[::]` means IPv6 only; ask for `0.0.0.0` separately. Same on every OS.
        socket.set_only_v6(true).map_err(wrap)?;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket
        .set_tcp_notsent_lowat(UNSENT_LOW_WATER)
        .map_err(wrap)?;
    socket.bind(&addr.into()).map_err(wrap)?;
    socket.listen(backlog).map_err(wrap)?;
    Ok(socket.into())
}

/// Binds a UDP socket on `addr`.
pub fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, BindError> {
    let wrap = |source| BindError { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(wrap)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(wrap)?;
    }
    socket.bind(&addr.into()).map_err(wrap)?;
    Ok(socket.into())
}

/// Resolves `HOST:PORT` (a name, an IPv4 address, or a bracketed IPv6 address) to its
/// addresses, in the resolver's order.
pub async fn resolve(host_port: &str) -> Result<Vec<SocketAddr>, ResolveError> {
    if let Ok(addr) = host_port.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let Some((host, port)) = host_port.rsplit_once(':') else {
        return Err(ResolveError::Malformed(host_port.into()));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(ResolveError::Malformed(host_port.into()));
    }
    let unresolved = |reason: String| ResolveError::Unresolved {
        host: host.trim_matches(['[', ']']).into(),
        reason,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(host_port)
        .await
        .map_err(|e| unresolved(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(unresolved("no addresses found".into()));
    }
    Ok(addrs)
}

/// Whether an `accept()` error concerns only the one connection being accepted (it was reset
/// before we took it, say), so the loop should carry on at once. Other errors (out of file
/// descriptors, out of memory) call for a short pause before trying again.
pub fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// How long an accept loop pauses after an error that is not about one connection.
const ACCEPT_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// The next connection on `listener`, or `None` once `shutdown` is triggered. Errors that
/// concern only the connection being accepted are skipped; others (out of file descriptors,
/// out of memory) pause the loop briefly instead of spinning. Every server's accept loop.
pub async fn accept(
    listener: &tokio::net::TcpListener,
    shutdown: &crate::Shutdown,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.wait() => return None,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok(accepted) => return Some(accepted),
            Err(e) if is_transient_accept_error(&e) => {
                tracing::debug!(error = %e, "accept failed; going on");
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; pausing");
                tokio::select! {
                    () = shutdown.wait() => return None,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_in_use_says_so() {
        let first = bind_tcp("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = first.local_addr().unwrap();
        let err = bind_tcp(addr, 16).unwrap_err();
        assert_eq!(err.source.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(
            err.to_string(),
            format!("cannot listen on {addr}: address already in use (is another server running there?)")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn accepted_connections_keep_little_unsent() {
        let listener = bind_tcp("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let lowat = socket2::SockRef::from(&accepted)
            .tcp_notsent_lowat()
            .unwrap();
        assert_eq!(lowat, UNSENT_LOW_WATER);
    }

    #[tokio::test]
    async fn resolve_checks_its_input() {
        assert_eq!(
            resolve("127.0.0.1:80").await.unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
        assert_eq!(
            resolve("[::1]:80").await.unwrap(),
            vec!["[::1]:80".parse().unwrap()]
        );
        assert!(matches!(
            resolve("localhost").await,
            Err(ResolveError::Malformed(_))
        ));
        assert!(matches!(
            resolve("localhost:http").await,
            Err(ResolveError::Malformed(_))
        ));
        let err = resolve("no-such-host.invalid:7").await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot resolve host 'no-such-host.invalid'"),
            "{err}"
        );
    }
}
