//! [`AppService`]: the application as the tower service a server runs.
//!
//! It is the router, except for the routes whose table entry (`routes/mod.rs`) has a fast
//! path: a `GET` or `HEAD` answerable without waiting for anything (`/add`, the site's files
//! from memory, on the pages' routes and the table's fallback alike, `/api/profile` when the
//! session cache vouches for the session) is answered at once, and `POST /process` and `/api/process` after reading the body,
//! under the same CSRF check and timeout. Each calls the function its route's handler calls
//! and is stamped and counted by the same `observe::finish`, without axum's dynamic dispatch
//! and middleware boxing, which cost more than the answers themselves: 1.1x to 1.5x the
//! requests per second on those routes (`bench/app`, with and without them). Everything else
//! goes to the router. The tests run through this service, so both ways are covered.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{header, Method, Request};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::time::Instant;
use tower_service::Service;

use crate::routes::{Fast, RouteId};
use crate::{observe, App};

/// The application's service. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct AppService {
    app: App,
    router: Router,
}

impl AppService {
    pub(crate) fn new(app: App) -> Self {
        let router = crate::routes::router(app.clone());
        AppService { app, router }
    }

    /// 413 at once, whatever the route, for a request whose declared body (`Content-Length`)
    /// is over the body limit: nothing of the body is waited for, and the connection closes
    /// (the rest of the body may be on its way).
    fn too_large<B: http_body::Body>(&self, req: &Request<B>) -> Option<Response> {
        let declared = req.body().size_hint().lower();
        let limit = self.app.config().body_limit;
        if declared <= limit as u64 {
            return None;
        }
        let started = Instant::now();
        let message =
            format!("request body of {declared} bytes is larger than the limit of {limit} bytes");
        let mut response = crate::ApiError::new(axum::http::StatusCode::PAYLOAD_TOO_LARGE, message)
            .into_response();
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        let route = RouteId::of(req.uri().path());
        observe::finish(&self.app, route, req.method(), started, &mut response);
        Some(response)
    }

    /// A fast `GET`'s answer, or `None` for the router.
    fn direct<B>(&self, route: RouteId, req: &Request<B>) -> Option<Response> {
        let Some(Fast::Get(answer)) = route.fast() else {
            return None;
        };
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return None;
        }
        let started = Instant::now();
        let mut response = answer(&self.app, req.uri(), req.headers())?;
        observe::finish(&self.app, route, req.method(), started, &mut response);
        Some(response)
    }
}

impl<B> Service<Request<B>> for AppService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AppFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if let Some(response) = self.too_large(&req) {
            return AppFuture::Ready(Some(response));
        }
        let route = RouteId::of(req.uri().path());
        if let Some(response) = self.direct(route, &req) {
            return AppFuture::Ready(Some(response));
        }
        if let Some(Fast::Post(answer)) = route.fast() {
            if req.method() == Method::POST {
                return AppFuture::Direct(answer(self.app.clone(), route, req.map(Body::new)));
            }
        }
        AppFuture::Routed(self.router.call(req.map(Body::new)))
    }
}

/// The future of [`AppService::call`].
pub enum AppFuture {
    /// Answered already.
    Ready(Option<Response>),
    /// Answered without the router, after reading the body.
    Direct(Pin<Box<dyn Future<Output = Response> + Send>>),
    /// Going through the router.
    Routed(axum::routing::future::RouteFuture<Infallible>),
}

impl Future for AppFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            AppFuture::Ready(response) => Poll::Ready(Ok(response.take().unwrap_or_default())),
            AppFuture::Direct(future) => future.as_mut().poll(cx).map(Ok),
            AppFuture::Routed(future) => Pin::new(future).poll(cx),
        }
    }
}
