//! The message client library against the real server.

use std::time::Duration;

use switchboard_echo::client::{tcp_exchange, udp_exchange, ClientError, Exchanged};
use switchboard_echo::Model;
use switchboard_testkit::payload;
use tokio::net::UdpSocket;

use crate::{config, start, with_prefix};

#[tokio::test]
async fn tcp_exchange_moves_a_megabyte_both_ways() {
    let server = start(config(Model::Async));
    let sent = payload(1 << 20, 7);
    let mut out = Vec::new();
    let done = tcp_exchange(
        &server.addr.to_string(),
        &sent[..],
        &mut out,
        Duration::from_secs(10),
    )
    .await
    .expect("exchange");
    assert_eq!(
        done,
        Exchanged {
            sent: 1 << 20,
            received: 1 << 20
        }
    );
    assert!(out == sent);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn udp_exchange_sends_a_datagram_per_line() {
    let server = start(with_prefix(Model::Async, "got "));
    let mut out = Vec::new();
    udp_exchange(
        &server.addr.to_string(),
        &b"one\r\ntwo\n"[..],
        &mut out,
        Duration::from_secs(10),
    )
    .await
    .expect("exchange");
    assert_eq!(out, b"got one\ngot two\n");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_lost_datagram_is_a_timeout_not_a_hang() {
    // A socket that receives and never answers.
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sink.local_addr().unwrap().to_string();
    let err = udp_exchange(
        &addr,
        &b"hello?\n"[..],
        Vec::new(),
        Duration::from_millis(200),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ClientError::ReplyTimeout { udp: true, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("no reply from {addr} within 200ms (the datagram or its reply may have been lost)")
    );
}
