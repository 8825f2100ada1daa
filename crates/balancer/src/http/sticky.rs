//! Cookie stickiness: a client's first answer carries a cookie naming its backend (by an
//! opaque token, not its address), and later requests go back to that backend while it is
//! healthy.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};

use crate::{Backend, Pool};

/// The cookie that pins a client to a backend.
const COOKIE: &str = "sb_backend";

/// The healthy backend a request's cookie names, if any.
pub(super) fn target(pool: &Pool, headers: &HeaderMap) -> Option<Arc<Backend>> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())?;
    pool.backends()
        .iter()
        .find(|b| b.is_healthy() && b.sticky_token() == token)
        .cloned()
}

/// Pins the client to `backend` with the answer's cookie, unless its request's cookie named
/// that backend already (`named`).
pub(super) fn pin(headers: &mut HeaderMap, backend: &Backend, named: bool) {
    if named {
        return;
    }
    let token = backend.sticky_token();
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.append(header::SET_COOKIE, v);
    }
}
