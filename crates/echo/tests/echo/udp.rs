//! UDP: one datagram in, one out, up to the largest datagram.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_echo::protocol::ERR_DATAGRAM_TOO_LARGE;
use switchboard_echo::{EchoConfig, Model};
use switchboard_testkit::payload;
use tokio::net::UdpSocket;

use crate::{config, start, with_prefix};

async fn ask(server: SocketAddr, datagram: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(server).await.unwrap();
    socket.send(datagram).await.expect("send datagram");
    let mut buf = vec![0u8; 65_536];
    let n = tokio::time::timeout(Duration::from_secs(10), socket.recv(&mut buf))
        .await
        .expect("reply in time")
        .expect("receive reply");
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn datagrams_come_back_whole_up_to_65507_bytes() {
    for model in Model::ALL {
        let server = start(config(model));
        for (seed, len) in [0usize, 1, 1400, 9000, 65_507].into_iter().enumerate() {
            let sent = payload(len, seed as u64);
            assert!(
                ask(server.addr, &sent).await == sent,
                "{model}: {len}-byte datagram"
            );
        }
        server.stop().await.unwrap();
    }
}

#[tokio::test]
async fn datagrams_get_the_prefix() {
    let server = start(with_prefix(Model::Async, "Server received: "));
    assert_eq!(ask(server.addr, b"ping").await, b"Server received: ping");
    // A reply that cannot fit in one datagram is refused in words, not truncated.
    assert_eq!(
        ask(server.addr, &payload(65_507, 1)).await,
        ERR_DATAGRAM_TOO_LARGE
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn no_udp_means_no_udp() {
    let server = start(EchoConfig {
        udp: false,
        ..config(Model::Async)
    });
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(server.addr).await.unwrap();
    socket.send(b"anyone?").await.unwrap();
    let mut buf = [0u8; 16];
    match tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buf)).await {
        Err(_) => {}
        Ok(Err(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        Ok(Ok(n)) => panic!("got a reply {:?}", &buf[..n]),
    }
    server.stop().await.unwrap();
}
