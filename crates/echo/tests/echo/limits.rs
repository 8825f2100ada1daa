//! `--max-connections`, `--max-line`, `--idle-timeout`.

use std::time::Duration;

use switchboard_echo::protocol::{ERR_BUSY, ERR_LINE_TOO_LONG};
use switchboard_echo::{EchoConfig, Model};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::{config, connect, read_to_end, round_trip, start, with_prefix};

async fn refuses_clients_past_the_limit(model: Model) {
    let server = start(EchoConfig {
        max_connections: 2,
        ..config(model)
    });
    let mut a = connect(server.addr).await;
    let mut b = connect(server.addr).await;
    round_trip(&mut a, b"a", b"a").await;
    round_trip(&mut b, b"b", b"b").await;

    let mut c = connect(server.addr).await;
    assert_eq!(read_to_end(&mut c).await, ERR_BUSY);

    // A slot comes back when a client leaves.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut d = connect(server.addr).await;
        d.write_all(b"d").await.unwrap();
        let mut got = [0u8; 1];
        use tokio::io::AsyncReadExt;
        match d.read(&mut got).await {
            Ok(1) if &got == b"d" => break,
            // The server may not have seen `a` leave yet.
            _ => assert!(Instant::now() < deadline, "slot never came back"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    round_trip(&mut b, b"b2", b"b2").await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn async_refuses_clients_past_the_limit() {
    refuses_clients_past_the_limit(Model::Async).await;
}

#[tokio::test]
async fn threaded_refuses_clients_past_the_limit() {
    refuses_clients_past_the_limit(Model::Threaded).await;
}

async fn closes_on_a_line_too_long(model: Model) {
    let server = start(EchoConfig {
        max_line: 8,
        ..with_prefix(model, "> ")
    });
    let mut stream = connect(server.addr).await;
    round_trip(&mut stream, b"12345678\n", b"> 12345678\n").await;
    stream.write_all(b"123456789\n").await.unwrap();
    assert_eq!(read_to_end(&mut stream).await, ERR_LINE_TOO_LONG);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn async_closes_on_a_line_too_long() {
    closes_on_a_line_too_long(Model::Async).await;
}

#[tokio::test]
async fn threaded_closes_on_a_line_too_long() {
    closes_on_a_line_too_long(Model::Threaded).await;
}

#[tokio::test]
async fn sequential_closes_on_a_line_too_long() {
    closes_on_a_line_too_long(Model::Sequential).await;
}

/// Under tokio's paused clock: the idle timer fires exactly, without waiting in real time.
#[tokio::test(start_paused = true)]
async fn async_closes_a_silent_client_after_the_idle_timeout() {
    let idle = Duration::from_secs(10);
    let server = start(EchoConfig {
        idle_timeout: Some(idle),
        ..config(Model::Async)
    });
    let mut stream = connect(server.addr).await;

    // A client that speaks every 7 s stays past two idle periods.
    let start = Instant::now();
    for i in 0..4u8 {
        tokio::time::sleep(Duration::from_secs(7)).await;
        round_trip(&mut stream, &[i], &[i]).await;
    }
    assert!(start.elapsed() >= 2 * idle);

    // Then silence: closed once 10 s have passed since its last message, not before.
    let quiet_since = Instant::now();
    assert_eq!(read_to_end(&mut stream).await, b"");
    let waited = quiet_since.elapsed();
    assert!(
        waited >= idle && waited < idle + Duration::from_secs(1),
        "closed after {waited:?}"
    );
    server.stop().await.unwrap();
}

/// The blocking models use the socket's own timeouts, so this one takes real time (briefly).
#[tokio::test]
async fn blocking_models_close_a_silent_client_after_the_idle_timeout() {
    for model in [Model::Threaded, Model::Sequential] {
        let idle = Duration::from_millis(300);
        let server = start(EchoConfig {
            idle_timeout: Some(idle),
            ..config(model)
        });
        let mut stream = connect(server.addr).await;
        round_trip(&mut stream, b"hi", b"hi").await;
        let quiet_since = Instant::now();
        assert_eq!(read_to_end(&mut stream).await, b"");
        let waited = quiet_since.elapsed();
        assert!(
            waited >= idle - Duration::from_millis(50) && waited < Duration::from_secs(5),
            "{model}: closed after {waited:?}"
        );
        server.stop().await.unwrap();
    }
}
