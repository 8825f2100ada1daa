//! What each request carries in from the transport, and the wrapper that puts it there.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
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

/// The client's address, in every request's extensions (`req.extensions().get::<PeerAddr>()`,
/// or axum's `Extension<PeerAddr>`). It is the TCP peer: behind a proxy, the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// Whether the request came over TLS, in every request's extensions (for Secure cookies,
/// HSTS, absolute URLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The caller's service as one connection runs it: stamps each request with [`PeerAddr`] and
/// [`Scheme`] and counts it in flight until its response body is done.
#[derive(Debug, Clone)]
pub(crate) struct ConnService<S> {
    pub(crate) inner: S,
    pub(crate) peer: SocketAddr,
    pub(crate) scheme: Scheme,
    pub(crate) activity: Arc<Activity>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> hyper::service::Service<Request<Incoming>> for ConnService<S>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<ResponseBody<B>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(PeerAddr(self.peer));
        req.extensions_mut().insert(self.scheme);
        let guard = self.activity.request_started();
        let mut inner = self.inner.clone();
        Box::pin(async move {
            poll_fn(|cx| inner.poll_ready(cx)).await?;
            let response = inner.call(req).await?;
            Ok(response.map(|body| ResponseBody {
                inner: body,
                _guard: guard,
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted in flight until it is dropped.
    pub(crate) struct ResponseBody<B> {
        #[pin]
        inner: B,
        _guard: RequestGuard,
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
