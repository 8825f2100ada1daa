//! Every model echoes byte-exact; async and threaded serve many clients at once; sequential
//! serves one after another.

use std::time::Duration;

use switchboard_echo::Model;
use switchboard_testkit::payload;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{assert_silent, config, connect, read_exact, round_trip, start};

/// Random binary payloads up to 1 MiB come back byte for byte, sent and read at once.
async fn echoes_binary_payloads(model: Model) {
    let server = start(config(model));
    for (seed, len) in [1usize, 100, 65_536 + 7, 1 << 20].into_iter().enumerate() {
        let sent = payload(len, seed as u64);
        let stream = connect(server.addr).await;
        let (mut rd, mut wr) = stream.into_split();
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move {
                wr.write_all(&sent).await.expect("send payload");
                wr.shutdown().await.expect("half-close");
            })
        };
        let mut got = Vec::with_capacity(len);
        tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut got))
            .await
            .expect("echo in time")
            .expect("read echo");
        writer.await.unwrap();
        assert!(got == sent, "{model}: {len}-byte payload came back altered");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn async_echoes_binary_payloads() {
    echoes_binary_payloads(Model::Async).await;
}

#[tokio::test]
async fn threaded_echoes_binary_payloads() {
    echoes_binary_payloads(Model::Threaded).await;
}

#[tokio::test]
async fn sequential_echoes_binary_payloads() {
    echoes_binary_payloads(Model::Sequential).await;
}

/// 200 clients connected at once, each doing several round trips, all interleaved.
async fn serves_200_clients_at_once(model: Model) {
    let server = start(config(model));
    let mut streams = Vec::new();
    for _ in 0..200 {
        streams.push(connect(server.addr).await);
    }
    let clients: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, mut stream)| {
            tokio::spawn(async move {
                for round in 0..5u64 {
                    let msg = payload(64, i as u64 * 1000 + round);
                    round_trip(&mut stream, &msg, &msg).await;
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client succeeded");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_serves_200_clients_at_once() {
    serves_200_clients_at_once(Model::Async).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threaded_serves_200_clients_at_once() {
    serves_200_clients_at_once(Model::Threaded).await;
}

#[tokio::test]
async fn sequential_serves_one_client_after_another() {
    let server = start(config(Model::Sequential));
    let mut first = connect(server.addr).await;
    round_trip(&mut first, b"first", b"first").await;

    // The second client connects (the backlog takes it) but is not served while the first
    // stays.
    let mut second = connect(server.addr).await;
    second.write_all(b"second").await.unwrap();
    assert_silent(&mut second, Duration::from_millis(300)).await;
    round_trip(&mut first, b"still first", b"still first").await;

    drop(first);
    assert_eq!(read_exact(&mut second, 6).await, b"second");
    server.stop().await.unwrap();
}
