//! The two blocking models: one OS thread per client, or one client at a time.
//!
//! Both run the same conversation, [`converse`], with blocking reads and writes; they differ
//! only in where it runs. `threaded` starts a thread for each client; `sequential` runs it on
//! the accepting thread itself, so the next client waits in the accept backlog until the current
//! one leaves. Idle timeouts are the socket's own read and write timeouts.
//!
//! Shutdown: the async side waits for the signal, then shuts the listening socket down, which
//! wakes the thread blocked in `accept()`. Every thread holds a clone of a channel sender; when
//! all are dropped, every conversation has ended. Conversations still open after the grace
//! period are closed through [`OpenConnections`], which keeps a handle to each socket.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use switchboard_net::{is_transient_accept_error, ConnectionLimit, Shutdown};
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::protocol::ERR_BUSY;
use crate::server::{log_closed, log_opened, Counts, Ending, READ_BUFFER};
use crate::{EchoConfig, Model};

/// A conversation thread's stack. Buffers live on the heap, so a small stack is plenty, and it
/// keeps a thousand clients to a modest address-space reservation.
const STACK_SIZE: usize = 256 * 1024;

pub(crate) async fn serve(
    listener: TcpListener,
    config: Arc<EchoConfig>,
    shutdown: Shutdown,
) -> io::Result<()> {
    listener.set_nonblocking(false)?;
    let waker = listener.try_clone()?;
    let open = Arc::new(OpenConnections::default());
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    {
        let config = config.clone();
        let shutdown = shutdown.clone();
        let open = open.clone();
        thread::Builder::new()
            .name("echo-accept".into())
            .spawn(move || accept_loop(listener, &config, &shutdown, &open, done_tx))?;
    }

    shutdown.wait().await;
    // Stop accepting. On Linux, shutting a listening socket down wakes a blocked accept() with
    // an error, and clients still in the backlog are refused.
    let _ = socket2::SockRef::from(&waker).shutdown(Direction::Both);
    drop(waker);

    if timeout(config.grace, done_rx.recv()).await.is_err() {
        tracing::info!(
            open = open.len(),
            "grace period over; closing open conversations"
        );
        open.close_all();
        if timeout(Duration::from_secs(5), done_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!("some conversation threads did not stop");
        }
    }
    Ok(())
}

fn accept_loop(
    listener: TcpListener,
    config: &Arc<EchoConfig>,
    shutdown: &Shutdown,
    open: &Arc<OpenConnections>,
    done: mpsc::Sender<()>,
) {
    let limit = ConnectionLimit::new(config.max_connections);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(_) if shutdown.is_triggered() => break,
            Err(e) if is_transient_accept_error(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; pausing 100 ms");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if shutdown.is_triggered() {
            break;
        }
        match config.model {
            Model::Sequential => converse(stream, peer, config, open),
            _ => {
                let Some(permit) = limit.try_acquire() else {
                    tracing::info!(%peer, open = limit.open(), "refused: server busy");
                    refuse_busy(stream);
                    continue;
                };
                let (config, open, done) = (config.clone(), open.clone(), done.clone());
                let spawned = thread::Builder::new()
                    .name("echo-conn".into())
                    .stack_size(STACK_SIZE)
                    .spawn(move || {
                        converse(stream, peer, &config, &open);
                        drop((permit, done));
                    });
                if let Err(e) = spawned {
                    // The closure, and with it the client's socket, is dropped: it sees a close.
                    tracing::warn!(%peer, error = %e, "cannot start a thread for the client");
                }
            }
        }
    }
    drop(done);
}

/// Tells a client over the limit that the server is busy, and closes. Sixteen bytes into a new
/// socket's empty buffer: the write does not block.
fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(ERR_BUSY);
    let _ = stream.shutdown(Direction::Write);
}

fn converse(stream: TcpStream, peer: SocketAddr, config: &EchoConfig, open: &OpenConnections) {
    let _registration = match open.register(&stream) {
        Ok(registration) => registration,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cannot track the connection; closing it");
            return;
        }
    };
    log_opened(peer);
    let mut counts = Counts::default();
    let (mut ending, error) = match drive(stream, config, &mut counts) {
        Ok(ending) => (ending, None),
        Err(e) if is_timeout(&e) => (Ending::IdleTimeout, None),
        Err(e) => (Ending::Error, Some(e)),
    };
    if open.closing() {
        ending = Ending::Shutdown;
    }
    log_closed(peer, counts, ending, error.as_ref());
}

fn drive(mut stream: TcpStream, config: &EchoConfig, counts: &mut Counts) -> io::Result<Ending> {
    stream.set_nodelay(true)?;
    // The OS refuses a zero timeout; zero means "no timeout" here.
    let idle = config.idle_timeout.filter(|d| !d.is_zero());
    stream.set_read_timeout(idle)?;
    stream.set_write_timeout(idle)?;
    let mut session = config.session();
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => {
                let tail = session.flush_partial();
                write_counted(&mut stream, tail, counts)?;
                let _ = stream.shutdown(Direction::Write);
                return Ok(Ending::ClientClosed);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        counts.bytes_in += n as u64;
        let reply = session.receive(&buf[..n]);
        let close = reply.close;
        write_counted(&mut stream, reply.bytes, counts)?;
        if close {
            let _ = stream.shutdown(Direction::Write);
            return Ok(Ending::LineTooLong);
        }
        // A message without its newline: if nothing more is ready, the client paused.
        if session.has_partial() && !more_is_ready(&stream)? {
            let tail = session.flush_partial();
            write_counted(&mut stream, tail, counts)?;
        }
    }
}

fn write_counted(stream: &mut TcpStream, bytes: &[u8], counts: &mut Counts) -> io::Result<()> {
    stream.write_all(bytes)?;
    counts.bytes_out += bytes.len() as u64;
    Ok(())
}

/// Whether bytes (or the end of the stream) can be read right now without waiting.
fn more_is_ready(stream: &TcpStream) -> io::Result<bool> {
    stream.set_nonblocking(true)?;
    let peeked = stream.peek(&mut [0u8; 1]);
    stream.set_nonblocking(false)?;
    match peeked {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A handle to every open conversation's socket, so shutdown can close the ones still open
/// after the grace period.
#[derive(Default)]
struct OpenConnections {
    next_id: AtomicU64,
    sockets: Mutex<HashMap<u64, TcpStream>>,
    closing: AtomicBool,
}

/// Removes its socket from [`OpenConnections`] when the conversation ends.
struct Registration<'a> {
    open: &'a OpenConnections,
    id: u64,
}

impl OpenConnections {
    fn register(&self, stream: &TcpStream) -> io::Result<Registration<'_>> {
        let handle = stream.try_clone()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, handle);
        Ok(Registration { open: self, id })
    }

    fn close_all(&self) {
        self.closing.store(true, Ordering::Relaxed);
        for socket in self.lock().values() {
            let _ = socket.shutdown(Direction::Both);
        }
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, TcpStream>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.sockets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.open.lock().remove(&self.id);
    }
}
