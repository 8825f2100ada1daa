//! How a request's head is checked and rewritten on its way to a backend: smuggling shapes
//! refused, hop-by-hop fields removed, the forwarding fields (`X-Forwarded-For`,
//! `X-Forwarded-Proto`, `Forwarded`, `X-Real-IP`) added, and the client's address as
//! strategies see it.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Version};
use switchboard_http::{PeerAddr, Scheme};
use switchboard_wire::fields::Scan;
use switchboard_wire::request;

use crate::PickContext;

/// Rewrites a request's head for a backend: hop-by-hop fields removed, then the forwarding
/// fields added (the client's `Connection` cannot name those). Answers the client as the
/// strategies see it: the peer, or for a peer in `trusted`, the client it names.
pub(super) fn for_backend(trusted: &[IpAddr], parts: &mut http::request::Parts) -> PickContext {
    let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0.ip());
    let scheme = parts
        .extensions
        .get::<Scheme>()
        .copied()
        .unwrap_or(Scheme::Http);
    let client = client_ip(trusted, peer, &parts.headers);
    strip_hop_by_hop(&mut parts.headers);
    forwarding_headers(trusted, &mut parts.headers, peer, client, scheme);
    PickContext { client }
}

/// Request-smuggling shapes (RFC 9112 §6.3): a length given twice, or both ways, or a
/// transfer coding other than a final `chunked`: 400 and the connection closed. A coding
/// before `chunked` (`gzip, chunked`) is framed well but would reach the backend still
/// applied: 501 (RFC 9112 §6.1), as the HTTP/1 codec answers. Only exactly `chunked` passes.
pub(super) fn smuggling(headers: &HeaderMap) -> Option<(StatusCode, &'static str)> {
    // By the rules the HTTP/1 codec read the head with (`switchboard-wire`), for requests
    // that came another way (HTTP/2) too. Most requests have neither field: two lookups.
    let mut scan = Scan::default();
    let lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    let codings = headers.get_all(header::TRANSFER_ENCODING).iter();
    let framing = lengths
        .map(|v| (&b"content-length"[..], v))
        .chain(codings.map(|v| (&b"transfer-encoding"[..], v)))
        .try_for_each(|(name, value)| scan.field(name, value.as_bytes()).map(drop))
        .and_then(|()| request::framing(&scan, Version::HTTP_11));
    match framing {
        Ok(_) => None,
        Err(switchboard_wire::Error::Unsupported(why)) => Some((StatusCode::NOT_IMPLEMENTED, why)),
        Err(e) => Some((StatusCode::BAD_REQUEST, e.reason())),
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1): the fixed ones and those `Connection` names.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one pass over the names (standard names compare
    // without hashing) saves seven hashed removals per message.
    let hop_by_hop = |name: &HeaderName| {
        *name == header::CONNECTION
            || *name == header::TE
            || *name == header::TRAILER
            || *name == header::TRANSFER_ENCODING
            || *name == header::UPGRADE
            || name.as_str() == "keep-alive"
            || name.as_str() == "proxy-connection"
    };
    if !headers.keys().any(hop_by_hop) {
        return;
    }
    // Those present (usually just `Connection`), and the ones `Connection` names.
    let mut names: Vec<HeaderName> = headers.keys().filter(|n| hop_by_hop(n)).cloned().collect();
    names.extend(
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok()),
    );
    for name in names {
        headers.remove(name);
    }
}

/// The client: the peer, or for a trusted peer, the first address of its `X-Forwarded-For`.
fn client_ip(trusted: &[IpAddr], peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    headers
        .get(X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .or(Some(peer))
}

/// Adds `X-Forwarded-For`, `X-Forwarded-Proto`, `Forwarded` and `X-Real-IP` for a request
/// from `peer`, whose client (as [`client_ip`] found it) is `client`. A trusted proxy's own
/// fields are believed: its chains are extended, its `X-Real-IP` kept; anyone else's are
/// replaced.
fn forwarding_headers(
    trusted: &[IpAddr],
    headers: &mut HeaderMap,
    peer: Option<IpAddr>,
    client: Option<IpAddr>,
    scheme: Scheme,
) {
    let Some(peer) = peer else { return };
    let trusted = trusted.contains(&peer);
    // Each value is written once into a string that becomes the header value without a
    // copy: this runs for every request.
    let value = |text: String| HeaderValue::from_maybe_shared(Bytes::from(text)).ok();
    let before = |headers: &HeaderMap, name: &HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|_| trusted)
            .map(|v| format!("{v}, "))
    };
    let mut xff = before(headers, &X_FORWARDED_FOR).unwrap_or_else(|| String::with_capacity(48));
    push_ip(&mut xff, peer);
    let xff = value(xff);
    if !trusted {
        // From anyone else, X-Forwarded-For is the peer alone: the same bytes, shared.
        if let Some(v) = &xff {
            headers.insert(X_REAL_IP, v.clone());
        }
    } else if !headers.contains_key(&X_REAL_IP) {
        let mut real = String::with_capacity(40);
        push_ip(&mut real, client.unwrap_or(peer));
        if let Some(v) = value(real) {
            headers.insert(X_REAL_IP, v);
        }
    }
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(scheme.as_str()));
    let mut forwarded =
        before(headers, &header::FORWARDED).unwrap_or_else(|| String::with_capacity(96));
    forwarded.push_str("for=");
    match peer {
        IpAddr::V4(_) => push_ip(&mut forwarded, peer),
        IpAddr::V6(_) => {
            forwarded.push_str("\"[");
            push_ip(&mut forwarded, peer);
            forwarded.push_str("]\"");
        }
    }
    forwarded.push_str(";proto=");
    forwarded.push_str(scheme.as_str());
    if let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
        if host.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
            forwarded.push_str(";host=\"");
            forwarded.push_str(host);
            forwarded.push('"');
        }
    }
    if let Some(v) = value(forwarded) {
        headers.insert(header::FORWARDED, v);
    }
}

/// Names made once: a `&str` name is parsed on every lookup, and copied on every insert.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Appends an address as text. IPv4 by hand: `Display` goes through the formatting machinery
/// and pads, several times the cost of the digits, and this runs twice per request.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(digits.format(octet));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)]) -> Option<(u16, &'static str)> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        smuggling(&headers).map(|(status, why)| (status.as_u16(), why))
    }

    #[test]
    fn hop_by_hop_fields_and_those_connection_names_are_stripped() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, X-Secret"),
            ("connection", "close"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("proxy-connection", "keep-alive"),
            ("x-secret", "1"),
            ("x-kept", "2"),
            ("content-length", "3"),
        ] {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static(value),
            );
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "x-kept"]);
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "10.20.3.100",
            "::1",
            "fe80::1:2",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = String::from("x");
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x{ip}"));
        }
    }

    #[test]
    fn only_exactly_chunked_is_forwarded() {
        const TE: &str = "transfer-encoding";
        assert_eq!(check(&[(TE, "chunked")]), None);
        assert_eq!(check(&[(TE, " Chunked ")]), None);
        assert_eq!(check(&[("content-length", "4")]), None);
        let not_implemented = Some((501, "unsupported Transfer-Encoding"));
        assert_eq!(check(&[(TE, "gzip, chunked")]), not_implemented);
        assert_eq!(check(&[(TE, "gzip"), (TE, "chunked")]), not_implemented);
        let bad = Some((400, "unsupported Transfer-Encoding"));
        for codings in [
            "gzip",
            "chunked, gzip",
            "chunked, chunked",
            "",
            "identity",
            "xchunked",
        ] {
            assert_eq!(check(&[(TE, codings)]), bad, "{codings:?}");
        }
        const CL: &str = "content-length";
        for length in ["+4", "04", "4, 4", "0x4", ""] {
            let bad = Some((400, "malformed Content-Length"));
            assert_eq!(check(&[(CL, length)]), bad, "{length:?}");
        }
        let twice = Some((400, "more than one Content-Length"));
        assert_eq!(check(&[(CL, "4"), (CL, "4")]), twice);
        let both = Some((400, "both Content-Length and Transfer-Encoding"));
        assert_eq!(check(&[(TE, "chunked"), (CL, "4")]), both);
    }
}
