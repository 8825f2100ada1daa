//! [`FileBody`]: part of a kept-open file as a response body, read a chunk at a time on the
//! blocking pool. What a server reads when it cannot send the file itself (TLS, HTTP/2);
//! plain HTTP/1.1 sends the response's [`FileRegion`](switchboard_net::FileRegion) instead,
//! and this is never polled.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

/// Bytes read from the file per chunk.
const CHUNK: u64 = 64 * 1024;

/// `len` bytes of a file from `offset`.
pub(super) struct FileBody {
    file: Arc<File>,
    offset: u64,
    left: u64,
    reading: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileBody {
    pub(super) fn new(file: Arc<File>, offset: u64, len: u64) -> FileBody {
        FileBody {
            file,
            offset,
            left: len,
            reading: None,
        }
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let reading = this.reading.get_or_insert_with(|| {
            let file = Arc::clone(&this.file);
            let (offset, len) = (this.offset, this.left.min(CHUNK) as usize);
            tokio::task::spawn_blocking(move || {
                let mut chunk = vec![0; len];
                // A file cut short since its length was sent fails here: the answer breaks
                // off rather than going on with other bytes.
                file.read_exact_at(&mut chunk, offset)?;
                Ok(Bytes::from(chunk))
            })
        });
        let read = ready!(Pin::new(reading).poll(cx));
        this.reading = None;
        let chunk = match read {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => return Poll::Ready(Some(Err(e))),
            Err(e) => return Poll::Ready(Some(Err(io::Error::other(e)))),
        };
        this.offset += chunk.len() as u64;
        this.left -= chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}
