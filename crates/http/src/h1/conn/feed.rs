//! The request body, from the connection's side: handed over whole when it came with the
//! head, otherwise fed from the socket as the service asks for it (sending `100 Continue`
//! first when the client waits for it), timed by the body-read clock, and what the service
//! left unread drained after the response.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;
use tower_service::Service;

use super::read::read_more;
use super::{Conn, CONTINUE, DRAIN_LIMIT};
use crate::conn::BoxError;
use crate::h1::body::{channel, BodySender};
use crate::h1::head::Framing;
use crate::h1::Error;
use crate::{RequestBody, MIN_BODY_RATE};
use switchboard_wire::{Decoded, Decoder};

/// The request body's state, from the connection's side.
pub(super) enum Feed {
    /// No body, or all of it has been handed over.
    Idle,
    /// The service has it and may ask for more.
    Streaming {
        decoder: Decoder,
        tx: BodySender,
        /// `Expect: 100-continue` and `100 Continue` not (fully) sent: how much of it was.
        continue_at: Option<usize>,
        /// The body's clock, armed the first time the service waits for bytes the client
        /// has not sent; boxed, as few bodies ever need one.
        clock: Option<Pin<Box<Sleep>>>,
        /// Bytes received that have not yet extended the clock (by a second every
        /// [`MIN_BODY_RATE`]).
        earned: u64,
    },
    /// The service dropped it: the rest is drained after the response.
    Unread(Decoder),
    /// The body cannot be read to its end (broken, or never asked for under 100-continue):
    /// the connection closes after the response.
    Failed,
}

/// How a request body's feed ended.
enum FeedEnd {
    Complete,
    Failed(String),
    /// Not sent in time (`Limits::body_read_timeout`).
    TimedOut,
}

/// Whether a body still has time: when its clock has run out, the bytes `earned` since it was
/// last set buy one second per [`MIN_BODY_RATE`], and the clock is set that much later; with
/// nothing earned, the time is up (`false`).
fn body_clock_pending(clock: &mut Pin<Box<Sleep>>, earned: &mut u64, cx: &mut Context<'_>) -> bool {
    while clock.as_mut().poll(cx).is_ready() {
        let ms = earned.saturating_mul(1000) / MIN_BODY_RATE;
        if ms == 0 {
            return false;
        }
        *earned -= ms * MIN_BODY_RATE / 1000;
        let at = clock.deadline() + Duration::from_millis(ms);
        clock.as_mut().reset(at);
    }
    true
}

impl<'a, T, S, B> Conn<'a, T, S>
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    /// The request body: whole when it came with the head, otherwise fed as it is read.
    pub(super) fn body(&mut self, framing: Framing, expect_continue: bool) -> RequestBody {
        let (decoder, length) = match framing {
            Framing::Empty => return RequestBody::empty(),
            Framing::Length(n) if self.read.len() as u64 >= n => {
                // n fits: it is at most what is buffered.
                let body = self.read.split_to(n as usize).freeze();
                return RequestBody::full(body);
            }
            Framing::Length(n) => (Decoder::length(n), Some(n)),
            Framing::Chunked => (Decoder::chunked(), None),
        };
        let (tx, rx) = channel(length);
        self.feed = Feed::Streaming {
            decoder,
            tx,
            continue_at: (expect_continue && self.read.is_empty()).then_some(0),
            clock: None,
            earned: 0,
        };
        RequestBody::http1(rx)
    }

    /// Moves request body bytes from the socket to the service while it asks for them (sending
    /// `100 Continue` first when the client waits for it). Ready when there is nothing more to
    /// feed; an error only when writing `100 Continue` failed.
    pub(super) fn poll_feed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            let Feed::Streaming {
                decoder,
                tx,
                continue_at,
                clock,
                earned,
            } = &mut self.feed
            else {
                return Poll::Ready(Ok(()));
            };
            match tx.poll_want(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(false) => {
                    // The service dropped the body. Under 100-continue the client may never
                    // send it: no draining then.
                    self.feed = match *continue_at {
                        // Part of `100 Continue` is out: the rest goes before the response.
                        Some(at) => {
                            self.out.buf.extend_from_slice(&CONTINUE[at..]);
                            Feed::Failed
                        }
                        None => Feed::Unread(decoder.clone()),
                    };
                    continue;
                }
                Poll::Ready(true) => {}
            }
            if let Some(at) = continue_at {
                while *at < CONTINUE.len() {
                    match ready!(Pin::new(&mut self.io).poll_write(cx, &CONTINUE[*at..])) {
                        Ok(0) => {
                            return Poll::Ready(Err(Error::Io(io::ErrorKind::WriteZero.into())))
                        }
                        Ok(n) => {
                            *at += n;
                            self.settings.activity.moved();
                        }
                        Err(e) => return Poll::Ready(Err(Error::Io(e))),
                    }
                }
                ready!(Pin::new(&mut self.io).poll_flush(cx)).map_err(Error::Io)?;
                *continue_at = None;
            }
            match decoder.decode(&mut self.read) {
                Ok(Decoded::Data(data)) => {
                    *earned = earned.saturating_add(data.len() as u64);
                    tx.send(data);
                    if let Decoder::Length(0) = decoder {
                        self.end_feed(FeedEnd::Complete);
                    }
                }
                Ok(Decoded::Done) => self.end_feed(FeedEnd::Complete),
                Ok(Decoded::NeedMore) => {
                    let activity = &self.settings.activity;
                    match read_more(&mut self.io, &mut self.read, activity, cx) {
                        Poll::Ready(Ok(0)) => self.end_feed(FeedEnd::Failed(
                            "the client closed before the body ended".into(),
                        )),
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(e)) => self.end_feed(FeedEnd::Failed(e.to_string())),
                        Poll::Pending => {
                            let Some(limit) = self.settings.body_timeout else {
                                return Poll::Pending;
                            };
                            let clock =
                                clock.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                            if body_clock_pending(clock, earned, cx) {
                                return Poll::Pending;
                            }
                            self.end_feed(FeedEnd::TimedOut);
                        }
                    }
                }
                Err(why) => self.end_feed(FeedEnd::Failed(why.to_string())),
            }
        }
    }

    /// The body is over, or broken: tells the service.
    fn end_feed(&mut self, end: FeedEnd) {
        let next = match end {
            FeedEnd::Complete => Feed::Idle,
            _ => Feed::Failed,
        };
        if let Feed::Streaming { tx, .. } = std::mem::replace(&mut self.feed, next) {
            match end {
                FeedEnd::Complete => tx.finish(),
                FeedEnd::Failed(why) => tx.fail(why),
                FeedEnd::TimedOut => tx.time_out(),
            }
        }
    }

    /// After the response: reads and drops what the service left of the request body, up to
    /// [`DRAIN_LIMIT`] bytes on the wire and within the drain timeout. Whether the connection
    /// can go on.
    pub(super) async fn finish_body(&mut self) -> bool {
        let mut decoder = match std::mem::replace(&mut self.feed, Feed::Idle) {
            Feed::Idle => return true,
            Feed::Failed => return false,
            Feed::Streaming {
                decoder,
                continue_at,
                ..
            } => {
                if continue_at.is_some() {
                    return false;
                }
                decoder
            }
            Feed::Unread(decoder) => decoder,
        };
        // Closing anyway: the close reads and drops what comes.
        if self.settings.closing.is_finishing()
            || decoder.remaining().is_some_and(|n| n > DRAIN_LIMIT)
        {
            return false;
        }
        let deadline = self.settings.drain_timeout;
        let mut wire = 0;
        let drain = poll_fn(|cx| loop {
            let before = self.read.len();
            let decoded = decoder.decode(&mut self.read);
            wire += (before - self.read.len()) as u64;
            if wire > DRAIN_LIMIT {
                return Poll::Ready(false);
            }
            match decoded {
                Ok(Decoded::Data(_)) => {}
                Ok(Decoded::Done) => return Poll::Ready(true),
                Ok(Decoded::NeedMore) => {
                    let activity = &self.settings.activity;
                    match ready!(read_more(&mut self.io, &mut self.read, activity, cx)) {
                        Ok(0) | Err(_) => return Poll::Ready(false),
                        Ok(_) => {}
                    }
                }
                Err(_) => return Poll::Ready(false),
            }
        });
        match deadline {
            Some(limit) => tokio::time::timeout(limit, drain).await.unwrap_or(false),
            None => drain.await,
        }
    }
}
