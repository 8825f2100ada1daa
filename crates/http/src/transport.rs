//! [`Transport`]: what a connection's stream can do besides reading and writing. Plain TCP can
//! move a file's bytes to the socket in the kernel (`sendfile(2)`), so a large static file is
//! never copied through the process; a TLS stream must encrypt what it sends, and so cannot,
//! and the HTTP/1 codec reads such a response's body as it reads any other.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use nix::libc;
use nix::sys::socket::MsgFlags;
use tokio::io::{AsyncRead, AsyncWrite, Interest};
use tokio::net::TcpStream;

/// A connection's stream, as the HTTP/1 codec writes to it.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// Whether [`poll_write_more`](Self::poll_write_more) and
    /// [`poll_sendfile`](Self::poll_sendfile) work here.
    fn sends_files(&self) -> bool {
        false
    }

    /// Writes `buf`, telling the kernel that more follows at once (a response's head before
    /// its file): held back to go out with the file's first bytes, not in a packet of its own.
    fn poll_write_more(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self).poll_write(cx, buf)
    }

    /// Sends up to `len` bytes of `file` from `offset` without reading them into the process;
    /// how many went (0: the file ends before `offset`).
    fn poll_sendfile(
        &mut self,
        _cx: &mut Context<'_>,
        _file: &File,
        _offset: u64,
        _len: usize,
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }
}

impl Transport for TcpStream {
    fn sends_files(&self) -> bool {
        true
    }

    fn poll_write_more(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let flags = MsgFlags::from_bits_retain(libc::MSG_MORE) | MsgFlags::MSG_NOSIGNAL;
        let fd = self.as_raw_fd();
        loop {
            ready!(self.poll_write_ready(cx))?;
            match self.try_io(Interest::WRITABLE, || {
                nix::sys::socket::send(fd, buf, flags).map_err(io::Error::from)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        let Ok(start) = libc::off_t::try_from(offset) else {
            return Poll::Ready(Ok(0));
        };
        loop {
            ready!(self.poll_write_ready(cx))?;
            let mut at = start;
            match self.try_io(Interest::WRITABLE, || {
                nix::sys::sendfile::sendfile(&*self, file, Some(&mut at), len)
                    .map_err(io::Error::from)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}

impl Transport for tokio_rustls::server::TlsStream<TcpStream> {}

/// The tests' in-memory streams.
#[cfg(test)]
impl Transport for tokio::io::DuplexStream {}

#[cfg(test)]
impl<T: AsyncWrite + AsyncRead + Unpin> Transport for tokio::io::BufWriter<T> {}
