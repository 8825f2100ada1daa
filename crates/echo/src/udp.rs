//! UDP: one datagram in, one datagram out. The same for every model: a UDP socket has no
//! connections to spread over tasks or threads, so one loop serves every client.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use switchboard_net::Shutdown;
use tokio::net::UdpSocket;

use crate::protocol::{datagram_reply, ERR_DATAGRAM_TOO_LARGE};
use crate::EchoConfig;

/// The largest UDP payload: 65,535 less the IP and UDP headers (IPv6's header is not counted in
/// its payload length).
fn max_payload(peer: SocketAddr) -> usize {
    if peer.is_ipv4() {
        65_507
    } else {
        65_527
    }
}

pub(crate) async fn serve(
    socket: std::net::UdpSocket,
    config: Arc<EchoConfig>,
    shutdown: Shutdown,
) -> io::Result<()> {
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(socket)?;
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::new();
    loop {
        let (n, peer) = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            r = socket.recv_from(&mut buf) => match r {
                Ok(got) => got,
                // An ICMP error from an earlier reply (the client went away) surfaces here on
                // some systems. It concerns that client only.
                Err(e) => {
                    tracing::debug!(error = %e, "UDP receive failed");
                    continue;
                }
            },
        };
        let reply: &[u8] = match &config.prefix {
            None => &buf[..n],
            Some(prefix) => {
                datagram_reply(Some(prefix), &buf[..n], &mut out);
                if out.len() > max_payload(peer) {
                    ERR_DATAGRAM_TOO_LARGE
                } else {
                    &out
                }
            }
        };
        tracing::debug!(%peer, bytes = n, "datagram");
        if let Err(e) = socket.send_to(reply, peer).await {
            tracing::debug!(%peer, error = %e, "UDP reply failed");
        }
    }
}
