//! The admin listener's API. Reading: `GET /status` (JSON: the strategy and every backend's
//! state), `GET /metrics` (Prometheus text), `GET /events` (the status every second, as
//! server-sent events), `GET /history` (the last three minutes, a sample a second: see
//! `history.rs`), `GET /` (the dashboard page, drawing those). Changing, while
//! traffic flows: `PUT /strategy`, `PUT /backends/{i}/weight`, `POST /backends/{i}/drain` and
//! `/enable`. Loopback by default; elsewhere, changes need the admin token ([`Changes`]).
//!
//! Every request passes one gate first (`guard`): it must name a host DNS rebinding cannot
//! borrow (an IP literal, localhost, or one of [`AdminState::hosts`]), else 421, since a page
//! whose name was pointed at this address could otherwise read it; and a change (any method
//! but GET and HEAD) must not come cross-site from a browser (403), must be allowed
//! ([`Changes`]: 401 or 403), and must say `Content-Type: application/json` (415), which
//! neither an HTML form nor a fetch that skips the CORS preflight can send.

use std::fmt::Write as _;
use std::sync::Arc;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_http::origin;

use crate::{Backend, Pool, StrategyKind};

mod history;

pub use history::History;

/// Who may change things through the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Anyone who can reach it (a loopback listener: only this machine).
    Open,
    /// Requests carrying `Authorization: Bearer <token>`.
    Token(String),
    /// No one: a listener off loopback with no token set; reading stays open.
    Off,
}

impl Changes {
    /// The rule for a listener at `addr`: with a token, token holders; without one, anyone on
    /// loopback (only this machine reaches it), no one elsewhere.
    pub fn for_listener(addr: std::net::SocketAddr, token: Option<String>) -> Changes {
        match (token.filter(|t| !t.is_empty()), addr.ip().is_loopback()) {
            (Some(token), _) => Changes::Token(token),
            (None, true) => Changes::Open,
            (None, false) => Changes::Off,
        }
    }
}

/// What the admin API reports on.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The backends and strategy.
    pub pool: Arc<Pool>,
    /// `http` or `tcp`.
    pub mode: &'static str,
    /// Who may change things.
    pub changes: Changes,
    /// Ends the event streams, so an open dashboard does not hold shutdown up.
    pub shutdown: switchboard_net::Shutdown,
    /// Host names the API answers to besides IP literals and localhost (the names it is
    /// reached by); a request naming any other host is refused.
    pub hosts: Vec<String>,
}

/// The admin router.
///
/// Inside a tokio runtime it also starts sampling the backends every second for `/history`,
/// until `state.shutdown`.
pub fn router(state: AdminState) -> Router {
    let history = Arc::new(History::default());
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(history.clone().keep(state.clone()));
    }
    Router::new()
        .route("/", get(dashboard))
        .route(
            "/history",
            get(move || {
                let history = history.clone();
                async move { axum::Json(history.json()) }
            }),
        )
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/events", get(events))
        .route("/strategy", put(set_strategy))
        .route("/backends/{index}/weight", put(set_weight))
        .route("/backends/{index}/drain", post(drain))
        .route("/backends/{index}/enable", post(enable))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// A request refused: its status and why.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// The gate every request passes (see the module's overview).
async fn guard(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    match admit(&state, &req) {
        Ok(()) => next.run(req).await,
        Err(refused) => refused.into_response(),
    }
}

/// Refuses a request naming a host that could be a rebound DNS name, and a change from
/// another site, by someone not allowed, or with a body not declared JSON.
fn admit(state: &AdminState, req: &Request) -> Result<(), Refusal> {
    let headers = req.headers();
    let authority = req.uri().authority().map(|a| a.as_str());
    // A Host that is not text is no name this API answers to.
    let host = headers.get(header::HOST).map(|v| v.to_str().unwrap_or(""));
    if host
        .into_iter()
        .chain(authority)
        .any(|h| !origin::is_local_or_named(h, &state.hosts))
    {
        return Err(Refusal(
            StatusCode::MISDIRECTED_REQUEST,
            "the admin API answers only to IP addresses, localhost and its configured host names"
                .into(),
        ));
    }
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(());
    }
    if origin::is_cross_site(headers, authority) {
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            "cross-site request refused".into(),
        ));
    }
    check_changes(state, headers)?;
    if !is_json(headers) {
        return Err(Refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "changes need Content-Type: application/json".into(),
        ));
    }
    Ok(())
}

/// Whether the body is declared `application/json` (the media type without case; parameters
/// such as `charset` allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Refuses a change the caller may not make.
fn check_changes(state: &AdminState, headers: &HeaderMap) -> Result<(), Refusal> {
    match &state.changes {
        Changes::Open => Ok(()),
        Changes::Off => Err(Refusal(
            StatusCode::FORBIDDEN,
            "changes are off: the admin API is not on loopback and no admin token is set".into(),
        )),
        Changes::Token(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            // Compared without stopping at the first difference.
            let same = given.len() == token.len()
                && given
                    .bytes()
                    .zip(token.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0;
            if same {
                Ok(())
            } else {
                Err(Refusal(
                    StatusCode::UNAUTHORIZED,
                    "a valid admin token is needed to change things".into(),
                ))
            }
        }
    }
}

fn backend_at(state: &AdminState, index: usize) -> Result<Arc<Backend>, Refusal> {
    state
        .pool
        .backends()
        .get(index)
        .cloned()
        .ok_or_else(|| Refusal(StatusCode::NOT_FOUND, format!("no backend {index}")))
}

#[derive(Deserialize)]
struct StrategyChange {
    strategy: String,
}

async fn set_strategy(
    State(state): State<AdminState>,
    body: Result<axum::Json<StrategyChange>, JsonRejection>,
) -> Response {
    let Ok(axum::Json(change)) = body else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "expected {\"strategy\": NAME}",
        );
    };
    match change.strategy.parse::<StrategyKind>() {
        Ok(kind) => {
            state.pool.set_strategy(kind);
            tracing::info!(strategy = %kind, "strategy changed from the admin API");
            axum::Json(status_json(&state)).into_response()
        }
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

#[derive(Deserialize)]
struct WeightChange {
    weight: u32,
}

async fn set_weight(
    State(state): State<AdminState>,
    Path(index): Path<usize>,
    body: Result<axum::Json<WeightChange>, JsonRejection>,
) -> Response {
    let backend = match backend_at(&state, index) {
        Ok(b) => b,
        Err(missing) => return missing.into_response(),
    };
    match body {
        Ok(axum::Json(change)) if (1..=1000).contains(&change.weight) => {
            backend.set_weight(change.weight);
            axum::Json(status_json(&state)).into_response()
        }
        _ => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "expected {\"weight\": 1 to 1000}",
        ),
    }
}

async fn drain(State(state): State<AdminState>, Path(index): Path<usize>) -> Response {
    set_drained(state, index, true)
}

async fn enable(State(state): State<AdminState>, Path(index): Path<usize>) -> Response {
    set_drained(state, index, false)
}

fn set_drained(state: AdminState, index: usize, drained: bool) -> Response {
    match backend_at(&state, index) {
        Ok(backend) => {
            backend.set_drained(drained);
            tracing::info!(backend = %backend.addr, drained, "changed from the admin API");
            axum::Json(status_json(&state)).into_response()
        }
        Err(missing) => missing.into_response(),
    }
}

/// The status every second, for as long as the client listens, and at once (within a tenth
/// of a second) when a backend goes up or down, is drained or reweighted, or the strategy
/// changes: a dashboard shows a failure as it happens, however briefly it lasts.
async fn events(
    State(state): State<AdminState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    const LOOK: Duration = Duration::from_millis(100);
    const EVERY: Duration = Duration::from_secs(1);
    let ticks = tokio::time::interval(LOOK);
    let sent: Option<(tokio::time::Instant, Shape)> = None;
    let stream = futures_util::stream::unfold(
        (ticks, state, sent),
        |(mut ticks, state, mut sent)| async move {
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = state.shutdown.wait() => return None,
                }
                let now = tokio::time::Instant::now();
                let shape = shape(&state);
                let due = match &sent {
                    None => true,
                    Some((at, last)) => now >= *at + EVERY || *last != shape,
                };
                if due {
                    sent = Some((now, shape));
                    break;
                }
            }
            let event = Event::default()
                .event("status")
                .data(status_json(&state).to_string());
            Some((Ok(event), (ticks, state, sent)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn dashboard() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("dashboard.html"),
    )
        .into_response()
}

/// What the status looks like, leaving out the counters that change all the time: the
/// strategy, and each backend's state and weight. A change here is worth an event at once.
type Shape = (&'static str, Vec<(bool, bool, bool, u32)>);

fn shape(state: &AdminState) -> Shape {
    let backends = state.pool.backends();
    let states = backends
        .iter()
        .map(|b| (b.is_up(), b.is_ejected(), b.is_drained(), b.weight()))
        .collect();
    (state.pool.strategy().name(), states)
}

fn backend_json(b: &Backend) -> Value {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let [p50, p99] = b
        .recent_latency([0.5, 0.99])
        .map_or([None, None], |qs| qs.map(|q| Some(ms(q))));
    json!({
        "addr": b.addr,
        "name": b.name,
        "weight": b.weight(),
        "drained": b.is_drained(),
        "restarts": b.restarts(),
        "healthy": b.is_healthy(),
        "up": b.is_up(),
        "ejected": b.is_ejected(),
        "in_flight": b.in_flight(),
        "total": b.total(),
        "errors": b.errors(),
        "ewma_ms": ms(b.ewma()),
        "p50_ms": p50,
        "p99_ms": p99,
    })
}

fn status_json(state: &AdminState) -> Value {
    let backends = state.pool.backends();
    json!({
        "mode": state.mode,
        "strategy": state.pool.strategy().name(),
        "changes": match state.changes { Changes::Open => "open", Changes::Token(_) => "token", Changes::Off => "off" },
        "backends": backends.iter().map(|b| backend_json(b)).collect::<Vec<_>>(),
    })
}

async fn status(State(state): State<AdminState>) -> axum::Json<Value> {
    axum::Json(status_json(&state))
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
    // Both percentiles from one reading of each backend's window: reading it sums ten
    // seconds of histograms.
    let windows: Vec<_> = backends
        .iter()
        .map(|b| b.recent_latency([0.5, 0.99]))
        .collect();
    let percentiles = [
        (
            "switchboard_balancer_backend_latency_p50_seconds",
            "Median time to the backend's answer over the last 10 seconds (NaN: no answers).",
        ),
        (
            "switchboard_balancer_backend_latency_p99_seconds",
            "99th percentile time to the backend's answer over the last 10 seconds (NaN: no answers).",
        ),
    ];
    for (i, (name, help)) in percentiles.into_iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (b, window) in backends.iter().zip(&windows) {
            let value = window.map_or(f64::NAN, |qs| qs[i].as_secs_f64());
            let _ = writeln!(out, "{name}{{backend=\"{}\"}} {value}", label(&b.addr));
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

#[cfg(test)]
mod tests {
    use super::Changes;

    #[test]
    fn changes_follow_the_listener_and_the_token() {
        let lo = "127.0.0.1:8081".parse().unwrap();
        let out = "0.0.0.0:8081".parse().unwrap();
        assert_eq!(Changes::for_listener(lo, None), Changes::Open);
        assert_eq!(Changes::for_listener(out, None), Changes::Off);
        assert_eq!(
            Changes::for_listener(out, Some(String::new())),
            Changes::Off
        );
        assert_eq!(
            Changes::for_listener(lo, Some("t".into())),
            Changes::Token("t".into())
        );
        assert_eq!(
            Changes::for_listener(out, Some("t".into())),
            Changes::Token("t".into())
        );
    }
}
