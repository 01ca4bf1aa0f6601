//! Extractors whose rejections use the API's own error format (docs/api.md#errors).

use axum::body::Bytes;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{
    FromRequest, FromRequestParts, MatchedPath, OriginalUri, RawPathParams, Request,
};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::{Value, json};

use super::error::{ApiError, Problem};

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
                ApiError::invalid(vec![Problem::new(
                    vec![json!("body")],
                    "json_invalid",
                    "Could not read the request body",
                )])
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid(vec![Problem::new(
                vec![json!("body")],
                "missing",
                "Field required",
            )]));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            let at = offset(&bytes, e.line(), e.column());
            ApiError::invalid(vec![
                Problem::new(
                    vec![json!("body"), json!(at)],
                    "json_invalid",
                    "JSON decode error",
                )
                .with_ctx(json!({ "error": e.to_string() })),
            ])
        })
    }
}

/// The route's path parameters. A parameter that is not UTF-8 once
/// percent-decoded (`/api/%FF/tasks`) is a 422 naming it, so that no check
/// of a parameter can be skipped for want of its value. `None` on a route
/// without parameters.
pub async fn path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<Option<RawPathParams>, ApiError> {
    match RawPathParams::from_request_parts(parts, state).await {
        Ok(params) => Ok(Some(params)),
        Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => {
            let name = invalid_param(parts).unwrap_or_else(|| "path".to_owned());
            Err(ApiError::invalid(vec![Problem::new(
                vec![json!("path"), json!(name)],
                "string_unicode",
                "Input should be a valid string: invalid UTF-8 after percent-decoding",
            )]))
        }
        Err(_) => Ok(None),
    }
}

/// The name of the first parameter of the matched route whose segment of
/// the request path is not UTF-8 when percent-decoded.
fn invalid_param(parts: &Parts) -> Option<String> {
    let template = parts.extensions.get::<MatchedPath>()?.as_str();
    // The whole path: inside a nested router `parts.uri` lacks the prefix.
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(parts.uri.path(), |o| o.0.path());
    template
        .split('/')
        .zip(path.split('/'))
        .find_map(|(pattern, segment)| {
            let name = pattern.strip_prefix('{')?.strip_suffix('}')?;
            let decoded = percent_encoding::percent_decode_str(segment);
            decoded.decode_utf8().is_err().then(|| name.to_owned())
        })
}

/// The `{id}` path segment as a 64-bit task id; anything else is a 422.
pub struct TaskId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for TaskId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = path_params(parts, state)
            .await?
            .ok_or_else(ApiError::task_not_found)?;
        let raw = params
            .iter()
            .find(|(k, _)| *k == "id")
            .map(|(_, v)| v)
            .ok_or_else(ApiError::task_not_found)?;
        raw.parse().map(TaskId).map_err(|_| {
            ApiError::invalid(vec![Problem::new(
                vec![json!("path"), json!("id")],
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            )])
        })
    }
}
