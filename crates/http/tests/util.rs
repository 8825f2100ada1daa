//! Helpers: an app, a server on 127.0.0.1:0, raw HTTP/1 and hyper clients, TLS clients.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use switchboard_http::{ConnectionGauge, HttpServer, Limits, PeerAddr, Scheme};
use switchboard_testkit::{Running, Shutdown};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{timeout, Instant};

/// How long a single step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(5);

/// The test app: `/` says hello, `/whoami` reports what the transport told it, `/slow/{ms}`
/// signals `started` and then sleeps, `/big` answers 64 MiB (more than socket buffers hold).
pub fn app(started: Arc<Notify>) -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/big", get(|| async { vec![0u8; 64 << 20] }))
        .route(
            "/whoami",
            get(
                |Extension(PeerAddr(peer)): Extension<PeerAddr>,
                 Extension(scheme): Extension<Scheme>,
                 req: http::Request<axum::body::Body>| async move {
                    format!("{peer} {} {:?}", scheme.as_str(), req.version())
                },
            ),
        )
        .route(
            "/slow/{ms}",
            get(
                |State(started): State<Arc<Notify>>, Path(ms): Path<u64>| async move {
                    started.notify_one();
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "slept"
                },
            ),
        )
        .with_state(started)
}

/// A server running [`app`] in-process.
pub struct Server {
    pub running: Running,
    pub started: Arc<Notify>,
    pub gauge: ConnectionGauge,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }
}

/// Starts [`app`] on 127.0.0.1:0.
pub fn start(tls: Option<Arc<rustls::ServerConfig>>, limits: Limits) -> Server {
    let started = Arc::new(Notify::new());
    start_router(app(started.clone()), started, tls, limits)
}

/// Starts `router` on 127.0.0.1:0; `started` is what the router signals, if anything.
pub fn start_router(
    router: Router,
    started: Arc<Notify>,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
) -> Server {
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), tls, limits).unwrap();
    let addr = server.local_addr();
    let gauge = server.connections();
    let shutdown = Shutdown::new();
    let running = Running::spawn(addr, shutdown.clone(), server.serve(router, shutdown));
    Server {
        running,
        started,
        gauge,
    }
}

/// Limits with short timeouts, for tests that wait them out in real time.
pub fn quick_limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        grace: Duration::from_millis(300),
        ..Limits::default()
    }
}

/// A response read off a raw HTTP/1 connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends a GET on a raw connection and reads the response (Content-Length framed).
pub async fn raw_get<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, path: &str) -> RawResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    timeout(STEP, stream.write_all(request.as_bytes()))
        .await
        .expect("write in time")
        .expect("write");
    read_response(stream).await
}

/// Reads one Content-Length framed response.
pub async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> RawResponse {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = timeout(STEP, stream.read(&mut chunk))
            .await
            .expect("response in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed before a full response head: {buf:?}"
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let n = timeout(STEP, stream.read(&mut chunk))
            .await
            .expect("body in time")
            .expect("read");
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    RawResponse {
        status,
        head,
        body: String::from_utf8(body).unwrap(),
    }
}

/// Waits until the peer closes `stream` (EOF or reset) and returns how long that took.
/// Fails if it sends anything or stays open for `within`.
pub async fn closed_within<S: AsyncRead + Unpin>(stream: &mut S, within: Duration) -> Duration {
    let start = Instant::now();
    let mut byte = [0u8; 1];
    match timeout(within, stream.read(&mut byte)).await {
        Ok(Ok(0)) | Ok(Err(_)) => start.elapsed(),
        Ok(Ok(_)) => panic!("expected the connection to close, got data"),
        Err(_) => panic!("connection still open after {within:?}"),
    }
}

/// Waits until the peer closes `stream`, ignoring whatever it sends first (a TLS alert, say).
pub async fn eof_within<S: AsyncRead + Unpin>(stream: &mut S, within: Duration) {
    let mut sink = Vec::new();
    match timeout(within, stream.read_to_end(&mut sink)).await {
        Ok(_) => {}
        Err(_) => panic!("connection still open after {within:?}"),
    }
}

/// Waits until `gauge` shows `n` open connections.
pub async fn wait_for_open(gauge: &ConnectionGauge, n: usize) {
    let deadline = Instant::now() + STEP;
    while gauge.open() != n {
        assert!(
            Instant::now() < deadline,
            "{} connections open, expected {n}",
            gauge.open()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A connected raw TCP stream.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// A hyper client connection (HTTP/1.1 or HTTP/2) over any stream.
pub enum Client {
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Client {
    pub async fn http1<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S) -> Client {
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1 handshake");
        tokio::spawn(conn);
        Client::Http1(send)
    }

    pub async fn http2<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S) -> Client {
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("HTTP/2 handshake");
        tokio::spawn(conn);
        Client::Http2(send)
    }

    /// GETs `path`: status, version and body.
    pub async fn get(&mut self, path: &str) -> Result<(u16, http::Version, String), hyper::Error> {
        self.get_with(path, &[]).await
    }

    /// GETs `path` with extra headers.
    pub async fn get_with(
        &mut self,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<(u16, http::Version, String), hyper::Error> {
        let mut req = http::Request::get(format!("http://localhost{path}"));
        if let Client::Http1(_) = self {
            req = req.header("host", "localhost");
        }
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req.body(Empty::new()).unwrap();
        let response = timeout(STEP, async {
            match self {
                Client::Http1(send) => send.send_request(req).await,
                Client::Http2(send) => send.send_request(req).await,
            }
        })
        .await
        .expect("response in time")?;
        let status = response.status().as_u16();
        let version = response.version();
        let body = timeout(STEP, response.into_body().collect())
            .await
            .expect("body in time")?
            .to_bytes();
        Ok((status, version, String::from_utf8(body.to_vec()).unwrap()))
    }
}

/// A TLS connection to `addr` trusting `cert`, offering `alpn`.
pub async fn tls_connect(
    addr: SocketAddr,
    cert: &CertificateDer<'static>,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = connect(addr).await;
    timeout(
        STEP,
        connector.connect(ServerName::try_from("localhost").unwrap(), stream),
    )
    .await
    .expect("TLS handshake in time")
    .expect("TLS handshake")
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "switchboard-http-{name}-{}-{}",
            std::process::id(),
            fastrand_ish()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fastrand_ish() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
