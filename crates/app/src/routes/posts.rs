//! Posts: short messages by signed-in users (`/api/posts`, `/api/posts/{id}`), and their
//! path items for the OpenAPI document.
//!
//! A post is 1 to 500 characters of UTF-8 text (not all white space). A user makes at most
//! [`FeedPolicy::posts_per_window`](crate::FeedPolicy::posts_per_window) posts per window,
//! counted in the database so every server agrees; past it, 429 with Retry-After. Its author
//! or an admin may delete it. Each post made or deleted is an event of the feed
//! (`routes/events.rs`), written by the store in the same transaction.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_store::{Deleted, PostLimit, Posted, Role};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::feed::post_json;
use crate::App;

/// The longest post, in characters.
pub const MAX_CHARS: usize = 500;
/// The page size when the client names none.
const DEFAULT_LIMIT: u32 = 20;
/// The largest page.
const MAX_LIMIT: u32 = 100;

/// `POST /api/posts` `{"text": ...}`: 201 with the post.
pub async fn create(
    State(app): State<App>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = read_text(&headers, &body)?;
    let policy = app.config().feed;
    let limit = PostLimit {
        posts: policy.posts_per_window,
        window: policy.window,
    };
    let now = app.clock().now();
    match app
        .store()
        .create_post(auth.user.id, &text, now, limit)
        .await?
    {
        Posted::Created { post, event_id } => {
            app.feed().wake();
            tracing::info!(user = %auth.user.username, post = post.id, event = event_id, "posted");
            Ok((StatusCode::CREATED, axum::Json(post_json(&post))).into_response())
        }
        Posted::Throttled { retry_after } => Err(ApiError::too_many_requests(
            format!(
                "at most {} posts per {} seconds; try again later",
                policy.posts_per_window,
                policy.window.as_secs()
            ),
            retry_after.as_millis().div_ceil(1000) as u64,
        )),
    }
}

/// The body of a new post.
#[derive(Deserialize)]
struct NewPost {
    text: String,
}

/// The post's text from a JSON body: 415 if it is not JSON, 422 if it is not UTF-8 or breaks
/// the length rule, 400 if it does not parse.
fn read_text(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::unsupported_media_type(
            "expected a JSON body with Content-Type: application/json",
        ));
    }
    let body =
        std::str::from_utf8(body).map_err(|_| ApiError::unprocessable("the body is not UTF-8"))?;
    let post: NewPost = serde_json::from_str(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::unprocessable(format!("{e}")),
        // `"\ud800"`: JSON's grammar allows it, but it names no character (serde_json says
        // "lone leading surrogate" or, before a closing quote, "unexpected end of hex escape").
        _ if ["surrogate", "hex escape"]
            .iter()
            .any(|says| e.to_string().contains(says)) =>
        {
            ApiError::unprocessable("text is not valid Unicode")
        }
        _ => ApiError::bad_request(format!("body is not valid JSON: {e}")),
    })?;
    check_text(&post.text)?;
    Ok(post.text)
}

/// The post rules: 1 to [`MAX_CHARS`] characters, not only white space.
pub fn check_text(text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::unprocessable("text must not be empty"));
    }
    if text.chars().count() > MAX_CHARS {
        return Err(ApiError::unprocessable(format!(
            "text must be at most {MAX_CHARS} characters long"
        )));
    }
    Ok(())
}

/// `GET /api/posts` paging.
#[derive(Deserialize)]
pub struct Page {
    before: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/posts?before=&limit=`: posts, newest first; `next_before` for the next page, and
/// `last_event_id`, where an event stream opened after this answer starts (`?after=`) so that
/// nothing between the two is missed.
pub async fn list(
    State(app): State<App>,
    _auth: Authenticated,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let Query(page) = page.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be from 1 to {MAX_LIMIT}"
        )));
    }
    // The cursor first: a post made between the two reads is in the page and in the stream
    // (the page deduplicates by id), never in neither.
    let last_event_id = app.store().last_feed_event().await?;
    let posts = app.store().list_posts(page.before, limit).await?;
    let next = if posts.len() == limit as usize {
        posts.last().map(|p| p.id)
    } else {
        None
    };
    Ok(axum::Json(json!({
        "posts": posts.iter().map(post_json).collect::<Vec<_>>(),
        "next_before": next,
        "last_event_id": last_event_id,
    })))
}

/// `DELETE /api/posts/{id}`: 204; 403 for someone else's post unless an admin; 404 if there
/// is none.
pub async fn delete(
    State(app): State<App>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // An id that is not a number names no post.
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let admin = auth.user.role == Role::Admin;
    let now = app.clock().now();
    match app
        .store()
        .delete_post(id, auth.user.id, admin, now)
        .await?
    {
        Deleted::Deleted { event_id } => {
            app.feed().wake();
            tracing::info!(user = %auth.user.username, post = id, event = event_id, "post deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        Deleted::NotFound => Err(ApiError::not_found()),
        Deleted::NotAllowed => Err(ApiError::forbidden(
            "only its author or an admin may delete a post",
        )),
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

/// The `Post` schema, inline (the document's components are the document's own).
pub fn post_schema() -> Value {
    json!({
        "type": "object", "required": ["id", "author", "text", "created_at"],
        "properties": {
            "id": { "type": "integer" },
            "author": { "type": "object", "required": ["id", "username"], "properties": {
                "id": { "type": "integer" }, "username": { "type": "string" }
            } },
            "text": { "type": "string", "minLength": 1, "maxLength": MAX_CHARS },
            "created_at": { "type": "string", "format": "date-time" }
        }
    })
}

/// `/api/posts`.
pub fn openapi_posts() -> Value {
    json!({
        "post": {
            "summary": "Post a message to the feed",
            "security": [{ "session": [] }, { "bearer": [] }],
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["text"],
                "properties": { "text": { "type": "string", "minLength": 1, "maxLength": MAX_CHARS } }
            } } } },
            "responses": {
                "201": { "description": "The post", "content": { "application/json": { "schema": post_schema() } } },
                "400": error_response("Body is not JSON"),
                "401": error_response("Not signed in"),
                "403": error_response("Cross-site request"),
                "408": error_response("Body did not arrive in time"),
                "413": error_response("Body larger than the limit"),
                "415": error_response("Content-Type is not application/json"),
                "422": error_response("Text empty, longer than 500 characters, or not UTF-8"),
                "429": error_response("Too many posts in the last minute (Retry-After says when to try again)"),
                "503": error_response("The database is unavailable")
            }
        },
        "get": {
            "summary": "The feed, newest first",
            "security": [{ "session": [] }, { "bearer": [] }],
            "parameters": [
                { "name": "before", "in": "query", "schema": { "type": "integer", "format": "int64" }, "description": "Only posts with a smaller id: the previous page's next_before" },
                { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT } }
            ],
            "responses": {
                "200": { "description": "A page of posts", "content": { "application/json": { "schema": {
                    "type": "object", "required": ["posts", "next_before", "last_event_id"],
                    "properties": {
                        "posts": { "type": "array", "items": post_schema() },
                        "next_before": { "type": ["integer", "null"], "description": "Pass as `before` for the next page; null on the last" },
                        "last_event_id": { "type": "integer", "description": "The feed's latest event when the page was read: pass as `after` to /api/events" }
                    }
                } } } },
                "400": error_response("Bad paging parameters"),
                "401": error_response("Not signed in"),
                "503": error_response("The database is unavailable")
            }
        }
    })
}

/// `/api/posts/{id}`.
pub fn openapi_post() -> Value {
    json!({ "delete": {
        "summary": "Delete a post (its author, or an admin)",
        "security": [{ "session": [] }, { "bearer": [] }],
        "parameters": [{ "name": "id", "in": "path", "required": true, "description": "The post's id; anything but a number names no post (404)", "schema": { "type": "string", "pattern": "^[0-9]+$" } }],
        "responses": {
            "204": { "description": "Deleted" },
            "401": error_response("Not signed in"),
            "403": error_response("Someone else's post, or a cross-site request"),
            "404": error_response("No such post"),
            "503": error_response("The database is unavailable")
        }
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        h
    }

    #[test]
    fn text_rules() {
        assert!(check_text("hi").is_ok());
        assert!(
            check_text(&"é".repeat(500)).is_ok(),
            "characters, not bytes"
        );
        assert!(check_text(&"é".repeat(501)).is_err());
        assert!(check_text("").is_err());
        assert!(check_text(" \n\t").is_err());
    }

    #[test]
    fn bodies() {
        let h = json_headers();
        assert_eq!(read_text(&h, br#"{"text":"hi"}"#).unwrap(), "hi");
        let status = |body: &[u8]| read_text(&h, body).unwrap_err().status;
        assert_eq!(
            status(b"{\"text\":\"\xff\"}"),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let e = read_text(&h, br#"{"text":"\ud800"}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert_eq!(status(br#"{"text":1}"#), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status(br#"{}"#), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            status(br#"{"text":"\ud800\u0041"}"#),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status(br#"{"text":"#), StatusCode::BAD_REQUEST);
        assert_eq!(status(br#"{"text":"\x"}"#), StatusCode::BAD_REQUEST);
        assert_eq!(
            read_text(&HeaderMap::new(), br#"{"text":"hi"}"#)
                .unwrap_err()
                .status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
