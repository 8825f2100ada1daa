//! Health and metrics: `/healthz` (alive), `/readyz` (can serve: the database answers),
//! `/metrics` (Prometheus).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::App;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database answers, else 503.
pub async fn readyz(State(app): State<App>) -> Response {
    match app.store().ping().await {
        Ok(()) => axum::Json(json!({
            "status": "ready",
            "database": app.store().backend().to_string(),
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database does not answer");
            ApiError {
                retry_after: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
            }
            .into_response()
        }
    }
}

/// `GET /metrics`.
pub async fn metrics(State(app): State<App>) -> Response {
    let now = app.clock().now();
    let idle_cutoff = now.saturating_sub(app.config().sessions.idle);
    let sessions = app
        .store()
        .count_active_sessions(now, idle_cutoff)
        .await
        .ok();
    let mut text = app.metrics().render(app.open_connections(), sessions);
    match app.store().job_summaries().await {
        Ok(summaries) => text.push_str(&crate::metrics::render_jobs(&summaries)),
        Err(e) => tracing::debug!(error = %e, "no job figures for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
