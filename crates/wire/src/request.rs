//! Request heads: parsed with `httparse`, then checked for the shapes that smuggle requests,
//! into an `http::Request<()>` whose target and field values share the bytes that were read.

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Uri, Version};

use crate::fields::{Codings, Known, Scan};
use crate::head::{self, Span, MAX_HEADERS};
use crate::Error;

/// How a request's body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request head, parsed and checked.
#[derive(Debug)]
pub struct RequestHead {
    /// Method, target, version and fields.
    pub request: Request<()>,
    /// How its body is framed.
    pub framing: Framing,
    /// By HTTP/1.1's rules: unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` (HTTP/1.1 only).
    pub expect_continue: bool,
    /// Asks to switch protocols (`Connection: upgrade` with `Upgrade`).
    pub upgrade: bool,
}

/// Parses the request head at the start of `buf`, taking it out of `buf` when complete
/// (`Ok(None)`: not complete yet). A head longer than `max` bytes, complete or not, or with
/// more than [`MAX_HEADERS`] fields, is [`Error::TooLarge`].
///
/// Refused as [`Error::Malformed`]: what `httparse` refuses (whitespace before a colon,
/// obsolete line folding, a bare CR, bad characters in a name or value), a bare LF, a
/// smuggling shape ([`Scan`]), `Transfer-Encoding` in HTTP/1.0, an HTTP/1.1 request without
/// exactly one `Host` or with a `Host` that is not an authority. Codings before `chunked` are
/// [`Error::Unsupported`].
pub fn parse(buf: &mut BytesMut, max: usize) -> Result<Option<RequestHead>, Error> {
    // Uninitialised: httparse writes only the fields it finds (zeroing all of them was the
    // largest single cost of a request).
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return head::partial(buf.len(), max),
        Err(e) => return Err(head::refused(e)),
    };
    head::check(&buf[..len], max)?;
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| Error::Malformed("invalid method"))?;
    let base = buf.as_ptr() as usize;
    let target = head::offsets(base, req.path.unwrap_or_default().as_bytes());
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut spans = head::take_spans();
    spans.extend(req.headers.iter().map(|h| Span {
        name: head::offsets(base, h.name.as_bytes()),
        value: head::offsets(base, h.value),
    }));
    let parsed = build(buf, len, method, target, version, &spans);
    head::give_back(spans);
    parsed
}

/// The rest of [`parse`], once the head's fields are known by their spans.
fn build(
    buf: &mut BytesMut,
    len: usize,
    method: Method,
    target: (usize, usize),
    version: Version,
    spans: &[Span],
) -> Result<Option<RequestHead>, Error> {
    let head: Bytes = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target.0..target.1))
        .map_err(|_| Error::Malformed("invalid request target"))?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    let map = request.headers_mut();
    // Room for a few more: a proxy adds its forwarding fields, and a map sized exactly grows
    // (and reallocates) once per field added.
    map.reserve(spans.len() + 4);

    let mut scan = Scan::default();
    for span in spans {
        let raw_name = &head[span.name.0..span.name.1];
        let raw = &head[span.value.0..span.value.1];
        if scan.field(raw_name, raw)? == Known::Host {
            // Checked in place (a slice of the head), not copied.
            let value = crate::fields::trim_ows(raw);
            let start = span.value.0 + (value.as_ptr() as usize - raw.as_ptr() as usize);
            if !value.is_empty()
                && http::uri::Authority::from_maybe_shared(head.slice(start..start + value.len()))
                    .is_err()
            {
                return Err(Error::Malformed("invalid Host"));
            }
        }
        let name = HeaderName::from_bytes(raw_name)
            .map_err(|_| Error::Malformed("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(span.value.0..span.value.1))
            .map_err(|_| Error::Malformed("invalid header value"))?;
        map.append(name, value);
    }

    let framing = framing(&scan, version)?;
    if version == Version::HTTP_11 && scan.hosts() == 0 {
        return Err(Error::Malformed("missing Host"));
    }
    let http11 = version == Version::HTTP_11;
    Ok(Some(RequestHead {
        request,
        framing,
        keep_alive: scan.keep_alive(http11),
        expect_continue: scan.expect_continue() && http11,
        upgrade: scan.upgrade(),
    }))
}

/// A request's framing from its fields (RFC 9112 §6.3): a coding that does not end in
/// `chunked` cannot say where the body ends (400), codings before `chunked` would reach the
/// receiver still applied (501), and HTTP/1.0 has no transfer codings.
pub fn framing(scan: &Scan, version: Version) -> Result<Framing, Error> {
    if scan.is_coded() && scan.length().is_none() && version == Version::HTTP_10 {
        return Err(Error::Malformed("Transfer-Encoding in an HTTP/1.0 request"));
    }
    Ok(match scan.codings()? {
        Codings::Chunked => Framing::Chunked,
        Codings::ChunkedAfterOthers => {
            return Err(Error::Unsupported("unsupported Transfer-Encoding"))
        }
        Codings::None => match scan.length() {
            None | Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
        },
    })
}

#[cfg(test)]
mod tests;
