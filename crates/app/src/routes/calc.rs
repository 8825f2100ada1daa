//! The stateless API: `/add` and `/process`. Same input, same answer, on any server.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Number, Value};

use crate::error::ApiError;
use crate::App;

/// `GET /add?a=5&b=3` answers `8`, as text; a parameter missing, given twice or not an
/// integer, 400.
pub async fn add(RawQuery(query): RawQuery) -> Response {
    answer_add(query.as_deref())
}

/// The answer to `/add` with this query string.
pub fn answer_add(query: Option<&str>) -> Response {
    match sum_query(query) {
        Ok(sum) => {
            let digits = itoa::Buffer::new().format(sum).as_bytes().to_vec();
            let mut response = Response::new(Body::from(digits));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
        Err(e) => e.into_response(),
    }
}

fn sum_query(query: Option<&str>) -> Result<i64, ApiError> {
    let query = query.unwrap_or("");
    let (mut a, mut b) = (None, None);
    let encoded = query.bytes().any(|c| c == b'%' || c == b'+');
    let decoded = encoded
        .then(|| form_urlencoded::parse(query.as_bytes()))
        .into_iter()
        .flatten();
    // Nothing encoded, as almost always: the same pairs without decoding them.
    let plain = (!encoded)
        .then(|| {
            query.split('&').map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (Cow::Borrowed(key), Cow::Borrowed(value))
            })
        })
        .into_iter()
        .flatten();
    for (key, value) in decoded.chain(plain) {
        let (name, slot) = match &*key {
            "a" => ("a", &mut a),
            "b" => ("b", &mut b),
            _ => continue,
        };
        // Given twice, neither value is the one meant.
        if slot.replace(value).is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter '{name}' is given more than once"
            )));
        }
    }
    let a = integer("a", a.as_deref())?;
    let b = integer("b", b.as_deref())?;
    a.checked_add(b)
        .ok_or_else(|| ApiError::bad_request("a + b overflows a 64-bit integer"))
}

fn integer(name: &str, value: Option<&str>) -> Result<i64, ApiError> {
    let value = value
        .ok_or_else(|| ApiError::bad_request(format!("query parameter '{name}' is missing")))?;
    value.trim().parse().map_err(|_| {
        ApiError::bad_request(format!(
            "query parameter '{name}' is not a 64-bit integer: '{}'",
            value.chars().take(40).collect::<String>()
        ))
    })
}

/// The body of `POST /process`.
#[derive(Deserialize)]
pub struct ProcessInput {
    input: Vec<Number>,
}

/// The answer of `/process`.
#[derive(Serialize)]
struct ProcessOutput {
    result: Value,
}

/// `POST /process` and `POST /api/process`: `{"input": [1, 2, 3]}` answers `{"result": 6}`.
/// Integers sum exactly; one float makes the result a float.
pub async fn process(State(app): State<App>, req: axum::extract::Request) -> Response {
    answer_process(req, app.config().body_limit).await
}

/// The answer to `POST /process`, the body (at most `limit` bytes) read and parsed by
/// [`crate::extract::json`] and the answer serialised straight to bytes.
pub async fn answer_process(req: axum::extract::Request, limit: usize) -> Response {
    let input = match crate::extract::json::<ProcessInput>(req, limit).await {
        Ok(input) => input,
        Err(e) => return e.into_response(),
    };
    let result = match sum(&input.input) {
        Ok(result) => result,
        Err(e) => return e.into_response(),
    };
    let json = match serde_json::to_vec(&ProcessOutput { result }) {
        Ok(json) => json,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let mut response = Response::new(Body::from(json));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Sums integers exactly (in 128 bits, so that no partial sum overflows), answered when the
/// result is a 64-bit signed integer, as the contract says (`/add`'s range too); or, when any
/// number is a float, as floats.
fn sum(numbers: &[Number]) -> Result<Value, ApiError> {
    let overflow = || ApiError::bad_request("the sum overflows a 64-bit integer");
    if numbers.iter().all(|n| n.is_i64() || n.is_u64()) {
        let mut total: i128 = 0;
        for n in numbers {
            let n = n
                .as_i64()
                .map(i128::from)
                .or(n.as_u64().map(i128::from))
                .unwrap_or(0);
            total += n;
        }
        return i64::try_from(total)
            .map(|total| json!(total))
            .map_err(|_| overflow());
    }
    let total: f64 = numbers.iter().filter_map(Number::as_f64).sum();
    if !total.is_finite() {
        return Err(ApiError::bad_request("the sum overflows a 64-bit float"));
    }
    Ok(json!(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nums(v: Value) -> Vec<Number> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn sums() {
        assert_eq!(sum(&nums(json!([1, 2, 3]))).unwrap(), json!(6));
        assert_eq!(sum(&nums(json!([]))).unwrap(), json!(0));
        assert_eq!(sum(&nums(json!([1, 2.5]))).unwrap(), json!(3.5));
        assert_eq!(sum(&nums(json!([0.1, 0.2]))).unwrap(), json!(0.1 + 0.2));
        assert_eq!(
            sum(&nums(json!([i64::MAX, -1, 1]))).unwrap(),
            json!(i64::MAX)
        );
        assert!(sum(&nums(json!([i64::MAX, 1]))).is_err());
        assert!(sum(&nums(json!([i64::MAX, i64::MAX]))).is_err());
        assert_eq!(
            sum(&nums(json!([u64::MAX, -i64::MAX, -i64::MAX]))).unwrap(),
            json!(1)
        );
        assert!(sum(&nums(json!([u64::MAX, 1]))).is_err());
        assert!(sum(&nums(json!([i64::MIN, -1]))).is_err());
        assert!(sum(&nums(json!([1e308, 1e308]))).is_err());
    }
}
