//! A minimal HTTP/1.1 client, written for measuring.
//!
//! Why not hyper's client: the measuring instrument must cost less than the server it
//! measures, or the figure is the client's. A general client allocates per request (a
//! `Request`, a `HeaderMap`, a body channel) and parses every header into owned values. Here
//! the request's bytes are made once and written as they are; the response head is parsed in
//! place by `switchboard-wire`'s rules, the ones the balancer reads its backends with (no
//! allocation: only the fields that frame the body are given a meaning), and the body is
//! counted and discarded through its decoder: Content-Length, chunked, or up to the close.
//! Connections are reused (keep-alive) and reopened when the server closes them.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use switchboard_wire::request::Framing;
use switchboard_wire::response::{self, Asked};
use switchboard_wire::{encode, Decoder, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::HttpConfig;
use crate::engine::Ctx;
use crate::stats::ErrorKind;

/// Buffer for responses; a response head must fit.
const BUF: usize = 64 * 1024;

/// What every connection of a run shares: the request, made once; TLS settings.
pub(crate) struct Shared {
    pub config: HttpConfig,
    /// The whole request, head and body, as sent.
    request: Vec<u8>,
    /// HEAD requests have no response body, whatever Content-Length says.
    head: bool,
    /// With https: the connector and the name the certificate must carry.
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Shared {
    /// The request's bytes and the TLS settings; fails on TLS settings that cannot work.
    pub fn new(config: &HttpConfig) -> Result<Shared, String> {
        let mut r = Vec::with_capacity(256 + config.body.len());
        encode::request_line(
            &mut r,
            config.method.as_bytes(),
            config.target.path.as_bytes(),
            http::Version::HTTP_11,
        );
        let has = |name: &str| {
            config
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        if !has("host") {
            encode::field(&mut r, b"Host", config.target.authority.as_bytes());
        }
        for (name, value) in &config.headers {
            encode::field(&mut r, name.as_bytes(), value.as_bytes());
        }
        let wants_length =
            !config.body.is_empty() || matches!(config.method.as_str(), "POST" | "PUT" | "PATCH");
        if wants_length && !has("content-length") {
            encode::framing(&mut r, Framing::Length(config.body.len() as u64));
        }
        if !config.keepalive && !has("connection") {
            encode::field(&mut r, b"Connection", b"close");
        }
        r.extend_from_slice(b"\r\n");
        r.extend_from_slice(&config.body);
        let tls = if config.target.tls {
            let alpn: &[u8] = if config.http2 { b"h2" } else { b"http/1.1" };
            let client =
                crate::tls::client_config(config.ca_pem.as_deref(), config.insecure, alpn)?;
            let name = crate::tls::server_name(&config.target.host)?;
            Some((TlsConnector::from(client), name))
        } else {
            None
        };
        Ok(Shared {
            config: config.clone(),
            request: r,
            head: config.method.eq_ignore_ascii_case("HEAD"),
            tls,
        })
    }

    /// Opens a connection: TCP with Nagle off, then the TLS handshake for https.
    pub async fn open(&self) -> std::io::Result<Stream> {
        let tcp = TcpStream::connect(self.config.addr).await?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await?;
                Ok(Stream::Tls(Box::new(tls)))
            }
        }
    }
}

/// A connection's byte stream: plain TCP, or TLS over it.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }

    async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(buf).await,
            Stream::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
        }
    }
}

/// One connection's life: requests one at a time until the run ends, reconnecting when the
/// server closes.
pub(crate) async fn connection(mut ctx: Ctx, shared: Arc<Shared>) {
    let timeout = shared.config.timeout;
    let mut conn: Option<Conn> = None;
    let mut ever_connected = false;
    let sleep = tokio::time::sleep(timeout);
    tokio::pin!(sleep);
    while let Some(due) = ctx.next().await {
        let limit = Instant::now() + timeout;
        if conn.is_none() {
            let connect = tokio::time::timeout_at(limit, shared.open())
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
            match connect {
                Ok(stream) => {
                    ctx.connected();
                    ever_connected = true;
                    conn = Some(Conn::new(stream));
                }
                Err(e) => {
                    ctx.connect_error(&e);
                    if !ever_connected {
                        // A connection that never opened gives up: a server that is not
                        // there ends the run at once.
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        let result = {
            let exchange = c.exchange(&shared.request, shared.head);
            tokio::pin!(exchange);
            // The timer is not moved for every request (that costs a trip through the timer
            // wheel): when it fires early, for a request that started later, it is pushed
            // back.
            loop {
                tokio::select! {
                    biased;
                    r = &mut exchange => break r,
                    () = &mut sleep => {
                        if Instant::now() >= limit {
                            break Err(ErrorKind::Timeout);
                        }
                        sleep.as_mut().reset(limit);
                    }
                }
            }
        };
        ctx.bytes(std::mem::take(&mut c.bytes));
        match result {
            Ok((status, keep_alive)) => {
                ctx.done(due, Some(status));
                if !keep_alive || !shared.config.keepalive {
                    conn = None;
                }
            }
            Err(kind) => {
                ctx.error(kind);
                conn = None;
            }
        }
    }
}

/// An open connection and its read buffer.
struct Conn {
    stream: Stream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Bytes read since the caller last took them.
    bytes: u64,
}

impl Conn {
    fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            buf: vec![0; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            bytes: 0,
        }
    }

    /// Sends the request and reads the whole response; returns its status and whether the
    /// connection may be reused.
    async fn exchange(&mut self, request: &[u8], head: bool) -> Result<(u16, bool), ErrorKind> {
        if self.start != self.end {
            // Bytes nobody asked for: the previous response was longer than it said.
            return Err(ErrorKind::Protocol);
        }
        self.stream
            .write_all(request)
            .await
            .map_err(|_| ErrorKind::Write)?;
        let status = self.read_head(head).await?;
        let code = status.code.as_u16();
        let Some(mut body) = Decoder::for_response(status.framing) else {
            // Until the close.
            self.start = self.end;
            while self.fill().await? > 0 {
                self.start = self.end;
            }
            return Ok((code, false));
        };
        self.skip(&mut body).await?;
        Ok((code, status.keep_alive))
    }

    /// Reads a response head (interim 1xx answers skipped), in place: nothing is copied.
    async fn read_head(&mut self, head: bool) -> Result<response::Status, ErrorKind> {
        let asked = Asked {
            head,
            upgrade: false,
        };
        loop {
            if self.end > self.start {
                match response::parse_status(&self.buf[self.start..self.end], asked, BUF) {
                    Ok(Some(status)) => {
                        self.start += status.len;
                        if !status.is_interim() {
                            return Ok(status);
                        }
                        // An interim answer (100 Continue): the real one follows.
                        continue;
                    }
                    Ok(None) => {}
                    Err(_) => return Err(ErrorKind::Protocol),
                }
            }
            if self.fill().await? == 0 {
                return Err(ErrorKind::Read);
            }
        }
    }

    /// Reads more into the buffer; returns how many bytes came (0: the server closed).
    async fn fill(&mut self) -> Result<usize, ErrorKind> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start == 0 {
                return Err(ErrorKind::Protocol); // a head larger than the buffer
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self
            .stream
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|_| ErrorKind::Read)?;
        self.end += n;
        self.bytes += n as u64;
        Ok(n)
    }

    /// Reads a body through `body`'s framing and discards it.
    async fn skip(&mut self, body: &mut Decoder) -> Result<(), ErrorKind> {
        loop {
            let step = body
                .decode_slice(&self.buf[self.start..self.end])
                .map_err(|_| ErrorKind::Protocol)?;
            match step {
                Step::Data { skip, len } => self.start += skip + len,
                Step::Done { used } => {
                    self.start += used;
                    return Ok(());
                }
                Step::NeedMore { used } => {
                    self.start += used;
                    if self.fill().await? == 0 {
                        return Err(ErrorKind::Read);
                    }
                }
            }
        }
    }
}
