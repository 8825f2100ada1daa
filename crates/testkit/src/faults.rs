//! A fault-injecting TCP proxy: put between a client (the balancer, say) and a server (a
//! backend), it passes bytes through untouched until told to misbehave ([`Fault`]), the way
//! toxiproxy does for the tests of HAProxy's and Envoy's users.
//!
//! Faults act on exchanges: an exchange begins when the client sends after the server has
//! answered (or first), and the fault in force then holds for the whole exchange, so that a
//! test which changes the fault never sees one answer half one way and half the other. A
//! pooled keep-alive connection picks the new fault up at its next request, as a real
//! misbehaving server would show it.
//!
//! ```no_run
//! # async fn demo(backend: std::net::SocketAddr) -> std::io::Result<()> {
//! use switchboard_testkit::faults::{Fault, FaultProxy};
//! let proxy = FaultProxy::start(backend).await?;
//! proxy.set(Fault::ResetBeforeResponse);
//! // ... send traffic to proxy.addr() ...
//! proxy.set(Fault::None);
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy does to an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bytes pass untouched.
    None,
    /// The answer is held back this long before its first byte goes on.
    Latency(Duration),
    /// When a request arrives, the client's connection is reset (RST); nothing is forwarded.
    ResetBeforeResponse,
    /// The request is forwarded; the answer's first `n` bytes go on, then the client's
    /// connection is reset.
    ResetMidResponse(usize),
    /// The request is read and dropped; nothing is ever answered and the connection stays
    /// open (a server that hangs, or a black-holed route).
    Blackhole,
    /// The answer goes on at most this many bytes per second.
    Throttle(u64),
    /// The request is forwarded; the answer's first `n` bytes go on, then the client's
    /// connection is closed cleanly (FIN), the rest of the answer never sent.
    CutShort(usize),
}

/// The proxy; dropping it stops accepting (connections in progress end with their peers).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    fault: Mutex<Fault>,
    accepted: AtomicU64,
    exchanges: AtomicU64,
    forwarded: AtomicU64,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` in front of `upstream`, passing bytes through.
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            fault: Mutex::new(Fault::None),
            accepted: AtomicU64::new(0),
            exchanges: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accepting.accepted.fetch_add(1, Ordering::SeqCst);
                let _ = client.set_nodelay(true);
                tokio::spawn(relay(client, accepting.clone()));
            }
        });
        Ok(FaultProxy { addr, shared, task })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault for exchanges that begin from now on.
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Exchanges begun (requests seen) so far.
    pub fn exchanges(&self) -> u64 {
        self.shared.exchanges.load(Ordering::SeqCst)
    }

    /// Exchanges whose request was forwarded to the server.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Room for one read in either direction.
const CHUNK: usize = 16 * 1024;

/// One client connection, both directions in one task (so a reset can drop both sockets at
/// once).
async fn relay(mut client: TcpStream, shared: Arc<Shared>) {
    let mut upstream: Option<TcpStream> = None;
    let mut from_client = vec![0u8; CHUNK];
    let mut from_upstream = vec![0u8; CHUNK];
    let mut fault = Fault::None;
    // Bytes of the current exchange's answer passed on; whether any came at all.
    let mut answered = 0usize;
    let mut fresh = true;
    loop {
        tokio::select! {
            read = client.read(&mut from_client) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if fresh {
                    fresh = false;
                    fault = shared.fault();
                    answered = 0;
                    shared.exchanges.fetch_add(1, Ordering::SeqCst);
                    match fault {
                        Fault::Blackhole => {}
                        Fault::ResetBeforeResponse => {
                            reset(client);
                            return;
                        }
                        _ => {
                            shared.forwarded.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                if fault == Fault::Blackhole {
                    continue;
                }
                if upstream.is_none() {
                    match TcpStream::connect(shared.upstream).await {
                        Ok(up) => {
                            let _ = up.set_nodelay(true);
                            upstream = Some(up);
                        }
                        Err(_) => {
                            reset(client);
                            return;
                        }
                    }
                }
                let Some(up) = upstream.as_mut() else { return };
                if up.write_all(&from_client[..n]).await.is_err() {
                    reset(client);
                    return;
                }
            }
            read = async {
                match upstream.as_mut() {
                    Some(up) => up.read(&mut from_upstream).await,
                    None => std::future::pending().await,
                }
            } => {
                let n = match read {
                    Ok(0) | Err(_) => {
                        let _ = client.shutdown().await;
                        return;
                    }
                    Ok(n) => n,
                };
                // The next bytes from the client begin another exchange.
                fresh = true;
                let bytes = &from_upstream[..n];
                match fault {
                    Fault::None | Fault::Blackhole | Fault::ResetBeforeResponse => {
                        if client.write_all(bytes).await.is_err() {
                            return;
                        }
                    }
                    Fault::Latency(delay) => {
                        if answered == 0 {
                            tokio::time::sleep(delay).await;
                        }
                        if client.write_all(bytes).await.is_err() {
                            return;
                        }
                    }
                    Fault::Throttle(per_second) => {
                        if throttled(&mut client, bytes, per_second).await.is_err() {
                            return;
                        }
                    }
                    Fault::ResetMidResponse(limit) | Fault::CutShort(limit) => {
                        let room = limit.saturating_sub(answered);
                        let passed = &bytes[..room.min(bytes.len())];
                        if client.write_all(passed).await.is_err() {
                            return;
                        }
                        if passed.len() < bytes.len() || answered + passed.len() >= limit {
                            if matches!(fault, Fault::CutShort(_)) {
                                let _ = client.shutdown().await;
                            } else {
                                reset(client);
                            }
                            return;
                        }
                    }
                }
                answered += n;
            }
        }
    }
}

/// Writes `bytes` at no more than `per_second`: a tenth of a second's worth after each tenth
/// of a second.
async fn throttled(client: &mut TcpStream, bytes: &[u8], per_second: u64) -> io::Result<()> {
    let slice = usize::try_from((per_second / 10).max(1)).unwrap_or(usize::MAX);
    for piece in bytes.chunks(slice) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.write_all(piece).await?;
    }
    Ok(())
}

/// Drops the connection with a reset (RST) rather than a close.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers each read with `answer`.
    async fn server(answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn ask(proxy: &FaultProxy) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(proxy.addr()).await?;
        s.write_all(b"ping").await?;
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut out))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        Ok(out)
    }

    /// Like [`ask`], but the server keeps the connection: reads one answer of `len` bytes.
    async fn ask_once(proxy: &FaultProxy, len: usize) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(proxy.addr()).await?;
        s.write_all(b"ping").await?;
        let mut out = vec![0u8; len];
        let mut got = 0;
        while got < len {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut out[got..]))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            if n == 0 {
                break;
            }
            got += n;
        }
        out.truncate(got);
        Ok(out)
    }

    #[tokio::test]
    async fn each_fault_does_what_it_says() {
        let proxy = FaultProxy::start(server(b"0123456789").await)
            .await
            .unwrap();
        assert_eq!(ask_once(&proxy, 10).await.unwrap(), b"0123456789");

        proxy.set(Fault::CutShort(4));
        assert_eq!(ask(&proxy).await.unwrap(), b"0123");

        proxy.set(Fault::ResetMidResponse(4));
        let cut = ask(&proxy).await;
        assert!(
            cut.as_ref().map_or(true, |b| b.len() <= 4),
            "at most 4 bytes, then a reset: {cut:?}"
        );

        proxy.set(Fault::ResetBeforeResponse);
        let reset = ask(&proxy).await;
        assert!(reset.as_ref().map_or(true, Vec::is_empty), "{reset:?}");

        proxy.set(Fault::Blackhole);
        let before = proxy.forwarded();
        let hung = ask(&proxy).await;
        assert_eq!(hung.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(proxy.forwarded(), before, "a black hole forwards nothing");

        proxy.set(Fault::Latency(Duration::from_millis(300)));
        let started = tokio::time::Instant::now();
        assert_eq!(ask_once(&proxy, 10).await.unwrap(), b"0123456789");
        assert!(started.elapsed() >= Duration::from_millis(300));

        proxy.set(Fault::Throttle(50));
        let started = tokio::time::Instant::now();
        assert_eq!(ask_once(&proxy, 10).await.unwrap(), b"0123456789");
        // Ten bytes at five per tenth of a second: two slices.
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(proxy.exchanges() >= 7);
    }
}
