//! A backend's answer on its way to the client. When its body ends cleanly, the backend
//! connection goes back to the pool (if the answer allowed keep-alive) and the lease ends;
//! dropped early (the client gone), the connection is closed and the lease let go; failed
//! by the backend, the same, and the failure counted on the backend.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use super::answer::{BoxError, ProxyBody};
use super::client::ResponseBody;
use super::headers::strip_hop_by_hop;
use super::upstream::Upstreams;
use crate::Lease;

/// The answer as the client gets it: hop-by-hop fields removed, the body relayed.
pub(super) fn relay(
    upstreams: Arc<Upstreams>,
    head: Response<()>,
    body: ResponseBody,
    lease: Lease,
) -> Response<ProxyBody> {
    let (mut parts, ()) = head.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.version = http::Version::HTTP_11;
    let mut relayed = Relayed {
        body,
        done: Some(Done { upstreams, lease }),
    };
    // An empty body (204, 304, a HEAD's answer) may never be polled: done already.
    relayed.check_in_if_done();
    Response::from_parts(parts, relayed.boxed())
}

/// What a relayed answer holds until its body ends: the lease (which names the backend).
struct Done {
    upstreams: Arc<Upstreams>,
    lease: Lease,
}

/// A backend's response body as the client's server sees it.
struct Relayed {
    body: ResponseBody,
    done: Option<Done>,
}

impl Relayed {
    fn check_in_if_done(&mut self) {
        if !self.body.is_done() {
            return;
        }
        if let Some(done) = self.done.take() {
            if let Some(conn) = self.body.take_idle() {
                let addr = &done.lease.backend().addr;
                done.upstreams.checkin(addr, conn);
            }
        }
    }
}

impl Body for Relayed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let data = std::task::ready!(this.body.poll_data(cx));
        if let Some(Err(e)) = &data {
            // The backend's doing (a reset, a close before the end, a malformed chunk): held
            // against it, and the client's connection is cut, so that it cannot take the part
            // it got for the whole.
            if let Some(done) = this.done.take() {
                tracing::warn!(backend = %done.lease.backend().addr, error = %e, "backend failed mid-answer");
                done.lease.broke_off();
            }
        }
        // The server stops polling a body that says it has ended, so the end is caught here,
        // not only at a final `None`.
        this.check_in_if_done();
        Poll::Ready(data.map(|d| d.map(Frame::data).map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
