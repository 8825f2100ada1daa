//! The chunked transfer coding (RFC 9112 §7.1) as an incremental state machine: bytes in as
//! they come, body bytes out; the same body and the same refusals however the input is split
//! across reads, since every byte of framing moves the state by itself.
//!
//! Strict about the framing: a chunk size is 1 to 16 hex digits and nothing else (no sign,
//! no `0x`, no leading whitespace), optionally followed by spaces or tabs, then extensions
//! after `;` (visible characters, spaces, tabs and obs-text, ignored) up to CRLF; data is
//! followed by CRLF; trailer lines end in CRLF and are dropped. A bare LF anywhere, a size
//! line over 4 KiB, or over 16 KiB of trailers is refused.
//!
//! ```
//! use switchboard_wire::chunked::Chunked;
//! use switchboard_wire::Step;
//!
//! let mut chunked = Chunked::new();
//! let wire = b"5\r\nhello\r\n0\r\n\r\n";
//! assert_eq!(chunked.decode(wire), Ok(Step::Data { skip: 3, len: 5 }));
//! assert_eq!(chunked.decode(&wire[8..]), Ok(Step::Done { used: 7 }));
//! ```

use crate::body::Step;
use crate::Error;

/// Longest chunk-size line (size, extensions) accepted; more is refused as malformed. hyper
/// allows 16 KiB of extensions over the whole body; one line of 4 KiB is plenty.
pub const MAX_CHUNK_LINE: usize = 4 * 1024;
/// Most bytes of trailer fields accepted (they are read and dropped).
pub const MAX_TRAILERS: usize = 16 * 1024;

/// Where a chunked body's decoding is.
#[derive(Debug, Clone)]
pub struct Chunked {
    state: State,
    /// Bytes of the current size line or the trailer section so far, for their limits.
    line: usize,
    /// Data bytes left in the current chunk (while in `Data`), or the size being read.
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

impl Default for Chunked {
    fn default() -> Self {
        Chunked::new()
    }
}

impl Chunked {
    /// A chunked body, from its first chunk-size line.
    pub fn new() -> Self {
        Chunked {
            state: State::Size { digits: 0 },
            line: 0,
            size: 0,
        }
    }

    /// Whether the body has ended (the last chunk and the trailers are read).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the front of `buf`: framing bytes are taken as they come, and the first
    /// body bytes found are given as a range of `buf` ([`Step::Data`]). An error is malformed
    /// framing: the connection cannot be trusted after it.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Step, Error> {
        let mut at = 0;
        loop {
            match self.state {
                State::Done => return Ok(Step::Done { used: at }),
                State::Data => {
                    if at == buf.len() {
                        return Ok(Step::NeedMore { used: at });
                    }
                    let len = usize::try_from(self.size)
                        .unwrap_or(usize::MAX)
                        .min(buf.len() - at);
                    self.size -= len as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok(Step::Data { skip: at, len });
                }
                _ => {
                    let Some(&b) = buf.get(at) else {
                        return Ok(Step::NeedMore { used: at });
                    };
                    at += 1;
                    self.step(b)?;
                }
            }
        }
    }

    /// One byte of framing.
    fn step(&mut self, b: u8) -> Result<(), Error> {
        const BAD_SIZE: Error = Error::Malformed("invalid chunk size");
        const BAD_EXT: Error = Error::Malformed("invalid chunk extension");
        self.line += 1;
        if self.line > MAX_CHUNK_LINE
            && matches!(
                self.state,
                State::Size { .. } | State::SizeSpace | State::Extension | State::SizeLf
            )
        {
            return Err(Error::Malformed("chunk size line too long"));
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
                _ => return Err(Error::Malformed("chunk data not followed by CRLF")),
            },
            State::DataLf => match b {
                b'\n' => {
                    self.line = 0;
                    State::Size { digits: 0 }
                }
                _ => return Err(Error::Malformed("chunk data not followed by CRLF")),
            },
            State::TrailerStart => match b {
                b'\r' => State::EndLf,
                b'\n' => return Err(Error::Malformed("invalid line ending in trailers")),
                _ => self.trailer_byte()?,
            },
            State::Trailer => match b {
                b'\r' => State::TrailerLf,
                b'\n' => return Err(Error::Malformed("invalid line ending in trailers")),
                _ => self.trailer_byte()?,
            },
            State::TrailerLf => match b {
                b'\n' => State::TrailerStart,
                _ => return Err(Error::Malformed("invalid line ending in trailers")),
            },
            State::EndLf => match b {
                b'\n' => State::Done,
                _ => return Err(Error::Malformed("invalid line ending in trailers")),
            },
            State::Data | State::Done => self.state,
        };
        Ok(())
    }

    fn trailer_byte(&mut self) -> Result<State, Error> {
        // `line` counts every trailer byte since the last chunk.
        if self.line > MAX_TRAILERS {
            return Err(Error::Malformed("trailers too large"));
        }
        Ok(State::Trailer)
    }
}

#[cfg(test)]
mod tests;
