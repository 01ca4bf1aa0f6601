//! The one error type of the HTTP layer and its JSON envelope (docs/api.md#errors).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::db::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The 422 body lists [`Problem`]s, the domain's own validation type, as
/// they are (they are shaped as FastAPI/pydantic report them).
pub use crate::tasks::Problem;

/// Everything a handler can fail with; each variant has one status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401; `token_sent` adds `error="invalid_token"` to `WWW-Authenticate`.
    #[error("invalid authentication credentials")]
    Unauthorized { token_sent: bool },
    /// 400: a header or parameter this API cannot read at all.
    #[error("{0}")]
    BadRequest(&'static str),
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
    /// 410: a changes cursor the feed can no longer answer (docs/live-updates.md).
    #[error("{0}")]
    Gone(&'static str),
    /// 429 with its own message (a cap on open streams, not a rate).
    #[error("{detail}")]
    TooMany {
        detail: &'static str,
        retry_after: std::time::Duration,
    },
    #[error("validation failed")]
    Validation(Vec<Problem>),
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

    pub fn invalid(errors: Vec<Problem>) -> Self {
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

/// The most problems a 422 lists one by one; past them, one more problem
/// (`too_many_errors`, `ctx.omitted`) counts the rest. A body of many bad
/// items (a long `tags` string) is answered in a few kilobytes, not in
/// fifty times its own size.
pub const MAX_PROBLEMS: usize = 20;

/// `problems` with those past [`MAX_PROBLEMS`] counted instead of listed.
fn capped(mut problems: Vec<Problem>) -> Vec<Problem> {
    if problems.len() > MAX_PROBLEMS {
        let omitted = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(
            Problem::new(
                Vec::new(),
                "too_many_errors",
                format!("{omitted} more problems not listed"),
            )
            .with_ctx(serde_json::json!({ "omitted": omitted })),
        );
    }
    problems
}

fn detail(status: StatusCode, detail: &str) -> Response {
    let body = Detail {
        detail: detail.to_owned(),
    };
    (status, axum::Json(body)).into_response()
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
            Self::BadRequest(msg) => detail(StatusCode::BAD_REQUEST, msg),
            Self::Forbidden(msg) => detail(StatusCode::FORBIDDEN, msg),
            Self::NotFound(msg) => detail(StatusCode::NOT_FOUND, msg),
            Self::MethodNotAllowed => detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
            Self::Conflict(msg) => detail(StatusCode::CONFLICT, msg),
            Self::Gone(msg) => detail(StatusCode::GONE, msg),
            Self::TooMany {
                detail: msg,
                retry_after,
            } => {
                let mut resp = detail(StatusCode::TOO_MANY_REQUESTS, msg);
                let secs = retry_after.as_millis().div_ceil(1000).max(1);
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs as u64));
                resp
            }
            Self::PreconditionFailed => detail(
                StatusCode::PRECONDITION_FAILED,
                "Precondition failed: the task has changed (If-Match)",
            ),
            Self::PayloadTooLarge => {
                detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
            }
            Self::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(ValidationError {
                    detail: capped(errors),
                }),
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

/// `{"detail": "…"}`: every error but 422 (docs/api.md#errors).
#[derive(Serialize, ToSchema)]
pub struct Detail {
    #[schema(example = "Task not found")]
    pub detail: String,
}

/// 422: every problem of the request at once.
#[derive(Serialize, ToSchema)]
pub struct ValidationError {
    pub detail: Vec<Problem>,
}
