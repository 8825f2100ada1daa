//! Response heads: the status line and the fields, parsed with `httparse` and checked as
//! strictly as request heads, and the body's framing by RFC 9112 §6.3: no body for a HEAD
//! request's answer, 1xx, 204 and 304, whatever the fields say; else chunked, a length, or
//! until the connection closes.
//!
//! Two forms: [`parse_status`] borrows the buffer and allocates nothing (the load generator,
//! the health checks), [`parse`] takes the head out of a `BytesMut` into an
//! `http::Response<()>` whose values share its bytes (the balancer's backend client). Both
//! apply the same [`Scan`] and the same [`decide`].

use bytes::BytesMut;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Version};

use crate::fields::{Codings, Scan};
use crate::head::{self, Span, MAX_HEADERS};
use crate::Error;

/// How a response's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304, or a length of 0).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes.
    Close,
    /// 101 to a request that asked to switch: what follows is the new protocol's.
    Switched,
}

/// What a response's framing depends on besides the response: the request it answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    /// The request was a HEAD: its answer has no body, whatever its fields say.
    pub head: bool,
    /// The request asked to switch protocols: a 101 is its answer, not an error.
    pub upgrade: bool,
}

/// A response head's status line and what its fields decide, borrowed from nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The head's length in bytes, the blank line included.
    pub len: usize,
    /// The status code.
    pub code: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// How the body is framed.
    pub framing: Framing,
    /// Whether the connection may carry another request after this response's body.
    pub keep_alive: bool,
}

impl Status {
    /// An interim answer (1xx other than 101): the real one follows on the same connection.
    pub fn is_interim(&self) -> bool {
        is_interim(self.code)
    }
}

/// A response head, parsed and checked.
#[derive(Debug)]
pub struct ResponseHead {
    /// Status, version and fields. An interim answer's fields are not kept.
    pub response: Response<()>,
    /// How its body is framed.
    pub framing: Framing,
    /// Whether the connection may carry another request after this response's body.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// An interim answer (1xx other than 101): the real one follows on the same connection.
    pub fn is_interim(&self) -> bool {
        is_interim(self.response.status())
    }
}

fn is_interim(code: StatusCode) -> bool {
    code.is_informational() && code != StatusCode::SWITCHING_PROTOCOLS
}

/// Whether an answer to `asked` with `code` has no body, whatever its fields say.
pub fn bodiless(code: StatusCode, asked: Asked) -> bool {
    asked.head
        || code.is_informational()
        || code == StatusCode::NO_CONTENT
        || code == StatusCode::NOT_MODIFIED
}

/// Whether a connection may carry another request after an answer of `version` with these
/// fields (and a body not read until the close): the rule [`parse`] applies, for a caller
/// that kept the head but not the verdict.
pub fn keep_alive(version: Version, headers: &HeaderMap) -> bool {
    let mut scan = Scan::default();
    for value in headers.get_all(http::header::CONNECTION) {
        // A Connection field cannot be refused.
        let _ = scan.field(b"connection", value.as_bytes());
    }
    scan.keep_alive(version == Version::HTTP_11)
}

/// The status line's code, checked: three digits, 100 to 999.
fn status(code: Option<u16>) -> Result<StatusCode, Error> {
    StatusCode::from_u16(code.unwrap_or(0)).map_err(|_| Error::Malformed("invalid status"))
}

fn version(minor: Option<u8>) -> Version {
    match minor {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    }
}

/// Parses the response head at the start of `buf` without taking or copying anything:
/// `Ok(None)` while it is incomplete. A head over `max` bytes, complete or not, or with more
/// than [`MAX_HEADERS`] fields, is [`Error::TooLarge`].
pub fn parse_status(buf: &[u8], asked: Asked, max: usize) -> Result<Option<Status>, Error> {
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return head::partial(buf.len(), max),
        Err(e) => return Err(head::refused(e)),
    };
    head::check(&buf[..len], max)?;
    let code = status(parsed.code)?;
    let version = version(parsed.version);
    let mut scan = Scan::default();
    if !is_interim(code) {
        for field in parsed.headers.iter() {
            scan.field(field.name.as_bytes(), field.value)?;
        }
    }
    let (framing, keep_alive) = decide(&scan, code, version, asked)?;
    Ok(Some(Status {
        len,
        code,
        version,
        framing,
        keep_alive,
    }))
}

/// Parses the response head at the start of `buf`, taking it out of `buf` when complete
/// (`Ok(None)`: not complete yet), by the same rules as [`parse_status`].
pub fn parse(buf: &mut BytesMut, asked: Asked, max: usize) -> Result<Option<ResponseHead>, Error> {
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return head::partial(buf.len(), max),
        Err(e) => return Err(head::refused(e)),
    };
    head::check(&buf[..len], max)?;
    let code = status(parsed.code)?;
    let version = version(parsed.version);
    let mut response = Response::new(());
    *response.status_mut() = code;
    *response.version_mut() = version;
    if is_interim(code) {
        let _ = buf.split_to(len);
        return Ok(Some(ResponseHead {
            response,
            framing: Framing::Empty,
            keep_alive: true,
        }));
    }
    let base = buf.as_ptr() as usize;
    let mut spans = head::take_spans();
    spans.extend(parsed.headers.iter().map(|h| Span {
        name: head::offsets(base, h.name.as_bytes()),
        value: head::offsets(base, h.value),
    }));
    let built = build(buf, len, &spans, response, asked);
    head::give_back(spans);
    built
}

/// The rest of [`parse`], once the head's fields are known by their spans.
fn build(
    buf: &mut BytesMut,
    len: usize,
    spans: &[Span],
    mut response: Response<()>,
    asked: Asked,
) -> Result<Option<ResponseHead>, Error> {
    let head = buf.split_to(len).freeze();
    let mut map = HeaderMap::with_capacity(spans.len());
    let mut scan = Scan::default();
    for span in spans {
        let raw_name = &head[span.name.0..span.name.1];
        scan.field(raw_name, &head[span.value.0..span.value.1])?;
        let name = HeaderName::from_bytes(raw_name)
            .map_err(|_| Error::Malformed("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(span.value.0..span.value.1))
            .map_err(|_| Error::Malformed("invalid header value"))?;
        map.append(name, value);
    }
    let (framing, keep_alive) = decide(&scan, response.status(), response.version(), asked)?;
    *response.headers_mut() = map;
    Ok(Some(ResponseHead {
        response,
        framing,
        keep_alive,
    }))
}

/// A response's framing and whether its connection carries on, from its fields. Stricter
/// than RFC 9112 §6.3 where a proxy cannot relay what it is given: a transfer coding other
/// than exactly `chunked` is refused (the RFC would read such a body until the close, with
/// the coding still applied), and so are both a length and codings (the RFC lets the coding
/// win), and a 101 to a request that did not ask to switch.
pub fn decide(
    scan: &Scan,
    code: StatusCode,
    version: Version,
    asked: Asked,
) -> Result<(Framing, bool), Error> {
    if is_interim(code) {
        return Ok((Framing::Empty, true));
    }
    if code == StatusCode::SWITCHING_PROTOCOLS {
        return if asked.upgrade {
            Ok((Framing::Switched, false))
        } else {
            Err(Error::Malformed(
                "101 to a request that did not ask to switch",
            ))
        };
    }
    let codings = scan.codings()?;
    if codings == Codings::ChunkedAfterOthers {
        return Err(Error::Malformed("unsupported Transfer-Encoding"));
    }
    let framing = if bodiless(code, asked) {
        Framing::Empty
    } else if codings == Codings::Chunked {
        Framing::Chunked
    } else {
        match scan.length() {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    };
    let keep_alive = framing != Framing::Close && scan.keep_alive(version == Version::HTTP_11);
    Ok((framing, keep_alive))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(raw: &str, asked: Asked) -> Result<Status, Error> {
        let status = parse_status(raw.as_bytes(), asked, 64 * 1024).map(|s| s.expect("complete"));
        let mut buf = BytesMut::from(raw);
        let head = parse(&mut buf, asked, 64 * 1024).map(|h| h.expect("complete"));
        // The two forms agree, on refusals too.
        match (&status, head) {
            (Ok(s), Ok(h)) => {
                assert_eq!(s.code, h.response.status(), "{raw:?}");
                assert_eq!(s.version, h.response.version(), "{raw:?}");
                assert_eq!(
                    (s.framing, s.keep_alive),
                    (h.framing, h.keep_alive),
                    "{raw:?}"
                );
                assert_eq!(buf.len(), raw.len() - s.len, "{raw:?}");
            }
            (Err(a), Err(b)) => assert_eq!(*a, b, "{raw:?}"),
            (a, b) => panic!("{raw:?}: the forms disagree: {a:?} and {b:?}"),
        }
        status
    }

    fn ok(raw: &str) -> Status {
        both(raw, Asked::default()).unwrap()
    }

    #[test]
    fn ambiguous_response_framing_is_refused() {
        for raw in [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 02\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 099 Low\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.2 200 OK\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            // Refused for a HEAD's answer too: the fields are wrong whatever follows.
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        ] {
            assert!(both(raw, Asked::default()).is_err(), "{raw:?}");
            let head = Asked {
                head: true,
                upgrade: false,
            };
            assert!(both(raw, head).is_err(), "{raw:?} to HEAD");
        }
    }

    #[test]
    fn framing_follows_the_rules() {
        let s = ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert_eq!((s.framing, s.keep_alive), (Framing::Length(5), true));
        let head = Asked {
            head: true,
            upgrade: false,
        };
        let s = both("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", head).unwrap();
        assert_eq!((s.framing, s.keep_alive), (Framing::Empty, true));
        let s = both(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            head,
        )
        .unwrap();
        assert_eq!(s.framing, Framing::Empty);
        for raw in [
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ] {
            let s = ok(raw);
            assert_eq!((s.framing, s.keep_alive), (Framing::Empty, true), "{raw:?}");
        }
        let s = ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!((s.framing, s.keep_alive), (Framing::Chunked, true));
        let s = ok("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((s.framing, s.keep_alive), (Framing::Close, false));
        let s = ok("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert!(!s.keep_alive);
        let s = ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(!s.keep_alive);
        let s = ok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n");
        assert!(s.keep_alive);
        let s = ok("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(s.code, StatusCode::OK, "no reason phrase");
        for raw in [
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
        ] {
            assert!(ok(raw).is_interim(), "{raw:?}");
        }
        let upgrade = Asked {
            head: false,
            upgrade: true,
        };
        let s = both(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
            upgrade,
        )
        .unwrap();
        assert_eq!((s.framing, s.keep_alive), (Framing::Switched, false));
        assert!(!s.is_interim());
    }

    #[test]
    fn a_head_is_complete_or_too_large() {
        assert_eq!(
            parse_status(b"HTTP/1.1 200 OK\r\n", Asked::default(), 100),
            Ok(None)
        );
        assert_eq!(parse_status(b"HTTP/1.1 2", Asked::default(), 100), Ok(None));
        let long = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(200));
        assert_eq!(
            parse_status(long.as_bytes(), Asked::default(), 100),
            Err(Error::TooLarge)
        );
        let long = format!("{long}\r\n\r\n");
        assert_eq!(
            parse_status(long.as_bytes(), Asked::default(), 100),
            Err(Error::TooLarge)
        );
    }
}
