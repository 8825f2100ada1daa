//! Shutdown: requests in flight finish, idle connections go at once, stuck ones are cut.

use std::time::Duration;

use switchboard_http::Limits;
use tokio::time::{timeout, Instant};

use crate::util::{closed_within, connect, raw_get, start, wait_for_open, Client, STEP};

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
