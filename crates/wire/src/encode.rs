//! Writing request heads and chunk-size lines, so that the parsers here read them back as
//! they were meant (a property test holds [`request_head`] and [`crate::request::parse`] to
//! it). Any [`BufMut`]: a `Vec<u8>` or a `BytesMut`.

use std::borrow::Cow;

use bytes::BufMut;
use http::header;
use http::{Request, Uri, Version};

use crate::request::Framing;

/// `METHOD target HTTP/1.x` and CRLF.
pub fn request_line(buf: &mut impl BufMut, method: &[u8], target: &[u8], version: Version) {
    buf.put_slice(method);
    buf.put_u8(b' ');
    buf.put_slice(target);
    buf.put_slice(if version == Version::HTTP_10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
}

/// `name: value` and CRLF.
pub fn field(buf: &mut impl BufMut, name: &[u8], value: &[u8]) {
    buf.put_slice(name);
    buf.put_slice(b": ");
    buf.put_slice(value);
    buf.put_slice(b"\r\n");
}

/// The field that frames a body so: `content-length: n`, `transfer-encoding: chunked`, or
/// nothing for [`Framing::Empty`].
pub fn framing(buf: &mut impl BufMut, framing: Framing) {
    match framing {
        Framing::Empty => {}
        Framing::Length(n) => {
            field(buf, b"content-length", itoa(n, &mut [0; 20]));
        }
        Framing::Chunked => field(buf, b"transfer-encoding", b"chunked"),
    }
}

/// A chunk-size line: the size in hex and CRLF (`0` for the last chunk).
pub fn chunk_size(buf: &mut impl BufMut, n: u64) {
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    buf.put_slice(&digits[at..]);
    buf.put_slice(b"\r\n");
}

/// A whole request head: the request line (origin-form target: path and query), its fields
/// but `Content-Length` and `Transfer-Encoding`, the field `framing` calls for, and the
/// blank line.
pub fn request_head(buf: &mut impl BufMut, request: &Request<()>, body: Framing) {
    request_line(
        buf,
        request.method().as_str().as_bytes(),
        origin_form(request.uri()).as_bytes(),
        request.version(),
    );
    for (name, value) in request.headers() {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        field(buf, name.as_str().as_bytes(), value.as_bytes());
    }
    framing(buf, body);
    buf.put_slice(b"\r\n");
}

/// The target in origin form (RFC 9112 §3.2.1), as a request forwarded to a server names it:
/// the path and query of an absolute-form target, `/` where the path is empty (before a
/// query too: `http://a?b` is `/?b`, never `?b`), `*` kept as it is.
pub fn origin_form(uri: &Uri) -> Cow<'_, str> {
    match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("") => Cow::Borrowed("/"),
        Some(target) if target.starts_with('/') || target == "*" => Cow::Borrowed(target),
        Some(target) => Cow::Owned(format!("/{target}")),
    }
}

/// `n` in decimal, in `room`.
fn itoa(mut n: u64, room: &mut [u8; 20]) -> &[u8] {
    let mut at = room.len();
    loop {
        at -= 1;
        room[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &room[at..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_written_plainly() {
        let mut buf = Vec::new();
        chunk_size(&mut buf, 0x1a2f);
        chunk_size(&mut buf, 0);
        chunk_size(&mut buf, u64::MAX);
        assert_eq!(buf, b"1a2f\r\n0\r\nffffffffffffffff\r\n");
        let mut buf = Vec::new();
        framing(&mut buf, Framing::Length(0));
        framing(&mut buf, Framing::Length(9_999_999_999_999_999_999));
        framing(&mut buf, Framing::Empty);
        framing(&mut buf, Framing::Chunked);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "content-length: 0\r\ncontent-length: 9999999999999999999\r\ntransfer-encoding: chunked\r\n"
        );
    }

    #[test]
    fn the_target_is_written_in_origin_form() {
        for (target, origin) in [
            ("http://a?b=c", "/?b=c"),
            ("http://a", "/"),
            ("http://a/", "/"),
            ("http://a/x/y?z", "/x/y?z"),
            ("/x?y", "/x?y"),
            ("*", "*"),
            ("a:443", "/"),
        ] {
            let uri: Uri = target.parse().unwrap();
            assert_eq!(origin_form(&uri), origin, "{target}");
        }
        // Found by fuzzing: an absolute-form target with a query and no path was written
        // as `?b=c`, which no server takes for a request target.
        let request = Request::get("http://a?b=c")
            .header("host", "a")
            .body(())
            .unwrap();
        let mut buf = Vec::new();
        request_head(&mut buf, &request, Framing::Empty);
        assert!(buf.starts_with(b"GET /?b=c HTTP/1.1\r\n"), "{buf:?}");
    }

    #[test]
    fn a_head_is_written_with_its_framing_only() {
        let request = Request::post("http://example.com/a?b")
            .header("host", "example.com")
            .header("content-length", "99")
            .header("x-a", "1")
            .body(())
            .unwrap();
        let mut buf = Vec::new();
        request_head(&mut buf, &request, Framing::Chunked);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "POST /a?b HTTP/1.1\r\nhost: example.com\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }
}
