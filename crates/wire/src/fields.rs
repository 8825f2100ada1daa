//! What header fields say about a message's framing and its connection.
//!
//! Names and values are checked for their characters by the head parser (`httparse`: a name
//! is a token, a value visible characters, spaces, tabs and obs-text); this module gives the
//! fields that frame a message their meaning, one field at a time, in [`Scan`].

use crate::Error;

/// Most digits a `Content-Length` may have: 19, so that every valid value fits in a `u64`
/// without an overflow check (10^19 - 1 < 2^64) and no two parsers can disagree on it.
pub const MAX_LENGTH_DIGITS: usize = 19;

const BAD_LENGTH: Error = Error::Malformed("malformed Content-Length");
const TWO_LENGTHS: Error = Error::Malformed("more than one Content-Length");
const BAD_CODING: Error = Error::Malformed("unsupported Transfer-Encoding");

/// The fields this crate gives a meaning to; every other field is [`Known::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// `Content-Length`.
    ContentLength,
    /// `Transfer-Encoding`.
    TransferEncoding,
    /// `Connection`.
    Connection,
    /// `Host`.
    Host,
    /// `Expect`.
    Expect,
    /// `Upgrade`.
    Upgrade,
    /// Any other field.
    Other,
}

/// Which of the [`Known`] fields `name` is (ASCII case ignored).
pub fn classify(name: &[u8]) -> Known {
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    // By length first: most names are compared with nothing.
    match name.len() {
        4 if is(b"host") => Known::Host,
        6 if is(b"expect") => Known::Expect,
        7 if is(b"upgrade") => Known::Upgrade,
        10 if is(b"connection") => Known::Connection,
        14 if is(b"content-length") => Known::ContentLength,
        17 if is(b"transfer-encoding") => Known::TransferEncoding,
        _ => Known::Other,
    }
}

/// A `Content-Length` value (optional whitespace around it trimmed): one to
/// [`MAX_LENGTH_DIGITS`] decimal digits and nothing else, without leading zeros (`0` itself
/// is fine). A sign, a list (`3, 3`), spaces inside, `0x`, or `007` give `None`.
pub fn content_length(value: &[u8]) -> Option<u64> {
    let digits = trim_ows(value);
    if digits.is_empty() || digits.len() > MAX_LENGTH_DIGITS {
        return None;
    }
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    let mut n = 0u64;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

/// `value` without the optional whitespace (spaces and tabs) around it.
pub fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// The elements of a comma-separated field value, trimmed; empty elements skipped
/// (RFC 9110 §5.6.1).
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|token| !token.is_empty())
}

/// Whether a comma-separated field value holds `token` (ASCII case ignored).
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    tokens(value).any(|t| t.eq_ignore_ascii_case(token))
}

/// What the transfer codings of a head come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codings {
    /// No `Transfer-Encoding`.
    None,
    /// Exactly `chunked`.
    Chunked,
    /// Other codings, then `chunked` last (`gzip, chunked`).
    ChunkedAfterOthers,
}

/// The fields of one head that frame its body or decide its connection's fate, gathered one
/// field at a time, in order. A field that can only be wrong is refused as it comes:
/// `Content-Length` twice or malformed, a coding after `chunked`, a second `Host`. What
/// depends on the whole head (both a length and codings; codings that do not end in
/// `chunked`) is decided by [`Scan::codings`] at the end.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    length: Option<u64>,
    /// Some `Transfer-Encoding` field was seen (even an empty one).
    coded: bool,
    /// The last coding so far is `chunked`.
    chunked_last: bool,
    /// A coding other than `chunked` was seen.
    other_coding: bool,
    hosts: u32,
    close: bool,
    keep_alive: bool,
    connection_upgrade: bool,
    upgrade_field: bool,
    expect_continue: bool,
}

impl Scan {
    /// Takes one field in; says which known field it was.
    pub fn field(&mut self, name: &[u8], value: &[u8]) -> Result<Known, Error> {
        let known = classify(name);
        match known {
            Known::ContentLength => {
                if self.length.is_some() {
                    return Err(TWO_LENGTHS);
                }
                self.length = Some(content_length(value).ok_or(BAD_LENGTH)?);
            }
            Known::TransferEncoding => {
                self.coded = true;
                for coding in tokens(value) {
                    if self.chunked_last {
                        // After `chunked`: the body's end would not be chunked's to say.
                        return Err(BAD_CODING);
                    }
                    self.chunked_last = coding.eq_ignore_ascii_case(b"chunked");
                    self.other_coding |= !self.chunked_last;
                }
            }
            Known::Connection => {
                for token in tokens(value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.keep_alive = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        self.connection_upgrade = true;
                    }
                }
            }
            Known::Host => {
                self.hosts += 1;
                if self.hosts > 1 {
                    return Err(Error::Malformed("more than one Host"));
                }
            }
            Known::Expect => {
                self.expect_continue = trim_ows(value).eq_ignore_ascii_case(b"100-continue");
            }
            Known::Upgrade => self.upgrade_field = true,
            Known::Other => {}
        }
        Ok(known)
    }

    /// The `Content-Length`, if one was given.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// Whether any `Transfer-Encoding` was given.
    pub fn is_coded(&self) -> bool {
        self.coded
    }

    /// The transfer codings, once every field is in: refused when given with a
    /// `Content-Length` too, or when they do not end in `chunked` (the body's length could
    /// not be known).
    pub fn codings(&self) -> Result<Codings, Error> {
        if !self.coded {
            return Ok(Codings::None);
        }
        if self.length.is_some() {
            return Err(Error::Malformed(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        match (self.chunked_last, self.other_coding) {
            (false, _) => Err(BAD_CODING),
            (true, false) => Ok(Codings::Chunked),
            (true, true) => Ok(Codings::ChunkedAfterOthers),
        }
    }

    /// How many `Host` fields (0 or 1: a second is refused).
    pub fn hosts(&self) -> u32 {
        self.hosts
    }

    /// Whether the connection may carry another message after this one, by the version's
    /// rule: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`
    /// (and no `close`).
    pub fn keep_alive(&self, http11: bool) -> bool {
        if http11 {
            !self.close
        } else {
            self.keep_alive && !self.close
        }
    }

    /// Whether the message asks to switch protocols: `Connection: upgrade` and an `Upgrade`
    /// field.
    pub fn upgrade(&self) -> bool {
        self.connection_upgrade && self.upgrade_field
    }

    /// `Expect: 100-continue`.
    pub fn expect_continue(&self) -> bool {
        self.expect_continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_is_plain_digits() {
        for (raw, n) in [
            ("0", 0),
            ("12", 12),
            (" 5\t", 5),
            ("9999999999999999999", 9_999_999_999_999_999_999),
        ] {
            assert_eq!(content_length(raw.as_bytes()), Some(n), "{raw:?}");
        }
        for raw in [
            "",
            " ",
            "+5",
            "-5",
            "5,5",
            "5, 5",
            "0x5",
            "5 5",
            "05",
            "00",
            "1e3",
            "5;",
            "٣",
            "18446744073709551616",
            "10000000000000000000",
        ] {
            assert_eq!(content_length(raw.as_bytes()), None, "{raw:?}");
        }
    }

    #[test]
    fn names_are_classified_whatever_their_case() {
        assert_eq!(classify(b"Content-Length"), Known::ContentLength);
        assert_eq!(classify(b"TRANSFER-ENCODING"), Known::TransferEncoding);
        assert_eq!(classify(b"host"), Known::Host);
        assert_eq!(classify(b"Content-Lengths"), Known::Other);
        assert_eq!(classify(b"Transfer_Encoding"), Known::Other);
    }

    fn scan(fields: &[(&str, &str)]) -> Result<Scan, Error> {
        let mut scan = Scan::default();
        for (name, value) in fields {
            scan.field(name.as_bytes(), value.as_bytes())?;
        }
        Ok(scan)
    }

    #[test]
    fn codings_must_end_in_one_chunked() {
        let codings = |fields: &[(&str, &str)]| scan(fields).and_then(|s| s.codings());
        assert_eq!(codings(&[]), Ok(Codings::None));
        for value in ["chunked", "Chunked", " chunked ", "\tchunked", ", chunked,"] {
            assert_eq!(
                codings(&[("Transfer-Encoding", value)]),
                Ok(Codings::Chunked),
                "{value:?}"
            );
        }
        assert_eq!(
            codings(&[
                ("Transfer-Encoding", "gzip"),
                ("transfer-encoding", "chunked")
            ]),
            Ok(Codings::ChunkedAfterOthers)
        );
        for value in [
            "",
            "xchunked",
            "chunkedx",
            "\"chunked\"",
            "chunked;q=1",
            "chunk",
            "identity",
            "chunked, identity",
            "chunked, chunked",
            "chunked chunked",
            "gzip",
        ] {
            assert_eq!(
                codings(&[("Transfer-Encoding", value)]),
                Err(BAD_CODING),
                "{value:?}"
            );
        }
        assert_eq!(
            codings(&[
                ("Transfer-Encoding", "chunked"),
                ("Transfer-Encoding", "chunked")
            ]),
            Err(BAD_CODING)
        );
        assert_eq!(
            codings(&[("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "x")]),
            Err(BAD_CODING)
        );
        assert_eq!(
            codings(&[("Content-Length", "3"), ("Transfer-Encoding", "chunked")]),
            Err(Error::Malformed(
                "both Content-Length and Transfer-Encoding"
            ))
        );
        assert_eq!(
            codings(&[("Transfer-Encoding", "chunked"), ("Content-Length", "3")]),
            Err(Error::Malformed(
                "both Content-Length and Transfer-Encoding"
            ))
        );
    }

    #[test]
    fn a_length_is_given_once() {
        assert_eq!(
            scan(&[("Content-Length", "3"), ("Content-Length", "3")]).unwrap_err(),
            TWO_LENGTHS
        );
        assert_eq!(
            scan(&[("Content-Length", "3"), ("content-length", "4")]).unwrap_err(),
            TWO_LENGTHS
        );
        assert_eq!(scan(&[("Content-Length", "3, 3")]).unwrap_err(), BAD_LENGTH);
    }

    #[test]
    fn connection_tokens_decide_keep_alive() {
        let s = scan(&[
            ("Connection", "Keep-Alive, Upgrade"),
            ("Upgrade", "websocket"),
        ])
        .unwrap();
        assert!(s.keep_alive(true) && s.keep_alive(false) && s.upgrade());
        let s = scan(&[("Connection", "keep-alive"), ("Connection", "close")]).unwrap();
        assert!(!s.keep_alive(true) && !s.keep_alive(false));
        let s = scan(&[("Connection", "closed")]).unwrap();
        assert!(s.keep_alive(true) && !s.keep_alive(false));
        let s = scan(&[("Connection", "upgrade")]).unwrap();
        assert!(!s.upgrade(), "no Upgrade field");
        assert!(scan(&[("Expect", " 100-Continue ")])
            .unwrap()
            .expect_continue());
    }
}
