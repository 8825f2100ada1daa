//! The answer for one [`Asset`]: the form the client accepts (brotli, gzip, or the file as it
//! is), 304 when its validators say the client has it, 206 or 416 for a `Range`, and the same
//! head for `HEAD` (the server leaves the body out). No I/O: what is sent from a kept-open
//! file is a [`FileRegion`] the server may send with `sendfile(2)`, or read as [`FileBody`].

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use switchboard_net::FileRegion;

use super::asset::{Asset, Content, Form};
use super::body::FileBody;
use crate::error::ApiError;

const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const BYTES: HeaderValue = HeaderValue::from_static("bytes");
const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("accept-encoding");

/// The answer to a `GET` or `HEAD` of `asset`.
pub(super) fn respond(asset: &Asset, headers: &HeaderMap) -> Response {
    let form = negotiate(asset, headers);
    let mut response = if not_modified(asset, form, headers) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let len = form.content.len();
        match requested_range(asset, form, headers, len) {
            Requested::Whole => with_body(&form.content, 0, len),
            Requested::Part(start, end) => {
                let mut response = with_body(&form.content, start, end - start);
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                let range = format!("bytes {start}-{}/{len}", end - 1);
                if let Ok(value) = HeaderValue::from_str(&range) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                response
            }
            Requested::Unsatisfiable => {
                let mut response =
                    ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable")
                        .into_response();
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                response
            }
        }
    };
    let out = response.headers_mut();
    if !out.contains_key(header::CONTENT_TYPE) {
        out.insert(header::CONTENT_TYPE, asset.content_type.clone());
    }
    out.insert(header::ETAG, form.etag.clone());
    out.insert(header::LAST_MODIFIED, asset.last_modified_header.clone());
    out.insert(header::CACHE_CONTROL, NO_CACHE);
    out.insert(header::ACCEPT_RANGES, BYTES);
    if let Some(encoding) = &form.encoding {
        out.insert(header::CONTENT_ENCODING, encoding.clone());
    }
    if asset.has_forms() {
        out.insert(header::VARY, ACCEPT_ENCODING);
    }
    response
}

/// `len` bytes of `content` from `start`.
fn with_body(content: &Content, start: u64, len: u64) -> Response {
    match content {
        Content::Memory(bytes) => {
            let end = (start + len) as usize;
            Body::from(bytes.slice(start as usize..end)).into_response()
        }
        Content::File(file, _) => {
            let mut response =
                Body::new(FileBody::new(Arc::clone(file), start, len)).into_response();
            response.extensions_mut().insert(FileRegion {
                file: Arc::clone(file),
                offset: start,
                len,
            });
            response
        }
    }
}

/// The form to send: of the codings the asset has, the one the client rates highest (brotli
/// before gzip before none on a tie); the file as it is when it accepts neither.
fn negotiate<'a>(asset: &'a Asset, headers: &HeaderMap) -> &'a Form {
    let Some(accept) = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return &asset.identity;
    };
    if !asset.has_forms() {
        return &asset.identity;
    }
    let mut best = (&asset.identity, quality(accept, "identity").unwrap_or(1000));
    for (form, name) in [(&asset.gzip, "gzip"), (&asset.br, "br")] {
        if let Some(form) = form {
            let q = quality(accept, name).unwrap_or(0);
            if q > 0 && q >= best.1 {
                best = (form, q);
            }
        }
    }
    best.0
}

/// How an `Accept-Encoding` value rates `coding`, in thousandths: its own entry, else `*`'s;
/// `None` when neither is there.
fn quality(accept: &str, coding: &str) -> Option<u32> {
    let mut star = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k.trim().eq_ignore_ascii_case("q")).then(|| parse_q(v.trim()))
            })
            .unwrap_or(Some(1000));
        let Some(q) = q else { continue };
        if name.eq_ignore_ascii_case(coding)
            || (coding == "gzip" && name.eq_ignore_ascii_case("x-gzip"))
        {
            return Some(q);
        }
        if name == "*" {
            star = Some(q);
        }
    }
    star
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn parse_q(v: &str) -> Option<u32> {
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u32 = match whole {
        "0" => 0,
        "1" => 1,
        _ => return None,
    };
    let mut thousandths = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u32::from(b - b'0') * [100, 10, 1][i];
    }
    let q = whole * 1000 + thousandths;
    (q <= 1000).then_some(q)
}

/// RFC 9110 §13.2.2: If-None-Match decides when present; else If-Modified-Since.
fn not_modified(asset: &Asset, form: &Form, headers: &HeaderMap) -> bool {
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let ours = form.etag.to_str().unwrap_or("");
        return inm
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == ours);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| asset.last_modified <= since)
}

/// What a `Range` asks of a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Requested {
    /// No range, one this server does not serve (several ranges, another unit, bad syntax),
    /// or an `If-Range` that no longer matches: the whole.
    Whole,
    /// Bytes `start..end`.
    Part(u64, u64),
    /// A range that starts past the end: 416.
    Unsatisfiable,
}

fn requested_range(asset: &Asset, form: &Form, headers: &HeaderMap, len: u64) -> Requested {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Requested::Whole;
    };
    if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        // RFC 9110 §13.1.5: a strong entity tag equal to ours, or exactly our date.
        let matches = if if_range.starts_with('"') {
            form.etag.as_bytes() == if_range.as_bytes()
        } else {
            httpdate::parse_http_date(if_range).is_ok_and(|date| date == asset.last_modified)
        };
        if !matches {
            return Requested::Whole;
        }
    }
    parse_range(range, len)
}

/// One `bytes=` range of a representation of `len` bytes (RFC 9110 §14.1.2).
fn parse_range(range: &str, len: u64) -> Requested {
    let Some(spec) = range
        .split_once('=')
        .filter(|(unit, _)| unit.trim().eq_ignore_ascii_case("bytes"))
        .map(|(_, spec)| spec.trim())
    else {
        return Requested::Whole;
    };
    if spec.contains(',') {
        return Requested::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Requested::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            None => Requested::Whole,
            Some(0) => Requested::Unsatisfiable,
            Some(_) if len == 0 => Requested::Unsatisfiable,
            Some(n) => Requested::Part(len - n.min(len), len),
        },
        (first, last) => {
            let Some(start) = number(first) else {
                return Requested::Whole;
            };
            let end = if last.is_empty() {
                len
            } else {
                match number(last) {
                    Some(last) if last >= start => last.saturating_add(1).min(len),
                    _ => return Requested::Whole,
                }
            };
            if start >= len {
                Requested::Unsatisfiable
            } else {
                Requested::Part(start, end)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use Requested::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 10));
        assert_eq!(parse_range("bytes=90-", 100), Part(90, 100));
        assert_eq!(parse_range("bytes=90-500", 100), Part(90, 100));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 100));
        assert_eq!(parse_range("bytes=-500", 100), Part(0, 100));
        assert_eq!(parse_range("Bytes = 5-5", 100), Part(5, 6));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        for ignored in [
            "items=0-1",
            "bytes=5-1",
            "bytes=0-1,5-6",
            "bytes=x-",
            "bytes=",
            "bytes=-",
        ] {
            assert_eq!(parse_range(ignored, 100), Whole, "{ignored}");
        }
    }

    #[test]
    fn qualities() {
        assert_eq!(quality("gzip, br", "br"), Some(1000));
        assert_eq!(quality("gzip;q=0.5, br;q=0", "br"), Some(0));
        assert_eq!(quality("gzip;q=0.5", "gzip"), Some(500));
        assert_eq!(quality("x-gzip", "gzip"), Some(1000));
        assert_eq!(quality("*;q=0.2", "br"), Some(200));
        assert_eq!(quality("deflate", "br"), None);
        assert_eq!(quality("br;q=2", "br"), None);
        assert_eq!(parse_q("0.125"), Some(125));
        assert_eq!(parse_q("1.0001"), None);
    }
}
