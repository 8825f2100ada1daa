//! The message client: what `switchboard echo send` runs.
//!
//! Over TCP, [`tcp_exchange`] works like `nc`: it copies its input to the server and the
//! server's replies to its output, both at once, so it works typed at a terminal, in a pipe,
//! and for payloads far bigger than the socket buffers. At the end of its input it closes its
//! sending side and reads until the server closes, allowing `timeout` of silence.
//!
//! Over UDP, [`udp_exchange`] sends each line of its input as one datagram and waits up to
//! `timeout` for the one datagram that answers it: a lost datagram is a timeout, never a hang.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchboard_net::{resolve, ResolveError};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{sleep_until, timeout, Instant};

/// Why an exchange failed. Each says what happened in one line.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address did not resolve.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// Nothing listens there.
    #[error("cannot connect to {addr}: connection refused (is the server running?)")]
    Refused {
        /// Where we tried.
        addr: String,
    },
    /// Connecting took longer than the timeout.
    #[error("cannot connect to {addr}: timed out after {}", humanize(*.after))]
    ConnectTimeout {
        /// Where we tried.
        addr: String,
        /// How long we waited.
        after: Duration,
    },
    /// The server went silent.
    #[error("no reply from {addr} within {}{}", humanize(*.after), if *.udp { " (the datagram or its reply may have been lost)" } else { "" })]
    ReplyTimeout {
        /// The server.
        addr: String,
        /// How long we waited.
        after: Duration,
        /// Whether this was UDP.
        udp: bool,
    },
    /// A message too big for one UDP datagram.
    #[error("message of {len} bytes is too large for one UDP datagram (at most {max})")]
    DatagramTooLarge {
        /// The message's length.
        len: usize,
        /// The largest datagram payload.
        max: usize,
    },
    /// The connection failed after it was made.
    #[error("connection to {addr} failed: {source}")]
    Connection {
        /// The server.
        addr: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The server closed the connection before all the input was sent.
    #[error("{addr} closed the connection before all the input was sent")]
    ClosedEarly {
        /// The server.
        addr: String,
    },
    /// Reading our input or writing our output failed.
    #[error("{what}: {source}")]
    Local {
        /// What we were doing.
        what: &'static str,
        /// What the OS said.
        source: io::Error,
    },
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// What an exchange moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exchanged {
    /// Bytes sent to the server.
    pub sent: u64,
    /// Bytes received from it.
    pub received: u64,
}

/// Connects to the first address of `host_port` that accepts, within `limit` for each.
pub async fn connect(host_port: &str, limit: Duration) -> Result<TcpStream, ClientError> {
    let addrs = resolve(host_port).await?;
    let mut last = None;
    for addr in &addrs {
        match timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some(connect_error(host_port, e)),
            Err(_) => {
                last = Some(ClientError::ConnectTimeout {
                    addr: host_port.into(),
                    after: limit,
                })
            }
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

fn connect_error(addr: &str, e: io::Error) -> ClientError {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        ClientError::Refused { addr: addr.into() }
    } else {
        ClientError::Connection {
            addr: addr.into(),
            source: e,
        }
    }
}

/// Sends all of `input` to the TCP server at `host_port` while copying its replies to
/// `output`; then closes the sending side and copies replies until the server closes.
/// `limit` bounds connecting, and the server's silence once the input has all been sent.
pub async fn tcp_exchange<R, W>(
    host_port: &str,
    mut input: R,
    mut output: W,
    limit: Duration,
) -> Result<Exchanged, ClientError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let stream = connect(host_port, limit).await?;
    let _ = stream.set_nodelay(true);
    let (mut from_server, mut to_server) = stream.into_split();
    let conn_err = |source| ClientError::Connection {
        addr: host_port.into(),
        source,
    };

    // Both directions at once: a large input would otherwise fill the socket buffers both
    // ways and stall.
    let (sent_tx, mut sent_rx) = tokio::sync::oneshot::channel::<()>();
    let sent = AtomicU64::new(0);
    let send = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = input
                .read(&mut buf)
                .await
                .map_err(|source| ClientError::Local {
                    what: "cannot read the input",
                    source,
                })?;
            if n == 0 {
                break;
            }
            to_server.write_all(&buf[..n]).await.map_err(conn_err)?;
            sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        to_server.shutdown().await.map_err(conn_err)?;
        let _ = sent_tx.send(());
        Ok::<(), ClientError>(())
    };

    let receive = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut received = 0u64;
        // Silence is only a timeout once all the input is sent (or sending failed): a person
        // at a terminal may take their time.
        let mut input_done = false;
        let mut deadline = Instant::now();
        loop {
            let n = tokio::select! {
                read = from_server.read(&mut buf) => read.map_err(conn_err)?,
                _ = &mut sent_rx, if !input_done => {
                    input_done = true;
                    deadline = Instant::now() + limit;
                    continue;
                }
                _ = sleep_until(deadline), if input_done => {
                    return Err(ClientError::ReplyTimeout { addr: host_port.into(), after: limit, udp: false });
                }
            };
            if n == 0 {
                return Ok(received);
            }
            received += n as u64;
            output
                .write_all(&buf[..n])
                .await
                .and(output.flush().await)
                .map_err(|source| ClientError::Local {
                    what: "cannot write the output",
                    source,
                })?;
            deadline = Instant::now() + limit;
        }
    };

    tokio::pin!(send, receive);
    let mut send_done = false;
    let mut send_error = None;
    let received = loop {
        tokio::select! {
            result = &mut send, if !send_done => {
                send_done = true;
                send_error = result.err();
            }
            result = &mut receive => break result,
        }
    };
    // A failure to read our own input says more than what it did to the connection.
    if let Some(e @ ClientError::Local { .. }) = send_error {
        return Err(e);
    }
    let received = received?;
    if let Some(e) = send_error {
        return Err(e);
    }
    if !send_done {
        return Err(ClientError::ClosedEarly {
            addr: host_port.into(),
        });
    }
    Ok(Exchanged {
        sent: sent.load(Ordering::Relaxed),
        received,
    })
}

/// Sends each line of `input` (without its line ending) as one datagram to `host_port` and
/// writes each reply to `output`, ending it with a newline if it has none. Waits at most
/// `limit` for each reply.
pub async fn udp_exchange<R, W>(
    host_port: &str,
    input: R,
    mut output: W,
    limit: Duration,
) -> Result<Exchanged, ClientError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let addrs = resolve(host_port).await?;
    let addr = addrs[0];
    let local: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid")
    } else {
        "[::]:0".parse().expect("valid")
    };
    let conn_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::ConnectionRefused {
            ClientError::Refused {
                addr: host_port.into(),
            }
        } else {
            ClientError::Connection {
                addr: host_port.into(),
                source,
            }
        }
    };
    let socket = UdpSocket::bind(local).await.map_err(conn_err)?;
    socket.connect(addr).await.map_err(conn_err)?;
    let max = if addr.is_ipv4() { 65_507 } else { 65_527 };

    let mut lines = input.split(b'\n');
    let mut reply = vec![0u8; 65_536];
    let mut done = Exchanged::default();
    while let Some(mut line) = lines
        .next_segment()
        .await
        .map_err(|source| ClientError::Local {
            what: "cannot read the input",
            source,
        })?
    {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > max {
            return Err(ClientError::DatagramTooLarge {
                len: line.len(),
                max,
            });
        }
        socket.send(&line).await.map_err(conn_err)?;
        done.sent += line.len() as u64;
        let n = match timeout(limit, socket.recv(&mut reply)).await {
            Ok(received) => received.map_err(conn_err)?,
            Err(_) => {
                return Err(ClientError::ReplyTimeout {
                    addr: host_port.into(),
                    after: limit,
                    udp: true,
                })
            }
        };
        done.received += n as u64;
        let mut answer = reply[..n].to_vec();
        if answer.last() != Some(&b'\n') {
            answer.push(b'\n');
        }
        output
            .write_all(&answer)
            .await
            .and(output.flush().await)
            .map_err(|source| ClientError::Local {
                what: "cannot write the output",
                source,
            })?;
    }
    Ok(done)
}
