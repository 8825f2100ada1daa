//! [`AppService`]: the application as the tower service a server runs.
//!
//! It is the router, except that reads answerable without waiting for anything are answered
//! directly: `GET /add`, the embedded home page (when the client asks for no compression),
//! and `GET /api/profile` when the session cache vouches for the session. The same
//! functions the router's handlers call, stamped and counted by the same `observe::finish`,
//! without axum's dynamic dispatch and middleware boxing, which cost more than the answers
//! themselves. Everything else, and every request that is not a plain GET, goes to the router.
//! The tests run through this service, so both ways are covered.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{header, Method, Request};
use axum::response::Response;
use axum::Router;
use tokio::time::Instant;
use tower_service::Service;

use crate::metrics::route_index;
use crate::routes::{auth, calc, site};
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

    fn direct<B>(&self, req: &Request<B>) -> Option<Response> {
        if req.method() != Method::GET {
            return None;
        }
        let started = Instant::now();
        let path = req.uri().path();
        let mut response = match path {
            "/add" => calc::answer_add(req.uri().query()),
            "/" | "/index.html" if !req.headers().contains_key(header::ACCEPT_ENCODING) => {
                site::embedded_index(self.app.site(), req.headers())?
            }
            // Signed in with a session the cache vouches for: no database round trip.
            "/api/profile" => {
                let auth = crate::auth::session::cached(&self.app, req.headers())?;
                auth::profile_answer(&self.app, &auth)
            }
            _ => return None,
        };
        observe::finish(
            &self.app,
            route_index(path),
            &Method::GET,
            started,
            &mut response,
        );
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
        match self.direct(&req) {
            Some(response) => AppFuture::Ready(Some(response)),
            None => AppFuture::Routed(self.router.call(req.map(Body::new))),
        }
    }
}

/// The future of [`AppService::call`].
pub enum AppFuture {
    /// Answered already.
    Ready(Option<Response>),
    /// Going through the router.
    Routed(axum::routing::future::RouteFuture<Infallible>),
}

impl Future for AppFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            AppFuture::Ready(response) => Poll::Ready(Ok(response.take().unwrap_or_default())),
            AppFuture::Routed(future) => Pin::new(future).poll(cx),
        }
    }
}
