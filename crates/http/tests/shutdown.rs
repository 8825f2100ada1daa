//! Shutdown: the listener closes, requests in flight and requests that have come are answered
//! with `Connection: close`, quiet connections go, stuck ones are cut at the end of the grace.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body::Frame;
use switchboard_http::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::{timeout, Instant};

use crate::util::{
    closed_within, connect, raw_get, start, start_router, wait_for_open, Client, STEP,
};

#[tokio::test]
async fn requests_in_flight_finish_after_shutdown_is_triggered() {
    let server = start(None, Limits::default());

    let mut h1 = connect(server.addr()).await;
    let h1_request = tokio::spawn(async move {
        let response = raw_get(&mut h1, "/slow/300").await;
        (response, h1)
    });
    timeout(STEP, server.started.notified()).await.unwrap();
    let mut h2 = Client::http2(connect(server.addr()).await).await;
    let h2_request = tokio::spawn(async move { h2.get("/slow/300").await });
    timeout(STEP, server.started.notified()).await.unwrap();

    let triggered = Instant::now();
    server.running.shutdown.trigger();
    let (response, mut h1) = h1_request.await.unwrap();
    assert_eq!((response.status, response.body.as_str()), (200, "slept"));
    assert!(
        response
            .head
            .to_ascii_lowercase()
            .contains("connection: close"),
        "HTTP/1 says it is closing: {}",
        response.head
    );
    closed_within(&mut h1, STEP).await;
    let (status, _, body) = h2_request.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (200, "slept"));

    server.running.finished(STEP).await.unwrap();
    assert!(triggered.elapsed() < Duration::from_secs(5));
    assert_eq!(server.gauge.open(), 0);
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_hold_shutdown_up() {
    let limits = Limits {
        grace: Duration::from_secs(20),
        ..Limits::default()
    };
    let server = start(None, limits);
    let addr = server.addr();
    let mut h1 = connect(addr).await;
    assert_eq!(raw_get(&mut h1, "/").await.status, 200);
    let mut h2 = Client::http2(connect(addr).await).await;
    assert_eq!(h2.get("/").await.unwrap().0, 200);
    // Connected, nothing sent yet.
    let mut silent = connect(addr).await;
    wait_for_open(&server.gauge, 3).await;

    let triggered = Instant::now();
    server.running.shutdown.trigger();
    server
        .running
        .finished(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        triggered.elapsed() < Duration::from_secs(2),
        "took {:?}",
        triggered.elapsed()
    );
    closed_within(&mut h1, STEP).await;
    closed_within(&mut silent, STEP).await;
    assert!(h2.get("/").await.is_err());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn past_the_grace_period_stuck_requests_are_cut() {
    let limits = Limits {
        grace: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = start(None, limits);
    let mut h1 = connect(server.addr()).await;
    tokio::io::AsyncWriteExt::write_all(&mut h1, b"GET /slow/60000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    timeout(STEP, server.started.notified()).await.unwrap();
    let mut h2 = Client::http2(connect(server.addr()).await).await;
    let h2_request = tokio::spawn(async move { h2.get("/slow/60000").await });
    timeout(STEP, server.started.notified()).await.unwrap();

    let triggered = Instant::now();
    server.running.shutdown.trigger();
    server.running.finished(STEP).await.unwrap();
    let took = triggered.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "serve returned after {took:?}"
    );
    closed_within(&mut h1, STEP).await;
    assert!(
        h2_request.await.unwrap().is_err(),
        "the HTTP/2 request was cut"
    );
    assert_eq!(server.gauge.open(), 0);
}

/// A server whose `/stream` answers `first`, then `last` once the returned `Notify` is
/// notified; `/` says hello.
fn streaming_server() -> (crate::util::Server, Arc<Notify>) {
    let go_on = Arc::new(Notify::new());
    let waiting = go_on.clone();
    let router = Router::new().route("/", get(|| async { "hello" })).route(
        "/stream",
        get(move || {
            let waiting = waiting.clone();
            async move { axum::body::Body::new(async_stream(waiting)) }
        }),
    );
    let server = start_router(router, Arc::new(Notify::new()), None, Limits::default());
    (server, go_on)
}

/// Sends `requests` (the first a `GET /stream`) and reads until the stream's first part.
async fn until_first(h1: &mut tokio::net::TcpStream, requests: &[u8]) -> Vec<u8> {
    h1.write_all(requests).await.unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"first\r\n") {
        let mut chunk = [0u8; 1024];
        let n = timeout(STEP, h1.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&chunk[..n]);
    }
    got
}

#[tokio::test]
async fn a_pipelined_request_already_received_is_answered_after_shutdown_and_the_last() {
    let (server, go_on) = streaming_server();
    let mut h1 = connect(server.addr()).await;
    let mut got = until_first(
        &mut h1,
        b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n\
          GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    server.running.shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(50)).await;
    go_on.notify_one();
    // The response in progress promised keep-alive, so the request behind it, which has come,
    // is answered, and says it is the last; the third is not served.
    timeout(STEP, h1.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    let second = &text[text.rfind("HTTP/1.1 ").unwrap()..];
    assert!(second.contains("connection: close\r\n"), "{second}");
    assert!(second.ends_with("hello"), "{second}");
    server.running.finished(STEP).await.unwrap();
}

#[tokio::test]
async fn a_response_streaming_when_shutdown_begins_is_finished() {
    let (server, go_on) = streaming_server();
    let mut h1 = connect(server.addr()).await;
    let mut got = until_first(&mut h1, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").await;
    // Nothing moves on the connection from here until the body goes on: not a stall.
    server.running.shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(100)).await;
    go_on.notify_one();
    timeout(STEP, h1.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.ends_with("first\r\n4\r\nlast\r\n0\r\n\r\n"), "{text}");
    server.running.finished(STEP).await.unwrap();
}

#[tokio::test]
async fn a_request_sent_as_shutdown_begins_is_answered_not_cut_off() {
    let server = start(None, Limits::default());
    let addr = server.addr();
    // A keep-alive connection that has just been answered, and one just opened.
    let mut used = connect(addr).await;
    assert_eq!(raw_get(&mut used, "/").await.status, 200);
    let mut fresh = connect(addr).await;
    wait_for_open(&server.gauge, 2).await;

    server.running.shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for stream in [&mut used, &mut fresh] {
        let response = raw_get(stream, "/").await;
        assert_eq!((response.status, response.body.as_str()), (200, "hello"));
        assert!(
            response
                .head
                .to_ascii_lowercase()
                .contains("connection: close"),
            "{}",
            response.head
        );
        closed_within(stream, STEP).await;
    }
    server.running.finished(STEP).await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn a_keep_alive_connection_quiet_before_shutdown_closes_at_once() {
    let limits = Limits {
        grace: Duration::from_secs(20),
        ..Limits::default()
    };
    let server = start(None, limits);
    let mut h1 = connect(server.addr()).await;
    assert_eq!(raw_get(&mut h1, "/").await.status, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let triggered = Instant::now();
    server.running.shutdown.trigger();
    closed_within(&mut h1, STEP).await;
    assert!(
        triggered.elapsed() < Duration::from_millis(300),
        "took {:?}",
        triggered.elapsed()
    );
    server.running.finished(STEP).await.unwrap();
}

/// A body of `first`, then `last` once `go_on` is notified.
fn async_stream(go_on: Arc<Notify>) -> impl http_body::Body<Data = Bytes, Error = Infallible> {
    struct Parts {
        step: u8,
        wait: Pin<Box<dyn Future<Output = ()> + Send>>,
    }
    impl http_body::Body for Parts {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            self.step += 1;
            match self.step {
                1 => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first"))))),
                2 => match self.wait.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"last")))))
                    }
                    Poll::Pending => {
                        self.step = 1;
                        Poll::Pending
                    }
                },
                _ => Poll::Ready(None),
            }
        }
    }
    Parts {
        step: 0,
        wait: Box::pin(async move { go_on.notified().await }),
    }
}
