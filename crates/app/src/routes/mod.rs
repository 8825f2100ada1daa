//! The router: every route and the layers around them.

pub mod auth;
pub mod calc;
pub mod health;
pub mod jobs;
pub mod site;
pub mod users;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tower_http::compression::CompressionLayer;

use crate::error::ApiError;
use crate::{observe, openapi, App};

/// Builds the application's router.
pub fn router(app: App) -> Router {
    let openapi = axum::Json(openapi::document());
    // The pages, compressed when the client accepts it (gzip or brotli).
    let site = Router::new()
        .route("/", get(site::serve))
        .route("/index.html", get(site::serve))
        .fallback(site::serve)
        .layer(CompressionLayer::new().gzip(true).br(true));
    Router::new()
        .route("/add", get(calc::add))
        .route("/process", post(calc::process))
        .route("/api/process", post(calc::process))
        .route("/api/users", post(users::register).get(users::list))
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/profile", get(auth::profile_page))
        .route("/api/profile", get(auth::profile_api))
        .route("/api/profile/password", post(auth::change_password))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/admin/jobs", get(jobs::list))
        .route(
            "/api/openapi.json",
            get(move || async move { openapi.clone() }),
        )
        .merge(site)
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response()
        })
        .layer(DefaultBodyLimit::max(app.config().body_limit))
        .layer(from_fn_with_state(app.clone(), observe::observe))
        .with_state(app)
}
