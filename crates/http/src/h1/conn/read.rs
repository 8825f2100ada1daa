//! Reading from the socket without holding a buffer before bytes come.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};

use super::READ_CHUNK;
use crate::activity::Activity;

/// Reads what the socket has (up to [`READ_CHUNK`]) and appends it to `read`. The read goes
/// through the stack, so nothing is allocated before bytes come, and then only what came.
pub(super) fn read_more<T: AsyncRead + Unpin>(
    io: &mut T,
    read: &mut BytesMut,
    activity: &Activity,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let mut chunk = [const { MaybeUninit::<u8>::uninit() }; READ_CHUNK];
    let mut buf = ReadBuf::uninit(&mut chunk);
    ready!(Pin::new(io).poll_read(cx, &mut buf))?;
    let filled = buf.filled();
    if !filled.is_empty() {
        activity.moved();
        read.extend_from_slice(filled);
    }
    Poll::Ready(Ok(filled.len()))
}
