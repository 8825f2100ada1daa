//! The message server and client over real sockets on 127.0.0.1, in-process.
//!
//! One test binary with a module per concern (links once, runs in parallel).

mod client;
mod limits;
mod lines;
mod models;
mod shutdown;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_echo::{EchoConfig, EchoServer, Model};
use switchboard_testkit::{Running, Shutdown, PATIENCE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a message server on 127.0.0.1:0 with `config`.
pub fn start(config: EchoConfig) -> Running {
    let server = EchoServer::bind("127.0.0.1:0".parse().unwrap(), config).expect("bind");
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    Running::spawn(addr, shutdown.clone(), server.run(shutdown))
}

/// A config for `model` with everything else at its defaults, but for a short grace period:
/// tests stop servers with clients still connected.
pub fn config(model: Model) -> EchoConfig {
    EchoConfig {
        model,
        grace: Duration::from_millis(100),
        ..EchoConfig::default()
    }
}

/// The lines framing with `prefix`.
pub fn with_prefix(model: Model, prefix: &str) -> EchoConfig {
    EchoConfig {
        prefix: Some(Arc::from(prefix.as_bytes())),
        ..config(model)
    }
}

/// Connects with Nagle off, failing the test past `PATIENCE`.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    let stream = tokio::time::timeout(PATIENCE, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    stream.set_nodelay(true).unwrap();
    stream
}

/// Reads exactly `len` bytes, failing the test past `PATIENCE`.
pub async fn read_exact(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut buf))
        .await
        .expect("reply in time")
        .expect("read reply");
    buf
}

/// Reads until the server closes, failing the test past `PATIENCE`.
pub async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut buf))
        .await
        .expect("server closes in time")
        .expect("read to end");
    buf
}

/// One round trip: sends `msg`, expects `reply`.
pub async fn round_trip(stream: &mut TcpStream, msg: &[u8], reply: &[u8]) {
    stream.write_all(msg).await.expect("send");
    assert_eq!(read_exact(stream, reply.len()).await, reply);
}

/// Asserts that nothing arrives on `stream` for `quiet`.
pub async fn assert_silent(stream: &mut TcpStream, quiet: Duration) {
    let mut byte = [0u8; 1];
    if let Ok(read) = tokio::time::timeout(quiet, stream.read(&mut byte)).await {
        panic!("expected silence, got {read:?} {byte:?}");
    }
}
