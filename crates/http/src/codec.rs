//! The HTTP/1 body decoders, for code that reads HTTP/1 messages itself.
//!
//! The balancer reads its backends' responses with its own small client (see its `http`
//! module for why it is not hyper's); it decodes their bodies with the same decoders this
//! crate's server uses for request bodies, so the workspace has one chunked decoder, strict
//! about the framing (RFC 9112 §7.1), and one set of its tests.
//!
//! ```
//! use bytes::BytesMut;
//! use switchboard_http::codec::{Decoded, Decoder};
//!
//! let mut decoder = Decoder::chunked();
//! let mut wire = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\n"[..]);
//! assert_eq!(decoder.decode(&mut wire), Ok(Decoded::Data("hello".into())));
//! assert_eq!(decoder.decode(&mut wire), Ok(Decoded::Done));
//! ```

pub use crate::h1::decode::{Chunked, Decoded, Decoder};
