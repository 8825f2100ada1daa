//! HTTP/1 upgrades: [`on`] a request, [`OnUpgrade`] until the 101 is sent, then [`Upgraded`].
//!
//! Ours rather than `hyper::upgrade`, because HTTP/1 connections are served by this crate's
//! own codec (see `h1/`). The shape is hyper's: a request that asks to switch protocols
//! (`Connection: upgrade` with `Upgrade`, or `CONNECT`) carries an [`OnUpgrade`] in its
//! extensions; once the service has answered `101 Switching Protocols` and the connection
//! has written that answer, it resolves to the connection's byte stream, and from then on the
//! stream is the service's, outside the server's connection cap and shutdown drain.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::Request;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// Takes the upgrade promise out of `req`. If the request did not ask for an upgrade (or came
/// over HTTP/2), the promise fails at once.
pub fn on<B>(req: &mut Request<B>) -> OnUpgrade {
    req.extensions_mut()
        .remove::<OnUpgrade>()
        .unwrap_or(OnUpgrade { rx: None })
}

/// A promise of the connection's byte stream, resolved after a 101 answer has been written;
/// fails if the answer was anything else or the connection ended first.
#[derive(Clone)]
pub struct OnUpgrade {
    rx: Option<Arc<Mutex<oneshot::Receiver<Upgraded>>>>,
}

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnUpgrade").finish_non_exhaustive()
    }
}

impl Future for OnUpgrade {
    type Output = Result<Upgraded, UpgradeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(rx) = &self.rx else {
            return Poll::Ready(Err(UpgradeError));
        };
        let mut rx = rx.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Pin::new(&mut *rx).poll(cx).map_err(|_| UpgradeError)
    }
}

/// The connection was not upgraded: the request did not ask, the answer was not 101, or the
/// connection ended before the answer was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeError;

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection was not upgraded")
    }
}

impl std::error::Error for UpgradeError {}

/// The connection's end of an [`OnUpgrade`].
#[derive(Debug)]
pub(crate) struct UpgradeSender(oneshot::Sender<Upgraded>);

impl UpgradeSender {
    pub(crate) fn send(self, upgraded: Upgraded) {
        let _ = self.0.send(upgraded);
    }
}

/// A promise and its sender.
pub(crate) fn pending() -> (UpgradeSender, OnUpgrade) {
    let (tx, rx) = oneshot::channel();
    (
        UpgradeSender(tx),
        OnUpgrade {
            rx: Some(Arc::new(Mutex::new(rx))),
        },
    )
}

/// Any byte stream a connection runs on.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An upgraded connection: the bytes the client sent after its request (already read by the
/// server) come first, then the stream itself. Reads and writes go straight to the socket (or
/// the TLS session).
pub struct Upgraded {
    io: Box<dyn Io>,
    read: Bytes,
}

impl Upgraded {
    pub(crate) fn new(io: Box<dyn Io>, read: Bytes) -> Self {
        Upgraded { io, read }
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("buffered", &self.read.len())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
