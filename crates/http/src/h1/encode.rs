//! Response heads and body framing on the wire, and the `Date` header cached per second.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap};
use http::{StatusCode, Version};

/// How a response's body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body is sent (HEAD, 1xx, 204, 304).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked (HTTP/1.1, length unknown).
    Chunked,
    /// Until the connection closes (HTTP/1.0, length unknown).
    Close,
}

/// What the head depends on besides the response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    pub(crate) head: bool,
    pub(crate) version: Version,
}

/// Writes the status line and headers of a response to `buf` and says how its body is framed.
/// `exact` is the body's exact length if known; `keep_alive` comes in as the connection's
/// wish and goes out as the decision (a body framed by the close ends it).
pub(crate) fn head(
    buf: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    exact: Option<u64>,
    request: Request,
    keep_alive: &mut bool,
) -> Framing {
    let informational = status.is_informational();
    // Headers this function writes itself (or drops). One pass over the fields finds them,
    // cheaper than a lookup each by name.
    let mut skip_length = false;
    let mut skip_coding = false;
    let mut user_length = None;
    let mut length_seen = false;
    let mut user_coding = false;
    let mut has_date = false;
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH {
            // The first value decides, as a lookup by name would: a malformed one means the
            // length is ours to write.
            if !length_seen {
                length_seen = true;
                user_length = switchboard_wire::fields::content_length(value.as_bytes());
            }
        } else if name == header::TRANSFER_ENCODING {
            user_coding = true;
        } else if name == header::DATE {
            has_date = true;
        }
    }
    let mut add_length = None;
    let mut add_chunked = false;
    let framing = if informational || status == StatusCode::NO_CONTENT {
        skip_length = true;
        skip_coding = true;
        Framing::None
    } else if status == StatusCode::NOT_MODIFIED {
        Framing::None
    } else if request.head {
        if user_length.is_none() && !user_coding {
            add_length = exact;
        }
        Framing::None
    } else if user_coding {
        // The service asked for a transfer coding; chunked is the only one this server applies.
        skip_coding = true;
        skip_length = true;
        if request.version == Version::HTTP_11 {
            add_chunked = true;
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else if let Some(n) = user_length {
        Framing::Length(n)
    } else if let Some(n) = exact {
        skip_length = true;
        add_length = Some(n);
        Framing::Length(n)
    } else if request.version == Version::HTTP_11 {
        skip_length = true;
        add_chunked = true;
        Framing::Chunked
    } else {
        skip_length = true;
        Framing::Close
    };
    if framing == Framing::Close {
        *keep_alive = false;
    }

    // The buffer is given back between responses, so this is an allocation only for a
    // connection's first response or an unusually large head.
    buf.reserve(512);
    status_line(buf, status);
    let mut says_close = false;
    let mut says_keep_alive = false;
    for (name, value) in headers {
        if (skip_length && name == header::CONTENT_LENGTH)
            || (skip_coding && name == header::TRANSFER_ENCODING)
        {
            continue;
        }
        if name == header::CONNECTION {
            for token in value.as_bytes().split(|&b| b == b',') {
                let token = token.trim_ascii();
                says_close |= token.eq_ignore_ascii_case(b"close");
                says_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        field(buf, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(n) = add_length {
        buf.extend_from_slice(b"content-length: ");
        buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    if add_chunked {
        buf.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if says_close {
        *keep_alive = false;
    }
    if status != StatusCode::SWITCHING_PROTOCOLS {
        if !*keep_alive && !says_close {
            buf.extend_from_slice(b"connection: close\r\n");
        } else if *keep_alive && request.version == Version::HTTP_10 && !says_keep_alive {
            buf.extend_from_slice(b"connection: keep-alive\r\n");
        }
    }
    if !has_date {
        date(buf);
    }
    buf.extend_from_slice(b"\r\n");
    framing
}

/// A whole response of this server's own (an error before any service saw the request):
/// JSON `{"error": "..."}`, closing the connection.
pub(crate) fn error(buf: &mut Vec<u8>, status: StatusCode, message: &str) {
    let body = format!("{{\"error\":\"{message}\"}}\n");
    status_line(buf, status);
    field(buf, b"content-type", b"application/json");
    buf.extend_from_slice(b"content-length: ");
    buf.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    buf.extend_from_slice(b"\r\nconnection: close\r\n");
    date(buf);
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(body.as_bytes());
}

/// The size line of a chunk.
pub(crate) fn chunk_size(buf: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = len;
    loop {
        at -= 1;
        digits[at] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
    buf.extend_from_slice(b"\r\n");
}

/// The end of a chunked body (no trailers).
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

fn status_line(buf: &mut Vec<u8>, status: StatusCode) {
    if status == StatusCode::OK {
        buf.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    buf.extend_from_slice(b"HTTP/1.1 ");
    buf.extend_from_slice(status.as_str().as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    buf.extend_from_slice(b"\r\n");
}

fn field(buf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    buf.extend_from_slice(name);
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\r\n");
}

/// `Date` is formatted once per second per thread, as hyper and nginx do: formatting it for
/// every response costs more than the rest of a small response's head.
struct CachedDate {
    second: u64,
    line: [u8; DATE_LINE.len()],
}

/// `date: ` and an IMF-fixdate (always 29 bytes) and CRLF.
const DATE_LINE: &[u8; 37] = b"date: Thu, 01 Jan 1970 00:00:00 GMT\r\n";

thread_local! {
    static DATE: RefCell<CachedDate> = const {
        RefCell::new(CachedDate { second: u64::MAX, line: *DATE_LINE })
    };
}

fn date(buf: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DATE.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.second != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == 29 {
                cached.line[6..35].copy_from_slice(formatted.as_bytes());
            }
            cached.second = second;
        }
        buf.extend_from_slice(&cached.line);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    fn encode(
        status: u16,
        headers: &[(&str, &str)],
        exact: Option<u64>,
        req: Request,
    ) -> (String, Framing, bool) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let mut buf = Vec::new();
        let mut keep_alive = true;
        let framing = head(
            &mut buf,
            StatusCode::from_u16(status).unwrap(),
            &map,
            exact,
            req,
            &mut keep_alive,
        );
        let text = String::from_utf8(buf).unwrap();
        let without_date: String = text
            .lines()
            .filter(|l| !l.starts_with("date: "))
            .map(|l| format!("{l}\n"))
            .collect();
        (without_date, framing, keep_alive)
    }

    const GET: Request = Request {
        head: false,
        version: Version::HTTP_11,
    };

    #[test]
    fn framing_follows_the_body_and_the_request() {
        let (text, framing, keep) = encode(200, &[("content-type", "text/plain")], Some(5), GET);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\ncontent-type: text/plain\ncontent-length: 5\n\n"
        );
        assert_eq!((framing, keep), (Framing::Length(5), true));

        let (text, framing, _) = encode(200, &[], None, GET);
        assert_eq!(text, "HTTP/1.1 200 OK\ntransfer-encoding: chunked\n\n");
        assert_eq!(framing, Framing::Chunked);

        let old = Request {
            version: Version::HTTP_10,
            ..GET
        };
        let (text, framing, keep) = encode(200, &[], None, old);
        assert_eq!(text, "HTTP/1.1 200 OK\nconnection: close\n\n");
        assert_eq!((framing, keep), (Framing::Close, false));

        let head = Request { head: true, ..GET };
        let (text, framing, _) = encode(200, &[], Some(9), head);
        assert_eq!(text, "HTTP/1.1 200 OK\ncontent-length: 9\n\n");
        assert_eq!(framing, Framing::None);

        let (text, framing, _) = encode(204, &[("content-length", "0")], Some(0), GET);
        assert_eq!(text, "HTTP/1.1 204 No Content\n\n");
        assert_eq!(framing, Framing::None);

        // The service's own length is kept; a malformed first one is replaced by ours, and
        // a later one is not read instead.
        let (text, framing, _) = encode(200, &[("content-length", "3")], Some(3), GET);
        assert_eq!(text, "HTTP/1.1 200 OK\ncontent-length: 3\n\n");
        assert_eq!(framing, Framing::Length(3));
        let malformed = [("content-length", "x"), ("content-length", "5")];
        let (text, framing, _) = encode(200, &malformed, Some(3), GET);
        assert_eq!(text, "HTTP/1.1 200 OK\ncontent-length: 3\n\n");
        assert_eq!(framing, Framing::Length(3));

        let (text, _, keep) = encode(400, &[("connection", "close")], Some(0), GET);
        assert_eq!(
            text,
            "HTTP/1.1 400 Bad Request\nconnection: close\ncontent-length: 0\n\n"
        );
        assert!(!keep);
    }

    #[test]
    fn the_date_is_an_imf_fixdate() {
        let mut buf = Vec::new();
        date(&mut buf);
        let line = String::from_utf8(buf).unwrap();
        assert!(
            line.starts_with("date: ") && line.ends_with(" GMT\r\n"),
            "{line}"
        );
        assert_eq!(line.len(), DATE_LINE.len());
    }

    #[test]
    fn chunk_sizes_are_hex() {
        let mut buf = Vec::new();
        chunk_size(&mut buf, 0x1a2f);
        chunk_size(&mut buf, 0);
        assert_eq!(buf, b"1a2f\r\n0\r\n");
    }
}
