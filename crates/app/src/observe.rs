//! The layer every request passes through: the CSRF check, the request timeout, then for the
//! response `X-Served-By`, the security headers, and the request's metrics. One layer rather
//! than one per concern: each axum middleware boxes the request's future, and this runs on
//! every request.

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::error::ApiError;
use crate::metrics::route_index;
use crate::App;

const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
     frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
);
/// Routes whose answers carry tokens or a user's data: never stored by caches.
const PRIVATE_ROUTES: &[&str] = &[
    "/login",
    "/logout",
    "/profile",
    "/api/profile",
    "/api/profile/password",
    "/api/users",
    "/api/admin/jobs",
];
/// A name made once: a `&str` name is checked and, for a header not yet present, copied on
/// every insert.
const X_SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");

/// Middleware: CSRF and the request timeout on the way in; headers and metrics on the way out.
pub async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_index(req.uri().path());
    let method = req.method().clone();
    let mut response = if let Some(refused) = crate::auth::csrf::check(&req) {
        refused.into_response()
    } else {
        match tokio::time::timeout(app.config().request_timeout, next.run(req)).await {
            Ok(response) => response,
            Err(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "request timed out").into_response()
            }
        }
    };
    finish(&app, route, &method, started, &mut response);
    response
}

/// Stamps a response's headers and counts it: what every request ends with, whichever way
/// it was answered (here, or directly by `service.rs`).
pub(crate) fn finish(
    app: &App,
    route: usize,
    method: &axum::http::Method,
    started: Instant,
    response: &mut Response,
) {
    let headers = response.headers_mut();
    headers.insert(X_SERVED_BY, app.served_by().clone());
    if PRIVATE_ROUTES.contains(&crate::metrics::ROUTES[route]) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/html"));
    if is_html {
        headers.insert(header::CONTENT_SECURITY_POLICY, CSP);
    }
    if app.config().tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    let status = response.status().as_u16();
    app.metrics()
        .record(route, method, status, started.elapsed());
    tracing::debug!(%method, route = crate::metrics::ROUTES[route], status, "request");
}
