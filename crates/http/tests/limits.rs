//! Limits: slow headers, idle keep-alive, oversize headers, the connection cap.

use std::time::Duration;

use switchboard_http::Limits;
use tokio::io::AsyncWriteExt;

use crate::util::{
    closed_within, connect, quick_limits, raw_get, read_response, start, wait_for_open, Client,
};

#[tokio::test]
async fn a_client_that_stops_mid_headers_is_closed_after_the_header_timeout() {
    let limits = Limits {
        idle_timeout: Duration::from_secs(60),
        ..quick_limits()
    };
    let server = start(None, limits);

    // First request: the clock runs from the accept.
    let mut slow = connect(server.addr()).await;
    slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let took = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");

    // A later request on a kept-alive connection: the clock runs from its first byte.
    let mut kept = connect(server.addr()).await;
    assert_eq!(raw_get(&mut kept, "/").await.status, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut kept, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");

    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_outlives_the_header_timeout_but_not_the_idle_one() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(900),
        ..quick_limits()
    };
    let server = start(None, limits);
    let mut stream = connect(server.addr()).await;
    assert_eq!(raw_get(&mut stream, "/").await.status, 200);

    // Idle for longer than the header timeout (300 ms): still open.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(raw_get(&mut stream, "/").await.status, 200);

    // Idle for longer than the idle timeout: closed, without a response.
    let took = closed_within(&mut stream, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(800), "closed after {took:?}");

    // HTTP/2 too: a connection with no stream open is shut down (GOAWAY, then closed).
    let mut h2 = Client::http2(connect(server.addr()).await).await;
    assert_eq!(h2.get("/").await.unwrap().0, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        h2.get("/").await.is_err(),
        "the idle HTTP/2 connection was closed"
    );

    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn oversize_headers_get_431_and_a_close() {
    let limits = Limits {
        max_header_bytes: 1024,
        ..Limits::default()
    };
    let server = start(None, limits);

    // Just under the limit is fine.
    let mut stream = connect(server.addr()).await;
    let filler = "a".repeat(900);
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await.status, 200);

    // Over it: 431, then the connection closes.
    let filler = "a".repeat(2000);
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 431, "{response:?}");
    closed_within(&mut stream, Duration::from_secs(5)).await;

    // Also when the headers never end: the limit is checked as bytes arrive.
    let mut stream = connect(server.addr()).await;
    let endless = format!("GET / HTTP/1.1\r\nX-Filler: {}", "a".repeat(4096));
    stream.write_all(endless.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await.status, 431);

    // HTTP/2: 431 on that stream; the connection goes on.
    let mut h2 = Client::http2(connect(server.addr()).await).await;
    match h2.get_with("/", &[("x-filler", "a".repeat(2000))]).await {
        Ok((status, _, _)) => assert_eq!(status, 431),
        Err(e) => panic!("expected 431, got {e}"),
    }
    assert_eq!(h2.get("/").await.unwrap().0, 200);

    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn past_max_connections_a_new_connection_is_closed_at_once() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let server = start(None, limits);
    let mut first = connect(server.addr()).await;
    let mut second = connect(server.addr()).await;
    assert_eq!(raw_get(&mut first, "/").await.status, 200);
    assert_eq!(raw_get(&mut second, "/").await.status, 200);
    assert_eq!(server.gauge.max(), 2);
    wait_for_open(&server.gauge, 2).await;

    let mut third = connect(server.addr()).await;
    let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    closed_within(&mut third, Duration::from_secs(2)).await;

    // The first two are untouched.
    assert_eq!(raw_get(&mut first, "/").await.status, 200);
    assert_eq!(raw_get(&mut second, "/").await.status, 200);

    // A closed connection gives its slot back.
    drop(first);
    wait_for_open(&server.gauge, 1).await;
    let mut fourth = connect(server.addr()).await;
    assert_eq!(raw_get(&mut fourth, "/").await.status, 200);

    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_reads_its_response_is_let_go() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(10),
        ..quick_limits()
    };
    let server = start(None, limits);

    // A handler slower than the idle period moves no bytes, yet is not cut: its time is the
    // application's to bound.
    let mut patient = connect(server.addr()).await;
    assert_eq!(raw_get(&mut patient, "/slow/800").await.status, 200);

    // A client that asks for more than the socket buffers hold and never reads: nothing moves,
    // and after an idle period of that the server lets the connection go.
    let mut lazy = connect(server.addr()).await;
    lazy.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    wait_for_open(&server.gauge, 2).await;
    drop(patient);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.gauge.open() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled connection is still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(lazy);
    server.running.stop().await.unwrap();
}
