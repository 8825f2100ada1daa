//! The async model: one tokio task per client.
//!
//! A waiting client costs a task and its buffers, a few kilobytes, not a thread; the event loop
//! runs whichever conversation has bytes ready. This is how the server reaches thousands of
//! clients on one core.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_net::{ConnectionLimit, Shutdown, TaskTracker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, sleep_until, timeout, Instant};

use crate::protocol::ERR_BUSY;
use crate::server::{log_closed, log_opened, Counts, Ending, READ_BUFFER};
use crate::EchoConfig;

pub(crate) async fn serve(
    listener: std::net::TcpListener,
    config: Arc<EchoConfig>,
    shutdown: Shutdown,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let limit = ConnectionLimit::new(config.max_connections);
    let tracker = TaskTracker::new();
    // Triggered when the grace period is over: conversations still open then are closed.
    let force = Shutdown::new();

    while let Some((stream, peer)) = switchboard_net::accept(&listener, &shutdown).await {
        let Some(permit) = limit.try_acquire() else {
            tracing::info!(%peer, open = limit.open(), "refused: server busy");
            tracker.spawn(refuse_busy(stream));
            continue;
        };
        let config = config.clone();
        let force = force.clone();
        tracker.spawn(async move {
            converse(stream, peer, &config, &force).await;
            drop(permit);
        });
    }

    drop(listener);
    tracker.close();
    if !tracker.is_empty() {
        tracing::info!(open = limit.open(), grace = ?config.grace, "draining open conversations");
    }
    if timeout(config.grace, tracker.wait()).await.is_err() {
        tracing::info!(
            open = limit.open(),
            "grace period over; closing open conversations"
        );
        force.trigger();
        tracker.wait().await;
    }
    Ok(())
}

/// Tells a client over the limit that the server is busy, and closes.
async fn refuse_busy(mut stream: TcpStream) {
    let _ = timeout(Duration::from_secs(1), async {
        stream.write_all(ERR_BUSY).await?;
        stream.shutdown().await
    })
    .await;
}

async fn converse(mut stream: TcpStream, peer: SocketAddr, config: &EchoConfig, force: &Shutdown) {
    // Replies are small and a client waits for each: send them at once.
    let _ = stream.set_nodelay(true);
    log_opened(peer);
    let mut counts = Counts::default();
    let (ending, error) = match drive(&mut stream, config, force, &mut counts).await {
        Ok(ending) => (ending, None),
        Err(e) => (Ending::Error, Some(e)),
    };
    if ending != Ending::Shutdown {
        // Send our FIN after the last reply; errors here change nothing for the client.
        let _ = timeout(Duration::from_secs(1), stream.shutdown()).await;
    }
    log_closed(peer, counts, ending, error.as_ref());
}

async fn drive(
    stream: &mut TcpStream,
    config: &EchoConfig,
    force: &Shutdown,
    counts: &mut Counts,
) -> io::Result<Ending> {
    let mut session = config.session();
    let mut buf = vec![0u8; READ_BUFFER];
    let idle = config.idle_timeout.filter(|d| !d.is_zero());
    // The idle timer is armed once and pushed back only when it fires early: cheaper than
    // re-arming a timer on every read.
    let mut last_input = Instant::now();
    let idle_timer = sleep(idle.unwrap_or(Duration::from_secs(86_400 * 365)));
    // Made once: each new `cancelled()` future registers (and on drop unregisters) a waiter
    // under a lock, which per read would cost more than the read itself.
    let forced = force.wait();
    tokio::pin!(idle_timer, forced);

    loop {
        // A message without its newline waits in the session. If the client has nothing more
        // ready, it paused: its message is whole, so answer it now.
        let ready = if session.has_partial() {
            match stream.try_read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let tail = session.flush_partial();
                    write_reply(stream, tail, idle, force, counts).await?;
                    None
                }
                other => Some(other),
            }
        } else {
            None
        };
        let read = match ready {
            Some(read) => read,
            None => tokio::select! {
                biased;
                read = stream.read(&mut buf) => read,
                _ = &mut idle_timer, if idle.is_some() => {
                    let deadline = last_input + idle.unwrap_or_default();
                    if Instant::now() >= deadline {
                        return Ok(Ending::IdleTimeout);
                    }
                    idle_timer.as_mut().reset(deadline);
                    continue;
                }
                _ = &mut forced => return Ok(Ending::Shutdown),
            },
        };
        let n = match read {
            Ok(0) => {
                let tail = session.flush_partial();
                write_reply(stream, tail, idle, force, counts).await?;
                return Ok(Ending::ClientClosed);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if idle.is_some() {
            last_input = Instant::now();
        }
        counts.bytes_in += n as u64;
        let reply = session.receive(&buf[..n]);
        let close = reply.close;
        write_reply(stream, reply.bytes, idle, force, counts).await?;
        if close {
            return Ok(Ending::LineTooLong);
        }
    }
}

/// Writes a reply. The socket buffer almost always takes it whole at once; only a client that
/// stops reading makes us wait, and then no longer than the idle timeout.
async fn write_reply(
    stream: &mut TcpStream,
    bytes: &[u8],
    idle: Option<Duration>,
    force: &Shutdown,
    counts: &mut Counts,
) -> io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        match stream.try_write(&bytes[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    counts.bytes_out += written as u64;
    let rest = &bytes[written..];
    if rest.is_empty() {
        return Ok(());
    }
    let deadline = idle.map(|idle| Instant::now() + idle);
    let write = stream.write_all(rest);
    let stalled = async {
        match deadline {
            Some(deadline) => sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = write => {
            result?;
            counts.bytes_out += rest.len() as u64;
            Ok(())
        }
        _ = stalled => Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading")),
        _ = force.wait() => Err(io::Error::new(io::ErrorKind::Interrupted, "server shutdown")),
    }
}
