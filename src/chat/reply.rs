//! How the chat answers (docs/chat.md#shapes): the reply, conversation and
//! message bodies in the shapes the frontends read, ids in the form they
//! expect, and errors with a code in the API's format or as
//! `{"error", "message"}`.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::db::{ConversationRow, MessageRow};
use crate::http::error::ApiError;

/// `CHAT_REPLY_SHAPE`: where the assistant's text goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplyShape {
    /// `{"conversation_id", "response", "tool_calls"}`.
    #[default]
    Response,
    /// `"message": {"id", "role", "content", "created_at"}`.
    Message,
    /// `"message": "<text>"`.
    Text,
}

/// `CHAT_ID_FORM`: conversation and message ids as strings or integers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum IdForm {
    #[default]
    String,
    Integer,
}

/// `CHAT_ERROR_FORMAT`: `{"detail", "code"}` or `{"error": code, "message"}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ErrorFormat {
    #[default]
    Detail,
    Error,
}

/// `CHAT_CONVERSATION_LIST`: a bare array or `{"conversations", "total"}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ListForm {
    #[default]
    Array,
    Wrapped,
}

impl IdForm {
    pub fn id(self, id: i64) -> Value {
        match self {
            IdForm::String => Value::String(id.to_string()),
            IdForm::Integer => Value::from(id),
        }
    }
}

/// A conversation id as a client sends it: an integer, or its digits as a
/// string. Anything else names no conversation (`None`).
pub fn parse_id(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

pub fn conversation(form: IdForm, c: &ConversationRow) -> Value {
    json!({
        "id": form.id(c.id),
        "title": c.title,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "message_count": c.message_count,
    })
}

pub fn message(form: IdForm, m: &MessageRow) -> Value {
    let mut v = json!({
        "id": form.id(m.position),
        "role": m.role,
        "content": m.content,
        "created_at": m.created_at,
    });
    if !m.tool_calls.is_empty()
        && let Ok(calls) = serde_json::from_str::<Value>(&m.tool_calls)
    {
        v["tool_calls"] = calls;
    }
    v
}

/// A chat route's error: a status, a code a frontend can switch on, a
/// message for a person, and when to retry. Never the user's text, the
/// provider's body or a key.
#[derive(Debug)]
pub struct ChatError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// Authentication and other errors of the API keep its headers.
    pub challenge: Option<&'static str>,
}

impl ChatError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            challenge: None,
        }
    }

    pub fn retry(mut self, after: Duration) -> Self {
        self.retry_after = Some(after.max(Duration::from_secs(1)));
        self
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "conversation_not_found",
            "Conversation not found",
        )
    }

    pub fn respond(self, format: ErrorFormat) -> Response {
        let body = match format {
            ErrorFormat::Detail => json!({ "detail": self.message, "code": self.code }),
            ErrorFormat::Error => json!({ "error": self.code, "message": self.message }),
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_millis().div_ceil(1000).max(1) as u64;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self.challenge {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        resp
    }
}

impl From<ApiError> for ChatError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized { token_sent } => Self {
                challenge: Some(if token_sent {
                    r#"Bearer error="invalid_token""#
                } else {
                    "Bearer"
                }),
                ..Self::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Invalid authentication credentials",
                )
            },
            ApiError::Forbidden(msg) => Self::new(StatusCode::FORBIDDEN, "forbidden", msg),
            ApiError::BadRequest(msg) => Self::new(StatusCode::BAD_REQUEST, "bad_request", msg),
            ApiError::TooManyRequests { retry_after } | ApiError::TooMany { retry_after, .. } => {
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many requests",
                )
                .retry(retry_after)
            }
            ApiError::Validation(_) => Self::invalid("invalid_request", "Invalid request"),
            ApiError::NotFound(msg) => Self::new(StatusCode::NOT_FOUND, "not_found", msg),
            ApiError::TimedOut => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timed_out",
                "Request timed out",
            )
            .retry(Duration::from_secs(1)),
            other => {
                // Logged as the API logs it; answered in the chat's format.
                let status = other.into_response().status();
                let code = if status == StatusCode::SERVICE_UNAVAILABLE {
                    "unavailable"
                } else {
                    "internal_error"
                };
                let message = if status == StatusCode::SERVICE_UNAVAILABLE {
                    "Service temporarily unavailable"
                } else {
                    "Internal server error"
                };
                let e = Self::new(status, code, message);
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    e.retry(Duration::from_secs(1))
                } else {
                    e
                }
            }
        }
    }
}

impl From<crate::db::StoreError> for ChatError {
    fn from(e: crate::db::StoreError) -> Self {
        ApiError::from(e).into()
    }
}
