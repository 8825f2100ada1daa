//! Streaming answers (server-sent events) through the balancer: each event reaches the client
//! as the backend sends it, and a stream outlives the response timeout, which bounds only the
//! wait for an answer's head.

use std::sync::Arc;
use std::time::Duration;

use switchboard_balancer::http::HttpProxyConfig;
use switchboard_balancer::StrategyKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::balancer_with;

/// Reads from `s` until what was read contains `needle`; everything read so far.
async fn read_until(s: &mut TcpStream, seen: &mut Vec<u8>, needle: &str) {
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        let n = s.read(&mut buf).await.expect("read");
        assert!(
            n > 0,
            "closed before {needle:?}: {}",
            String::from_utf8_lossy(seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn server_sent_events_pass_through_unbuffered_and_outlive_the_response_timeout() {
    // A backend that sends one event, waits until the client has it, then another well after
    // the balancer's response timeout, then ends the stream.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap();
    let first_seen = Arc::new(Notify::new());
    let gate = first_seen.clone();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        read_until(&mut s, &mut head, "\r\n\r\n").await;
        s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
        let event = |text: &str| format!("{:x}\r\n{text}\r\n", text.len());
        s.write_all(event("id: 1\nevent: post\ndata: one\n\n").as_bytes())
            .await
            .unwrap();
        gate.notified().await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        s.write_all(event("id: 2\nevent: post\ndata: two\n\n").as_bytes())
            .await
            .unwrap();
        s.write_all(b"0\r\n\r\n").await.unwrap();
    });
    let config = HttpProxyConfig {
        response_timeout: Duration::from_millis(200),
        ..HttpProxyConfig::default()
    };
    let (lb, _) = balancer_with(&[(backend, 1)], StrategyKind::RoundRobin, config);

    let mut client = TcpStream::connect(lb.addr).await.unwrap();
    client
        .write_all(
            b"GET /api/events HTTP/1.1\r\nHost: app.test\r\nAccept: text/event-stream\r\n\r\n",
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    // The first event arrives while the backend holds back the second: nothing is buffered.
    tokio::time::timeout(
        Duration::from_secs(5),
        read_until(&mut client, &mut seen, "data: one"),
    )
    .await
    .expect("the first event, before the backend sends the second");
    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    assert!(!text.contains("content-length"), "{text}");
    first_seen.notify_one();
    // The second, 600 ms later: three response timeouts, and the stream is still relayed.
    tokio::time::timeout(
        Duration::from_secs(5),
        read_until(&mut client, &mut seen, "data: two"),
    )
    .await
    .expect("the second event");
    tokio::time::timeout(
        Duration::from_secs(5),
        read_until(&mut client, &mut seen, "0\r\n\r\n"),
    )
    .await
    .expect("the stream's end");
    server.await.unwrap();
    lb.stop().await.unwrap();
}
