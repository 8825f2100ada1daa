//! [`RequestBody`]: the body of every request a service sees, over HTTP/1 or HTTP/2.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::h1::BodyReceiver;

/// The body of a request, as every service run by [`HttpServer`](crate::HttpServer) receives
/// it: `Service<Request<RequestBody>>`. An [`http_body::Body`] of [`Bytes`], so an
/// `axum::Router` takes it as it is.
///
/// On HTTP/1 it is this crate's own: empty, the whole body when it came in with the head, or
/// a stream the connection fills from the socket as the service reads it (and only then, so a
/// service that does not read a body does not make the server buffer it). On HTTP/2 it is
/// hyper's `Incoming`.
#[derive(Debug, Default)]
pub struct RequestBody {
    kind: Kind,
}

#[derive(Debug, Default)]
enum Kind {
    #[default]
    Empty,
    /// All of it, read with the head.
    Full(Bytes),
    /// HTTP/1, streamed from the connection.
    Http1(BodyReceiver),
    /// HTTP/2, from hyper.
    Http2(Incoming),
}

impl RequestBody {
    /// An empty body.
    pub fn empty() -> Self {
        RequestBody { kind: Kind::Empty }
    }

    /// A body that is all here already.
    pub fn full(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            return RequestBody::empty();
        }
        RequestBody {
            kind: Kind::Full(bytes),
        }
    }

    pub(crate) fn http1(receiver: BodyReceiver) -> Self {
        RequestBody {
            kind: Kind::Http1(receiver),
        }
    }

    pub(crate) fn http2(incoming: Incoming) -> Self {
        RequestBody {
            kind: Kind::Http2(incoming),
        }
    }
}

impl From<Bytes> for RequestBody {
    fn from(bytes: Bytes) -> Self {
        RequestBody::full(bytes)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => {
                let bytes = std::mem::take(bytes);
                this.kind = Kind::Empty;
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Kind::Http1(receiver) => receiver.poll_frame(cx),
            Kind::Http2(incoming) => Pin::new(incoming)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(|e| BodyError(ErrorKind::Http2(e))))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(_) => false,
            Kind::Http1(receiver) => receiver.is_end_stream(),
            Kind::Http2(incoming) => incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Http1(receiver) => receiver.size_hint(),
            Kind::Http2(incoming) => incoming.size_hint(),
        }
    }
}

/// A request body could not be read to its end: the client closed the connection or reset
/// the stream, or (HTTP/1) sent a malformed chunk or sent it too slowly
/// ([`Limits::body_read_timeout`](crate::Limits::body_read_timeout)). The connection does not
/// serve another request after it.
pub struct BodyError(ErrorKind);

enum ErrorKind {
    Http1(String),
    /// HTTP/1: the body did not arrive in time. Its source is an `io::Error` of kind
    /// `TimedOut`, so that code which knows no server (the application's extractors) can
    /// tell a slow body from a malformed one.
    Timeout(std::io::Error),
    Http2(hyper::Error),
}

impl BodyError {
    pub(crate) fn http1(message: impl Into<String>) -> Self {
        BodyError(ErrorKind::Http1(message.into()))
    }

    pub(crate) fn timeout() -> Self {
        BodyError(ErrorKind::Timeout(std::io::ErrorKind::TimedOut.into()))
    }

    /// Whether the client sent the body too slowly: a server answers 408, not 400.
    pub fn is_timeout(&self) -> bool {
        matches!(self.0, ErrorKind::Timeout(_))
    }
}

impl fmt::Debug for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ErrorKind::Http1(message) => f.debug_tuple("BodyError").field(message).finish(),
            ErrorKind::Timeout(_) => f.debug_tuple("BodyError").field(&"timeout").finish(),
            ErrorKind::Http2(e) => f.debug_tuple("BodyError").field(e).finish(),
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ErrorKind::Http1(message) => write!(f, "request body: {message}"),
            ErrorKind::Timeout(_) => f.write_str("request body: not sent in time"),
            ErrorKind::Http2(e) => write!(f, "request body: {e}"),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            ErrorKind::Http1(_) => None,
            ErrorKind::Timeout(e) => Some(e),
            ErrorKind::Http2(e) => Some(e),
        }
    }
}
