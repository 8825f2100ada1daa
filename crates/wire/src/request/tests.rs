use super::*;

fn head(raw: &str) -> Result<Option<RequestHead>, Error> {
    parse(&mut BytesMut::from(raw), 16 * 1024)
}

fn refused(raw: &str) -> &'static str {
    match head(raw) {
        Err(Error::Malformed(why)) => why,
        other => panic!("expected a refusal of {raw:?}, got {other:?}"),
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
    let h = head("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n");
    assert_eq!(h.unwrap().unwrap().framing, Framing::Chunked);
    // HTTP/1.0 needs no Host.
    assert!(head("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
    // A Host is checked without the whitespace around it; an empty one is allowed.
    for host in ["Host:  example.com:8080 \t", "Host: [::1]:80", "Host:"] {
        let raw = format!("GET / HTTP/1.1\r\n{host}\r\n\r\n");
        assert!(head(&raw).unwrap().is_some(), "{raw:?}");
    }
    // The largest length there is.
    let h = head("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999999999999999\r\n\r\n");
    assert_eq!(
        h.unwrap().unwrap().framing,
        Framing::Length(9_999_999_999_999_999_999)
    );
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
    let h = head("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.upgrade && h.expect_continue);
    let h = head("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(!h.expect_continue, "HTTP/1.0 has no 100 Continue");
}

/// The request-smuggling shapes of PortSwigger's list and HAProxy's reg-tests, each refused
/// with the reason given.
#[test]
fn smuggling_shapes_are_refused() {
    const BOTH: &str = "both Content-Length and Transfer-Encoding";
    const TWO: &str = "more than one Content-Length";
    const BAD_CL: &str = "malformed Content-Length";
    const BAD_TE: &str = "unsupported Transfer-Encoding";
    const NAME: &str = "invalid header name";
    const LINE: &str = "invalid line ending";
    let post = |fields: &str| format!("POST / HTTP/1.1\r\nHost: x\r\n{fields}\r\n");
    for (fields, why) in [
        // CL.TE and TE.CL: both framings, in either order.
        ("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", BOTH),
        ("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", BOTH),
        ("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", BOTH),
        // Lengths given twice, alike or not, or as a list, or not plainly.
        ("Content-Length: 3\r\nContent-Length: 3\r\n", TWO),
        ("Content-Length: 3\r\nContent-Length: 4\r\n", TWO),
        ("Content-Length: 3, 4\r\n", BAD_CL),
        ("Content-Length: 3,3\r\n", BAD_CL),
        ("Content-Length: +3\r\n", BAD_CL),
        ("Content-Length: -3\r\n", BAD_CL),
        ("Content-Length: 003\r\n", BAD_CL),
        ("Content-Length: 0x3\r\n", BAD_CL),
        ("Content-Length: 3 3\r\n", BAD_CL),
        ("Content-Length: 3a\r\n", BAD_CL),
        ("Content-Length: \r\n", BAD_CL),
        ("Content-Length: 18446744073709551616\r\n", BAD_CL),
        ("Content-Length: 10000000000000000000\r\n", BAD_CL),
        // TE.TE: codings that some parser might take for chunked.
        ("Transfer-Encoding: xchunked\r\n", BAD_TE),
        ("Transfer-Encoding: chunked, identity\r\n", BAD_TE),
        ("Transfer-Encoding: chunked, gzip\r\n", BAD_TE),
        ("Transfer-Encoding: identity\r\n", BAD_TE),
        ("Transfer-Encoding: \"chunked\"\r\n", BAD_TE),
        ("Transfer-Encoding: chunked;q=1\r\n", BAD_TE),
        ("Transfer-Encoding: chunk\r\n", BAD_TE),
        ("Transfer-Encoding: \r\n", BAD_TE),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            BAD_TE,
        ),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n",
            BAD_TE,
        ),
        (
            "Transfer-Encoding: chunked\r\nTransfer-encoding: identity\r\n",
            BAD_TE,
        ),
        ("Transfer-Encoding: chunked chunked\r\n", BAD_TE),
        // Names that are not the name, and lines that are not lines.
        ("Transfer-Encoding : chunked\r\n", NAME),
        ("Transfer-Encoding\t: chunked\r\n", NAME),
        (" Transfer-Encoding: chunked\r\n", NAME),
        ("Content-Length : 3\r\n", NAME),
        (
            "Transfer_Encoding: chunked\r\nContent-Length: 3\r\nX: a\r\n b\r\n",
            NAME,
        ),
        ("X: a\r\n\tTransfer-Encoding: chunked\r\n", NAME),
        ("X: a\nTransfer-Encoding: chunked\r\n", LINE),
        ("Transfer-Encoding: chunked\n", LINE),
        (
            "X: a\rTransfer-Encoding: chunked\r\n",
            "invalid header value",
        ),
        ("X: a\x01b\r\n", "invalid header value"),
        ("X: a\x7fb\r\n", "invalid header value"),
        ("X\x00: a\r\n", NAME),
    ] {
        assert_eq!(refused(&post(fields)), why, "{fields:?}");
    }
    for (raw, why) in [
        (
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "Transfer-Encoding in an HTTP/1.0 request",
        ),
        ("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", NAME),
        ("GET / HTTP/1.1\r\nHost: x\r\nX Y: a\r\n\r\n", NAME),
        ("GET / HTTP/1.1\r\n\r\n", "missing Host"),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "more than one Host",
        ),
        (
            "GET / HTTP/1.0\r\nHost: x\r\nHost: x\r\n\r\n",
            "more than one Host",
        ),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "invalid Host"),
        ("GET / HTTP/1.1\r\nHost:  a/b \r\n\r\n", "invalid Host"),
        ("GET / HTTP/1.1\r\nHost: a:b:c:\r\n\r\n", "invalid Host"),
        ("GET / HTTP/1.1\nHost: x\r\n\r\n", LINE),
        ("GET / HTTP/1.1\r\nHost: x\n\r\n", LINE),
        ("GET / HTTP/1.1\r\nHost: x\r\n\n", LINE),
        ("\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", LINE),
        ("GET / HTTP/1.1\rHost: x\r\n\r\n", LINE),
        (
            "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
            "unsupported HTTP version",
        ),
        (
            "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            "invalid method or request target",
        ),
    ] {
        assert_eq!(refused(raw), why, "{raw:?}");
    }
}

#[test]
fn codings_before_chunked_are_not_implemented() {
    for raw in [
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(
            head(raw).unwrap_err(),
            Error::Unsupported("unsupported Transfer-Encoding"),
            "{raw:?}"
        );
    }
}

#[test]
fn a_head_over_the_limit_is_too_large_complete_or_not() {
    let long = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(200)
    );
    assert_eq!(
        parse(&mut BytesMut::from(long.as_str()), 100).unwrap_err(),
        Error::TooLarge
    );
    let endless = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}", "a".repeat(200));
    assert_eq!(
        parse(&mut BytesMut::from(endless.as_str()), 100).unwrap_err(),
        Error::TooLarge
    );
    let many: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: a\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    assert_eq!(head(&many).unwrap_err(), Error::TooLarge);
}
