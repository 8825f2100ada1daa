//! The HTTP/2 wrapper that stamps each request with what it carries in from the transport
//! ([`PeerAddr`], [`Scheme`]) and counts it in flight.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tower_service::Service;

use crate::activity::{Activity, RequestGuard};
use crate::{PeerAddr, RequestBody, Scheme};

/// The caller's service as one HTTP/2 connection runs it (through hyper): stamps each request
/// with [`PeerAddr`] and [`Scheme`], hands its body over as a [`RequestBody`], and counts it
/// in flight until its response body is done. (HTTP/1 connections do the same in `h1/`.)
#[derive(Debug, Clone)]
pub(crate) struct ConnService<S> {
    pub(crate) inner: S,
    pub(crate) peer: SocketAddr,
    pub(crate) scheme: Scheme,
    pub(crate) activity: Arc<Activity>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for ConnService<S>
where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<ResponseBody<B>>;
    type Error = Infallible;
    type Future = ConnFuture<S, B>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut req = req.map(RequestBody::http2);
        req.extensions_mut().insert(PeerAddr(self.peer));
        req.extensions_mut().insert(self.scheme);
        ConnFuture {
            guard: Some(self.activity.request_started()),
            state: State::Ready {
                service: self.inner.clone(),
                req: Some(req),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// A request on its way through the caller's service: waits for the service to be ready,
    /// calls it, and wraps the response's body so the request stays counted in flight until
    /// the body is done. A concrete future rather than a boxed one: it runs for every request.
    pub(crate) struct ConnFuture<S, B>
    where
        S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>,
    {
        guard: Option<RequestGuard>,
        #[pin]
        state: State<S, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>,
    {
        Ready { service: S, req: Option<Request<RequestBody>> },
        Called { #[pin] future: S::Future },
    }
}

impl<S, B> Future for ConnFuture<S, B>
where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>,
{
    type Output = Result<Response<ResponseBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Ready { service, req } => {
                    if let Err(never) = std::task::ready!(service.poll_ready(cx)) {
                        match never {}
                    }
                    let Some(req) = req.take() else {
                        // Unreachable: the request leaves this state exactly once.
                        return Poll::Pending;
                    };
                    let future = service.call(req);
                    this.state.set(State::Called { future });
                }
                StateProj::Called { future } => {
                    let Ok(response) = std::task::ready!(future.poll(cx));
                    let mut guard = this.guard.take();
                    if let Some(guard) = guard.as_mut() {
                        guard.responding();
                    }
                    return Poll::Ready(Ok(response.map(|body| ResponseBody {
                        inner: body,
                        _guard: guard,
                    })));
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted in flight until it is dropped.
    pub(crate) struct ResponseBody<B> {
        #[pin]
        inner: B,
        _guard: Option<RequestGuard>,
    }
}

impl<B: Body<Data = Bytes>> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
