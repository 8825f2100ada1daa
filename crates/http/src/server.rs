//! [`HttpServer`]: binds, accepts, caps connections, and drains on shutdown.

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::{Request, Response};
use hyper::server::conn::http2;
use hyper_util::rt::TokioTimer;
use switchboard_net::{
    bind_tcp, BindError, ConnectionLimit, Shutdown, TaskTracker, DEFAULT_BACKLOG,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::conn::{self, Shared, TaskExecutor};
use crate::{Limits, RequestBody};

/// A bound HTTP server, ready to [`serve`](Self::serve).
///
/// Binding and serving are separate steps so that a caller learns the address (port 0 in
/// tests) and hears "address already in use" before anything starts.
#[derive(Debug)]
pub struct HttpServer {
    /// The listening socket, non-blocking; handed to tokio when serving starts.
    listener: StdTcpListener,
    local_addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    /// Every open connection holds one of its permits; [`ConnectionGauge`] reads it.
    connections: ConnectionLimit,
    /// Peers whose connections start with a PROXY protocol header.
    proxy_from: Vec<std::net::IpAddr>,
}

/// A live count of a server's open connections, for metrics. Cheap to clone; every clone sees
/// the same count, before, during and after [`HttpServer::serve`].
#[derive(Debug, Clone)]
pub struct ConnectionGauge(ConnectionLimit);

impl ConnectionGauge {
    /// Connections open now (accepted and not yet closed, TLS handshakes included).
    pub fn open(&self) -> usize {
        self.0.open()
    }

    /// The most that may be open at once (`Limits::max_connections`).
    pub fn max(&self) -> usize {
        self.0.max()
    }
}

impl HttpServer {
    /// Binds `addr` through [`switchboard_net::bind_tcp`], so that "address already in use"
    /// reads the same as for every other Switchboard server. With `tls`, every connection
    /// speaks TLS (see [`tls_config`](crate::tls_config)); without, plain HTTP/1.1 and h2c.
    pub fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        limits: Limits,
    ) -> Result<HttpServer, BindError> {
        let wrap = |source| BindError { addr, source };
        let listener = bind_tcp(addr, DEFAULT_BACKLOG)?;
        listener.set_nonblocking(true).map_err(wrap)?;
        let local_addr = listener.local_addr().map_err(wrap)?;
        Ok(HttpServer {
            listener,
            local_addr,
            tls,
            connections: ConnectionLimit::new(limits.max_connections),
            limits,
            proxy_from: Vec::new(),
        })
    }

    /// Connections from these peers open with a PROXY protocol header (version 1 or 2) that
    /// names the real client, which requests then carry as their [`PeerAddr`](crate::PeerAddr).
    /// From any other peer, no header is read: no one else can claim an address.
    pub fn with_proxy_protocol(mut self, trusted: Vec<std::net::IpAddr>) -> Self {
        self.proxy_from = trusted;
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether connections speak TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The limits the server runs with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A live count of open connections.
    pub fn connections(&self) -> ConnectionGauge {
        ConnectionGauge(self.connections.clone())
    }

    /// Serves `service` until `shutdown` is triggered, then stops accepting, lets requests in
    /// flight finish within `limits.grace`, drops what is left, and returns.
    ///
    /// `service` is cloned per connection (and, on HTTP/2, per request), so it should be cheap
    /// to clone; an `axum::Router` is. Each request's body is a [`RequestBody`]; its extensions
    /// carry [`PeerAddr`](crate::PeerAddr) and [`Scheme`](crate::Scheme), and, when it asks to
    /// switch protocols over HTTP/1, an [`OnUpgrade`](crate::upgrade::OnUpgrade).
    ///
    /// Errors only when the listener cannot be handed to tokio (no runtime's I/O driver);
    /// failures of single connections are logged at debug and do not end serving. Must be
    /// called inside a tokio runtime with I/O and time enabled.
    pub async fn serve<S, B>(self, service: S, shutdown: Shutdown) -> io::Result<()>
    where
        S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let HttpServer {
            listener,
            local_addr,
            tls,
            limits,
            connections,
            proxy_from,
        } = self;
        let listener = TcpListener::from_std(listener)?;
        let tracker = TaskTracker::new();
        // Connections are told to drain only once the listener is closed, so that a client a
        // `Connection: close` sends away finds no listener to be reset by, but a refusal.
        let drain = Shutdown::new();
        let cut = Shutdown::new();
        let grace = limits.grace;
        let shared = Arc::new(Shared {
            http2: http2_builder(
                &limits,
                TaskExecutor {
                    tracker: tracker.clone(),
                    cut: cut.clone(),
                },
            ),
            limits,
            tls: tls.map(TlsAcceptor::from),
            shutdown: drain.clone(),
            cut: cut.clone(),
            proxy_from,
        });
        tracing::debug!(addr = %local_addr, tls = shared.tls.is_some(), "HTTP server listening");

        let spawn = |stream: tokio::net::TcpStream, peer: SocketAddr| {
            let Some(permit) = connections.try_acquire() else {
                tracing::debug!(
                    %peer,
                    max = connections.max(),
                    "connection refused: too many open connections"
                );
                return;
            };
            tracker.spawn(conn::serve(
                stream,
                peer,
                shared.clone(),
                service.clone(),
                permit,
            ));
        };
        while let Some((stream, peer)) = switchboard_net::accept(&listener, &shutdown).await {
            spawn(stream, peer);
        }
        // Connections the kernel completed before the listener closes wait in its backlog;
        // closing it would reset them, though their clients have connected and may have sent
        // a request. They are taken and served like the rest.
        for _ in 0..DEFAULT_BACKLOG {
            let next = std::future::poll_fn(|cx| Poll::Ready(listener.poll_accept(cx))).await;
            match next {
                Poll::Ready(Ok((stream, peer))) => spawn(stream, peer),
                Poll::Ready(Err(_)) | Poll::Pending => break,
            }
        }
        drop(listener);
        drain.trigger();
        tracker.close();
        tracing::info!(
            open = connections.open(),
            grace = ?grace,
            "HTTP server draining"
        );
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::info!(
                open = connections.open(),
                "grace period over; closing the connections left"
            );
            cut.trigger();
            tracker.wait().await;
        }
        tracing::debug!(addr = %local_addr, "HTTP server stopped");
        Ok(())
    }
}

fn http2_builder(limits: &Limits, executor: TaskExecutor) -> http2::Builder<TaskExecutor> {
    let mut builder = http2::Builder::new(executor);
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}
