//! Message bodies on the wire: by `Content-Length` or chunked (RFC 9112 §6, §7.1).
//!
//! [`Decoder`] is the one body decoder of the workspace: the server reads request bodies with
//! it, the balancer's backend client response bodies, and the load generator skips response
//! bodies with it. Over a slice ([`Decoder::decode_slice`]: ranges of the caller's buffer,
//! nothing copied) or over a `BytesMut` ([`Decoder::decode`]: the bytes split off it, shared).
//!
//! ```
//! use bytes::BytesMut;
//! use switchboard_wire::{Decoded, Decoder};
//!
//! let mut decoder = Decoder::chunked();
//! let mut wire = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\n"[..]);
//! assert_eq!(decoder.decode(&mut wire), Ok(Decoded::Data("hello".into())));
//! assert_eq!(decoder.decode(&mut wire), Ok(Decoded::Done));
//! ```

use bytes::{Buf, Bytes, BytesMut};

use crate::chunked::Chunked;
use crate::Error;

/// What one step of decoding a slice found at its front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `skip` bytes of framing, then `len` (at least one) bytes of body: the caller takes
    /// `skip + len` bytes.
    Data {
        /// Framing bytes before the data.
        skip: usize,
        /// Body bytes, from `skip` on.
        len: usize,
    },
    /// The body ended; its last `used` bytes of framing were at the front.
    Done {
        /// Framing bytes taken.
        used: usize,
    },
    /// The slice held only framing (`used` bytes, all of it), or nothing: read more.
    NeedMore {
        /// Framing bytes taken.
        used: usize,
    },
}

/// What one step of decoding a `BytesMut` gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The body is over.
    Done,
    /// The buffer holds nothing more to decode: read more.
    NeedMore,
}

/// A body's decoder: how much is left, and where in the chunked framing it is.
#[derive(Debug, Clone)]
pub enum Decoder {
    /// `Content-Length`: this many bytes left.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunked),
}

impl Decoder {
    /// A body of `n` bytes.
    pub fn length(n: u64) -> Self {
        Decoder::Length(n)
    }

    /// A chunked body, from its first chunk-size line.
    pub fn chunked() -> Self {
        Decoder::Chunked(Chunked::new())
    }

    /// The decoder for a request body framed so.
    pub fn for_request(framing: crate::request::Framing) -> Self {
        use crate::request::Framing;
        match framing {
            Framing::Empty => Decoder::Length(0),
            Framing::Length(n) => Decoder::Length(n),
            Framing::Chunked => Decoder::chunked(),
        }
    }

    /// The decoder for a response body framed so; `None` for a body read until the close,
    /// or a connection that switched protocols.
    pub fn for_response(framing: crate::response::Framing) -> Option<Self> {
        use crate::response::Framing;
        match framing {
            Framing::Empty => Some(Decoder::Length(0)),
            Framing::Length(n) => Some(Decoder::Length(n)),
            Framing::Chunked => Some(Decoder::chunked()),
            Framing::Close | Framing::Switched => None,
        }
    }

    /// Bytes still expected, when the framing says (`Content-Length`).
    pub fn remaining(&self) -> Option<u64> {
        match self {
            Decoder::Length(n) => Some(*n),
            Decoder::Chunked(_) => None,
        }
    }

    /// Whether the body is over.
    pub fn is_done(&self) -> bool {
        match self {
            Decoder::Length(n) => *n == 0,
            Decoder::Chunked(chunked) => chunked.is_done(),
        }
    }

    /// Decodes from the front of `buf`, nothing taken or copied: the caller moves past what
    /// the [`Step`] says. An error is malformed framing: the connection cannot be trusted
    /// after it.
    #[inline]
    pub fn decode_slice(&mut self, buf: &[u8]) -> Result<Step, Error> {
        match self {
            Decoder::Length(0) => Ok(Step::Done { used: 0 }),
            Decoder::Length(left) => {
                if buf.is_empty() {
                    return Ok(Step::NeedMore { used: 0 });
                }
                let len = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                *left -= len as u64;
                Ok(Step::Data { skip: 0, len })
            }
            Decoder::Chunked(chunked) => chunked.decode(buf),
        }
    }

    /// Decodes from the front of `buf`, taking what it uses; the data is split off `buf`,
    /// not copied.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, Error> {
        Ok(match self.decode_slice(buf)? {
            Step::Data { skip, len } => {
                buf.advance(skip);
                Decoded::Data(buf.split_to(len).freeze())
            }
            Step::Done { used } => {
                buf.advance(used);
                Decoded::Done
            }
            Step::NeedMore { used } => {
                buf.advance(used);
                Decoded::NeedMore
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_body_stops_at_its_length() {
        let mut decoder = Decoder::length(5);
        let mut buf = BytesMut::from(&b"hel"[..]);
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from("hel"))
        );
        assert_eq!(decoder.decode(&mut buf).unwrap(), Decoded::NeedMore);
        buf.extend_from_slice(b"loGET");
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from("lo"))
        );
        assert!(decoder.is_done());
        assert_eq!(decoder.decode(&mut buf).unwrap(), Decoded::Done);
        assert_eq!(&buf[..], b"GET");
    }

    #[test]
    fn framings_have_their_decoders() {
        use crate::{request, response};
        assert!(Decoder::for_request(request::Framing::Empty).is_done());
        assert_eq!(
            Decoder::for_request(request::Framing::Length(3)).remaining(),
            Some(3)
        );
        assert!(Decoder::for_response(response::Framing::Close).is_none());
        assert!(Decoder::for_response(response::Framing::Switched).is_none());
        assert!(matches!(
            Decoder::for_response(response::Framing::Chunked),
            Some(Decoder::Chunked(_))
        ));
    }
}
