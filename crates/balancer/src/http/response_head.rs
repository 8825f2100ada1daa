//! Backend response heads: parsed with `httparse` and checked as strictly as request heads. A
//! head that does not parse, is over [`MAX_HEAD`], or frames its body ambiguously
//! (`Content-Length` with `Transfer-Encoding`, a length that is not one number, a coding other
//! than `chunked`) is an error, and the client closes the connection.

use std::io;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Version};
use switchboard_http::codec::Decoder;

/// The largest response head accepted from a backend.
pub(super) const MAX_HEAD: usize = 64 * 1024;
/// Most header fields in a response head.
const MAX_HEADERS: usize = 100;

/// How a response's body is framed.
#[derive(Debug)]
pub(super) enum Framing {
    /// By its decoder.
    Decoded(Decoder),
    /// Until the backend closes.
    Close,
}

pub(super) fn malformed(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Whether the connection may carry another request after this response.
pub(super) fn framing_keeps(response: &Response<()>, framing: &Framing) -> bool {
    if matches!(framing, Framing::Close) || response.version() != Version::HTTP_11 {
        return false;
    }
    !response
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

/// Where one field's name and value are in a response head: offsets and lengths.
type Span = (usize, usize, usize, usize);

thread_local! {
    /// The spans of the head being parsed, kept between heads: found while `httparse` borrows
    /// the buffer, used after the head is split off it. Kept per thread, not an array per call:
    /// zeroing room for `MAX_HEADERS` fields on every answer cost more than parsing it.
    static SPANS: std::cell::RefCell<Vec<Span>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Parses a response head from the front of `buf` (taking it), or `None` when incomplete.
#[allow(clippy::type_complexity)]
pub(super) fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
) -> io::Result<Option<(Option<Response<()>>, Framing)>> {
    // Uninitialised: httparse writes only the fields it finds.
    let mut fields =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(malformed("too many header fields")),
        Err(_) => return Err(malformed("malformed response head")),
    };
    if len > MAX_HEAD {
        return Err(malformed("response head too large"));
    }
    let code = parsed.code.unwrap_or(0);
    let version = match parsed.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    // Where each field's name and value are in the head, so the values can be shared with
    // the head's bytes rather than copied.
    let base = buf.as_ptr() as usize;
    let mut spans = SPANS.take();
    spans.clear();
    spans.extend(parsed.headers.iter().map(|field| {
        (
            field.name.as_ptr() as usize - base,
            field.name.len(),
            field.value.as_ptr() as usize - base,
            field.value.len(),
        )
    }));
    let answer = build_head(buf, len, code, version, &spans, head_request);
    SPANS.set(spans);
    answer
}

/// The rest of [`parse_head`], once the head's fields are known by their spans.
#[allow(clippy::type_complexity)]
fn build_head(
    buf: &mut BytesMut,
    len: usize,
    code: u16,
    version: Version,
    spans: &[Span],
    head_request: bool,
) -> io::Result<Option<(Option<Response<()>>, Framing)>> {
    let status = StatusCode::from_u16(code).map_err(|_| malformed("invalid status"))?;
    let head = buf.split_to(len).freeze();
    if status.is_informational() {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            // Only an Upgrade request (which has its own path) may be answered so.
            return Err(malformed("101 to a request that did not ask to switch"));
        }
        return Ok(Some((None, Framing::Close)));
    }
    let mut headers = HeaderMap::with_capacity(spans.len());
    // The framing fields, found on the way rather than looked up after.
    let mut lengths = 0;
    let mut codings = 0;
    let mut length = None;
    let mut coding = None;
    for &(name, name_len, value, value_len) in spans {
        let name = HeaderName::from_bytes(&head[name..name + name_len])
            .map_err(|_| malformed("bad header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(value..value + value_len))
            .map_err(|_| malformed("bad header value"))?;
        if name == header::CONTENT_LENGTH {
            lengths += 1;
            length.get_or_insert_with(|| value.clone());
        } else if name == header::TRANSFER_ENCODING {
            codings += 1;
            coding.get_or_insert_with(|| value.clone());
        }
        headers.append(name, value);
    }
    if lengths > 0 && codings > 0 {
        return Err(malformed("both Content-Length and Transfer-Encoding"));
    }
    if lengths > 1 {
        return Err(malformed("more than one Content-Length"));
    }
    let bodiless =
        head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let framing = if codings > 0 {
        let only_chunked = codings == 1
            && coding
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        if !only_chunked {
            return Err(malformed("unsupported Transfer-Encoding"));
        }
        Framing::Decoded(Decoder::chunked())
    } else if let Some(value) = &length {
        let digits = value.as_bytes();
        if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(malformed("malformed Content-Length"));
        }
        let n = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| malformed("malformed Content-Length"))?;
        Framing::Decoded(Decoder::length(n))
    } else {
        Framing::Close
    };
    let framing = if bodiless {
        Framing::Decoded(Decoder::length(0))
    } else {
        framing
    };
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    Ok(Some((Some(response), framing)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str, head_request: bool) -> io::Result<(Option<Response<()>>, Framing)> {
        let mut buf = BytesMut::from(head.as_bytes());
        parse_head(&mut buf, head_request).map(|p| p.expect("complete"))
    }

    #[test]
    fn ambiguous_response_framing_is_refused() {
        for head in [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ] {
            assert!(parse(head, false).is_err(), "{head:?}");
        }
    }

    #[test]
    fn framing_follows_the_rules() {
        let (r, f) = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false).unwrap();
        assert!(matches!(f, Framing::Decoded(Decoder::Length(5))));
        assert!(framing_keeps(r.as_ref().unwrap(), &f));
        let (_, f) = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true).unwrap();
        assert!(matches!(f, Framing::Decoded(Decoder::Length(0))));
        let (_, f) = parse("HTTP/1.1 204 No Content\r\n\r\n", false).unwrap();
        assert!(matches!(f, Framing::Decoded(Decoder::Length(0))));
        let (r, f) = parse("HTTP/1.1 200 OK\r\n\r\n", false).unwrap();
        assert!(matches!(f, Framing::Close));
        assert!(!framing_keeps(r.as_ref().unwrap(), &f));
        let (r, f) = parse(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .unwrap();
        assert!(!framing_keeps(r.as_ref().unwrap(), &f));
        let (r, f) = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false).unwrap();
        assert!(!framing_keeps(r.as_ref().unwrap(), &f));
        let (r, _) = parse("HTTP/1.1 100 Continue\r\n\r\n", false).unwrap();
        assert!(r.is_none(), "interim answers are skipped");
    }
}
