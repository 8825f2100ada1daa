//! The admin listener's API: `GET /status` (JSON: the strategy and every backend's state) and
//! `GET /metrics` (Prometheus text). These are what a dashboard draws. Loopback by default;
//! the binary decides where it listens.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::{Backend, Pool};

/// What the admin API reports on.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The backends and strategy.
    pub pool: Arc<Pool>,
    /// `http` or `tcp`.
    pub mode: &'static str,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(state)
}

fn backend_json(b: &Backend) -> Value {
    json!({
        "addr": b.addr,
        "name": b.name,
        "weight": b.weight,
        "restarts": b.restarts(),
        "healthy": b.is_healthy(),
        "up": b.is_up(),
        "ejected": b.is_ejected(),
        "in_flight": b.in_flight(),
        "total": b.total(),
        "errors": b.errors(),
        "ewma_ms": b.ewma().as_secs_f64() * 1000.0,
    })
}

async fn status(State(state): State<AdminState>) -> axum::Json<Value> {
    let backends = state.pool.backends();
    axum::Json(json!({
        "mode": state.mode,
        "strategy": state.pool.strategy().name(),
        "backends": backends.iter().map(|b| backend_json(b)).collect::<Vec<_>>(),
    }))
}

/// Escapes a label value for the Prometheus text format.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A metric family: name, type, help, and how to read it off a backend.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Backend) -> f64,
);

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let backends = state.pool.backends();
    let mut out = String::new();
    let families: [Family; 5] = [
        (
            "switchboard_balancer_backend_up",
            "gauge",
            "1 when the backend may get traffic.",
            |b| f64::from(u8::from(b.is_healthy())),
        ),
        (
            "switchboard_balancer_backend_in_flight",
            "gauge",
            "Requests (HTTP) or connections (TCP) on the backend now.",
            |b| b.in_flight() as f64,
        ),
        (
            "switchboard_balancer_backend_requests_total",
            "counter",
            "Requests or connections given to the backend.",
            |b| b.total() as f64,
        ),
        (
            "switchboard_balancer_backend_errors_total",
            "counter",
            "Requests or connections that failed on the backend.",
            |b| b.errors() as f64,
        ),
        (
            "switchboard_balancer_backend_latency_ewma_seconds",
            "gauge",
            "Peak-EWMA time to the backend's answer.",
            |b| b.ewma().as_secs_f64(),
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for b in backends.iter() {
            let _ = writeln!(out, "{name}{{backend=\"{}\"}} {}", label(&b.addr), value(b));
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
