//! Test helpers shared by Switchboard's crates.
//!
//! - [`Running`]: a server started in-process on `127.0.0.1:0`, with its address and the
//!   [`Shutdown`] that stops it; [`Running::stop`] stops it and waits, within a bound.
//! - [`Cli`]: the `switchboard` binary run as a child process with arguments and standard input,
//!   within a time limit; [`Cli::spawn_server`] starts a long-running command and waits for the
//!   address it reports.
//! - [`payload`]: reproducible random bytes.
//! - [`wait_until_accepting`]: polls a TCP address until it accepts.
//! - [`PgDatabase`]: a PostgreSQL database of a test's own, dropped at its end.
//! - [`http_get`], [`http_get_as`]: a raw HTTP/1.1 GET (with this address or a given name as
//!   its Host), the answer as text.
//!
//! - [`corpus`]: the fuzz targets' committed inputs, replayed by each crate's tests.
//! - [`faults`]: a TCP proxy that injects faults (latency, resets before or during an answer,
//!   a black hole, a throttle, an answer cut short) between a client and a server.
//!
//! Every helper is bounded in time: a test that goes wrong fails with a message, never hangs.
#![forbid(unsafe_code)]

mod cli;
pub mod corpus;
pub mod faults;
mod postgres;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

pub use cli::{ChildServer, Cli, Output};
pub use postgres::{PgDatabase, POSTGRES_VAR};
pub use switchboard_net::Shutdown;
use tokio::task::JoinHandle;

/// How long a helper waits for anything before it fails the test.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A server running in-process as a tokio task.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Triggering this stops the server.
    pub shutdown: Shutdown,
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    /// Spawns `serve` (a server's run future, already bound to `addr`) on the current runtime.
    pub fn spawn<F>(addr: SocketAddr, shutdown: Shutdown, serve: F) -> Self
    where
        F: Future<Output = io::Result<()>> + Send + 'static,
    {
        Running {
            addr,
            shutdown,
            task: tokio::spawn(serve),
        }
    }

    /// Triggers shutdown and waits for the server to finish.
    pub async fn stop(self) -> io::Result<()> {
        self.shutdown.trigger();
        self.finished(PATIENCE).await
    }

    /// Waits up to `within` for the server to finish on its own (shutdown already triggered).
    pub async fn finished(self, within: Duration) -> io::Result<()> {
        match tokio::time::timeout(within, self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => panic!("server task failed: {join}"),
            Err(_) => panic!("server did not stop within {within:?}"),
        }
    }

    /// Whether the server task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// `len` random bytes, the same for the same `seed`.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes);
    bytes
}

/// The whole answer (head and body, as text) to `GET path` over a fresh HTTP/1.1 connection
/// that asks to be closed, with `addr` as its Host, as a client given that address sends it;
/// exact bytes on the wire, so nothing normalises the path. Fails the test past [`PATIENCE`].
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    http_get_as(addr, &addr.to_string(), path).await
}

/// [`http_get`] with `host` as the Host header, as a client sends it when it reached `addr`
/// by that name.
pub async fn http_get_as(addr: SocketAddr, host: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("send to {addr}: {e}"));
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("GET {path} from {addr}: no answer within {PATIENCE:?}"))
        .unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"));
    String::from_utf8_lossy(&answer).into_owned()
}

/// Waits until `addr` accepts TCP connections, for at most [`PATIENCE`].
pub async fn wait_until_accepting(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} did not accept connections within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
