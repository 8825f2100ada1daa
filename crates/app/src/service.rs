//! [`AppService`]: the application as the tower service a server runs.
//!
//! It is the router, except that reads answerable without waiting for anything are answered
//! directly: `GET /add`, the embedded home page (when the client asks for no compression),
//! and `GET /api/profile` when the session cache vouches for the session; and `POST
//! /api/process` after reading its body, with the same checks the router would apply. The same
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
use axum::response::{IntoResponse, Response};
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
        let path = req.uri().path();
        observe::finish(
            &self.app,
            route_index(path),
            req.method(),
            started,
            &mut response,
        );
        Some(response)
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
        if let Some(response) = self.too_large(&req) {
            return AppFuture::Ready(Some(response));
        }
        if let Some(response) = self.direct(&req) {
            return AppFuture::Ready(Some(response));
        }
        let path = req.uri().path();
        if req.method() == Method::POST && (path == "/api/process" || path == "/process") {
            return AppFuture::Direct(Box::pin(process(self.app.clone(), req.map(Body::new))));
        }
        AppFuture::Routed(self.router.call(req.map(Body::new)))
    }
}

/// `POST /process` and `/api/process` without the router: the same CSRF check, body limit,
/// request timeout, extractor and handler, stamped and counted the same way.
async fn process(app: App, req: Request<Body>) -> Response {
    let started = Instant::now();
    let route = route_index(req.uri().path());
    let mut response = match crate::auth::csrf::check(&req) {
        Some(refused) => refused.into_response(),
        None => {
            let answer = calc::answer_process(req, app.config().body_limit);
            match tokio::time::timeout(app.config().request_timeout, answer).await {
                Ok(response) => response,
                Err(_) => crate::ApiError::new(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    "request timed out",
                )
                .into_response(),
            }
        }
    };
    observe::finish(&app, route, &Method::POST, started, &mut response);
    response
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
