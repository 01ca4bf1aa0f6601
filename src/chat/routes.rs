//! The chat's handlers (docs/chat.md#routes): a chat turn in three route
//! styles, and the user's conversations with their messages. Every one is
//! the token's user's only: another user's conversation is 404, a scoped
//! path naming another user 403.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Chat;
use super::reply::{self, ChatError, ListForm, ReplyShape, parse_id};
use crate::http::AppState;
use crate::http::auth::AuthUser;
use crate::http::error::ApiError;
use crate::http::shape::BodyKind;

type User = Result<AuthUser, ApiError>;
type PathParams = Result<Path<Vec<(String, String)>>, axum::extract::rejection::PathRejection>;

/// Most messages a conversation's detail lists (its latest).
const DETAIL_MESSAGES: i64 = 100;
/// Page sizes of the lists: the default and the most.
const PAGE_DEFAULT: i64 = 20;
const PAGE_MAX: i64 = 100;
const MESSAGES_PAGE_MAX: i64 = 1000;

/// Run `work`, answering its error in the chat's format. The chat's
/// bodies are shaped by its own settings (`CHAT_*`), never reshaped by
/// `JSON_CASE` or the envelopes of the task routes.
async fn answer(chat: &Chat, work: impl Future<Output = Result<Response, ChatError>>) -> Response {
    let resp = match work.await {
        Ok(resp) => resp,
        Err(e) => e.respond(chat.config.error_format),
    };
    BodyKind::Verbatim.mark(resp)
}

/// The conversation the path names; one that cannot exist is 404.
fn path_conversation(path: PathParams) -> Result<i64, ChatError> {
    let Ok(Path(params)) = path else {
        return Err(ChatError::not_found());
    };
    params
        .iter()
        .find(|(k, _)| k == "conversation_id")
        .and_then(|(_, v)| parse_id(&Value::String(v.clone())))
        .ok_or_else(ChatError::not_found)
}

/// `limit` and `offset` of a query string, each bounded.
fn paging(query: Option<&str>, default: i64, max: i64) -> Result<(i64, i64), ChatError> {
    let (mut limit, mut offset) = (default, 0);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let parsed = || value.parse::<i64>().ok();
        match name {
            "limit" | "page_size" => {
                limit = parsed().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
                    ChatError::invalid("invalid_request", format!("limit must be 1 to {max}"))
                })?
            }
            "offset" | "skip" => {
                offset = parsed().filter(|n| *n >= 0).ok_or_else(|| {
                    ChatError::invalid("invalid_request", "offset must be 0 or more")
                })?
            }
            _ => {}
        }
    }
    Ok((limit, offset))
}

/// `POST /api/chat`, `/api/{user_id}/chat`, `/api/chat/{user_id}`: one turn.
pub(super) async fn chat(
    State(state): State<AppState>,
    Extension(chat): Extension<Arc<Chat>>,
    user: User,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let work = async {
        let user = user?;
        let body: Map<String, Value> = match serde_json::from_slice(&body) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(ChatError::invalid(
                    "invalid_request",
                    "The body must be a JSON object with a message",
                ));
            }
        };
        let message = match body.get("message") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            _ => {
                return Err(ChatError::invalid(
                    "invalid_message",
                    "message is required: a non-empty string",
                ));
            }
        };
        let max = chat.config.max_message_chars;
        if message.chars().count() > max {
            return Err(ChatError::invalid(
                "message_too_long",
                format!("message is longer than {max} characters"),
            ));
        }
        let conversation = match body
            .get("conversation_id")
            .or_else(|| body.get("conversationId"))
        {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => Some(parse_id(v).ok_or_else(ChatError::not_found)?),
        };
        let done = chat.turn(&state, &user, message, conversation).await?;
        let form = chat.config.id_form;
        let conversation_id = form.id(done.conversation_id);
        let body = match chat.config.reply_shape {
            ReplyShape::Response => json!({
                "conversation_id": conversation_id,
                "response": done.reply,
                "tool_calls": done.tool_calls,
            }),
            ReplyShape::Message => json!({
                "conversation_id": conversation_id,
                "message": {
                    "id": form.id(done.reply_position),
                    "role": "assistant",
                    "content": done.reply,
                    "created_at": done.replied_at,
                },
                "tool_calls": done.tool_calls,
            }),
            ReplyShape::Text => json!({
                "conversation_id": conversation_id,
                "message": done.reply,
                "tool_calls": done.tool_calls,
            }),
        };
        Ok(axum::Json(body).into_response())
    };
    let resp = answer(&chat, work).await;
    let outcome = if resp.status().is_success() {
        "ok"
    } else {
        "error"
    };
    crate::telemetry::chat_turn(outcome, started.elapsed());
    resp
}

/// `GET …/conversations`: the latest first.
pub(super) async fn list_conversations(
    State(state): State<AppState>,
    Extension(chat): Extension<Arc<Chat>>,
    user: User,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&chat, async {
        let user = user?;
        let (limit, offset) = paging(query.as_deref(), PAGE_DEFAULT, PAGE_MAX)?;
        let (rows, total) = state.store.conversations(user.id(), limit, offset).await?;
        let items: Vec<Value> = rows
            .iter()
            .map(|c| reply::conversation(chat.config.id_form, c))
            .collect();
        let body = match chat.config.list_form {
            ListForm::Array => Value::Array(items),
            ListForm::Wrapped => json!({ "conversations": items, "total": total }),
        };
        Ok(([("x-total-count", total.to_string())], axum::Json(body)).into_response())
    })
    .await
}

/// `POST …/conversations`: an empty conversation (`title` optional).
pub(super) async fn create_conversation(
    State(state): State<AppState>,
    Extension(chat): Extension<Arc<Chat>>,
    user: User,
    body: Bytes,
) -> Response {
    answer(&chat, async {
        let user = user?;
        let title = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => match map.get("title") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if s.chars().count() <= 200 => {
                        Some(s.trim().to_owned()).filter(|s| !s.is_empty())
                    }
                    Some(_) => {
                        return Err(ChatError::invalid(
                            "invalid_request",
                            "title must be a string of at most 200 characters",
                        ));
                    }
                },
                _ => {
                    return Err(ChatError::invalid(
                        "invalid_request",
                        "The body must be a JSON object",
                    ));
                }
            }
        };
        let c = &chat.config;
        chat.room_for_one_more(&state, user.id()).await?;
        let row = state
            .store
            .create_conversation(
                user.id(),
                super::turn::new_id(),
                title.as_deref().unwrap_or("New conversation"),
                chrono::Utc::now(),
            )
            .await?;
        let body = reply::conversation(c.id_form, &row);
        Ok((StatusCode::CREATED, axum::Json(body)).into_response())
    })
    .await
}

/// `GET …/conversations/{id}`: the conversation and its latest messages,
/// oldest first.
pub(super) async fn get_conversation(
    State(state): State<AppState>,
    Extension(chat): Extension<Arc<Chat>>,
    user: User,
    path: PathParams,
) -> Response {
    answer(&chat, async {
        let user = user?;
        let id = path_conversation(path)?;
        let row = super::turn::find_conversation(&state, user.id(), id).await?;
        let messages = state.store.history(user.id(), id, DETAIL_MESSAGES).await?;
        let form = chat.config.id_form;
        let mut body = reply::conversation(form, &row);
        body["messages"] = messages.iter().map(|m| reply::message(form, m)).collect();
        Ok(axum::Json(body).into_response())
    })
    .await
}

/// `GET …/conversations/{id}/messages?limit=&offset=`: in order.
pub(super) async fn list_messages(
    State(state): State<AppState>,
    Extension(chat): Extension<Arc<Chat>>,
    user: User,
    path: PathParams,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&chat, async {
        let user = user?;
        let id = path_conversation(path)?;
        let (limit, offset) = paging(query.as_deref(), DETAIL_MESSAGES, MESSAGES_PAGE_MAX)?;
        super::turn::find_conversation(&state, user.id(), id).await?;
        let rows = state.store.messages(user.id(), id, limit, offset).await?;
        let form = chat.config.id_form;
        let body: Vec<Value> = rows.iter().map(|m| reply::message(form, m)).collect();
        Ok(axum::Json(body).into_response())
    })
    .await
}

/// `DELETE …/conversations/{id}`: with its messages.
pub(super) async fn delete_conversation(
    State(state): State<AppState>,
    Extension(chat): Extension<Arc<Chat>>,
    user: User,
    path: PathParams,
) -> Response {
    answer(&chat, async {
        let user = user?;
        let id = path_conversation(path)?;
        if !state.store.delete_conversation(user.id(), id).await? {
            return Err(ChatError::not_found());
        }
        tracing::info!(target: "audit", action = "deleted", user_id = user.id(), conversation_id = id, "conversation deleted");
        Ok(if chat.config.delete_json {
            let body = json!({ "deleted": true, "conversation_id": chat.config.id_form.id(id) });
            axum::Json(body).into_response()
        } else {
            StatusCode::NO_CONTENT.into_response()
        })
    })
    .await
}
