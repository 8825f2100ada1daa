//! Request heads, parsed and checked by `switchboard-wire` (the workspace's one set of
//! HTTP/1 rules: smuggling shapes, bad names and values, obsolete line folding, bare LF,
//! an HTTP/1.1 request without exactly one Host). What this server adds: the status each
//! refusal is answered with, and `CONNECT` refused, since neither server proxies.

use bytes::BytesMut;
use http::Method;
use switchboard_wire::request;

pub(crate) use switchboard_wire::request::{Framing, RequestHead as Head};

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

/// Parses the head at the start of `buf`, taking it out of `buf` when complete (`Ok(None)`:
/// not complete yet). A head longer than `max` bytes, complete or not, is refused.
pub(crate) fn parse(buf: &mut BytesMut, max: usize) -> Result<Option<Head>, Refusal> {
    #[cfg(test)]
    PARSES.with(|n| n.set(n.get() + 1));
    let head = request::parse(buf, max).map_err(|e| match e {
        switchboard_wire::Error::Malformed(why) => Refusal::Bad(why),
        switchboard_wire::Error::TooLarge => Refusal::TooLarge,
        switchboard_wire::Error::Unsupported(why) => Refusal::NotImplemented(why),
    })?;
    if head
        .as_ref()
        .is_some_and(|h| h.request.method() == Method::CONNECT)
    {
        return Err(Refusal::Connect);
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<Head>, Refusal> {
        parse(&mut BytesMut::from(raw), 16 * 1024)
    }

    #[test]
    fn refusals_get_their_statuses_and_connect_is_not_allowed() {
        assert_eq!(
            head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n")
                .unwrap_err(),
            Refusal::Bad("more than one Content-Length")
        );
        assert_eq!(
            head("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                .unwrap_err(),
            Refusal::NotImplemented("unsupported Transfer-Encoding")
        );
        let many: String = (0..101).map(|i| format!("X-{i}: a\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        assert_eq!(head(&many).unwrap_err(), Refusal::TooLarge);
        let connect = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
        assert_eq!(head(connect).unwrap_err(), Refusal::Connect);
        assert!(head("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }
}
