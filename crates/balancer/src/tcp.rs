//! TCP mode: a byte-level proxy. Each client connection is given to a backend chosen by the
//! strategy and copied both ways until either side closes. The backend stays leased for the
//! connection's life, so least-connections counts open connections here. A backend that
//! refuses is ejected for the back-off and the next choice is tried; when none is healthy,
//! the client is closed at once.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_net::{Shutdown, TaskTracker};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use crate::{Outcome, PickContext, Pool};

/// TCP mode's settings.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// A backend that does not accept within this is treated as refusing.
    pub connect_timeout: Duration,
    /// How long a refusing backend gets no traffic.
    pub eject_for: Duration,
    /// After shutdown, how long open connections may go on.
    pub grace: Duration,
    /// Peers whose connections open with a PROXY protocol header naming the real client.
    pub proxy_from: Vec<std::net::IpAddr>,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            connect_timeout: Duration::from_secs(2),
            eject_for: Duration::from_secs(5),
            grace: Duration::from_secs(10),
            proxy_from: Vec::new(),
        }
    }
}

/// Proxies connections accepted on `listener` to `pool`'s backends until `shutdown`, then
/// lets open connections go on for the grace period.
pub async fn serve(
    listener: std::net::TcpListener,
    pool: Arc<Pool>,
    config: TcpConfig,
    shutdown: Shutdown,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let tracker = TaskTracker::new();
    let cut = Shutdown::new();
    while let Some((client, peer)) = switchboard_net::accept(&listener, &shutdown).await {
        let (pool, config, cut) = (pool.clone(), config.clone(), cut.clone());
        tracker.spawn(async move {
            tokio::select! {
                _ = proxy(client, peer, &pool, &config) => {}
                _ = cut.wait() => {}
            }
        });
    }
    drop(listener);
    tracker.close();
    if timeout(config.grace, tracker.wait()).await.is_err() {
        cut.trigger();
        tracker.wait().await;
    }
    Ok(())
}

async fn proxy(mut client: TcpStream, mut peer: SocketAddr, pool: &Pool, config: &TcpConfig) {
    let _ = client.set_nodelay(true);
    if config.proxy_from.contains(&peer.ip()) {
        let header = switchboard_net::read_proxy_header(&mut client);
        match timeout(config.connect_timeout, header).await {
            Ok(Ok(Some(real))) => peer = real,
            Ok(Ok(None)) => {}
            _ => {
                tracing::debug!(%peer, "no valid PROXY header from a trusted proxy; closing");
                return;
            }
        }
    }
    let ctx = PickContext {
        client: Some(peer.ip()),
    };
    // Each backend is tried at most once: a refusal ejects it, so the next pick avoids it.
    for _ in 0..pool.len() {
        let Some(backend) = pool.pick(&ctx) else {
            break;
        };
        let lease = backend.lease();
        match timeout(config.connect_timeout, TcpStream::connect(&backend.addr)).await {
            Ok(Ok(mut upstream)) => {
                let _ = upstream.set_nodelay(true);
                let copied = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                tracing::debug!(%peer, backend = %backend.addr, ?copied, "TCP connection closed");
                lease.finish(Outcome::Answered);
                return;
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(backend = %backend.addr, "backend refused; ejected");
                backend.eject(config.eject_for);
                lease.finish(Outcome::Failed);
            }
        }
    }
    // No backend: close at once.
    tracing::debug!(%peer, "no healthy backend; closing");
}
