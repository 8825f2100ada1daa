//! [`Pending`]: the bytes a connection has queued for the socket.

use bytes::{Buf, Bytes};

use super::COPY_LIMIT;
use crate::h1::encode;

/// Bytes waiting to be written: `buf` (heads, small frames, chunk framing) from `pos`, then
/// `data` (a large frame, not copied), then `tail` (chunk framing after it).
#[derive(Default)]
pub(super) struct Pending {
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
    pub(super) data: Bytes,
    pub(super) tail: &'static [u8],
}

impl Pending {
    pub(super) fn is_empty(&self) -> bool {
        self.pos == self.buf.len() && self.data.is_empty() && self.tail.is_empty()
    }

    pub(super) fn advance(&mut self, mut n: usize) {
        let in_buf = (self.buf.len() - self.pos).min(n);
        self.pos += in_buf;
        n -= in_buf;
        let in_data = self.data.len().min(n);
        self.data.advance(in_data);
        n -= in_data;
        self.tail = &self.tail[n.min(self.tail.len())..];
    }

    /// Queues body bytes: copied when small, otherwise kept as they are.
    pub(super) fn push(&mut self, data: Bytes, after: &'static [u8]) {
        if data.len() <= COPY_LIMIT || !self.data.is_empty() {
            self.buf.extend_from_slice(&data);
            self.buf.extend_from_slice(after);
        } else {
            self.data = data;
            self.tail = after;
        }
    }

    /// Queues framing bytes after everything queued.
    pub(super) fn push_tail(&mut self, bytes: &'static [u8]) {
        if self.data.is_empty() && self.tail.is_empty() {
            self.buf.extend_from_slice(bytes);
        } else if self.tail == b"\r\n" && bytes == encode::LAST_CHUNK {
            self.tail = b"\r\n0\r\n\r\n";
        } else if self.tail.is_empty() {
            self.tail = bytes;
        }
    }
}
