//! Extractors that answer bad input in the application's error format: axum's own pick the
//! right status (400 malformed, 413 too large, 415 wrong content type, 422 wrong shape); these
//! keep the status and put the reason in `{"error": ...}`.

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A JSON body of at most `limit` bytes, read and parsed without axum's extractor (its
/// path-tracking deserializer and content-type parsing cost more than a small route's answer).
/// The answers are the extractor's: anything this refuses, [`JsonBody`] is asked about, so a
/// client sees the same status and words either way.
pub async fn json<T: DeserializeOwned>(req: Request, limit: usize) -> Result<T, ApiError> {
    if !is_json(req.headers()) {
        return JsonBody::from_request(req, &()).await.map(|JsonBody(v)| v);
    }
    let (parts, body) = req.into_parts();
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return Err(unreadable(&*e, false)),
    };
    match serde_json::from_slice(&bytes) {
        Ok(value) => Ok(value),
        Err(_) => {
            let req = Request::from_parts(parts, axum::body::Body::from(bytes));
            JsonBody::from_request(req, &()).await.map(|JsonBody(v)| v)
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    if let JsonRejection::BytesRejection(_) = rejection {
        return unreadable(
            &rejection,
            rejection.status() == StatusCode::PAYLOAD_TOO_LARGE,
        );
    }
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "expected a JSON body with Content-Type: application/json".to_string()
        }
        JsonRejection::JsonSyntaxError(e) => format!("body is not valid JSON: {}", inner(e)),
        JsonRejection::JsonDataError(e) => inner(e),
        _ => rejection.body_text(),
    };
    ApiError::new(rejection.status(), message)
}

fn form_rejection(rejection: FormRejection) -> ApiError {
    if let FormRejection::BytesRejection(_) = rejection {
        return unreadable(
            &rejection,
            rejection.status() == StatusCode::PAYLOAD_TOO_LARGE,
        );
    }
    ApiError::new(rejection.status(), rejection.body_text())
}

/// The answer to a body that could not be read, from the cause at the end of `e`'s chain:
/// over the limit 413, sent too slowly 408 (the connection's body-read timeout), anything else
/// (a malformed chunk, a client gone) 400. `too_large`: the extractor found the limit passed.
fn unreadable(e: &(dyn std::error::Error + 'static), too_large: bool) -> ApiError {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if too_large || e.is::<http_body_util::LengthLimitError>() {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body is larger than the limit",
            );
        }
        // The server's body-read timeout ends its chain with a `TimedOut` I/O error.
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            );
        }
        cause = e.source();
    }
    ApiError::new(StatusCode::BAD_REQUEST, "cannot read the request body")
}

/// serde's message without axum's "Failed to deserialize the JSON body into the target type: "
/// preamble.
fn inner(e: &dyn std::error::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// A body that may come as JSON (API clients) or as an HTML form (pages without JavaScript).
pub enum JsonOrForm<T> {
    /// `application/json`.
    Json(T),
    /// `application/x-www-form-urlencoded`.
    Form(T),
}

impl<T> JsonOrForm<T> {
    /// The value, however it came.
    pub fn into_inner(self) -> T {
        match self {
            JsonOrForm::Json(v) | JsonOrForm::Form(v) => v,
        }
    }

    /// Whether it came from an HTML form (so the answer is a page or a redirect).
    pub fn is_form(&self) -> bool {
        matches!(self, JsonOrForm::Form(_))
    }
}

impl<S, T> FromRequest<S> for JsonOrForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if is_form(req.headers()) {
            match axum::Form::<T>::from_request(req, state).await {
                Ok(axum::Form(value)) => Ok(JsonOrForm::Form(value)),
                Err(rejection) => Err(form_rejection(rejection)),
            }
        } else if is_json(req.headers()) {
            let JsonBody(value) = JsonBody::<T>::from_request(req, state).await?;
            Ok(JsonOrForm::Json(value))
        } else {
            Err(ApiError::unsupported_media_type(
                "expected Content-Type: application/json or application/x-www-form-urlencoded",
            ))
        }
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Whether the body is an HTML form.
pub fn is_form(headers: &HeaderMap) -> bool {
    content_type(headers)
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
}

fn is_json(headers: &HeaderMap) -> bool {
    let ct = content_type(headers).as_bytes();
    let essence = ct
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let starts = |p: &[u8]| essence.len() >= p.len() && essence[..p.len()].eq_ignore_ascii_case(p);
    let ends = |p: &[u8]| {
        essence.len() >= p.len() && essence[essence.len() - p.len()..].eq_ignore_ascii_case(p)
    };
    essence.eq_ignore_ascii_case(b"application/json") || (starts(b"application/") && ends(b"+json"))
}
