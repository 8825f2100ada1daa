//! The proxy's own answers: every one a JSON `{"error": ...}`, its status saying whose fault
//! the failure was.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

use super::client::{Failure, Fault};

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every answer the proxy gives.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A proxied request's answer, and the backend that gave it, if any (for the access log).
pub(super) type Answer = (Response<ProxyBody>, Option<String>);

/// An answer of the proxy's own: `{"error": message}`, closing the connection when asked.
pub(super) fn answer(status: StatusCode, message: &str, close: bool) -> Response<ProxyBody> {
    let mut body = serde_json::json!({ "error": message }).to_string();
    body.push('\n');
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// No backend could take the request: 503.
pub(super) fn no_backend() -> Response<ProxyBody> {
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "service unavailable: no healthy backend",
        false,
    )
}

/// The backend had not begun its answer within the response timeout: 504.
pub(super) fn timed_out() -> Response<ProxyBody> {
    answer(
        StatusCode::GATEWAY_TIMEOUT,
        "gateway timeout: the backend did not answer in time",
        false,
    )
}

/// The answer to a request that failed: the client's fault is a 400 (the connection closed,
/// what is left of its body unreadable), or a 408 when its body came too slowly; the
/// balancer's a 500, the backend's a 502.
pub(super) fn failed(failure: &Failure) -> Response<ProxyBody> {
    match failure.fault {
        Fault::Client if failure.is_client_timeout() => answer(
            StatusCode::REQUEST_TIMEOUT,
            "request timeout: the request body did not arrive in time",
            true,
        ),
        Fault::Client => answer(
            StatusCode::BAD_REQUEST,
            &format!("bad request: {}", failure.cause),
            true,
        ),
        Fault::Balancer => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error: the request could not be forwarded",
            true,
        ),
        Fault::Backend => answer(
            StatusCode::BAD_GATEWAY,
            "bad gateway: the backend failed",
            false,
        ),
    }
}
