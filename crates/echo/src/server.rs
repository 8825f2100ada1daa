//! [`EchoServer`]: binds TCP and UDP on one port, then runs the chosen model until shutdown.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;

use switchboard_net::{bind_tcp, bind_udp, BindError, Shutdown, DEFAULT_BACKLOG};

use crate::{model_async, model_blocking, udp, EchoConfig, Model};

/// A bound message server, ready to [`run`](Self::run).
///
/// Binding and running are separate steps so that a caller (a test, `switchboard up`) can learn
/// the address before the first client arrives, and so that "address already in use" is
/// reported before anything starts.
#[derive(Debug)]
pub struct EchoServer {
    tcp: TcpListener,
    udp: Option<UdpSocket>,
    local_addr: SocketAddr,
    config: Arc<EchoConfig>,
}

impl EchoServer {
    /// Binds TCP on `addr` and, when `config.udp` is set, UDP on the same address and port.
    /// With port 0 the system picks a port free for both.
    pub fn bind(addr: SocketAddr, config: EchoConfig) -> Result<Self, BindError> {
        // With port 0, the port the system gives TCP may be taken for UDP; try a few.
        let attempts = if addr.port() == 0 && config.udp {
            16
        } else {
            1
        };
        let mut last_error = None;
        for _ in 0..attempts {
            let tcp = bind_tcp(addr, DEFAULT_BACKLOG)?;
            let local_addr = tcp
                .local_addr()
                .map_err(|source| BindError { addr, source })?;
            let udp = if config.udp {
                match bind_udp(local_addr) {
                    Ok(socket) => Some(socket),
                    Err(e) => {
                        last_error = Some(e);
                        continue;
                    }
                }
            } else {
                None
            };
            return Ok(EchoServer {
                tcp,
                udp,
                local_addr,
                config: Arc::new(config),
            });
        }
        Err(last_error.expect("at least one attempt was made"))
    }

    /// The address clients reach the server on (TCP, and UDP when enabled).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &EchoConfig {
        &self.config
    }

    /// Serves until `shutdown` is triggered, then stops accepting, lets open conversations go
    /// on for the grace period, closes whatever is still open, and returns.
    ///
    /// Must be called inside a tokio runtime (the blocking models use it only to wait).
    pub async fn run(self, shutdown: Shutdown) -> io::Result<()> {
        let EchoServer {
            tcp,
            udp,
            local_addr,
            config,
        } = self;
        tracing::info!(
            addr = %local_addr,
            model = %config.model,
            udp = udp.is_some(),
            "message server listening"
        );
        let udp_task =
            udp.map(|socket| tokio::spawn(udp::serve(socket, config.clone(), shutdown.clone())));
        let tcp_result = match config.model {
            Model::Async => model_async::serve(tcp, config, shutdown).await,
            Model::Threaded | Model::Sequential => {
                model_blocking::serve(tcp, config, shutdown).await
            }
        };
        if let Some(task) = udp_task {
            match task.await {
                Ok(result) => result?,
                Err(e) => return Err(io::Error::other(format!("UDP task failed: {e}"))),
            }
        }
        tcp_result?;
        tracing::info!(addr = %local_addr, "message server stopped");
        Ok(())
    }
}

/// Why a conversation ended, for the connection log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    ClientClosed,
    IdleTimeout,
    LineTooLong,
    Shutdown,
    Error,
}

impl Ending {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Ending::ClientClosed => "client closed",
            Ending::IdleTimeout => "idle timeout",
            Ending::LineTooLong => "line too long",
            Ending::Shutdown => "server shutdown",
            Ending::Error => "error",
        }
    }
}

/// Byte counts of one conversation, logged when it ends.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

pub(crate) fn log_opened(peer: SocketAddr) {
    tracing::info!(%peer, "connection opened");
}

pub(crate) fn log_closed(
    peer: SocketAddr,
    counts: Counts,
    ending: Ending,
    error: Option<&io::Error>,
) {
    match error {
        Some(e) => tracing::info!(
            %peer,
            bytes_in = counts.bytes_in,
            bytes_out = counts.bytes_out,
            reason = ending.as_str(),
            error = %e,
            "connection closed"
        ),
        None => tracing::info!(
            %peer,
            bytes_in = counts.bytes_in,
            bytes_out = counts.bytes_out,
            reason = ending.as_str(),
            "connection closed"
        ),
    }
}

/// The size of a conversation's read buffer.
pub(crate) const READ_BUFFER: usize = 16 * 1024;
