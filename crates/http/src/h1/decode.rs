//! Message bodies on the wire: `Content-Length` and chunked decoding (RFC 9112 §6, §7.1).
//!
//! The one chunked decoder of the workspace: the server reads request bodies with it, and the
//! balancer's backend client reads response bodies with it (through [`crate::codec`]).

use bytes::{Buf, Bytes, BytesMut};

/// Longest chunk-size line (size, extensions) accepted; more is refused as malformed. hyper
/// allows 16 KiB of extensions over the whole body; one line of 4 KiB is plenty.
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// Most bytes of trailer fields accepted (they are read and dropped).
const MAX_TRAILERS: usize = 16 * 1024;

/// What one step of decoding gave.
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

/// Where a chunked body's decoding is (its fields are private).
#[derive(Debug, Clone)]
pub struct Chunked {
    state: State,
    /// Bytes of the current size line or the trailer section so far, for their limits.
    line: usize,
    size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size (at least one).
    Size {
        digits: u8,
    },
    /// Spaces after the size, before `;` or CR.
    SizeSpace,
    /// After `;`: extensions up to CR.
    Extension,
    /// CR seen at the end of the size line.
    SizeLf,
    /// Chunk data, `size` bytes left.
    Data,
    /// CR after the data.
    DataCr,
    /// LF after the data.
    DataLf,
    /// Start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// CR of a trailer line seen.
    TrailerLf,
    /// CR of the final empty line seen.
    EndLf,
    Done,
}

impl Decoder {
    /// A body of `n` bytes.
    pub fn length(n: u64) -> Self {
        Decoder::Length(n)
    }

    /// A chunked body, from its first chunk-size line.
    pub fn chunked() -> Self {
        Decoder::Chunked(Chunked {
            state: State::Size { digits: 0 },
            line: 0,
            size: 0,
        })
    }

    /// Bytes still expected, when the framing says (`Content-Length`).
    pub fn remaining(&self) -> Option<u64> {
        match self {
            Decoder::Length(n) => Some(*n),
            Decoder::Chunked(_) => None,
        }
    }

    /// Decodes from the front of `buf`, taking what it uses. An error is malformed framing:
    /// the connection cannot be trusted after it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, &'static str> {
        match self {
            Decoder::Length(0) => Ok(Decoded::Done),
            Decoder::Length(left) => {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                *left -= n as u64;
                Ok(Decoded::Data(buf.split_to(n).freeze()))
            }
            Decoder::Chunked(chunked) => chunked.decode(buf),
        }
    }
}

impl Chunked {
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, &'static str> {
        loop {
            if self.state == State::Done {
                return Ok(Decoded::Done);
            }
            if self.state == State::Data {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = usize::try_from(self.size)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                return Ok(Decoded::Data(buf.split_to(n).freeze()));
            }
            let Some(&b) = buf.first() else {
                return Ok(Decoded::NeedMore);
            };
            buf.advance(1);
            self.step(b)?;
        }
    }

    /// One byte of framing.
    fn step(&mut self, b: u8) -> Result<(), &'static str> {
        const BAD_SIZE: &str = "invalid chunk size";
        const BAD_EXT: &str = "invalid chunk extension";
        self.line += 1;
        if self.line > MAX_CHUNK_LINE
            && matches!(
                self.state,
                State::Size { .. } | State::SizeSpace | State::Extension | State::SizeLf
            )
        {
            return Err("chunk size line too long");
        }
        self.state = match self.state {
            State::Size { digits } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if digits >= 16 {
                        return Err(BAD_SIZE);
                    }
                    let digit = (b as char).to_digit(16).unwrap_or(0);
                    self.size = self.size * 16 + u64::from(digit);
                    State::Size { digits: digits + 1 }
                }
                _ if digits == 0 => return Err(BAD_SIZE),
                b' ' | b'\t' => State::SizeSpace,
                b';' => State::Extension,
                b'\r' => State::SizeLf,
                _ => return Err(BAD_SIZE),
            },
            State::SizeSpace => match b {
                b' ' | b'\t' => State::SizeSpace,
                b';' => State::Extension,
                b'\r' => State::SizeLf,
                _ => return Err(BAD_SIZE),
            },
            // Extensions are ignored, but must be visible characters, spaces, tabs or obs-text:
            // no control characters, no bare LF.
            State::Extension => match b {
                b'\r' => State::SizeLf,
                b'\t' | b' '..=b'~' | 0x80..=0xff => State::Extension,
                _ => return Err(BAD_EXT),
            },
            State::SizeLf => match b {
                b'\n' => {
                    self.line = 0;
                    if self.size == 0 {
                        State::TrailerStart
                    } else {
                        State::Data
                    }
                }
                _ => return Err(BAD_SIZE),
            },
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return Err("chunk data not followed by CRLF"),
            },
            State::DataLf => match b {
                b'\n' => {
                    self.line = 0;
                    State::Size { digits: 0 }
                }
                _ => return Err("chunk data not followed by CRLF"),
            },
            State::TrailerStart => match b {
                b'\r' => State::EndLf,
                b'\n' => return Err("invalid line ending in trailers"),
                _ => self.trailer_byte()?,
            },
            State::Trailer => match b {
                b'\r' => State::TrailerLf,
                b'\n' => return Err("invalid line ending in trailers"),
                _ => self.trailer_byte()?,
            },
            State::TrailerLf => match b {
                b'\n' => State::TrailerStart,
                _ => return Err("invalid line ending in trailers"),
            },
            State::EndLf => match b {
                b'\n' => State::Done,
                _ => return Err("invalid line ending in trailers"),
            },
            State::Data | State::Done => self.state,
        };
        Ok(())
    }

    fn trailer_byte(&mut self) -> Result<State, &'static str> {
        // `line` counts every trailer byte since the last chunk.
        if self.line > MAX_TRAILERS {
            return Err("trailers too large");
        }
        Ok(State::Trailer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces of `step` bytes: the body, or the error.
    fn decode_in_pieces(wire: &[u8], step: usize) -> Result<(Vec<u8>, usize), &'static str> {
        let mut decoder = Decoder::chunked();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            match decoder.decode(&mut buf)? {
                Decoded::Data(data) => body.extend_from_slice(&data),
                Decoded::Done => return Ok((body, buf.len() + wire.len() - fed)),
                Decoded::NeedMore => {
                    if fed == wire.len() {
                        return Err("ended early");
                    }
                    let end = (fed + step).min(wire.len());
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_however_they_are_split() {
        let wire = b"5\r\nhello\r\n7;name=\"v\"\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, 100] {
            let (body, left) = decode_in_pieces(wire, step).unwrap();
            assert_eq!(body, b"hello, world", "step {step}");
            assert_eq!(left, 4, "the next request is left alone");
        }
        assert_eq!(
            decode_in_pieces(b"A \r\n0123456789\r\n0\r\n\r\n", 4)
                .unwrap()
                .0
                .len(),
            10
        );
    }

    #[test]
    fn malformed_chunks_are_refused() {
        for wire in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5;a\x01b\r\nhello\r\n0\r\n\r\n",
            b"5;a\nb\r\nhello\r\n0\r\n\r\n",
            b"11111111111111111\r\n",
            b"-5\r\n",
            b"0x5\r\n",
            b"5 5\r\n",
            b"0\r\n\n",
        ] {
            assert!(decode_in_pieces(wire, 3).is_err(), "{wire:?}");
        }
    }

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
        assert_eq!(decoder.decode(&mut buf).unwrap(), Decoded::Done);
        assert_eq!(&buf[..], b"GET");
    }
}
