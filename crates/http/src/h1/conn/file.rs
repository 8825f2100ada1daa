//! A response whose body is a [`FileRegion`] (its extensions say so), sent from the file by
//! the kernel where the stream can (`sendfile(2)` on plain TCP): the head is written with
//! `MSG_MORE`, so it leaves in the same packet as the file's first bytes, and the body is
//! never polled. Elsewhere (TLS) the body is read and written as any other.

use std::convert::Infallible;
use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use switchboard_net::FileRegion;
use tower_service::Service;

use super::Conn;
use crate::conn::BoxError;
use crate::h1::encode::Framing as Out;
use crate::h1::Error;
use crate::transport::Transport;
use crate::RequestBody;

/// The most asked of one `sendfile(2)` call (the kernel's own cap is a little under 2 GiB).
const SENDFILE_CHUNK: usize = 1 << 30;

impl<'a, T, S, B> Conn<'a, T, S>
where
    T: Transport,
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    /// The region of `extensions` to send from its file, when the stream can and the framing
    /// chosen is the region's length (not a HEAD, a 304 or a close-delimited answer).
    pub(super) fn file_to_send<'r>(
        &self,
        extensions: &'r http::Extensions,
        framing: Out,
    ) -> Option<&'r FileRegion> {
        let region = extensions.get::<FileRegion>()?;
        (framing == Out::Length(region.len) && region.len > 0 && self.io.sends_files())
            .then_some(region)
    }

    /// Writes the queued head, then `region` from its file.
    pub(super) async fn send_file(&mut self, region: &FileRegion) -> Result<(), Error> {
        poll_fn(|cx| self.poll_head_more(cx)).await?;
        let mut sent = 0;
        while sent < region.len {
            let offset = region.offset + sent;
            let left = usize::try_from(region.len - sent).unwrap_or(SENDFILE_CHUNK);
            let n =
                poll_fn(|cx| self.poll_file(cx, region, offset, left.min(SENDFILE_CHUNK))).await?;
            if n == 0 {
                // The file is shorter than when its length was sent.
                return Err(Error::ResponseLength);
            }
            sent += n as u64;
        }
        Ok(())
    }

    /// Writes what is queued (the head, a `100 Continue` owed before it), saying more follows.
    fn poll_head_more(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while self.out.pos < self.out.buf.len() {
            match self.io.poll_write_more(cx, &self.out.buf[self.out.pos..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(Error::Io(io::ErrorKind::WriteZero.into())))
                }
                Poll::Ready(Ok(n)) => {
                    self.settings.activity.moved();
                    self.out.pos += n;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
                Poll::Pending => return self.pending_write(cx),
            }
        }
        self.out.buf.clear();
        self.out.pos = 0;
        Poll::Ready(Ok(()))
    }

    fn poll_file(
        &mut self,
        cx: &mut Context<'_>,
        region: &FileRegion,
        offset: u64,
        len: usize,
    ) -> Poll<Result<usize, Error>> {
        match self.io.poll_sendfile(cx, &region.file, offset, len) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.settings.activity.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(Error::Io(e))),
            Poll::Pending => match self.pending_write(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
        }
    }

    /// While the socket is full, the request body is still fed (as [`Self::poll_out`] does).
    fn pending_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Poll::Ready(Err(e)) = self.poll_feed(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Pending
    }
}
