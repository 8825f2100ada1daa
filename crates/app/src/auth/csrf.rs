//! Cross-site request forgery: a state-changing request that a browser sent from another site
//! is refused with 403 when the browser would have attached our cookie to it, and for the login
//! form (login CSRF). Fetch metadata (`Sec-Fetch-Site`) decides when the browser sends it; else
//! `Origin` must match `Host` (`switchboard_wire::origin::is_cross_site`, which the balancer's
//! admin API asks too). Clients that send neither are not browsers and carry no ambient
//! credentials worth forging.

use axum::extract::Request;
use axum::http::{header, Method};
use switchboard_wire::origin::is_cross_site;

use crate::error::ApiError;
use crate::extract::is_form;

/// The 403 for a forged request, or `None` when the request may go on. Called for every
/// request by the observing middleware (`observe.rs`).
pub fn check(req: &Request) -> Option<ApiError> {
    (needs_check(req) && is_cross_site(req.headers(), req.uri().authority().map(|a| a.as_str())))
        .then(|| ApiError::forbidden("cross-site request refused"))
}

fn needs_check(req: &Request) -> bool {
    let safe = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    !safe
        && (req.headers().contains_key(header::COOKIE)
            || is_form(req.headers())
            || req.uri().path() == crate::routes::LOGIN)
}
