//! Backend response heads, parsed and checked by `switchboard-wire`: the rules the server
//! reads requests with, and the load generator and the health checks read answers with. A
//! head that does not parse, is over [`MAX_HEAD`], or frames its body ambiguously
//! (`Content-Length` with `Transfer-Encoding`, a length given twice or not plainly digits, a
//! coding other than exactly `chunked`) is an error, and the client closes the connection.

use std::io;

use bytes::BytesMut;
use http::Response;
use switchboard_wire::response::{self, Asked};
use switchboard_wire::Decoder;

/// The largest response head accepted from a backend.
pub(super) const MAX_HEAD: usize = 64 * 1024;

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

/// Whether the connection may carry another request after this response: not after a body
/// read until the close, else by the wire crate's rule for its version and `Connection`.
/// Worked out again from the head rather than carried with it: what the request's future
/// holds across its waits is what it costs (see `proxy.rs`).
pub(super) fn framing_keeps(response: &Response<()>, framing: &Framing) -> bool {
    matches!(framing, Framing::Decoded(_))
        && response::keep_alive(response.version(), response.headers())
}

/// Parses a response head from the front of `buf` (taking it), or `None` when incomplete.
/// The response is `None` for an interim (1xx) answer, to be skipped. Never inlined: inlined
/// into the async `read_head`, its locals (a whole parsed head) were kept in every request's
/// future, 40 bytes more, past the 1 KiB the proxy's test holds it to.
#[allow(clippy::type_complexity)]
#[inline(never)]
pub(super) fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
) -> io::Result<Option<(Option<Response<()>>, Framing)>> {
    // An upgrade goes over a connection of its own (`upgrade.rs`): never asked for here.
    let asked = Asked {
        head: head_request,
        upgrade: false,
    };
    let Some(head) = response::parse(buf, asked, MAX_HEAD).map_err(|e| malformed(e.reason()))?
    else {
        return Ok(None);
    };
    if head.is_interim() {
        return Ok(Some((None, Framing::Close)));
    }
    let framing = match Decoder::for_response(head.framing) {
        Some(decoder) => Framing::Decoded(decoder),
        None => Framing::Close,
    };
    Ok(Some((Some(head.response), framing)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str, head_request: bool) -> io::Result<(Option<Response<()>>, Framing)> {
        let mut buf = BytesMut::from(head.as_bytes());
        parse_head(&mut buf, head_request).map(|p| p.expect("complete"))
    }

    fn keeps(head: &str) -> bool {
        let (r, f) = parse(head, false).unwrap();
        framing_keeps(r.as_ref().unwrap(), &f)
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
            let e = parse(head, false).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{head:?}");
        }
        let long = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD));
        assert!(parse_head(&mut BytesMut::from(long.as_str()), false).is_err());
    }

    #[test]
    fn framing_follows_the_rules() {
        let (_, f) = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false).unwrap();
        assert!(matches!(f, Framing::Decoded(Decoder::Length(5))));
        assert!(keeps("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"));
        let (_, f) = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true).unwrap();
        assert!(matches!(f, Framing::Decoded(Decoder::Length(0))));
        let (_, f) = parse("HTTP/1.1 204 No Content\r\n\r\n", false).unwrap();
        assert!(matches!(f, Framing::Decoded(Decoder::Length(0))));
        let (_, f) = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        )
        .unwrap();
        assert!(matches!(f, Framing::Decoded(Decoder::Chunked(_))));
        let (_, f) = parse("HTTP/1.1 200 OK\r\n\r\n", false).unwrap();
        assert!(matches!(f, Framing::Close));
        assert!(!keeps("HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!keeps(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!keeps("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(keeps(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
        ));
        let (r, _) = parse("HTTP/1.1 100 Continue\r\n\r\n", false).unwrap();
        assert!(r.is_none(), "interim answers are skipped");
    }
}
