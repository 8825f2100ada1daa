//! Users: registration (open to all) and the users table (admins only).

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use switchboard_store::{Role, User};

use crate::auth::throttle::{admit_registration, ClientIp};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::JsonOrForm;
use crate::routes::auth::start_session;
use crate::routes::PROFILE_PAGE;
use crate::{pages, App};

/// A user as the API shows it: never the password hash.
#[derive(Serialize)]
pub struct UserView<'a> {
    id: i64,
    username: &'a str,
    role: &'static str,
    created_at: String,
}

impl<'a> UserView<'a> {
    /// The view of `user`.
    pub fn of(user: &'a User) -> Self {
        UserView {
            id: user.id,
            username: &user.username,
            role: user.role.as_str(),
            created_at: user.created_at.to_rfc3339(),
        }
    }
}

/// A user as JSON.
pub fn user_json(user: &User) -> Value {
    serde_json::to_value(UserView::of(user)).unwrap_or(Value::Null)
}

/// Username and password, as registration and login take them.
#[derive(Deserialize)]
pub struct Credentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

/// The username rules, checked at registration.
pub fn check_username(name: &str) -> Result<(), ApiError> {
    let count = name.chars().count();
    if !(3..=32).contains(&count) {
        return Err(ApiError::unprocessable(
            "username must be 3 to 32 characters long",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(ApiError::unprocessable(
            "username may contain only letters, digits, '_', '-' and '.'",
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(ApiError::unprocessable(
            "username must start with a letter or a digit",
        ));
    }
    Ok(())
}

/// The password rules (OWASP Authentication cheat sheet: length, not composition).
pub fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 12 {
        return Err(ApiError::unprocessable(
            "password must be at least 12 characters long",
        ));
    }
    if password.len() > 128 {
        return Err(ApiError::unprocessable(
            "password must be at most 128 bytes long",
        ));
    }
    Ok(())
}

/// `POST /api/users`: registers a user. JSON answers 201 with the user; the sign-up form signs
/// the new user in and goes to the profile page.
pub async fn register(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    body: JsonOrForm<Credentials>,
) -> Response {
    let form = body.is_form();
    let creds = body.into_inner();
    let result = async {
        check_username(&creds.username)?;
        check_password(&creds.password)?;
        admit_registration(&app, ip).await?;
        let hash = app.passwords().hash(creds.password).await?;
        let user = app
            .store()
            .create_user(&creds.username, &hash, Role::User, app.clock().now())
            .await?;
        tracing::info!(user = %user.username, id = user.id, "user registered");
        Ok::<User, ApiError>(user)
    }
    .await;
    match (result, form) {
        (Ok(user), false) => (StatusCode::CREATED, axum::Json(user_json(&user))).into_response(),
        (Ok(user), true) => match start_session(&app, &user).await {
            Ok(cookie) => {
                ([(header::SET_COOKIE, cookie)], Redirect::to(PROFILE_PAGE)).into_response()
            }
            Err(e) => pages::error(&app, &e),
        },
        (Err(e), false) => e.into_response(),
        (Err(e), true) => pages::error(&app, &e),
    }
}

/// `GET /api/users` paging.
#[derive(Deserialize)]
pub struct Page {
    limit: Option<u32>,
    after: Option<i64>,
}

/// `GET /api/users?limit=&after=`: the users table, for admins.
pub async fn list(
    State(app): State<App>,
    auth: Authenticated,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    if auth.user.role != Role::Admin {
        return Err(ApiError::forbidden("only admins may list users"));
    }
    let Query(page) = page.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = page.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be from 1 to 1000"));
    }
    let users = app.store().list_users(limit, page.after).await?;
    let next = if users.len() == limit as usize {
        users.last().map(|u| u.id)
    } else {
        None
    };
    Ok(axum::Json(json!({
        "users": users.iter().map(user_json).collect::<Vec<_>>(),
        "next_after": next,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert!(check_username("ann").is_ok());
        assert!(check_username("a.b-c_9").is_ok());
        assert!(check_username("an").is_err());
        assert!(check_username(&"a".repeat(33)).is_err());
        assert!(check_username("_ann").is_err());
        assert!(check_username("ann smith").is_err());
        assert!(check_username("änn").is_err());
    }

    #[test]
    fn password_rules() {
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password("eleven char").is_err());
        assert!(
            check_password("ééééééééééé ").is_ok(),
            "characters, not bytes"
        );
        assert!(check_password(&"x".repeat(129)).is_err());
        assert!(check_password(&"é".repeat(65)).is_err(), "130 bytes");
    }
}
