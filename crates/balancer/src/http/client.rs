//! The HTTP/1.1 client the proxy speaks to its backends with, run inline in the proxying task.
//!
//! Why ours and not hyper's: hyper's client runs each connection as a task of its own, so
//! every proxied request paid a channel send to that task, a wake-up of it, a oneshot back
//! with the head, and a body channel for the response. With the balancer pinned to one core
//! (`bench/balance/run.sh`, small responses from three nginx backends), those task switches
//! held it at 40,120 req/s against HAProxy's 49,708 (0.81x); inline, 43,409 against 49,939
//! (0.87x). Here the task serving the client writes the request to the backend's socket,
//! parses the response head by `switchboard-wire`'s rules (`response_head.rs`), and the
//! response body reads straight from the socket through the same crate's decoder (the one the
//! server uses for request bodies).
//!
//! A connection is the `TcpStream` and a read buffer, kept while the connection is idle only
//! when it is small (at most [`HEAD_READ`], which a small answer fits whole).
//!
//! A request body is the client's [`RequestBody`], sent on as it comes: a small one of known
//! size is read with the head and written with it; of any other, what has come goes with the
//! head and the rest follows, what has come each time gathered into one write (a chunked
//! body's as one chunk). A [`Failure`] says whose fault it is ([`Fault`]: a body's errors
//! are the client's, the socket's the backend's) and whether any of the request was sent.
//!
//! Responses are checked as strictly as requests are: a head that does not parse, is over
//! [`MAX_HEAD`], or frames its body ambiguously (`Content-Length` with `Transfer-Encoding`, a
//! length given twice or not plainly digits, a coding other than exactly `chunked`) is a
//! failed backend (502) and its connection is closed.

use std::future::poll_fn;
use std::io::{self, Write as _};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{Method, Response, Uri};
use http_body::{Body, Frame};
use switchboard_http::{BodyError, RequestBody};
use switchboard_wire::{Decoded, Decoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::response_head::{framing_keeps, malformed, parse_head, Framing, MAX_HEAD};
/// A request body up to this size known in advance is written with its head, in one write;
/// of any other, up to this much of what has come goes with the head.
const COALESCE: usize = 16 * 1024;
/// Room for a response head (a small answer whole): small enough that the allocator serves
/// it from its per-thread cache, and kept while the connection is idle.
const HEAD_READ: usize = 1024;
/// Room for reading a body, or a head longer than [`HEAD_READ`].
const READ_SIZE: usize = 8 * 1024;

/// One keep-alive connection to a backend.
#[derive(Debug)]
pub(super) struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

/// A request ready to go: its head (and a small body) encoded once, and what is left of the
/// body to stream.
pub(super) struct Outgoing {
    wire: Bytes,
    /// Boxed: only a body that streams after its head needs it.
    body: Option<Box<OutBody>>,
    /// A HEAD request: its answer has no body whatever its head says.
    head: bool,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("wire", &self.wire.len())
            .field("streaming", &self.body.is_some())
            .finish()
    }
}

/// Whose fault a failure is (pingora's error source): what decides the answer, whether the
/// backend is blamed, and whether the request may go elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// The client (downstream): its body was malformed or cut short, or it went away.
    Client,
    /// The backend (upstream): it reset or closed the connection, or answered what could not
    /// be understood.
    Backend,
    /// The balancer itself: a body that broke the length it was declared with (which the
    /// server's decoders do not let happen).
    Balancer,
}

/// Why sending a request or reading its answer failed: whose fault it is, and how much of
/// the request reached the backend. The backend connection is closed, whatever the fault.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) fault: Fault,
    /// Whether any of the request was written to the backend, which may have acted on it.
    pub(super) sent: bool,
    /// The request, whole, when the backend failed before one byte of it was written: it may
    /// go to another backend, whatever its method.
    pub(super) unsent: Option<Outgoing>,
    pub(super) cause: io::Error,
}

impl Failure {
    /// Whether the client's body came too slowly (the server's body-read timeout): a 408,
    /// not a 400.
    pub(super) fn is_client_timeout(&self) -> bool {
        self.fault == Fault::Client
            && self
                .cause
                .get_ref()
                .and_then(|e| e.downcast_ref::<BodyError>())
                .is_some_and(BodyError::is_timeout)
    }

    /// The client's body failed.
    fn client(e: BodyError) -> Failure {
        Failure {
            fault: Fault::Client,
            sent: false,
            unsent: None,
            cause: io::Error::other(e),
        }
    }

    /// The backend failed after some of the request was written.
    fn backend(cause: io::Error) -> Failure {
        Failure {
            fault: Fault::Backend,
            sent: true,
            unsent: None,
            cause,
        }
    }

    /// The balancer broke the request's framing.
    fn balancer(why: &'static str) -> Failure {
        Failure {
            fault: Fault::Balancer,
            sent: false,
            unsent: None,
            cause: io::Error::other(why),
        }
    }

    /// The backend failed before one byte of `out` was written.
    fn unsent(out: Outgoing, cause: io::Error) -> Failure {
        Failure {
            fault: Fault::Backend,
            sent: false,
            unsent: Some(out),
            cause,
        }
    }

    /// The same failure, after part of the request was written.
    fn once_sent(self) -> Failure {
        Failure { sent: true, ..self }
    }
}

/// A request body on its way to a backend: the client's body (so its failures are the
/// client's), and how it is framed for the backend.
pub(super) struct OutBody {
    body: RequestBody,
    /// `Some(n)`: `n` bytes still owed of the `Content-Length` the backend was given;
    /// `None`: chunked.
    owed: Option<u64>,
}

impl OutBody {
    /// Appends what of the body has come to `dest`, until the body ends (`Ok(true)`), `dest`
    /// holds `limit` bytes, or nothing more is there (`Ok(false)`). The server hands a body
    /// over a frame at a time, each decoded in the connection's turn: the body has nothing
    /// more when it still has nothing after that turn (a yield). With `wait`, waits for the
    /// first frame when none is there.
    async fn gather(
        &mut self,
        dest: &mut BytesMut,
        limit: usize,
        wait: bool,
    ) -> Result<bool, Failure> {
        let start = dest.len();
        let mut yielded = false;
        while dest.len() < limit {
            let waiting = wait && dest.len() == start;
            let frame = poll_fn(|cx| match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(frame) => Poll::Ready(Some(frame)),
                Poll::Pending if waiting => Poll::Pending,
                Poll::Pending if !yielded => {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Poll::Pending => Poll::Ready(None),
            })
            .await;
            let Some(frame) = frame else {
                return Ok(false);
            };
            let Some(data) = self.take(frame)? else {
                return Ok(true);
            };
            yielded = false;
            dest.put_slice(&data);
        }
        Ok(false)
    }

    /// One frame of the body, checked against the length the backend was given: its data
    /// (none for trailers, which are not sent on), or `None` at its end.
    fn take(
        &mut self,
        frame: Option<Result<Frame<Bytes>, BodyError>>,
    ) -> Result<Option<Bytes>, Failure> {
        let frame = match frame {
            None if self.owed.unwrap_or(0) > 0 => {
                return Err(Failure::balancer("request body shorter than its length"))
            }
            None => return Ok(None),
            Some(Err(e)) => return Err(Failure::client(e)),
            Some(Ok(frame)) => frame,
        };
        let data = frame.into_data().unwrap_or_default();
        if let Some(owed) = self.owed.as_mut() {
            *owed = owed
                .checked_sub(data.len() as u64)
                .ok_or_else(|| Failure::balancer("request body longer than its length"))?;
        }
        Ok(Some(data))
    }

    fn chunked(&self) -> bool {
        self.owed.is_none()
    }
}

/// Room kept in front of gathered body bytes for their chunk-size line (16 hex digits, CRLF).
const SIZE_LINE: usize = 18;

/// A buffer to gather body bytes in, after room for their chunk-size line.
fn pile() -> BytesMut {
    let mut pile = BytesMut::new();
    pile.put_bytes(0, SIZE_LINE);
    pile
}

/// Frames what a [`pile`] gathered: a chunked body's bytes as one chunk (its size line put in
/// the room in front, CRLF after), and the last chunk after them when the body `ended`.
/// Returns where the bytes to write begin.
fn frame(pile: &mut BytesMut, chunked: bool, ended: bool) -> usize {
    let len = pile.len() - SIZE_LINE;
    if !chunked {
        return SIZE_LINE;
    }
    let mut at = SIZE_LINE;
    if len > 0 {
        let mut line = [0u8; SIZE_LINE];
        let mut rest = &mut line[..];
        let _ = write!(rest, "{len:x}\r\n");
        let n = SIZE_LINE - rest.len();
        at -= n;
        pile[at..SIZE_LINE].copy_from_slice(&line[..n]);
        pile.put_slice(b"\r\n");
    }
    if ended {
        pile.put_slice(b"0\r\n\r\n");
    }
    at
}

impl Outgoing {
    /// Encodes a request: the head as the proxy prepared it, framed by the body's size
    /// (`Content-Length` when known, chunked otherwise, nothing for a bodiless GET and the
    /// like). A small body of known size is read now, whole, and goes out with the head; of
    /// any other body, what has come goes with the head and the rest is taken to stream.
    /// Nothing is sent yet: a failure here is the client's, before any backend.
    pub(super) async fn encode(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &mut RequestBody,
    ) -> Result<Outgoing, Failure> {
        let mut wire = BytesMut::with_capacity(512);
        wire.put_slice(method.as_str().as_bytes());
        wire.put_u8(b' ');
        wire.put_slice(uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
        wire.put_slice(b" HTTP/1.1\r\n");
        for (name, value) in headers {
            if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
                continue;
            }
            wire.put_slice(name.as_str().as_bytes());
            wire.put_slice(b": ");
            wire.put_slice(value.as_bytes());
            wire.put_slice(b"\r\n");
        }
        let head = *method == Method::HEAD;
        let exact = body.size_hint().exact();
        if body.is_end_stream() || exact == Some(0) {
            // A method that carries a body says it is empty; others say nothing.
            let says_length = headers.contains_key(header::CONTENT_LENGTH)
                || matches!(*method, Method::POST | Method::PUT | Method::PATCH);
            if says_length {
                wire.put_slice(b"content-length: 0\r\n\r\n");
            } else {
                wire.put_slice(b"\r\n");
            }
            return Ok(Outgoing {
                wire: wire.freeze(),
                body: None,
                head,
            });
        }
        if let Some(n) = exact {
            wire.put_slice(b"content-length: ");
            wire.put_slice(itoa::Buffer::new().format(n).as_bytes());
            wire.put_slice(b"\r\n\r\n");
        } else {
            wire.put_slice(b"transfer-encoding: chunked\r\n\r\n");
        }
        let mut rest = OutBody {
            body: std::mem::take(body),
            owed: exact,
        };
        let ended = if exact.is_some_and(|n| n <= COALESCE as u64) {
            // Small and known: all of it now, one write for head and body.
            while !rest.gather(&mut wire, usize::MAX, true).await? {}
            true
        } else if rest.chunked() {
            let mut pile = pile();
            let ended = rest.gather(&mut pile, SIZE_LINE + COALESCE, false).await?;
            let at = frame(&mut pile, true, ended);
            wire.put_slice(&pile[at..]);
            ended
        } else {
            let limit = wire.len() + COALESCE;
            rest.gather(&mut wire, limit, false).await?
        };
        Ok(Outgoing {
            wire: wire.freeze(),
            body: (!ended).then(|| Box::new(rest)),
            head,
        })
    }

    /// A copy to send again (a bodiless request: the whole of it is in `wire`).
    pub(super) fn replay(&self) -> Option<Outgoing> {
        self.body.is_none().then(|| Outgoing {
            wire: self.wire.clone(),
            body: None,
            head: self.head,
        })
    }
}

impl Conn {
    /// A new connection to `addr` within `timeout`.
    pub(super) async fn connect(addr: &str, timeout: Duration) -> io::Result<Conn> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: BytesMut::new(),
        })
    }

    /// Whether an idle connection can take a request: the backend has neither closed it nor
    /// sent anything unasked. Nothing has been written when this says no, so a request
    /// checked out on another connection instead is still whole.
    pub(super) fn is_usable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Sends a request and reads its answer's head (interim 1xx answers skipped). The body
    /// is read from the returned [`ResponseBody`], which gives the connection back when done.
    pub(super) async fn request(
        mut self,
        mut out: Outgoing,
    ) -> Result<(Response<()>, ResponseBody), Failure> {
        // The first write says whether anything reached the backend: a write that fails has
        // written nothing, so the request is still whole.
        let first = match self.stream.write(&out.wire).await {
            Ok(0) => Err(io::Error::from(io::ErrorKind::WriteZero)),
            other => other,
        };
        let written = match first {
            Ok(n) => n,
            Err(e) => return Err(Failure::unsent(out, e)),
        };
        self.stream
            .write_all(&out.wire[written..])
            .await
            .map_err(Failure::backend)?;
        // Boxed: sending a body is a large future, and unboxed it would size every request's.
        let early = match out.body.take() {
            Some(body) => Box::pin(self.send_body(body, out.head)).await?,
            None => None,
        };
        if let Some((response, framing)) = early {
            return Ok((response, ResponseBody::new(self, framing, false)));
        }
        loop {
            let (response, framing) = {
                let (mut reader, _) = self.stream.split();
                read_head(&mut reader, &mut self.buf, out.head)
                    .await
                    .map_err(Failure::backend)?
            };
            let Some(response) = response else { continue };
            let keep_alive = framing_keeps(&response, &framing);
            return Ok((response, ResponseBody::new(self, framing, keep_alive)));
        }
    }

    /// Sends a request body after its head. A backend may answer before it has read the whole
    /// body (a 413, say) and stop reading: its answer is watched for while the body goes out,
    /// and wins (returned here). The body is then cut short, so the connection is not used
    /// again. Every failure here comes after the head was written.
    async fn send_body(
        &mut self,
        body: Box<OutBody>,
        head_request: bool,
    ) -> Result<Option<(Response<()>, Framing)>, Failure> {
        let (mut reader, mut writer) = self.stream.split();
        let send = send_body(&mut writer, body);
        tokio::pin!(send);
        loop {
            tokio::select! {
                sent = &mut send => {
                    sent.map_err(Failure::once_sent)?;
                    return Ok(None);
                }
                head = read_head(&mut reader, &mut self.buf, head_request) => {
                    match head.map_err(Failure::backend)? {
                        (Some(response), framing) => return Ok(Some((response, framing))),
                        // An interim answer (100 Continue): the body is still wanted.
                        (None, _) => continue,
                    }
                }
            }
        }
    }

    /// Reads more of a body into the buffer; `Ok(0)` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            self.buf.reserve(READ_SIZE);
            match self.stream.try_read_buf(&mut self.buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    /// Made ready to wait in the pool, keeping at most a small buffer (a large one, grown
    /// for a body, is let go).
    fn into_idle(mut self) -> Conn {
        if self.buf.capacity() > HEAD_READ {
            self.buf = BytesMut::new();
        }
        self
    }
}

/// Streams a request body after its head. What has come is gathered (up to [`COALESCE`])
/// and written at once, a chunked body's as one chunk: a body of many small chunks costs a
/// write per gathering, not one per chunk, and the backend decodes a few large chunks. Only
/// what has come is held: a large body streams.
async fn send_body(
    writer: &mut tokio::net::tcp::WriteHalf<'_>,
    mut body: Box<OutBody>,
) -> Result<(), Failure> {
    let chunked = body.chunked();
    let mut pile = pile();
    loop {
        let ended = body.gather(&mut pile, SIZE_LINE + COALESCE, true).await?;
        let at = frame(&mut pile, chunked, ended);
        writer
            .write_all(&pile[at..])
            .await
            .map_err(Failure::backend)?;
        if ended {
            return Ok(());
        }
        pile.truncate(SIZE_LINE);
    }
}

/// Reads one response head into `buf`: `None` for an interim (1xx) answer, to be skipped.
/// Cancel-safe: what was read stays in `buf`.
async fn read_head(
    reader: &mut tokio::net::tcp::ReadHalf<'_>,
    buf: &mut BytesMut,
    head_request: bool,
) -> io::Result<(Option<Response<()>>, Framing)> {
    loop {
        if !buf.is_empty() {
            if let Some(parsed) = parse_head(buf, head_request)? {
                return Ok(parsed);
            }
        }
        if buf.len() >= MAX_HEAD {
            return Err(malformed("response head too large"));
        }
        buf.reserve(if buf.len() < HEAD_READ / 2 {
            HEAD_READ
        } else {
            READ_SIZE
        });
        if reader.read_buf(buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the backend closed before its answer was complete",
            ));
        }
    }
}

/// A response body read straight from the backend's socket. When it ends cleanly and the
/// response allowed it, the connection can go back to the pool ([`ResponseBody::take_idle`]);
/// dropped early or failed, the connection is closed.
#[derive(Debug)]
pub(super) struct ResponseBody {
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    /// Data decoded ahead, to be given next.
    pending: Option<Bytes>,
    finished: bool,
}

impl ResponseBody {
    /// The body of an answer whose head was read from `conn`; `keep_alive` says whether the
    /// connection may serve again once the body is over.
    fn new(conn: Conn, framing: Framing, keep_alive: bool) -> ResponseBody {
        let mut body = ResponseBody {
            conn: Some(conn),
            framing,
            keep_alive,
            pending: None,
            finished: false,
        };
        body.finish_if_empty();
        body
    }

    /// Whether the body is over (and nothing decoded ahead is left to give).
    pub(super) fn is_done(&self) -> bool {
        self.finished && self.pending.is_none()
    }

    /// The connection, once the body ended cleanly on a connection that can be reused.
    pub(super) fn take_idle(&mut self) -> Option<Conn> {
        if !self.is_done() || !self.keep_alive {
            return None;
        }
        let conn = self.conn.take()?;
        // Bytes after the end of the answer were never asked for: not a connection to trust.
        conn.buf.is_empty().then(|| conn.into_idle())
    }

    fn finish_if_empty(&mut self) {
        if let Framing::Decoded(Decoder::Length(0)) = self.framing {
            self.finished = true;
        }
    }

    /// Looks ahead after a piece of data: the end may already be in the buffer, and the
    /// server stops polling a body that says it has ended.
    fn look_ahead(&mut self) -> io::Result<()> {
        let (Framing::Decoded(decoder), Some(conn)) = (&mut self.framing, self.conn.as_mut())
        else {
            return Ok(());
        };
        match decoder
            .decode(&mut conn.buf)
            .map_err(|e| malformed(e.reason()))?
        {
            Decoded::Data(data) => self.pending = Some(data),
            Decoded::Done => self.finished = true,
            Decoded::NeedMore => {}
        }
        Ok(())
    }

    /// The next piece of the body; `None` at its end.
    pub(super) fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if let Some(data) = self.pending.take() {
            if !self.finished {
                if let Err(e) = self.look_ahead() {
                    return Poll::Ready(Some(Err(e)));
                }
            }
            return Poll::Ready(Some(Ok(data)));
        }
        if self.finished {
            return Poll::Ready(None);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Some(Err(io::Error::other("body already failed"))));
        };
        loop {
            match &mut self.framing {
                Framing::Decoded(decoder) => match decoder.decode(&mut conn.buf) {
                    Err(why) => {
                        self.conn = None;
                        return Poll::Ready(Some(Err(malformed(why.reason()))));
                    }
                    Ok(Decoded::Data(data)) => {
                        if data.is_empty() {
                            continue;
                        }
                        if let Err(e) = self.look_ahead() {
                            self.conn = None;
                            return Poll::Ready(Some(Err(e)));
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                    Ok(Decoded::Done) => {
                        self.finished = true;
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::NeedMore) => {}
                },
                Framing::Close => {
                    if !conn.buf.is_empty() {
                        return Poll::Ready(Some(Ok(conn.buf.split().freeze())));
                    }
                }
            }
            match ready!(conn.poll_fill(cx)) {
                Ok(0) if matches!(self.framing, Framing::Close) => {
                    self.finished = true;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the backend closed in the middle of a body",
                    ))));
                }
                Ok(_) => {}
                Err(e) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    /// What is known of the body's size.
    pub(super) fn size_hint(&self) -> http_body::SizeHint {
        let pending = self.pending.as_ref().map_or(0, |p| p.len() as u64);
        match &self.framing {
            Framing::Decoded(Decoder::Length(n)) => http_body::SizeHint::with_exact(n + pending),
            _ if self.is_done() => http_body::SizeHint::with_exact(0),
            _ => http_body::SizeHint::default(),
        }
    }
}
