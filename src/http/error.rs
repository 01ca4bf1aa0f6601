//! The one error type of the HTTP layer and its JSON envelope (SPEC section 6).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::db::StoreError;

/// One problem in a 422 body, shaped as FastAPI/pydantic report it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl FieldError {
    /// A problem at `loc` (for example `["body", "title"]`).
    pub fn new(loc: Vec<Value>, kind: &'static str, msg: impl Into<String>) -> Self {
        Self {
            kind,
            loc,
            msg: msg.into(),
            ctx: None,
        }
    }

    /// Attach pydantic's `ctx` object (limits, expected values).
    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}

/// Everything a handler can fail with; each variant has one status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401; `token_sent` adds `error="invalid_token"` to `WWW-Authenticate`.
    #[error("invalid authentication credentials")]
    Unauthorized { token_sent: bool },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("request timed out")]
    TimedOut,
    #[error("too many requests")]
    TooManyRequests { retry_after: std::time::Duration },
    #[error("database unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn task_not_found() -> Self {
        Self::NotFound("Task not found")
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if let StoreError::UserBusy = err {
            return Self::TooManyRequests {
                retry_after: std::time::Duration::from_secs(1),
            };
        }
        if let StoreError::TaskLimit = err {
            return Self::Conflict("Task limit reached: delete tasks before creating more");
        }
        if err.is_unavailable() {
            Self::Unavailable(err)
        } else {
            Self::Internal(err.into())
        }
    }
}

fn detail(status: StatusCode, detail: &str) -> Response {
    (status, axum::Json(json!({ "detail": detail }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized { token_sent } => {
                let mut resp = detail(
                    StatusCode::UNAUTHORIZED,
                    "Invalid authentication credentials",
                );
                let challenge = if token_sent {
                    r#"Bearer error="invalid_token""#
                } else {
                    "Bearer"
                };
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
                resp
            }
            Self::Forbidden(msg) => detail(StatusCode::FORBIDDEN, msg),
            Self::NotFound(msg) => detail(StatusCode::NOT_FOUND, msg),
            Self::MethodNotAllowed => detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
            Self::Conflict(msg) => detail(StatusCode::CONFLICT, msg),
            Self::PreconditionFailed => detail(
                StatusCode::PRECONDITION_FAILED,
                "Precondition failed: the task has changed (If-Match)",
            ),
            Self::PayloadTooLarge => {
                detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
            }
            Self::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({ "detail": errors })),
            )
                .into_response(),
            Self::TooManyRequests { retry_after } => {
                let mut resp = detail(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
                // Whole seconds, rounded up.
                let secs = retry_after.as_millis().div_ceil(1000).max(1);
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs as u64));
                resp
            }
            Self::TimedOut => {
                let mut resp = detail(StatusCode::SERVICE_UNAVAILABLE, "Request timed out");
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                resp
            }
            Self::Unavailable(err) => {
                tracing::error!(error = %err, "database unavailable");
                let mut resp = detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service temporarily unavailable",
                );
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                resp
            }
            Self::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        }
    }
}
