//! Request and response heads: split invariance, the forms agreeing, and what an accepted
//! head may not be.

use bytes::BytesMut;
use http::header::{self, HeaderMap};
use http::Version;

use super::{splits, MAX_HEAD};
use crate::response::{self, Asked};
use crate::{encode, fields, request, Error};

/// What a request head came to, comparable.
#[derive(Debug, PartialEq)]
struct Request {
    method: String,
    target: String,
    version: Version,
    fields: Vec<(String, Vec<u8>)>,
    framing: request::Framing,
    flags: (bool, bool, bool),
}

impl Request {
    fn of(head: &request::RequestHead) -> Request {
        Request {
            method: head.request.method().to_string(),
            target: head.request.uri().to_string(),
            version: head.request.version(),
            fields: fields_of(head.request.headers()),
            framing: head.framing,
            flags: (head.keep_alive, head.expect_continue, head.upgrade),
        }
    }
}

fn fields_of(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect()
}

/// A request head parsed from `data` arriving in the pieces `cuts` makes, parsed after each
/// as the server does: the head, with the bytes after it.
fn request_in_pieces(
    data: &[u8],
    cuts: &[usize],
) -> Result<Option<(request::RequestHead, Vec<u8>)>, Error> {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    for &end in cuts {
        buf.extend_from_slice(&data[fed..end]);
        fed = end;
        if let Some(head) = request::parse(&mut buf, MAX_HEAD)? {
            buf.extend_from_slice(&data[fed..]);
            return Ok(Some((head, buf.to_vec())));
        }
    }
    Ok(None)
}

fn summary(
    parsed: &Result<Option<(request::RequestHead, Vec<u8>)>, Error>,
) -> Result<Option<(Request, &[u8])>, Error> {
    match parsed {
        Ok(Some((head, left))) => Ok(Some((Request::of(head), left))),
        Ok(None) => Ok(None),
        Err(e) => Err(*e),
    }
}

/// Checks the request properties on `data` (see the module's overview).
pub fn request(data: &[u8]) {
    let whole = request_in_pieces(data, &[data.len()]);
    let expected = summary(&whole);
    for cuts in splits(data) {
        let split = request_in_pieces(data, &cuts);
        assert_eq!(summary(&split), expected, "split at {cuts:?}");
    }
    let Ok(Some((head, _))) = &whole else { return };
    unambiguous(head.request.version(), head.request.headers(), true);
    match head.framing {
        request::Framing::Empty => {}
        request::Framing::Length(n) => assert_eq!(length(head.request.headers()), Some(n)),
        request::Framing::Chunked => assert!(head
            .request
            .headers()
            .contains_key(header::TRANSFER_ENCODING)),
    }
    written_back(head);
}

/// The head written by the encoder parses as the same request: the target in origin form
/// (what the encoder writes), the framing field last.
fn written_back(head: &request::RequestHead) {
    let mut written = Vec::new();
    encode::request_head(&mut written, &head.request, head.framing);
    let mut buf = BytesMut::from(&written[..]);
    let again = match request::parse(&mut buf, usize::MAX) {
        Ok(Some(again)) => again,
        other => panic!("written back as {written:?}, parsed as {other:?}"),
    };
    assert!(buf.is_empty(), "{written:?} left {buf:?}");
    let mut expected = Request::of(head);
    let uri = head.request.uri();
    if uri.path_and_query().is_some_and(|p| p.as_str() == "*") {
        expected.target = "*".to_string();
    } else {
        // Path and query, the path `/` where it was empty.
        let path = if uri.path().is_empty() {
            "/"
        } else {
            uri.path()
        };
        expected.target = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        };
    }
    let framing = |n: &str| n == "content-length" || n == "transfer-encoding";
    expected.fields.retain(|(n, _)| !framing(n));
    let again = Request::of(&again);
    expected
        .fields
        .extend(again.fields.iter().filter(|(n, _)| framing(n)).cloned());
    assert_eq!(again, expected, "written back as {written:?}");
}

/// The `Content-Length` of accepted fields.
fn length(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::CONTENT_LENGTH)?;
    std::str::from_utf8(value.as_bytes())
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// What accepted fields may not be, checked by other means than the parser's: a smuggling
/// shape let through.
fn unambiguous(version: Version, headers: &HeaderMap, is_request: bool) {
    let lengths: Vec<_> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    assert!(
        lengths.len() <= 1,
        "Content-Length given {} times",
        lengths.len()
    );
    if let Some(value) = lengths.first() {
        let digits = fields::trim_ows(value.as_bytes());
        assert!(
            !digits.is_empty()
                && digits.len() <= fields::MAX_LENGTH_DIGITS
                && digits.iter().all(u8::is_ascii_digit)
                && (digits == b"0" || digits[0] != b'0'),
            "Content-Length {value:?} accepted"
        );
    }
    let codings: Vec<Vec<u8>> = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|t| fields::trim_ows(t).to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        assert!(
            lengths.is_empty(),
            "both Content-Length and Transfer-Encoding"
        );
        assert_eq!(codings, [b"chunked".to_vec()], "Transfer-Encoding accepted");
        if is_request {
            assert_eq!(version, Version::HTTP_11, "Transfer-Encoding in HTTP/1.0");
        }
    }
    if is_request {
        let hosts = headers.get_all(header::HOST).iter().count();
        assert!(hosts <= 1, "Host given {hosts} times");
        if version == Version::HTTP_11 {
            assert_eq!(hosts, 1, "HTTP/1.1 without Host");
        }
    }
}

/// Every kind of request a response may answer.
const ASKED: [Asked; 4] = [
    Asked {
        head: false,
        upgrade: false,
    },
    Asked {
        head: true,
        upgrade: false,
    },
    Asked {
        head: false,
        upgrade: true,
    },
    Asked {
        head: true,
        upgrade: true,
    },
];

/// Checks the response properties on `data` (see the module's overview).
pub fn response(data: &[u8]) {
    for asked in ASKED {
        response_to(data, asked);
    }
}

fn response_to(data: &[u8], asked: Asked) {
    let whole = response::parse_status(data, asked, MAX_HEAD);
    let mut owned_buf = BytesMut::from(data);
    let owned = response::parse(&mut owned_buf, asked, MAX_HEAD);
    match (&whole, &owned) {
        (Ok(Some(s)), Ok(Some(h))) => {
            assert_eq!(s.code, h.response.status());
            assert_eq!(s.version, h.response.version());
            assert_eq!((s.framing, s.keep_alive), (h.framing, h.keep_alive));
            assert_eq!(owned_buf.len(), data.len() - s.len);
        }
        (Ok(None), Ok(None)) => assert_eq!(&owned_buf[..], data, "nothing taken"),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("the forms disagree: {a:?} and {b:?}"),
    }
    for cuts in splits(data) {
        // Borrowed: each read's bytes appended to what came before.
        let mut found = Ok(None);
        for &end in &cuts {
            found = response::parse_status(&data[..end], asked, MAX_HEAD);
            if !matches!(found, Ok(None)) {
                break;
            }
        }
        assert_eq!(found, whole, "split at {cuts:?}");
        // Owned: as the balancer's backend client reads.
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let mut found = Ok(None);
        for &end in &cuts {
            buf.extend_from_slice(&data[fed..end]);
            fed = end;
            found = response::parse(&mut buf, asked, MAX_HEAD);
            if !matches!(found, Ok(None)) {
                break;
            }
        }
        match (&found, &owned) {
            (Ok(Some(a)), Ok(Some(b))) => {
                assert_eq!(a.response.status(), b.response.status());
                assert_eq!(
                    fields_of(a.response.headers()),
                    fields_of(b.response.headers())
                );
                assert_eq!((a.framing, a.keep_alive), (b.framing, b.keep_alive));
            }
            (Ok(None), Ok(None)) => {}
            (Err(a), Err(b)) => assert_eq!(a, b, "split at {cuts:?}"),
            (a, b) => panic!("split at {cuts:?}: {a:?}, in one read {b:?}"),
        }
    }
    let (Ok(Some(status)), Ok(Some(head))) = (whole, owned) else {
        return;
    };
    if head.is_interim() {
        assert_eq!(status.framing, response::Framing::Empty);
        return;
    }
    if status.framing == response::Framing::Switched {
        // What follows a 101 is the new protocol's: its fields frame nothing, and are not
        // held to the framing rules (found by fuzzing, a 101 with a bogus coding).
        assert!(asked.upgrade, "101 to a request that did not ask to switch");
        return;
    }
    unambiguous(status.version, head.response.headers(), false);
    let framing = status.framing;
    match framing {
        response::Framing::Length(n) => {
            assert!(!response::bodiless(status.code, asked));
            assert_eq!(length(head.response.headers()), Some(n));
        }
        response::Framing::Chunked => {
            assert!(!response::bodiless(status.code, asked));
            assert!(head
                .response
                .headers()
                .contains_key(header::TRANSFER_ENCODING));
        }
        response::Framing::Close => assert!(!status.keep_alive, "close-delimited kept alive"),
        response::Framing::Switched | response::Framing::Empty => {}
    }
    if let Some(decoder) = crate::Decoder::for_response(framing) {
        super::body::decodes_alike(decoder, &data[status.len..]);
    }
}
