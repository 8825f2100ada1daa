//! `/feed`: the feed's page, and its script and styles (`/feed.js`, `/feed.css`), built into
//! the binary from `pages/`. Plain HTML and JavaScript, no build step: the script reads
//! `/api/posts` and then follows `/api/events`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::session::authenticate;
use crate::routes::HOME;
use crate::{pages, App};

const PAGE: &str = include_str!("../../pages/feed.html");
const SCRIPT: &str = include_str!("../../pages/feed.js");
const STYLE: &str = include_str!("../../pages/feed.css");

/// `GET /feed`: the page for a signed-in user; without a session, the sign-in form.
pub async fn page(State(app): State<App>, headers: HeaderMap) -> Response {
    match authenticate(&app, &headers).await {
        Ok(_) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response(),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            Redirect::to(&format!("{HOME}?signin=required#signin")).into_response()
        }
        Err(e) => pages::error(&app, &e),
    }
}

/// `GET /feed.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /feed.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// A file that changes only with the binary: revalidated on each use rather than kept
/// stale across an upgrade.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
