//! The request body between the connection task and the service: a one-chunk slot.
//!
//! The connection reads the socket only when the body's reader asks for more (and the slot is
//! empty), so a body is never buffered ahead of the service: the socket's own buffer and TCP's
//! window hold the client back. Ours rather than hyper's `Incoming` for the same reason as the
//! rest of `h1/`; the shape is the same (a want signal and one chunk in flight).

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::BodyError;

#[derive(Debug, Default)]
struct Slot {
    /// A chunk decoded and not yet taken.
    chunk: Option<Bytes>,
    /// How the body ended, once it has.
    end: Option<End>,
    /// The reader is waiting for a chunk.
    wanted: bool,
    /// The reader is gone: nothing more will be taken.
    dropped: bool,
    /// Bytes not yet taken, when the framing says.
    remaining: Option<u64>,
    reader: Option<Waker>,
    connection: Option<Waker>,
}

#[derive(Debug)]
enum End {
    Complete,
    Failed(String),
    /// The client did not send the body in time.
    TimedOut,
    /// The failure has been reported; the body ends.
    Reported,
}

type Shared = Arc<Mutex<Slot>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Slot> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// A body's two ends; `remaining` is its length when known.
pub(crate) fn channel(remaining: Option<u64>) -> (BodySender, BodyReceiver) {
    let shared = Arc::new(Mutex::new(Slot {
        remaining,
        ..Slot::default()
    }));
    (BodySender(shared.clone()), BodyReceiver(shared))
}

/// The connection's end.
#[derive(Debug)]
pub(crate) struct BodySender(Shared);

impl BodySender {
    /// Ready with `true` when the reader wants a chunk, `false` when it is gone.
    pub(crate) fn poll_want(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut slot = lock(&self.0);
        if slot.dropped {
            return Poll::Ready(false);
        }
        if slot.wanted && slot.chunk.is_none() {
            return Poll::Ready(true);
        }
        if !slot
            .connection
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            slot.connection = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    pub(crate) fn send(&self, chunk: Bytes) {
        let mut slot = lock(&self.0);
        slot.chunk = Some(chunk);
        slot.wanted = false;
        let reader = slot.reader.take();
        drop(slot);
        wake(reader);
    }

    pub(crate) fn finish(self) {
        self.end(End::Complete);
    }

    pub(crate) fn fail(self, why: impl Into<String>) {
        self.end(End::Failed(why.into()));
    }

    pub(crate) fn time_out(self) {
        self.end(End::TimedOut);
    }

    fn end(&self, end: End) {
        let mut slot = lock(&self.0);
        if slot.end.is_none() {
            slot.end = Some(end);
        }
        let reader = slot.reader.take();
        drop(slot);
        wake(reader);
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        self.end(End::Failed(
            "the connection stopped reading the body".to_string(),
        ));
    }
}

/// The service's end, inside [`RequestBody`](crate::RequestBody).
#[derive(Debug)]
pub(crate) struct BodyReceiver(Shared);

impl BodyReceiver {
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let mut slot = lock(&self.0);
        if let Some(chunk) = slot.chunk.take() {
            if let Some(left) = slot.remaining.as_mut() {
                *left = left.saturating_sub(chunk.len() as u64);
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match slot.end.take() {
            Some(End::Complete) => {
                slot.end = Some(End::Complete);
                Poll::Ready(None)
            }
            Some(End::Failed(why)) => {
                slot.end = Some(End::Reported);
                Poll::Ready(Some(Err(BodyError::http1(why))))
            }
            Some(End::TimedOut) => {
                slot.end = Some(End::Reported);
                Poll::Ready(Some(Err(BodyError::timeout())))
            }
            Some(End::Reported) => {
                slot.end = Some(End::Reported);
                Poll::Ready(None)
            }
            None => {
                slot.wanted = true;
                if !slot
                    .reader
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    slot.reader = Some(cx.waker().clone());
                }
                let connection = slot.connection.take();
                drop(slot);
                wake(connection);
                Poll::Pending
            }
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        let slot = lock(&self.0);
        slot.chunk.is_none() && matches!(slot.end, Some(End::Complete))
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        match lock(&self.0).remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

impl Drop for BodyReceiver {
    fn drop(&mut self) {
        let mut slot = lock(&self.0);
        slot.dropped = true;
        slot.chunk = None;
        let connection = slot.connection.take();
        drop(slot);
        wake(connection);
    }
}
