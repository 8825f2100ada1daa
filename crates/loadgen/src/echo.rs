//! The message server's benchmark: round trips of SIZE-byte messages.
//!
//! TCP: each connection keeps `pipeline` messages in flight; a round trip completes when SIZE
//! bytes came back for the oldest outstanding message (an echo server answers in order), and
//! each completed one is replaced by a new message while the run lasts.
//! UDP: one datagram per round trip on a connected socket; a reply that does not come within
//! the timeout is a lost datagram, counted as a timeout error. The first 8 bytes of each
//! datagram carry a sequence number, so that a late reply is not taken for the next one.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use crate::engine::Ctx;
use crate::stats::ErrorKind;

/// `pipeline` messages of `size` bytes, back to back: printable, not all alike.
pub(crate) fn payload(size: usize, pipeline: usize) -> Vec<u8> {
    (0..size * pipeline.max(1))
        .map(|i| b'a' + (i % 26) as u8)
        .collect()
}

pub(crate) async fn tcp_connection(
    mut ctx: Ctx,
    addr: SocketAddr,
    payload: Arc<[u8]>,
    size: usize,
    pipeline: usize,
    timeout: Duration,
) {
    let mut buf = vec![0u8; (size * pipeline).clamp(4096, 256 * 1024)];
    let mut ever_connected = false;
    let sleep = tokio::time::sleep(timeout);
    tokio::pin!(sleep);
    'connection: while ctx.more() {
        let mut stream = match tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
        {
            Ok(s) => s,
            Err(e) => {
                ctx.connect_error(&e);
                if !ever_connected {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        ctx.connected();
        ever_connected = true;
        let mut sent: VecDeque<Instant> = VecDeque::with_capacity(pipeline);
        let mut fresh = 0;
        while fresh < pipeline {
            match ctx.next().await {
                Some(due) => sent.push_back(due),
                None => break,
            }
            fresh += 1;
        }
        let mut got = 0;
        while !sent.is_empty() {
            if fresh > 0 {
                if stream.write_all(&payload[..fresh * size]).await.is_err() {
                    ctx.error(ErrorKind::Write);
                    continue 'connection;
                }
                fresh = 0;
            }
            // The timer is pushed back only when it fires early (see http1.rs).
            let limit = Instant::now() + timeout;
            let read = loop {
                tokio::select! {
                    biased;
                    r = stream.read(&mut buf) => break r,
                    () = &mut sleep => {
                        if Instant::now() >= limit {
                            ctx.error(ErrorKind::Timeout);
                            continue 'connection;
                        }
                        sleep.as_mut().reset(limit);
                    }
                }
            };
            let n = match read {
                Ok(0) | Err(_) => {
                    ctx.error(ErrorKind::Read);
                    continue 'connection;
                }
                Ok(n) => n,
            };
            ctx.bytes(n as u64);
            got += n;
            let now = Instant::now();
            while got >= size {
                let Some(due) = sent.pop_front() else {
                    // More came back than was sent.
                    ctx.error(ErrorKind::Protocol);
                    continue 'connection;
                };
                got -= size;
                ctx.done_at(due, now, None);
                if let Some(due) = ctx.next().await {
                    sent.push_back(due);
                    fresh += 1;
                }
            }
        }
        return;
    }
}

pub(crate) async fn udp_connection(mut ctx: Ctx, addr: SocketAddr, size: usize, timeout: Duration) {
    let local: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid")
    } else {
        "[::]:0".parse().expect("valid")
    };
    let socket = match UdpSocket::bind(local).await {
        Ok(s) => s,
        Err(e) => return ctx.connect_error(&e),
    };
    if let Err(e) = socket.connect(addr).await {
        return ctx.connect_error(&e);
    }
    let mut message = payload(size, 1);
    let mut buf = vec![0u8; size.max(8) + 1];
    let mut seq: u64 = 0;
    let mut answered = false;
    while let Some(due) = ctx.next().await {
        seq += 1;
        if size >= 8 {
            message[..8].copy_from_slice(&seq.to_be_bytes());
        }
        if socket.send(&message).await.is_err() {
            ctx.error(ErrorKind::Write);
            continue;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let received = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await;
            match received {
                Err(_) => {
                    ctx.error(ErrorKind::Timeout);
                    break;
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    ctx.connect_error(&e);
                    if !answered {
                        return; // nobody listens there
                    }
                    break;
                }
                Ok(Err(_)) => {
                    ctx.error(ErrorKind::Read);
                    break;
                }
                Ok(Ok(n)) => {
                    if size >= 8 && n >= 8 && buf[..8] != seq.to_be_bytes() {
                        continue; // a late reply to an earlier datagram
                    }
                    ctx.bytes(n as u64);
                    if n != size {
                        ctx.error(ErrorKind::Protocol);
                        break;
                    }
                    if !answered {
                        answered = true;
                        ctx.connected();
                    }
                    ctx.done(due, None);
                    break;
                }
            }
        }
    }
}
