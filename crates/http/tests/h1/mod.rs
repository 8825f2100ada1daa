//! The HTTP/1.1 codec over real sockets: framing, keep-alive, pipelining, 100-continue,
//! request smuggling refused, streaming bodies, upgrades.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body::Frame;
use http_body_util::BodyExt;
use switchboard_http::Limits;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout;

use crate::util::{closed_within, connect, start_router, Server, STEP};

mod bounds;

/// A body of three frames and no known length.
struct Frames(VecDeque<&'static str>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|s| Ok(Frame::data(Bytes::from(s)))))
    }
}

fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        // Answers with the first frame of the body, without waiting for the rest.
        .route(
            "/first",
            post(|req: Request| async move {
                let mut body = req.into_body();
                match body.frame().await {
                    Some(Ok(frame)) => frame.into_data().unwrap_or_default().into_response(),
                    _ => StatusCode::BAD_REQUEST.into_response(),
                }
            }),
        )
        .route(
            "/stream",
            get(|| async { Body::new(Frames(VecDeque::from(["one ", "two ", "three"]))) }),
        )
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route("/same", get(|| async { StatusCode::NOT_MODIFIED }))
        .route(
            "/close",
            get(|| async { ([(header::CONNECTION, "close")], "bye") }),
        )
        .route("/upgrade", get(upgrade))
        // 413 without reading the body, with a body of 4 MiB: more than socket buffers hold,
        // so the end of it is still on its way when the connection closes.
        .route(
            "/refuse",
            post(|| async { (StatusCode::PAYLOAD_TOO_LARGE, vec![b'x'; 4 << 20]) }),
        )
}

/// Answers 101 and echoes whatever comes over the upgraded stream, in capitals.
async fn upgrade(mut req: Request) -> Response {
    let on = switchboard_http::upgrade::on(&mut req);
    tokio::spawn(async move {
        let mut io = on.await.expect("upgraded");
        let mut buf = [0u8; 64];
        loop {
            let n = io.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf[..n].make_ascii_uppercase();
            if io.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "shout")
        .header(header::CONNECTION, "upgrade")
        .body(Body::empty())
        .unwrap()
}

fn start(limits: Limits) -> Server {
    start_router(router(), Arc::new(Notify::new()), None, limits)
}

/// A response as it came: status, head (lower-cased), body decoded from its framing.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n == name).then(|| v.trim())
        })
    }
}

/// Reads bytes into `buf` until it holds `needle`; returns where it ends.
async fn read_until<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    needle: &[u8],
) -> usize {
    loop {
        if let Some(at) = buf.windows(needle.len()).position(|w| w == needle) {
            return at + needle.len();
        }
        let mut chunk = [0u8; 4096];
        let n = timeout(STEP, stream.read(&mut chunk))
            .await
            .expect("data in time")
            .expect("read");
        assert!(
            n > 0,
            "closed early; got {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>, len: usize) {
    while buf.len() < len {
        let mut chunk = [0u8; 4096];
        let n = timeout(STEP, stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed inside a body");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads one response; `buf` carries bytes read past it (pipelining) between calls.
/// `bodiless`: the answer to a HEAD (framing headers, no body).
async fn answer<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>, bodiless: bool) -> Answer {
    let end = read_until(stream, buf, b"\r\n\r\n").await;
    let head = String::from_utf8(buf[..end].to_vec())
        .unwrap()
        .to_ascii_lowercase();
    buf.drain(..end);
    let status: u16 = head[9..12].parse().unwrap();
    let mut answer = Answer {
        status,
        head,
        body: String::new(),
    };
    if bodiless || status < 200 || status == 204 || status == 304 {
        return answer;
    }
    let body = if let Some(len) = answer.header("content-length") {
        let len: usize = len.parse().unwrap();
        fill(stream, buf, len).await;
        buf.drain(..len).collect::<Vec<u8>>()
    } else if answer.header("transfer-encoding") == Some("chunked") {
        let mut body = Vec::new();
        loop {
            let line_end = read_until(stream, buf, b"\r\n").await;
            let size =
                usize::from_str_radix(std::str::from_utf8(&buf[..line_end - 2]).unwrap(), 16)
                    .unwrap();
            buf.drain(..line_end);
            fill(stream, buf, size + 2).await;
            body.extend(buf.drain(..size));
            assert_eq!(buf.drain(..2).collect::<Vec<u8>>(), b"\r\n");
            if size == 0 {
                break;
            }
        }
        body
    } else {
        // Delimited by the close.
        timeout(STEP, stream.read_to_end(buf))
            .await
            .unwrap()
            .unwrap();
        std::mem::take(buf)
    };
    answer.body = String::from_utf8(body).unwrap();
    answer
}

async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    timeout(STEP, stream.write_all(bytes))
        .await
        .unwrap()
        .unwrap();
}

/// Sends `request` on a fresh connection and reads one answer.
async fn exchange(server: &Server, request: &str) -> (Answer, TcpStream) {
    let mut stream = connect(server.addr()).await;
    send(&mut stream, request.as_bytes()).await;
    let answer = answer(&mut stream, &mut Vec::new(), request.starts_with("HEAD")).await;
    (answer, stream)
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = start(Limits::default());
    let mut stream = connect(server.addr()).await;
    send(
        &mut stream,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecond\
          POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthird\r\n0\r\n\r\n\
          GET /stream HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    let mut buf = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let answer = answer(&mut stream, &mut buf, false).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.header("date").is_some_and(|d| d.ends_with("gmt")));
        bodies.push(answer.body);
    }
    assert_eq!(bodies, ["hello", "second", "third", "one two three"]);
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn keep_alive_follows_http_1_1_rules_and_connection_close_both_ways() {
    let server = start(Limits::default());

    // HTTP/1.1 keeps the connection by default.
    let (first, mut stream) = exchange(&server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(first.header("connection"), None);
    send(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        answer(&mut stream, &mut Vec::new(), false).await.body,
        "hello"
    );

    // The client's Connection: close.
    let (answer_, mut stream) = exchange(
        &server,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer_.header("connection"), Some("close"));
    closed_within(&mut stream, STEP).await;

    // The service's.
    let (answer_, mut stream) = exchange(&server, "GET /close HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        (answer_.body.as_str(), answer_.header("connection")),
        ("bye", Some("close"))
    );
    closed_within(&mut stream, STEP).await;

    // HTTP/1.0: closed unless asked to keep.
    let (answer_, mut stream) = exchange(&server, "GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        (answer_.body.as_str(), answer_.header("connection")),
        ("hello", Some("close"))
    );
    closed_within(&mut stream, STEP).await;
    let (answer_, mut stream) =
        exchange(&server, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await;
    assert_eq!(answer_.header("connection"), Some("keep-alive"));
    send(
        &mut stream,
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    )
    .await;
    assert_eq!(
        answer(&mut stream, &mut Vec::new(), false).await.status,
        200
    );

    // A body of unknown length to HTTP/1.0 is delimited by the close; to 1.1 it is chunked.
    let (answer_, _) = exchange(
        &server,
        "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    )
    .await;
    assert_eq!(
        (answer_.body.as_str(), answer_.header("connection")),
        ("one two three", Some("close"))
    );
    let (answer_, _) = exchange(&server, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(answer_.header("transfer-encoding"), Some("chunked"));

    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn head_204_and_304_carry_no_body() {
    let server = start(Limits::default());
    let mut stream = connect(server.addr()).await;
    let mut buf = Vec::new();
    send(&mut stream, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let head = answer(&mut stream, &mut buf, true).await;
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("5"))
    );
    for (path, status) in [("/empty", 204), ("/same", 304)] {
        send(
            &mut stream,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        )
        .await;
        let answer_ = answer(&mut stream, &mut buf, false).await;
        assert_eq!(answer_.status, status);
        assert_eq!(answer_.header("transfer-encoding"), None);
    }
    // Nothing stray came after the bodiless answers: the next answer parses.
    send(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(answer(&mut stream, &mut buf, false).await.body, "hello");
    assert!(buf.is_empty());
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn expect_100_continue_is_answered_when_the_body_is_wanted() {
    let server = start(Limits::default());
    let mut stream = connect(server.addr()).await;
    let mut buf = Vec::new();
    send(
        &mut stream,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    let go_on = answer(&mut stream, &mut buf, false).await;
    assert_eq!(go_on.status, 100);
    send(&mut stream, b"ping").await;
    assert_eq!(answer(&mut stream, &mut buf, false).await.body, "ping");

    // A handler that never reads the body: no 100, and the connection closes after the
    // answer, since the client may or may not send the body.
    send(
        &mut stream,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    let refused = answer(&mut stream, &mut buf, false).await;
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("connection"), Some("close"));
    closed_within(&mut stream, STEP).await;
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn request_bodies_stream_to_the_service_and_leftovers_are_drained() {
    let server = start(Limits::default());
    let mut stream = connect(server.addr()).await;
    let mut buf = Vec::new();
    // The service answers from the first part while the rest is still to come.
    send(
        &mut stream,
        b"POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello",
    )
    .await;
    assert_eq!(answer(&mut stream, &mut buf, false).await.body, "hello");
    // The rest is read and dropped; the connection goes on.
    send(&mut stream, b"world").await;
    send(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(answer(&mut stream, &mut buf, false).await.body, "hello");

    // Chunked, in pieces.
    send(
        &mut stream,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    send(&mut stream, b"4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n").await;
    assert_eq!(answer(&mut stream, &mut buf, false).await.body, "abcdefg");

    // A large body the service does not read: answered, then the connection closes rather
    // than read it all.
    let big = 1 << 20;
    send(
        &mut stream,
        format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    let answer_ = answer(&mut stream, &mut buf, false).await;
    assert_eq!(
        (answer_.status, answer_.header("connection")),
        (405, Some("close"))
    );
    closed_within(&mut stream, STEP).await;
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn request_smuggling_shapes_get_400_and_a_close() {
    let server = start(Limits::default());
    for request in [
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nBad Name: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    ] {
        let (refused, mut stream) = exchange(&server, request).await;
        assert_eq!(refused.status, 400, "{request:?}: {refused:?}");
        assert_eq!(refused.header("content-type"), Some("application/json"));
        assert_eq!(refused.header("connection"), Some("close"));
        assert!(refused.body.starts_with("{\"error\":\"bad request: "), "{}", refused.body);
        closed_within(&mut stream, STEP).await;
    }
    // Malformed chunks reach the service as a body error (axum answers 400) and the
    // connection closes.
    for body in [
        "x\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "5;a\x01\r\nhello\r\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",
    ] {
        let request =
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        let (refused, mut stream) = exchange(&server, &request).await;
        assert_eq!(refused.status, 400, "{body:?}: {refused:?}");
        assert_eq!(refused.header("connection"), Some("close"));
        closed_within(&mut stream, STEP).await;
    }
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn hosts_bare_line_feeds_other_codings_and_connect_are_refused_with_a_close() {
    let server = start(Limits::default());
    for (request, status, message) in [
        ("GET / HTTP/1.1\r\n\r\n", 400, "bad request: missing Host"),
        (
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
            "bad request: more than one Host",
        ),
        (
            "GET / HTTP/1.1\nHost: x\n\n",
            400,
            "bad request: invalid line ending",
        ),
        (
            "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
            400,
            "bad request: invalid line ending",
        ),
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            501,
            "not implemented: unsupported Transfer-Encoding",
        ),
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
            "not implemented: unsupported Transfer-Encoding",
        ),
        (
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            405,
            "CONNECT is not supported",
        ),
    ] {
        let (refused, mut stream) = exchange(&server, request).await;
        assert_eq!(refused.status, status, "{request:?}: {refused:?}");
        assert_eq!(refused.header("content-type"), Some("application/json"));
        assert_eq!(refused.header("connection"), Some("close"));
        assert_eq!(refused.body, format!("{{\"error\":\"{message}\"}}\n"));
        closed_within(&mut stream, STEP).await;
    }
    // HTTP/1.0 needs no Host; `chunked` alone, in any case and spacing, is fine.
    let (answer_, _) = exchange(&server, "GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(answer_.body, "hello");
    let (answer_, _) = exchange(
        &server,
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n2\r\nok\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(answer_.body, "ok");
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn oversize_heads_get_a_json_431() {
    let limits = Limits {
        max_header_bytes: 512,
        ..Limits::default()
    };
    let server = start(limits);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(600)
    );
    let (refused, mut stream) = exchange(&server, &request).await;
    assert_eq!(refused.status, 431);
    assert_eq!(refused.header("content-type"), Some("application/json"));
    assert_eq!(
        refused.body,
        "{\"error\":\"request header fields too large\"}\n"
    );
    closed_within(&mut stream, STEP).await;
    // Too many fields is too large too.
    let many: String = (0..120).map(|i| format!("X-{i}: a\r\n")).collect();
    let limits = Limits::default();
    let server2 = start(limits);
    let (refused, _) = exchange(&server2, &format!("GET / HTTP/1.1\r\n{many}\r\n")).await;
    assert_eq!(refused.status, 431);
    server.running.stop().await.unwrap();
    server2.running.stop().await.unwrap();
}

#[tokio::test]
async fn an_upgrade_hands_the_stream_over_with_the_bytes_already_read() {
    let server = start(Limits::default());
    let mut stream = connect(server.addr()).await;
    // The client speaks the new protocol right after its request; the server has read those
    // bytes with the head, and the upgraded stream gives them first.
    send(
        &mut stream,
        b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: shout\r\n\r\nearly ",
    )
    .await;
    let mut buf = Vec::new();
    let switching = answer(&mut stream, &mut buf, false).await;
    assert_eq!(switching.status, 101);
    assert_eq!(switching.header("upgrade"), Some("shout"));
    send(&mut stream, b"late").await;
    fill(&mut stream, &mut buf, 10).await;
    assert_eq!(buf, b"EARLY LATE");
    // The upgraded connection is outside the server's count.
    crate::util::wait_for_open(&server.gauge, 0).await;

    // Over HTTP/1 a request that does not ask gets no upgrade.
    let mut req = http::Request::new(());
    assert!(switchboard_http::upgrade::on(&mut req).await.is_err());
    server.running.stop().await.unwrap();
}
