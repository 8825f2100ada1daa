//! Session tokens and cookies (OWASP Session Management cheat sheet).
//!
//! A token is 256 bits from the OS random source, given to the client once (cookie, or the
//! login answer for API clients) and stored only as its SHA-256, so a leaked database holds no
//! usable token. The server enforces the idle and absolute lifetimes on every request.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use switchboard_store::{SessionInfo, User};

use crate::error::ApiError;
use crate::App;

/// The cookie's name over plain HTTP.
pub const COOKIE: &str = "sb_session";
/// The cookie's name under TLS: the `__Host-` prefix makes browsers insist on Secure, Path=/
/// and no Domain.
pub const COOKIE_TLS: &str = "__Host-sb_session";

/// A fresh token and the hash that is stored.
pub fn new_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hash = hash_token(&token);
    (token, hash)
}

/// What is stored for `token`.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn cookie_name(tls: bool) -> &'static str {
    if tls {
        COOKIE_TLS
    } else {
        COOKIE
    }
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(token: &str, max_age_secs: u64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let value = format!(
        "{}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_secs}{secure}",
        cookie_name(tls)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that makes the browser forget the session.
pub fn clear_cookie(tls: bool) -> HeaderValue {
    if tls {
        HeaderValue::from_static(
            "__Host-sb_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0; Secure",
        )
    } else {
        HeaderValue::from_static("sb_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
    }
}

/// How the client presented its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented {
    /// In the session cookie (a browser).
    Cookie,
    /// As `Authorization: Bearer` (an API client).
    Bearer,
}

/// The token the request carries, if any: a bearer token first, else the session cookie.
pub fn presented_token(headers: &HeaderMap, tls: bool) -> Option<(String, Presented)> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(token) = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
        {
            return Some((token.trim().to_string(), Presented::Bearer));
        }
    }
    let name = cookie_name(tls);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| (v.trim().to_string(), Presented::Cookie))
}

/// A signed-in request: the session is valid and has just been touched.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// Who.
    pub user: User,
    /// The session.
    pub session: SessionInfo,
    /// The stored hash of its token.
    pub token_hash: [u8; 32],
    /// How the token came.
    pub presented: Presented,
}

/// Checks the request's session: unknown, expired (idle or absolute) or absent is 401.
pub async fn authenticate(app: &App, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
    let (token, presented) = presented_token(headers, app.config().tls)
        .ok_or_else(|| ApiError::unauthorized("not signed in"))?;
    let token_hash = hash_token(&token);
    let now = app.clock().now();
    let (session, user) = match app.sessions().get(&token_hash, now) {
        Some(hit) => hit,
        None => {
            let idle_cutoff = now.saturating_sub(app.config().sessions.idle);
            let found = app
                .store()
                .touch_session(&token_hash, now, idle_cutoff)
                .await?;
            let (session, user) = found.ok_or_else(|| {
                ApiError::unauthorized("session expired or unknown; sign in again")
            })?;
            app.sessions().put(token_hash, session, user.clone(), now);
            (session, user)
        }
    };
    Ok(Authenticated {
        user,
        session,
        token_hash,
        presented,
    })
}

impl FromRequestParts<App> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        authenticate(app, &parts.headers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_of_hex_and_differ() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), ha);
    }

    #[test]
    fn finds_the_token_in_bearer_or_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sb_session=abc; b=2"),
        );
        assert_eq!(
            presented_token(&h, false),
            Some(("abc".into(), Presented::Cookie))
        );
        assert_eq!(presented_token(&h, true), None, "TLS uses the __Host- name");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer xyz"),
        );
        assert_eq!(
            presented_token(&h, false),
            Some(("xyz".into(), Presented::Bearer))
        );
    }

    #[test]
    fn cookies_carry_the_owasp_attributes() {
        let plain = set_cookie("t", 60, false);
        assert_eq!(
            plain,
            "sb_session=t; HttpOnly; SameSite=Lax; Path=/; Max-Age=60"
        );
        let tls = set_cookie("t", 60, true);
        assert_eq!(
            tls,
            "__Host-sb_session=t; HttpOnly; SameSite=Lax; Path=/; Max-Age=60; Secure"
        );
    }
}
