//! Extractors whose rejections use the API's own error format (SPEC 6).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::{Value, json};

use super::error::{ApiError, FieldError};

/// A JSON body, parsed but not yet validated. Malformed JSON is a 422
/// `json_invalid`, an empty body a 422 `missing`, an oversized one a 413.
pub struct JsonBody(pub Value);

/// Byte offset of serde_json's (line, column) in `body`.
fn offset(body: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = body
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    line_start + column.saturating_sub(1)
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::invalid(vec![FieldError::new(
                    vec![json!("body")],
                    "json_invalid",
                    "Could not read the request body",
                )])
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid(vec![FieldError::new(
                vec![json!("body")],
                "missing",
                "Field required",
            )]));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            let at = offset(&bytes, e.line(), e.column());
            ApiError::invalid(vec![
                FieldError::new(
                    vec![json!("body"), json!(at)],
                    "json_invalid",
                    "JSON decode error",
                )
                .with_ctx(json!({ "error": e.to_string() })),
            ])
        })
    }
}

/// The `{id}` path segment as a 64-bit task id; anything else is a 422.
pub struct TaskId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for TaskId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::task_not_found())?;
        let raw = params
            .iter()
            .find(|(k, _)| *k == "id")
            .map(|(_, v)| v)
            .ok_or_else(ApiError::task_not_found)?;
        raw.parse().map(TaskId).map_err(|_| {
            ApiError::invalid(vec![FieldError::new(
                vec![json!("path"), json!("id")],
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            )])
        })
    }
}
