//! A minimal HTTP/1.1 client, written for measuring.
//!
//! Why not hyper's client: the measuring instrument must cost less than the server it
//! measures, or the figure is the client's. A general client allocates per request (a
//! `Request`, a `HeaderMap`, a body channel) and parses every header into owned values. Here
//! the request's bytes are made once and written as they are; the response head is parsed in
//! place with `httparse` (no allocation), only the headers that frame the body are looked at,
//! and the body is counted and discarded: Content-Length, chunked, or up to the close.
//! Connections are reused (keep-alive) and reopened when the server closes them.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
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
        r.extend_from_slice(config.method.as_bytes());
        r.push(b' ');
        r.extend_from_slice(config.target.path.as_bytes());
        r.extend_from_slice(b" HTTP/1.1\r\n");
        let has = |name: &str| {
            config
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        if !has("host") {
            r.extend_from_slice(b"Host: ");
            r.extend_from_slice(config.target.authority.as_bytes());
            r.extend_from_slice(b"\r\n");
        }
        for (name, value) in &config.headers {
            r.extend_from_slice(name.as_bytes());
            r.extend_from_slice(b": ");
            r.extend_from_slice(value.as_bytes());
            r.extend_from_slice(b"\r\n");
        }
        let wants_length =
            !config.body.is_empty() || matches!(config.method.as_str(), "POST" | "PUT" | "PATCH");
        if wants_length && !has("content-length") {
            r.extend_from_slice(format!("Content-Length: {}\r\n", config.body.len()).as_bytes());
        }
        if !config.keepalive && !has("connection") {
            r.extend_from_slice(b"Connection: close\r\n");
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

/// How a response's body is framed.
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
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
        let (status, framing, keep_alive) = self.read_head(head).await?;
        match framing {
            Framing::None => {}
            Framing::Length(n) => self.skip(n).await?,
            Framing::Chunked => self.skip_chunked().await?,
            Framing::UntilClose => {
                self.start = self.end;
                while self.fill().await? > 0 {
                    self.start = self.end;
                }
                return Ok((status, false));
            }
        }
        Ok((status, keep_alive))
    }

    async fn read_head(&mut self, head: bool) -> Result<(u16, Framing, bool), ErrorKind> {
        loop {
            if self.end > self.start {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut response = httparse::Response::new(&mut headers);
                match response.parse(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete(n)) => {
                        let status = response.code.unwrap_or(0);
                        let http10 = response.version == Some(0);
                        let mut length = None;
                        let mut chunked = false;
                        let mut close = http10;
                        for h in response.headers.iter() {
                            if h.name.eq_ignore_ascii_case("content-length") {
                                let v = std::str::from_utf8(h.value)
                                    .ok()
                                    .and_then(|v| v.trim().parse::<u64>().ok())
                                    .ok_or(ErrorKind::Protocol)?;
                                length = Some(v);
                            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                                chunked = contains_token(h.value, b"chunked");
                            } else if h.name.eq_ignore_ascii_case("connection") {
                                if contains_token(h.value, b"close") {
                                    close = true;
                                } else if contains_token(h.value, b"keep-alive") {
                                    close = false;
                                }
                            }
                        }
                        self.start += n;
                        if (100..200).contains(&status) && status != 101 {
                            continue; // an interim answer (100 Continue); the real one follows
                        }
                        let framing = if head || status == 204 || status == 304 {
                            Framing::None
                        } else if chunked {
                            Framing::Chunked
                        } else if let Some(n) = length {
                            Framing::Length(n)
                        } else {
                            Framing::UntilClose
                        };
                        return Ok((status, framing, !close));
                    }
                    Ok(httparse::Status::Partial) => {}
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

    /// Discards `n` bytes of body.
    async fn skip(&mut self, mut n: u64) -> Result<(), ErrorKind> {
        loop {
            let here = ((self.end - self.start) as u64).min(n);
            self.start += here as usize;
            n -= here;
            if n == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err(ErrorKind::Read);
            }
        }
    }

    /// Reads one line (up to LF) and returns its range in the buffer, CR and LF excluded.
    async fn line(&mut self) -> Result<(usize, usize), ErrorKind> {
        loop {
            if let Some(i) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let from = self.start;
                let mut to = self.start + i;
                self.start = to + 1;
                if to > from && self.buf[to - 1] == b'\r' {
                    to -= 1;
                }
                return Ok((from, to));
            }
            if self.fill().await? == 0 {
                return Err(ErrorKind::Read);
            }
        }
    }

    /// Discards a chunked body, trailers included.
    async fn skip_chunked(&mut self) -> Result<(), ErrorKind> {
        loop {
            let (from, to) = self.line().await?;
            let size = &self.buf[from..to];
            let size = size.split(|&b| b == b';').next().unwrap_or(size);
            let size = std::str::from_utf8(size)
                .ok()
                .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                .ok_or(ErrorKind::Protocol)?;
            if size == 0 {
                loop {
                    let (from, to) = self.line().await?;
                    if from == to {
                        return Ok(());
                    }
                }
            }
            self.skip(size).await?;
            let (from, to) = self.line().await?;
            if from != to {
                return Err(ErrorKind::Protocol);
            }
        }
    }
}

/// Whether a comma-separated header value holds `token` (ASCII case ignored).
fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::contains_token;

    #[test]
    fn tokens() {
        assert!(contains_token(b"gzip, Chunked", b"chunked"));
        assert!(contains_token(b"close", b"close"));
        assert!(!contains_token(b"closed", b"close"));
    }
}
