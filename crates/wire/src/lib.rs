//! HTTP/1.1 on the wire, and nothing else: bytes in; parsed heads, framing decisions and
//! decoded body bytes out; errors as values. No sockets, no runtime, no allocation where a
//! caller does not ask for owned types.
//!
//! Every part of Switchboard that reads HTTP/1 reads it through this crate, so there is one
//! set of rules and one place to test and fuzz them:
//!
//! - the application server's codec (`switchboard-http`'s `h1`) parses request heads with
//!   [`request::parse`] and decodes request bodies with [`body::Decoder`];
//! - the balancer's backend client parses response heads with [`response::parse`] and
//!   decodes response bodies with the same decoder; its health checks read a backend's
//!   status with [`response::parse_status`];
//! - the load generator reads response heads with [`response::parse_status`] and skips
//!   bodies with [`body::Decoder::decode_slice`], and writes its request with [`encode`].
//!
//! Why a crate of its own rather than a module of `switchboard-http`: the load generator
//! needs the rules but none of the server (hyper, rustls, rcgen, tokio), and the rules are
//! easier to keep strict, test and fuzz with nothing around them. `http` and `bytes` are its
//! only dependencies besides `httparse`: the server and the balancer want `http`'s types, and
//! the heads they get share the bytes that were read rather than copying them.
//!
//! # Layout
//!
//! - [`fields`]: what one header field means for framing ([`fields::Scan`] gathers a head's
//!   `Content-Length`, `Transfer-Encoding`, `Connection`, `Host`, `Expect` and `Upgrade`,
//!   refusing what smuggles), [`fields::content_length`] (one definition of a valid length).
//! - [`request`]: request heads, their framing (RFC 9112 §6.3) and keep-alive.
//! - [`response`]: response heads and the status line; framing by the rules for HEAD, 1xx,
//!   204, 304 and close-delimited bodies.
//! - [`chunked`]: the chunked coding as an incremental state machine: the same result however
//!   the input is split across reads.
//! - [`body`]: [`body::Decoder`], a body by `Content-Length` or chunked, over a slice or a
//!   `BytesMut`.
//! - [`encode`]: writing request heads and chunk-size lines.
//! - [`origin`]: where a request says it comes from ([`origin::is_cross_site`], for CSRF
//!   checks) and whether the host it names could be a rebound DNS name
//!   ([`origin::is_local_or_named`]): header rules too, shared by the application and the
//!   balancer's admin API, here so that the application needs no server to ask them.
//! - `fuzzing` (hidden): the properties the fuzz targets under `fuzz/` check, which the tests
//!   replaying their corpus check too.
//!
//! # Smuggling shapes refused
//!
//! Both `Content-Length` and `Transfer-Encoding`; `Content-Length` given twice (even with the
//! same value), as a list, with a sign, leading zeros, spaces inside or more than
//! [`fields::MAX_LENGTH_DIGITS`] digits; a transfer coding after `chunked` or `chunked` twice,
//! and any coding that is not exactly `chunked` (`xchunked`, `"chunked"`, `chunked;q=1`,
//! `identity`); whitespace before a field's colon, obsolete line folding, a bare LF or a bare
//! CR; chunk sizes that are not plain hex (`0x5`, `+5`, ` 5`, `5 5`, over 16 digits),
//! extensions with control characters, and a chunk-size line over 4 KiB.

#![forbid(unsafe_code)]

use std::fmt;

pub mod body;
pub mod chunked;
pub mod encode;
pub mod fields;
#[doc(hidden)]
pub mod fuzzing;
mod head;
pub mod origin;
pub mod request;
pub mod response;

pub use body::{Decoded, Decoder, Step};
pub use head::MAX_HEADERS;

/// Why bytes on the wire were refused. Each says why in a few words ([`Error::reason`]);
/// after any of them the connection cannot be trusted and is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Malformed or ambiguous: a request's 400, a backend that failed.
    Malformed(&'static str),
    /// A head over the caller's limit, or with too many fields: a request's 431.
    TooLarge,
    /// Well framed, but with a transfer coding before `chunked`, which would reach the
    /// receiver still applied: a request's 501 (RFC 9112 §6.1).
    Unsupported(&'static str),
}

impl Error {
    /// Why, in a few words.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Malformed(why) | Error::Unsupported(why) => why,
            Error::TooLarge => "head too large",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for Error {}
