//! [`Conn`]: one HTTP/1.1 connection, request after request, and its buffers.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use tokio::io::ReadBuf;
use tower_service::Service;

mod feed;
mod file;
mod pending;
mod read;

use read::read_more;

use crate::activity::Activity;
use crate::conn::BoxError;
use crate::h1::encode::{self, Framing as Out};
use crate::h1::head::{self, Head, Refusal};
use crate::h1::Error;
use crate::transport::Transport;
use crate::upgrade::{self, UpgradeSender};
use crate::{PeerAddr, RequestBody, Scheme};
use feed::Feed;
use pending::Pending;

/// Bytes asked of the socket per read. The read lands in a buffer on the stack and only what
/// came is copied to the heap, so a connection waiting for its next request holds no buffer.
const READ_CHUNK: usize = 8 * 1024;
/// A body frame up to this size is copied after the head (one write); a larger one is written
/// from where it is, beside the head (one vectored write).
const COPY_LIMIT: usize = 4 * 1024;
/// The most of an unread request body read and dropped to keep the connection; past it, the
/// connection closes.
/// Counted on the wire, framing included: chunked framing around tiny chunks would otherwise
/// make it thousands of times more.
const DRAIN_LIMIT: u64 = 64 * 1024;
/// On a close with request bytes possibly unread, how long and how much the connection goes on
/// reading (and dropping) after its FIN, so that the kernel does not answer those bytes with a
/// reset that destroys the response before the client reads it (nginx's lingering close).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_LIMIT: usize = 1024 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the connection needs to know of its server.
pub(crate) struct Settings<'a> {
    pub(crate) peer: SocketAddr,
    pub(crate) scheme: Scheme,
    pub(crate) activity: Arc<Activity>,
    /// `Limits::max_header_bytes`.
    pub(crate) max_head: usize,
    /// How long draining an unread request body may take (`Limits::header_read_timeout`;
    /// `None`: no limit).
    pub(crate) drain_timeout: Option<Duration>,
    /// `Limits::body_read_timeout` (`None`: no limit).
    pub(crate) body_timeout: Option<Duration>,
    /// Set by the connection task to ask for a graceful close.
    pub(crate) closing: &'a Closing,
}

/// How far the connection task has asked an HTTP/1 connection to close. Two steps, so that a
/// client is never cut off with a request on the wire: first no more keep-alive is promised
/// (every response says `Connection: close`, and a request whose bytes have come is still
/// answered), then, once no request has begun for a while, the connection closes.
#[derive(Debug, Default)]
pub(crate) struct Closing(AtomicU8);

impl Closing {
    const FINISHING: u8 = 1;
    const WHEN_IDLE: u8 = 2;

    /// Promise no further request: the response in progress, or the next one, is the last.
    pub(crate) fn finish(&self) {
        self.0.fetch_max(Self::FINISHING, Ordering::Relaxed);
    }

    /// Close as soon as no request has begun (nothing of one read, nothing waiting on the
    /// socket); otherwise as [`finish`](Self::finish).
    pub(crate) fn when_idle(&self) {
        self.0.store(Self::WHEN_IDLE, Ordering::Relaxed);
    }

    fn is_finishing(&self) -> bool {
        self.0.load(Ordering::Relaxed) >= Self::FINISHING
    }

    fn is_when_idle(&self) -> bool {
        self.0.load(Ordering::Relaxed) == Self::WHEN_IDLE
    }
}

/// One HTTP/1.1 connection.
pub(crate) struct Conn<'a, T, S> {
    io: T,
    /// Bytes read and not yet used. Empty and unallocated between requests unless the client
    /// pipelined; head and body bytes are split off it, without copies.
    read: BytesMut,
    /// The response being written. Empty and unallocated between requests.
    out: Pending,
    service: S,
    settings: Settings<'a>,
    /// The request body, while the service may still want it.
    feed: Feed,
    /// How much of `read` is known to hold no complete head: a head can only end on a LF, so
    /// bytes without one are not parsed again (one byte per segment would cost O(n²)).
    scanned: usize,
}

/// A request ready for the service ([`Conn::prepare`]).
struct Prepared {
    request: Request<RequestBody>,
    info: encode::Request,
    keep_alive: bool,
    upgrade: Option<UpgradeSender>,
}

/// How a response left the connection.
enum Outcome {
    KeepAlive,
    Close,
    Upgrade(UpgradeSender),
}

enum HeadError {
    Refused(Refusal),
    /// The client closed in the middle of a head.
    Eof,
    Io(io::Error),
}

impl<'a, T, S, B> Conn<'a, T, S>
where
    T: Transport,
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    /// A connection whose first bytes (read during protocol detection) are `read`.
    pub(crate) fn new(io: T, read: BytesMut, service: S, settings: Settings<'a>) -> Self {
        Conn {
            io,
            read,
            out: Pending::default(),
            service,
            settings,
            feed: Feed::Idle,
            scanned: 0,
        }
    }

    /// Serves requests until the connection ends; returns the upgrade promise's sender when a
    /// 101 was written, for the caller to hand the stream over.
    ///
    /// What is awaited here is boxed, but for the wait for a head: this future is the
    /// connection's while it waits for its next request, and holds nothing else then.
    pub(crate) async fn run(&mut self) -> Result<Option<UpgradeSender>, Error> {
        loop {
            let head = match poll_fn(|cx| self.poll_head(cx)).await {
                Ok(Some(head)) => head,
                // Moved whole into the box: a match that awaited here would keep its
                // scrutinee, a head's size, in this future.
                no_head => return Box::pin(self.no_head(no_head)).await,
            };
            // Boxed, for this request only: the exchange holds the service's future and the
            // response being written, which would otherwise size the connection's future for
            // all its life, idle keep-alive time included.
            let prepared = self.prepare(head);
            match Box::pin(self.exchange(prepared)).await? {
                Outcome::KeepAlive => {}
                Outcome::Close => {
                    let unread = !matches!(self.feed, Feed::Idle) || !self.read.is_empty();
                    Box::pin(self.close(unread)).await;
                    return Ok(None);
                }
                Outcome::Upgrade(tx) => return Ok(Some(tx)),
            }
            if self.read.is_empty() {
                self.read = BytesMut::new();
                self.out = Pending::default();
            }
        }
    }

    /// Ends the connection when no head came (`Ok(Some(_))` is not passed here).
    async fn no_head(
        &mut self,
        polled: Result<Option<Head>, HeadError>,
    ) -> Result<Option<UpgradeSender>, Error> {
        match polled {
            Ok(_) => {
                // Closing with pipelined requests unanswered: they are read and dropped.
                if !self.read.is_empty() {
                    self.close(true).await;
                }
                Ok(None)
            }
            Err(HeadError::Refused(refusal)) => Err(self.refuse(refusal).await),
            Err(HeadError::Eof) => Err(Error::IncompleteHead),
            Err(HeadError::Io(e)) => Err(Error::Io(e)),
        }
    }

    /// A request head made into what the service receives, with what answering it needs.
    /// Not part of [`exchange`](Self::exchange): what an `async fn` is passed it keeps for
    /// its whole life, and the head is large.
    fn prepare(&mut self, head: Head) -> Prepared {
        let Head {
            mut request,
            framing,
            keep_alive,
            expect_continue,
            upgrade,
        } = head;
        let body = self.body(framing, expect_continue);
        let extensions = request.extensions_mut();
        extensions.insert(PeerAddr(self.settings.peer));
        extensions.insert(self.settings.scheme);
        let upgrade = upgrade.then(|| {
            let (tx, on) = upgrade::pending();
            extensions.insert(on);
            tx
        });
        let info = encode::Request {
            head: request.method() == Method::HEAD,
            version: request.version(),
        };
        Prepared {
            request: request.map(|()| body),
            info,
            keep_alive,
            upgrade,
        }
    }

    /// One request: to the service, its response back, its body finished.
    async fn exchange(&mut self, prepared: Prepared) -> Result<Outcome, Error> {
        let Prepared {
            request,
            info,
            keep_alive,
            upgrade,
        } = prepared;
        let mut guard = self.settings.activity.request_started();
        if let Err(never) = poll_fn(|cx| self.service.poll_ready(cx)).await {
            match never {}
        }
        // The service's future in a scope of its own: done with once it has answered, and
        // not kept (beside the response's) while the response is written.
        let response = {
            let future = self.service.call(request);
            let mut future = pin!(future);
            poll_fn(|cx| {
                if let Poll::Ready(result) = future.as_mut().poll(cx) {
                    return Poll::Ready(Ok(result));
                }
                match self.poll_feed(cx) {
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    _ => Poll::Pending,
                }
            })
            .await?
        };
        let Ok(response) = response;
        guard.responding();
        let outcome = self.respond(response, info, keep_alive, upgrade).await?;
        if let Outcome::KeepAlive = outcome {
            // A body left to drain is rare: its wait is boxed, so that the common exchange's
            // box stays small enough for the allocator's per-thread cache.
            let finished = match self.feed {
                Feed::Idle => true,
                _ => Box::pin(self.finish_body()).await,
            };
            if !finished {
                self.feed = Feed::Failed;
                return Ok(Outcome::Close);
            }
        }
        drop(guard);
        Ok(outcome)
    }

    /// Reads until a whole head is buffered. `Ok(None)`: the client closed, or the connection
    /// was asked to close when idle and no byte of a next request had come.
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Head>, HeadError>> {
        loop {
            if self.read.is_empty() && self.settings.closing.is_when_idle() {
                // One look at the socket: a request on its way is answered, not cut off.
                let activity = &self.settings.activity;
                return match read_more(&mut self.io, &mut self.read, activity, cx) {
                    Poll::Ready(Ok(n)) if n > 0 => continue,
                    Poll::Ready(Err(e)) => Poll::Ready(Err(HeadError::Io(e))),
                    _ => Poll::Ready(Ok(None)),
                };
            }
            if !self.read.is_empty() {
                let fresh = &self.read[self.scanned.min(self.read.len())..];
                if self.scanned == 0 || fresh.contains(&b'\n') {
                    match head::parse(&mut self.read, self.settings.max_head) {
                        Ok(Some(head)) => {
                            self.scanned = 0;
                            return Poll::Ready(Ok(Some(head)));
                        }
                        Ok(None) => {}
                        Err(refusal) => return Poll::Ready(Err(HeadError::Refused(refusal))),
                    }
                } else if self.read.len() > self.settings.max_head {
                    return Poll::Ready(Err(HeadError::Refused(Refusal::TooLarge)));
                }
                self.scanned = self.read.len();
                // A head begun and not complete starts its header clock (a head that comes
                // whole never needs one, and costs the timers nothing).
                self.settings.activity.bytes_read();
            }
            let activity = &self.settings.activity;
            let n = ready!(read_more(&mut self.io, &mut self.read, activity, cx))
                .map_err(HeadError::Io)?;
            if n == 0 {
                return Poll::Ready(if self.read.is_empty() {
                    Ok(None)
                } else {
                    Err(HeadError::Eof)
                });
            }
        }
    }

    /// Writes the response; says whether the connection goes on.
    async fn respond(
        &mut self,
        response: Response<B>,
        request: encode::Request,
        keep_alive: bool,
        upgrade: Option<UpgradeSender>,
    ) -> Result<Outcome, Error> {
        let (parts, body) = response.into_parts();
        let mut body = pin!(body);
        let mut keep = keep_alive && !self.settings.closing.is_finishing();
        match &mut self.feed {
            // The client waits for 100 before sending the body, and will not get it now.
            Feed::Streaming {
                continue_at: Some(0),
                ..
            } => {
                keep = false;
                self.feed = Feed::Failed;
            }
            Feed::Streaming { continue_at, .. } if continue_at.is_some() => {
                let at = continue_at.take().unwrap_or(0);
                self.out.buf.extend_from_slice(&CONTINUE[at..]);
            }
            // More left than would be drained: the connection will close after this response.
            Feed::Unread(decoder) | Feed::Streaming { decoder, .. }
                if decoder.remaining().is_some_and(|n| n > DRAIN_LIMIT) =>
            {
                keep = false;
            }
            Feed::Failed => keep = false,
            _ => {}
        }
        let exact = body.size_hint().exact();
        let framing = encode::head(
            &mut self.out.buf,
            parts.status,
            &parts.headers,
            exact,
            request,
            &mut keep,
        );
        if parts.status == StatusCode::SWITCHING_PROTOCOLS {
            self.write_out().await?;
            self.flush().await?;
            return Ok(match upgrade {
                Some(tx) => Outcome::Upgrade(tx),
                // A 101 to a request that did not ask: nothing sensible can follow.
                None => Outcome::Close,
            });
        }
        drop(upgrade);
        if let Some(region) = self.file_to_send(&parts.extensions, framing) {
            // Boxed: a file's send is rarer than a small answer, and its future larger; inline,
            // it would size every exchange's box.
            Box::pin(self.send_file(region)).await?;
            self.flush().await?;
            return Ok(if keep {
                Outcome::KeepAlive
            } else {
                Outcome::Close
            });
        }

        let mut sent = 0;
        let mut ended = framing == Out::None || body.is_end_stream();
        if !ended {
            // A frame ready now goes out with the head: a small response is one write.
            if let Poll::Ready(frame) =
                poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await
            {
                let end = body.is_end_stream();
                ended = self.queue(frame, framing, &mut sent, end)?;
            }
        }
        if ended {
            self.queue_end(framing, sent)?;
        }
        self.write_out().await?;
        while !ended {
            let frame = poll_fn(|cx| match body.as_mut().poll_frame(cx) {
                Poll::Ready(frame) => Poll::Ready(Ok(frame)),
                Poll::Pending => {
                    // The body waits: what was written must reach the client now (TLS may
                    // hold a record back until flushed), as an event stream expects.
                    if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_flush(cx) {
                        return Poll::Ready(Err(Error::Io(e)));
                    }
                    match self.poll_feed(cx) {
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        _ => Poll::Pending,
                    }
                }
            })
            .await?;
            let end = body.is_end_stream();
            ended = self.queue(frame, framing, &mut sent, end)?;
            if ended {
                self.queue_end(framing, sent)?;
            }
            self.write_out().await?;
        }
        self.flush().await?;
        Ok(if keep {
            Outcome::KeepAlive
        } else {
            Outcome::Close
        })
    }

    /// Queues a body frame; says whether the body is over.
    fn queue(
        &mut self,
        frame: Option<Result<Frame<Bytes>, B::Error>>,
        framing: Out,
        sent: &mut u64,
        end_stream: bool,
    ) -> Result<bool, Error> {
        let frame = match frame {
            None => return Ok(true),
            Some(Err(e)) => return Err(Error::ResponseBody(e.into())),
            Some(Ok(frame)) => frame,
        };
        // Trailers are not sent: no client of ours asks for them.
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() {
                let len = data.len() as u64;
                match framing {
                    Out::None => {}
                    Out::Length(n) => {
                        if *sent + len > n {
                            return Err(Error::ResponseLength);
                        }
                        self.out.push(data, b"");
                    }
                    Out::Chunked => {
                        encode::chunk_size(&mut self.out.buf, data.len());
                        self.out.push(data, b"\r\n");
                    }
                    Out::Close => self.out.push(data, b""),
                }
                *sent += len;
            }
        }
        Ok(end_stream)
    }

    fn queue_end(&mut self, framing: Out, sent: u64) -> Result<(), Error> {
        match framing {
            Out::Chunked => self.out.push_tail(encode::LAST_CHUNK),
            Out::Length(n) if sent != n => return Err(Error::ResponseLength),
            _ => {}
        }
        Ok(())
    }

    /// Answers a refused head and gives the error that ends the connection.
    async fn refuse(&mut self, refusal: Refusal) -> Error {
        let (status, why, message) = match refusal {
            Refusal::Bad(why) => (StatusCode::BAD_REQUEST, why, format!("bad request: {why}")),
            Refusal::TooLarge => {
                let why = "request header fields too large";
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, why, why.into())
            }
            Refusal::NotImplemented(why) => (
                StatusCode::NOT_IMPLEMENTED,
                why,
                format!("not implemented: {why}"),
            ),
            Refusal::Connect => {
                let why = "CONNECT is not supported";
                (StatusCode::METHOD_NOT_ALLOWED, why, why.into())
            }
        };
        self.out = Pending::default();
        encode::error(&mut self.out.buf, status, &message);
        if let Err(e) = self.write_out().await {
            return e;
        }
        let _ = self.flush().await;
        // The rest of the request (its body, say) may be on its way.
        self.close(true).await;
        Error::Refused(status, why)
    }

    /// Writes everything queued (feeding the request body meanwhile).
    async fn write_out(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_out(cx)).await
    }

    fn poll_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if self.out.is_empty() {
                self.out.buf.clear();
                self.out.pos = 0;
                self.out.tail = b"";
                return Poll::Ready(Ok(()));
            }
            let out = &self.out;
            // One slice (the usual response: head and small body copied together) goes by a
            // plain write, which the kernel serves more cheaply than a vectored one.
            let one = out.data.is_empty() && out.tail.is_empty();
            let result = if !one && self.io.is_write_vectored() {
                let slices = [
                    IoSlice::new(&out.buf[out.pos..]),
                    IoSlice::new(&out.data),
                    IoSlice::new(out.tail),
                ];
                Pin::new(&mut self.io).poll_write_vectored(cx, &slices)
            } else {
                let first = if out.pos < out.buf.len() {
                    &out.buf[out.pos..]
                } else if !out.data.is_empty() {
                    &out.data[..]
                } else {
                    out.tail
                };
                Pin::new(&mut self.io).poll_write(cx, first)
            };
            match result {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(Error::Io(io::ErrorKind::WriteZero.into())))
                }
                Poll::Ready(Ok(n)) => {
                    self.settings.activity.moved();
                    self.out.advance(n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
                Poll::Pending => {
                    if let Poll::Ready(Err(e)) = self.poll_feed(cx) {
                        return Poll::Ready(Err(e));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx))
            .await
            .map_err(Error::Io)
    }

    /// Ends the connection from this side: TLS's close_notify, TCP's FIN. With request bytes
    /// possibly unread (`linger`), then reads and drops what comes, for up to [`LINGER_TIME`]
    /// and [`LINGER_LIMIT`] bytes or until the client closes: a socket closed with unread
    /// bytes sends a reset, which can destroy the response before the client has read it.
    async fn close(&mut self, linger: bool) {
        let _ = poll_fn(|cx| Pin::new(&mut self.io).poll_shutdown(cx)).await;
        if !linger {
            return;
        }
        self.read = BytesMut::new();
        let mut left = LINGER_LIMIT;
        let discard = poll_fn(|cx| loop {
            let mut chunk = [const { MaybeUninit::<u8>::uninit() }; READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut chunk);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() && buf.filled().len() < left => {
                    left -= buf.filled().len();
                }
                _ => return Poll::Ready(()),
            }
        });
        let _ = tokio::time::timeout(LINGER_TIME, discard).await;
    }

    /// The stream and the bytes read from it not yet used, for an upgrade.
    pub(crate) fn into_parts(self) -> (T, BytesMut) {
        (self.io, self.read)
    }

    /// Capacity of the read and write buffers, for tests.
    #[cfg(test)]
    fn buffers(&self) -> (usize, usize) {
        (
            self.read.capacity(),
            self.out.buf.capacity() + self.out.data.len(),
        )
    }
}

#[cfg(test)]
mod tests;
