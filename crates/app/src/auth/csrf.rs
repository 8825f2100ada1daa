//! Cross-site request forgery: a state-changing request that a browser sent from another site
//! is refused with 403 when the browser would have attached our cookie to it, and for the login
//! form (login CSRF). Fetch metadata (`Sec-Fetch-Site`) decides when the browser sends it; else
//! `Origin` must match `Host`. Clients that send neither are not browsers and carry no ambient
//! credentials worth forging.

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method};

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
            || req.uri().path() == "/login")
}

/// Whether a browser says the request came from another site. `authority` is the request
/// URI's (HTTP/2 sends `:authority` rather than `Host`).
pub fn is_cross_site(headers: &HeaderMap, authority: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.to_str(), Ok("same-origin") | Ok("none"));
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or(authority)
    else {
        return true;
    };
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or("");
    !origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn cross(h: HeaderMap) -> bool {
        is_cross_site(&h, None)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn fetch_metadata_decides_first() {
        assert!(!cross(headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross(headers(&[("sec-fetch-site", "none")])));
        assert!(cross(headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross(headers(&[("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn over_http2_the_authority_stands_for_host() {
        let h = headers(&[("origin", "https://a.test")]);
        assert!(!is_cross_site(&h, Some("a.test")));
        assert!(is_cross_site(&h, Some("b.test")));
    }

    #[test]
    fn else_origin_must_match_host() {
        assert!(!cross(headers(&[
            ("origin", "http://a.test:8080"),
            ("host", "a.test:8080")
        ])));
        assert!(cross(headers(&[
            ("origin", "https://evil.test"),
            ("host", "a.test:8080")
        ])));
        assert!(cross(headers(&[("origin", "null"), ("host", "a.test")])));
        assert!(
            !cross(headers(&[("host", "a.test")])),
            "no browser, no forgery"
        );
    }
}
