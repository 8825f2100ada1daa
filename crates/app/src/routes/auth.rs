//! The stateful API: sign in, sign out, the profile, changing the password.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_store::{SessionInfo, User};

use crate::auth::session::{clear_cookie, hash_token, new_token, presented_token, set_cookie};
use crate::auth::throttle::{Attempt, ClientIp};
use crate::auth::{authenticate, Authenticated, Presented};
use crate::error::ApiError;
use crate::extract::{JsonBody, JsonOrForm};
use crate::routes::users::{check_password, check_username, user_json, Credentials, UserView};
use crate::routes::{HOME, PROFILE_PAGE};
use crate::{pages, App};

const BAD_CREDENTIALS: &str = "invalid username or password";

/// Creates a session for `user` and returns its `Set-Cookie`.
pub async fn start_session(app: &App, user: &User) -> Result<HeaderValue, ApiError> {
    Ok(new_session(app, user).await?.1)
}

async fn new_session(app: &App, user: &User) -> Result<(String, HeaderValue), ApiError> {
    let (token, hash) = new_token();
    let now = app.clock().now();
    let policy = app.config().sessions;
    let expires = now.saturating_add(policy.absolute);
    app.store()
        .create_session(&hash, user.id, now, expires)
        .await?;
    let cookie = set_cookie(&token, policy.absolute.as_secs(), app.config().tls);
    Ok((token, cookie))
}

/// `POST /login`, JSON or the sign-in form. A new session (and token) at every login. A wrong
/// password and an unknown user get the same answer in about the same time.
pub async fn login(State(app): State<App>, ClientIp(ip): ClientIp, req: Request) -> Response {
    let body = match JsonOrForm::<Credentials>::from_request(req, &app).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let form = body.is_form();
    match sign_in(&app, body.into_inner(), ip).await {
        Ok((user, token, cookie)) if !form => (
            [(header::SET_COOKIE, cookie)],
            axum::Json(json!({ "user": user_json(&user), "token": token })),
        )
            .into_response(),
        Ok((_, _, cookie)) => {
            ([(header::SET_COOKIE, cookie)], Redirect::to(PROFILE_PAGE)).into_response()
        }
        Err(e) if form => pages::error(&app, &e),
        Err(e) => e.into_response(),
    }
}

async fn sign_in(
    app: &App,
    creds: Credentials,
    ip: IpAddr,
) -> Result<(User, String, HeaderValue), ApiError> {
    // A name no one can have fails at once: nothing to look up, store or log.
    if check_username(&creds.username).is_err() {
        return Err(ApiError::unauthorized(BAD_CREDENTIALS));
    }
    let attempt = Attempt::new(&creds.username, ip);
    let (delay, _admitted) = attempt.admit(app).await?;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // An over-long password is not worth hashing; it fails like any wrong one.
    let found = if creds.password.len() <= 128 {
        app.store().credentials(&creds.username).await?
    } else {
        None
    };
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let ok = app.passwords().verify(creds.password, stored).await?;
    match (ok, user) {
        (true, Some(user)) => {
            attempt.succeeded(app).await?;
            let (token, cookie) = new_session(app, &user).await?;
            tracing::info!(user = %user.username, %ip, "signed in");
            Ok((user, token, cookie))
        }
        _ => {
            attempt.failed(app).await?;
            tracing::info!(user = %creds.username, %ip, "sign-in failed"); // a valid name: safe to log
            Err(ApiError::unauthorized(BAD_CREDENTIALS))
        }
    }
}

/// `POST /logout`: deletes the session on the server and expires the cookie. The form goes
/// back to the home page.
pub async fn logout(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    let tls = app.config().tls;
    if let Some((token, _)) = presented_token(&headers, tls) {
        let hash = hash_token(&token);
        app.sessions().remove(&hash, app.clock().now());
        app.store().delete_session(&hash).await?;
    }
    let clear = [(header::SET_COOKIE, clear_cookie(tls))];
    if crate::extract::is_form(&headers) || wants_html(&headers) {
        return Ok((clear, Redirect::to(HOME)).into_response());
    }
    Ok((clear, StatusCode::NO_CONTENT).into_response())
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

#[derive(Serialize)]
struct ProfileView<'a> {
    user: UserView<'a>,
    session: SessionView,
    served_by: &'a str,
}

#[derive(Serialize)]
struct SessionView {
    created_at: String,
    expires_at: String,
}

/// The body of `GET /api/profile` for a signed-in request.
fn profile_body(app: &App, session: &SessionInfo, user: &User) -> Bytes {
    let view = ProfileView {
        user: UserView::of(user),
        session: SessionView {
            created_at: session.created_at.to_rfc3339(),
            expires_at: session.expires_at.to_rfc3339(),
        },
        served_by: &app.config().name,
    };
    // A struct of strings and numbers: serializing it cannot fail.
    serde_json::to_vec(&view).unwrap_or_default().into()
}

fn profile_answer(body: Bytes) -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], body).into_response()
}

/// `GET /api/profile`: the signed-in user.
pub async fn profile_api(State(app): State<App>, auth: Authenticated) -> Response {
    profile_answer(profile_body(&app, &auth.session, &auth.user))
}

/// `GET /api/profile`'s answer when the session cache vouches for the session: no database
/// round trip, nothing to wait for, and the body made once per confirmation (the cache keeps
/// it). `None` leaves the request to [`profile_api`].
pub fn cached_profile(app: &App, headers: &HeaderMap) -> Option<Response> {
    let (token, _) = presented_token(headers, app.config().tls)?;
    let body = app
        .sessions()
        .profile(&hash_token(&token), app.clock().now(), |s, u| {
            profile_body(app, s, u)
        })?;
    Some(profile_answer(body))
}

/// `GET /profile`: the signed-in user's page; without a session, the sign-in page.
pub async fn profile_page(State(app): State<App>, headers: HeaderMap) -> Response {
    match authenticate(&app, &headers).await {
        Ok(auth) => pages::profile(&app, &auth),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            Redirect::to(&format!("{HOME}?signin=required#signin")).into_response()
        }
        Err(e) => pages::error(&app, &e),
    }
}

/// The body of `POST /api/profile/password`.
#[derive(Deserialize)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/profile/password`: changes the password. Every session of the user is revoked,
/// this one included; the answer carries a fresh one.
pub async fn change_password(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    auth: Authenticated,
    JsonBody(change): JsonBody<PasswordChange>,
) -> Result<Response, ApiError> {
    check_password(&change.new_password)?;
    // Checking the current password is a sign-in by another door: throttled the same way, so
    // a stolen session cannot be used to guess the password.
    let attempt = Attempt::new(&auth.user.username, ip);
    let (delay, _admitted) = attempt.admit(&app).await?;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let stored = app
        .store()
        .credentials(&auth.user.username)
        .await?
        .map(|(_, hash)| hash);
    if !app
        .passwords()
        .verify(change.current_password, stored)
        .await?
    {
        attempt.failed(&app).await?;
        return Err(ApiError::unauthorized("current password is wrong"));
    }
    attempt.succeeded(&app).await?;
    let hash = app.passwords().hash(change.new_password).await?;
    app.store().set_password(auth.user.id, &hash).await?;
    app.sessions().remove_user(auth.user.id, app.clock().now());
    let (token, cookie) = new_session(&app, &auth.user).await?;
    let body = axum::Json(json!({ "user": user_json(&auth.user), "token": token }));
    Ok(match auth.presented {
        Presented::Cookie => ([(header::SET_COOKIE, cookie)], body).into_response(),
        Presented::Bearer => body.into_response(),
    })
}
