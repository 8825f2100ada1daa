//! Graceful shutdown: stop accepting, let conversations finish within the grace period, then
//! close what is left.

use std::time::Duration;

use switchboard_echo::{EchoConfig, Model};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::{config, connect, read_to_end, round_trip, start};

async fn finishes_conversations_in_flight(model: Model) {
    let server = start(EchoConfig {
        grace: Duration::from_secs(60),
        ..config(model)
    });
    let addr = server.addr;
    let mut client = connect(addr).await;
    round_trip(&mut client, b"before", b"before").await;

    server.shutdown.trigger();
    // New clients are turned away: refused, or closed without an answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(addr).await {
            Err(_) => break,
            Ok(mut late) => {
                let mut buf = [0u8; 1];
                if let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::from_millis(200), late.read(&mut buf)).await
                {
                    break;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "{model}: still accepting after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The conversation in flight goes on, and the server stops as soon as it ends.
    round_trip(&mut client, b"during", b"during").await;
    drop(client);
    let started = Instant::now();
    server.finished(Duration::from_secs(10)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn async_finishes_conversations_in_flight() {
    finishes_conversations_in_flight(Model::Async).await;
}

#[tokio::test]
async fn threaded_finishes_conversations_in_flight() {
    finishes_conversations_in_flight(Model::Threaded).await;
}

#[tokio::test]
async fn sequential_finishes_conversations_in_flight() {
    finishes_conversations_in_flight(Model::Sequential).await;
}

async fn closes_what_is_left_after_the_grace_period(model: Model) {
    let grace = Duration::from_millis(300);
    let server = start(EchoConfig {
        grace,
        ..config(model)
    });
    let mut client = connect(server.addr).await;
    round_trip(&mut client, b"hi", b"hi").await;
    let started = Instant::now();
    server.shutdown.trigger();
    // The silent client is closed once the grace period is over.
    assert_eq!(read_to_end(&mut client).await, b"");
    server.finished(Duration::from_secs(10)).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= grace - Duration::from_millis(50) && took < Duration::from_secs(8),
        "{model}: stopped after {took:?}"
    );
}

#[tokio::test]
async fn async_closes_what_is_left_after_the_grace_period() {
    closes_what_is_left_after_the_grace_period(Model::Async).await;
}

#[tokio::test]
async fn threaded_closes_what_is_left_after_the_grace_period() {
    closes_what_is_left_after_the_grace_period(Model::Threaded).await;
}

#[tokio::test]
async fn sequential_closes_what_is_left_after_the_grace_period() {
    closes_what_is_left_after_the_grace_period(Model::Sequential).await;
}
