//! Request heads: parsed with `httparse`, then checked for the shapes that smuggle requests.

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Uri, Version};

/// The most header fields a request may have; more is answered 431, as hyper does.
const MAX_HEADERS: usize = 100;

/// How a request's body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request head, ready to go to the service.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) request: Request<()>,
    pub(crate) framing: Framing,
    /// By HTTP/1.1's rules: unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue`.
    pub(crate) expect_continue: bool,
    /// Asks to switch protocols (`Connection: upgrade` with `Upgrade`).
    pub(crate) upgrade: bool,
}

/// Why a head was refused: each is answered and the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400 Bad Request, saying why.
    Bad(&'static str),
    /// 431 Request Header Fields Too Large.
    TooLarge,
    /// 501 Not Implemented: a transfer coding other than `chunked` (RFC 9112 §6.1).
    NotImplemented(&'static str),
    /// 405 Method Not Allowed: `CONNECT`, which neither server proxies.
    Connect,
}

#[cfg(test)]
thread_local! {
    /// How many times [`parse`] ran on this thread, for tests.
    pub(crate) static PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Offsets of one header field in the head.
#[derive(Clone, Copy, Default)]
struct Field {
    name: (usize, usize),
    value: (usize, usize),
}

thread_local! {
    /// The offsets of the head being parsed, kept between heads: the fields are found while
    /// `httparse` borrows the buffer and used after the head is split off it. A buffer kept
    /// per thread rather than an array per call: zeroing room for `MAX_HEADERS` fields on
    /// every request cost more than parsing a typical head.
    static FIELDS: std::cell::RefCell<Vec<Field>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Parses the head at the start of `buf`, taking it out of `buf` when complete (`Ok(None)`:
/// not complete yet). A head longer than `max` bytes, complete or not, is refused.
pub(crate) fn parse(buf: &mut BytesMut, max: usize) -> Result<Option<Head>, Refusal> {
    #[cfg(test)]
    PARSES.with(|n| n.set(n.get() + 1));
    // Uninitialised: httparse writes only the fields it finds (zeroing all of them was the
    // largest single cost of a request).
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let base = buf.as_ptr() as usize;
    let offsets = |s: &[u8]| {
        if s.is_empty() {
            return (0, 0);
        }
        let start = s.as_ptr() as usize - base;
        (start, start + s.len())
    };
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > max {
                Err(Refusal::TooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooLarge),
        Err(e) => return Err(Refusal::Bad(describe(e))),
    };
    if len > max {
        return Err(Refusal::TooLarge);
    }
    // httparse takes a bare LF for a line ending; every real client sends CRLF, and the
    // chunked framing refuses bare LF too.
    if bare_lf(&buf[..len]) {
        return Err(Refusal::Bad("invalid line ending"));
    }
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| Refusal::Bad("invalid method"))?;
    let target = offsets(req.path.unwrap_or_default().as_bytes());
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut fields = FIELDS.take();
    fields.clear();
    fields.extend(req.headers.iter().map(|h| Field {
        name: offsets(h.name.as_bytes()),
        value: offsets(h.value),
    }));
    let head = build(buf, len, method, target, version, &fields);
    FIELDS.set(fields);
    head
}

/// The rest of [`parse`], once the head's fields are known by their offsets.
fn build(
    buf: &mut BytesMut,
    len: usize,
    method: Method,
    target: (usize, usize),
    version: Version,
    fields: &[Field],
) -> Result<Option<Head>, Refusal> {
    let count = fields.len();

    let head: Bytes = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target.0..target.1))
        .map_err(|_| Refusal::Bad("invalid request target"))?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    let map = request.headers_mut();
    // Room for a few more: a proxy adds its forwarding fields, and a map sized exactly grows
    // (and reallocates) once per field added.
    map.reserve(count + 4);

    let mut length: Option<u64> = None;
    let mut codings = false;
    let mut chunked_last = false;
    let mut chunked_seen = false;
    let mut other_coding = false;
    let mut hosts = 0;
    let mut close = false;
    let mut keep_alive = false;
    let mut connection_upgrade = false;
    let mut expect_continue = false;
    for field in fields {
        let name = HeaderName::from_bytes(&head[field.name.0..field.name.1])
            .map_err(|_| Refusal::Bad("invalid header name"))?;
        let raw = &head[field.value.0..field.value.1];
        if name == header::CONTENT_LENGTH {
            if length.is_some() {
                return Err(Refusal::Bad("more than one Content-Length"));
            }
            length = Some(parse_length(raw).ok_or(Refusal::Bad("malformed Content-Length"))?);
        } else if name == header::TRANSFER_ENCODING {
            codings = true;
            for coding in tokens(raw) {
                if chunked_last {
                    // Something after `chunked`: the body's end is not chunked's to say.
                    return Err(Refusal::Bad("unsupported Transfer-Encoding"));
                }
                chunked_last = coding.eq_ignore_ascii_case(b"chunked");
                if chunked_last {
                    if chunked_seen {
                        return Err(Refusal::Bad("unsupported Transfer-Encoding"));
                    }
                    chunked_seen = true;
                } else {
                    other_coding = true;
                }
            }
        } else if name == header::HOST {
            hosts += 1;
            if hosts > 1 {
                return Err(Refusal::Bad("more than one Host"));
            }
            // Checked in place (a slice of the head), not copied.
            let value = trim(raw);
            let start = field.value.0 + (value.as_ptr() as usize - raw.as_ptr() as usize);
            if !value.is_empty()
                && http::uri::Authority::from_maybe_shared(head.slice(start..start + value.len()))
                    .is_err()
            {
                return Err(Refusal::Bad("invalid Host"));
            }
        } else if name == header::CONNECTION {
            for token in tokens(raw) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    connection_upgrade = true;
                }
            }
        } else if name == header::EXPECT {
            expect_continue = trim(raw).eq_ignore_ascii_case(b"100-continue");
        }
        let value = HeaderValue::from_maybe_shared(head.slice(field.value.0..field.value.1))
            .map_err(|_| Refusal::Bad("invalid header value"))?;
        map.append(name, value);
    }

    let framing = if codings {
        if length.is_some() {
            return Err(Refusal::Bad("both Content-Length and Transfer-Encoding"));
        }
        if version == Version::HTTP_10 {
            return Err(Refusal::Bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        // Not ending in `chunked`, the body's length cannot be known: 400 (RFC 9112 §6.3).
        if !chunked_last {
            return Err(Refusal::Bad("unsupported Transfer-Encoding"));
        }
        // Other codings before it would reach the service still applied: not implemented.
        if other_coding {
            return Err(Refusal::NotImplemented("unsupported Transfer-Encoding"));
        }
        Framing::Chunked
    } else {
        match length {
            None | Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
        }
    };
    if version == Version::HTTP_11 && hosts == 0 {
        return Err(Refusal::Bad("missing Host"));
    }
    if request.method() == Method::CONNECT {
        return Err(Refusal::Connect);
    }
    let keep_alive = match version {
        Version::HTTP_11 => !close,
        _ => keep_alive && !close,
    };
    let upgrade = connection_upgrade && request.headers().contains_key(header::UPGRADE);
    Ok(Some(Head {
        request,
        framing,
        keep_alive,
        expect_continue: expect_continue && version == Version::HTTP_11,
        upgrade,
    }))
}

/// A Content-Length value: digits only, one number, no overflow.
fn parse_length(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || raw.len() > 19 {
        return None;
    }
    raw.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(b - b'0')))
            .flatten()
    })
}

/// Whether a line of `head` ends in LF without CR.
fn bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

/// The comma-separated tokens of a header value, trimmed, empty ones skipped.
fn tokens(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split(|&b| b == b',')
        .map(trim)
        .filter(|token| !token.is_empty())
}

fn trim(raw: &[u8]) -> &[u8] {
    raw.trim_ascii()
}

fn describe(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "unsupported HTTP version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<Head>, Refusal> {
        parse(&mut BytesMut::from(raw), 16 * 1024)
    }

    fn refused(raw: &str) -> &'static str {
        match head(raw) {
            Err(Refusal::Bad(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_head_parses_into_a_request_and_its_framing() {
        let mut buf = BytesMut::from("GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y: 1\r\n\r\nrest");
        let parsed = parse(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(parsed.request.uri(), "/a?b=c");
        assert_eq!(parsed.request.headers()["x-y"], "1");
        assert_eq!(parsed.framing, Framing::Empty);
        assert!(parsed.keep_alive);
        assert_eq!(&buf[..], b"rest");

        assert!(head("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        let h = head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(12));
        let h = head("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked \r\n\r\n");
        assert_eq!(h.unwrap().unwrap().framing, Framing::Chunked);
        // HTTP/1.0 needs no Host.
        assert!(head("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
        // A Host is checked without the whitespace around it; an empty one is allowed.
        for host in ["Host:  example.com:8080 \t", "Host: [::1]:80", "Host:"] {
            let raw = format!("GET / HTTP/1.1\r\n{host}\r\n\r\n");
            assert!(head(&raw).unwrap().is_some(), "{raw:?}");
        }
    }

    #[test]
    fn keep_alive_follows_the_version() {
        let keep = |raw: &str| head(raw).unwrap().unwrap().keep_alive;
        assert!(keep("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!keep(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
        assert!(keep("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        for (raw, why) in [
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                "both Content-Length and Transfer-Encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                "more than one Content-Length",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n",
                "malformed Content-Length",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n",
                "malformed Content-Length",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                "unsupported Transfer-Encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                "unsupported Transfer-Encoding",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
                "unsupported Transfer-Encoding",
            ),
            (
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                "Transfer-Encoding in an HTTP/1.0 request",
            ),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", "invalid header name"),
            ("GET / HTTP/1.1\r\nHost: x\r\nX Y: a\r\n\r\n", "invalid header name"),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", "invalid header value"),
            ("GET / HTTP/1.1\r\n\r\n", "missing Host"),
            ("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "more than one Host"),
            ("GET / HTTP/1.0\r\nHost: x\r\nHost: x\r\n\r\n", "more than one Host"),
            ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "invalid Host"),
            ("GET / HTTP/1.1\r\nHost:  a/b \r\n\r\n", "invalid Host"),
            ("GET / HTTP/1.1\r\nHost: a:b:c:\r\n\r\n", "invalid Host"),
            ("GET / HTTP/1.1\nHost: x\r\n\r\n", "invalid line ending"),
            ("GET / HTTP/1.1\r\nHost: x\n\r\n", "invalid line ending"),
            ("GET / HTTP/1.1\r\nHost: x\r\n\n", "invalid line ending"),
            ("\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "invalid line ending"),
        ] {
            assert_eq!(refused(raw), why, "{raw:?}");
        }
    }

    #[test]
    fn codings_before_chunked_are_not_implemented_and_connect_is_not_allowed() {
        for raw in [
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(
                head(raw).unwrap_err(),
                Refusal::NotImplemented("unsupported Transfer-Encoding"),
                "{raw:?}"
            );
        }
        let connect = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
        assert_eq!(head(connect).unwrap_err(), Refusal::Connect);
    }

    #[test]
    fn a_head_over_the_limit_is_too_large_complete_or_not() {
        let long = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(200)
        );
        assert_eq!(
            parse(&mut BytesMut::from(long.as_str()), 100).unwrap_err(),
            Refusal::TooLarge
        );
        let endless = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}", "a".repeat(200));
        assert_eq!(
            parse(&mut BytesMut::from(endless.as_str()), 100).unwrap_err(),
            Refusal::TooLarge
        );
        let many: String = (0..101).map(|i| format!("X-{i}: a\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        assert_eq!(head(&many).unwrap_err(), Refusal::TooLarge);
    }
}
