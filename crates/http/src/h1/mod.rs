//! HTTP/1.1, served by this crate's own codec rather than hyper's.
//!
//! Why ours: hyper's HTTP/1 connection keeps an 8 KiB read buffer and an 8 KiB write buffer
//! for its whole life, so the application server holding 10,000 idle keep-alive connections
//! grew by 220 MiB (about 23 KB each; nginx: 5 MiB), and small responses ran at 0.84-0.88x
//! nginx's requests per second. Here a connection waiting for its next request holds no
//! buffer at all: reads go through the stack and only the bytes that came are kept, until the
//! request they belong to is done; a response is written from a buffer made for it (head and
//! a small body in one write) and dropped after it. HTTP/2 stays with hyper.
//!
//! - `head.rs`: the request head, parsed and checked by `switchboard-wire` (the workspace's
//!   one set of HTTP/1 rules: request smuggling shapes, bad names and values, obsolete line
//!   folding, bare LF line endings, an HTTP/1.1 request without exactly one Host): 400 and the
//!   connection closed; codings before `chunked` (`gzip, chunked`): 501; `CONNECT`: 405; a
//!   head over `Limits::max_header_bytes`: 431. Request bodies are decoded by the same
//!   crate's `Decoder`, the one the balancer reads its backends' answers with.
//! - `body.rs`: the request body between the connection and the service (the service's end is
//!   [`RequestBody`](crate::RequestBody)); the socket is read only when the service asks.
//! - `encode.rs`: response heads (framing chosen from the body's size: `Content-Length`,
//!   chunked, or close-delimited for HTTP/1.0), the `Date` header cached per second.
//! - `conn/`: the connection loop (`mod.rs`, with the request body's feed, its clock and
//!   its drain in `feed.rs`, its write queue in `pending.rs` and its socket reads in
//!   `read.rs`): keep-alive by HTTP/1.1's rules (HTTP/1.0 only when
//!   asked), pipelined requests answered in order, `Expect: 100-continue`, HEAD, 204/304,
//!   `Connection: close` either way, a response carrying a
//!   [`FileRegion`](switchboard_net::FileRegion) sent from its file with `sendfile(2)` on
//!   plain TCP (`file.rs`, through `transport.rs`; TLS reads the body instead), unread bodies drained up to 64 KiB on the wire within the
//!   header-read timeout, a lingering close (read and drop up to 2 s) when request bytes may be
//!   left unread, a graceful close that serves no further pipelined request, upgrades, and the
//!   [`Activity`](crate::activity::Activity) notes the connection task's timers read.

mod body;
mod conn;
mod encode;
mod head;

use std::convert::Infallible;
use std::fmt;
use std::io;

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use tower_service::Service;

pub(crate) use body::BodyReceiver;
pub(crate) use conn::{Closing, Settings};

use crate::conn::BoxError;
use crate::transport::Transport;
use crate::upgrade::Upgraded;
use crate::RequestBody;

/// Why an HTTP/1 connection ended other than by a close.
#[derive(Debug)]
pub(crate) enum Error {
    Io(io::Error),
    /// A head was refused (answered with this status) and the connection closed.
    Refused(StatusCode, &'static str),
    /// The client closed in the middle of a request head.
    IncompleteHead,
    /// The service's response body failed.
    ResponseBody(BoxError),
    /// The response body did not match its `Content-Length`.
    ResponseLength,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "connection error: {e}"),
            Error::Refused(status, why) => write!(f, "request refused ({status}): {why}"),
            Error::IncompleteHead => {
                f.write_str("the client closed in the middle of a request head")
            }
            Error::ResponseBody(e) => write!(f, "response body failed: {e}"),
            Error::ResponseLength => f.write_str("response body did not match its Content-Length"),
        }
    }
}

/// Serves HTTP/1.1 on `io` until the connection ends. `read` holds bytes already read
/// (protocol detection's). After a 101 answer, the stream goes to the request's
/// [`OnUpgrade`](crate::upgrade::OnUpgrade).
pub(crate) async fn serve<T, S, B>(
    io: T,
    read: BytesMut,
    service: S,
    settings: Settings<'_>,
) -> Result<(), Error>
where
    T: Transport + Send + 'static,
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>,
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut conn = conn::Conn::new(io, read, service, settings);
    let upgrade = conn.run().await?;
    if let Some(tx) = upgrade {
        let (io, read) = conn.into_parts();
        tx.send(Upgraded::new(Box::new(io), read.freeze()));
    }
    Ok(())
}
