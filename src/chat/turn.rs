//! One chat turn (docs/chat.md#the-agent): the checks that bound it, the
//! model asked with the conversation's recent messages and the task tools,
//! the tools it calls run as the user, and the turn stored whole.

use std::time::{Duration, Instant};

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestToolMessage, ChatCompletionRequestToolMessageContent,
    ChatCompletionRequestUserMessage, ChatCompletionTool, ChatCompletionTools, FunctionCall,
    FunctionObject,
};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Chat;
use super::model::ModelError;
use super::reply::ChatError;
use crate::db::{ConversationRow, Turn, TurnTarget};
use crate::http::AppState;
use crate::http::auth::AuthUser;
use crate::mcp::TaskTools;

/// A conversation's title: its first message, cut to this many characters.
const TITLE_CHARS: usize = 60;
/// A tool's result as a reply item shows it, at most (else summarised).
const RESULT_SHOWN_BYTES: usize = 2048;

/// The built-in system prompt; today's date (UTC) follows it.
const SYSTEM_PROMPT: &str = "You are a helpful assistant that manages the user's todo list. \
Use the tools to add, list, update, complete and delete the user's tasks; never invent a task \
or its id: list the tasks to find one. Tools act for the signed-in user only. Answer briefly \
and say what you changed.";

/// What a turn produced.
pub struct Outcome {
    pub conversation_id: i64,
    pub reply: String,
    /// The reply's position in the conversation (its message id).
    pub reply_position: i64,
    pub replied_at: DateTime<Utc>,
    pub tool_calls: Vec<Value>,
}

/// Marks a conversation busy for the turn's length.
struct Busy<'a> {
    chat: &'a Chat,
    key: (String, i64),
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut busy = self.chat.busy.lock().unwrap_or_else(|e| e.into_inner());
        busy.remove(&self.key);
    }
}

fn busy_error() -> ChatError {
    ChatError::new(
        StatusCode::CONFLICT,
        "conversation_busy",
        "Another message of this conversation is being answered; send this one after it",
    )
}

/// The task tools as the model is offered them, made once per server.
pub(super) fn functions(tools: &TaskTools) -> Vec<ChatCompletionTools> {
    tools
        .functions()
        .into_iter()
        .map(|(name, description, parameters)| {
            ChatCompletionTools::Function(ChatCompletionTool {
                function: FunctionObject {
                    name,
                    description: Some(description),
                    parameters: Some(parameters),
                    strict: None,
                },
            })
        })
        .collect()
}

/// The user's conversation `id`, or `404 conversation_not_found`.
pub(super) async fn find_conversation(
    state: &AppState,
    user: &str,
    id: i64,
) -> Result<ConversationRow, ChatError> {
    state
        .store
        .conversation(user, id)
        .await?
        .ok_or_else(ChatError::not_found)
}

impl Chat {
    /// `409 conversation_limit` when the user has all the conversations
    /// `CHAT_MAX_CONVERSATIONS_PER_USER` allows.
    pub(super) async fn room_for_one_more(
        &self,
        state: &AppState,
        user: &str,
    ) -> Result<(), ChatError> {
        let max = self.config.max_conversations;
        if state.store.count_conversations(user).await? >= max {
            return Err(ChatError::new(
                StatusCode::CONFLICT,
                "conversation_limit",
                format!("At most {max} conversations: delete one to start another"),
            ));
        }
        Ok(())
    }

    fn claim(&self, user: &str, id: i64) -> Result<Busy<'_>, ChatError> {
        let key = (user.to_owned(), id);
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if !busy.insert(key.clone()) {
            return Err(busy_error());
        }
        Ok(Busy { chat: self, key })
    }

    fn system_prompt(&self, now: DateTime<Utc>) -> String {
        let base = self
            .config
            .system_prompt
            .as_deref()
            .unwrap_or(SYSTEM_PROMPT);
        format!(
            "{base}\n\nToday is {} (UTC). Dates the user gives without a time zone are UTC.",
            now.format("%A, %Y-%m-%d")
        )
    }

    /// Run a turn: `message` from `user`, to `conversation` or a new one.
    pub(super) async fn turn(
        &self,
        state: &AppState,
        user: &AuthUser,
        message: &str,
        conversation: Option<i64>,
    ) -> Result<Outcome, ChatError> {
        let c = &self.config;
        let Some(model) = &self.model else {
            return Err(ChatError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "chat_not_configured",
                "The chat has no model: set OPENAI_API_KEY (or GEMINI_API_KEY, \
                 OPENROUTER_API_KEY, GROQ_API_KEY, or OPENAI_BASE_URL for a local server)",
            ));
        };
        let uid = user.id();
        if let Some(limiter) = &self.turns
            && let Err(wait) = limiter.take(&uid.to_owned())
        {
            return Err(ChatError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("At most {} chat messages a minute", c.turns_per_minute),
            )
            .retry(wait));
        }
        let received_at = Utc::now();
        if c.daily_token_budget > 0
            && state.store.usage(uid, received_at).await? >= c.daily_token_budget
        {
            let midnight = (received_at.date_naive() + chrono::Days::new(1))
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc())
                .unwrap_or(received_at);
            let wait = (midnight - received_at).to_std().unwrap_or_default();
            return Err(ChatError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "token_budget_exhausted",
                "Today's chat budget is used up; it renews at midnight UTC",
            )
            .retry(wait));
        }
        let (target_id, count, history) = match conversation {
            Some(id) => {
                let found = find_conversation(state, uid, id).await?;
                if found.message_count + 2 > c.max_messages {
                    return Err(ChatError::new(
                        StatusCode::CONFLICT,
                        "conversation_full",
                        format!(
                            "This conversation has reached {} messages; start a new one",
                            c.max_messages
                        ),
                    ));
                }
                let history = if c.history > 0 {
                    state.store.history(uid, id, c.history).await?
                } else {
                    Vec::new()
                };
                (id, Some(found.message_count), history)
            }
            None => {
                self.room_for_one_more(state, uid).await?;
                (new_id(), None, Vec::new())
            }
        };
        let _busy = self.claim(uid, target_id)?;

        let mut messages: Vec<ChatCompletionRequestMessage> = Vec::new();
        messages
            .push(ChatCompletionRequestSystemMessage::from(self.system_prompt(received_at)).into());
        for m in &history {
            messages.push(if m.role == "assistant" {
                ChatCompletionRequestAssistantMessage {
                    content: Some(ChatCompletionRequestAssistantMessageContent::Text(
                        m.content.clone(),
                    )),
                    ..Default::default()
                }
                .into()
            } else {
                ChatCompletionRequestUserMessage::from(m.content.as_str()).into()
            });
        }
        messages.push(ChatCompletionRequestUserMessage::from(message).into());

        let started = Instant::now();
        let run = self.converse(model, user, messages);
        let (reply, tool_calls, tokens) = match tokio::time::timeout(c.turn_timeout, run).await {
            Ok(done) => done?,
            Err(_) => return Err(model_error(ModelError::Timeout)),
        };
        let replied_at = Utc::now().max(received_at);
        let title = title(message);
        let calls_text = if tool_calls.is_empty() {
            String::new()
        } else {
            Value::Array(tool_calls.clone()).to_string()
        };
        let target = match count {
            Some(count) => TurnTarget::Existing {
                id: target_id,
                count,
            },
            None => TurnTarget::New {
                id: target_id,
                title: &title,
            },
        };
        let saved = state
            .store
            .save_turn(
                uid,
                &Turn {
                    conversation: target,
                    message,
                    received_at,
                    reply: &reply,
                    tool_calls: &calls_text,
                    replied_at,
                    tokens,
                },
            )
            .await?;
        if !saved {
            return Err(busy_error());
        }
        tracing::info!(
            target: "chat",
            user_id = uid,
            conversation_id = target_id,
            tool_calls = tool_calls.len(),
            tokens,
            model_ms = started.elapsed().as_secs_f64() * 1000.0,
            "chat turn"
        );
        Ok(Outcome {
            conversation_id: target_id,
            reply,
            reply_position: count.unwrap_or(0) + 2,
            replied_at,
            tool_calls,
        })
    }

    /// Ask the model until it answers in text, running the tools it calls
    /// (at most `CHAT_MAX_TOOL_STEPS` rounds; then it is asked once more
    /// without tools). The reply, the tool calls as reply items, tokens.
    async fn converse(
        &self,
        model: &super::model::Model,
        user: &AuthUser,
        mut messages: Vec<ChatCompletionRequestMessage>,
    ) -> Result<(String, Vec<Value>, i64), ChatError> {
        let tools = &self.functions;
        let mut items = Vec::new();
        let mut tokens = 0;
        let mut step = 0;
        loop {
            let offered: &[ChatCompletionTools] = if step < self.config.max_tool_steps {
                tools
            } else {
                &[]
            };
            let asked = Instant::now();
            let answer = model
                .complete(messages.clone(), offered, self.config.turn_timeout)
                .await;
            let outcome = match &answer {
                Ok(_) => "ok",
                Err(e) => model_outcome(e),
            };
            crate::telemetry::chat_model_call(outcome, asked.elapsed());
            let answer = answer.map_err(model_error)?;
            tokens += answer.tokens;
            crate::telemetry::chat_tokens(answer.tokens);
            if answer.tool_calls.is_empty() || offered.is_empty() {
                let reply = answer.content.unwrap_or_else(|| "Done.".to_owned());
                return Ok((reply, items, tokens));
            }
            step += 1;
            messages.push(
                ChatCompletionRequestAssistantMessage {
                    content: answer
                        .content
                        .clone()
                        .map(ChatCompletionRequestAssistantMessageContent::Text),
                    tool_calls: Some(
                        answer
                            .tool_calls
                            .iter()
                            .map(|t| {
                                ChatCompletionMessageToolCalls::Function(
                                    ChatCompletionMessageToolCall {
                                        id: t.id.clone(),
                                        function: FunctionCall {
                                            name: t.name.clone(),
                                            arguments: t.arguments.clone(),
                                        },
                                    },
                                )
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }
                .into(),
            );
            for call in answer.tool_calls {
                let args: Value = if call.arguments.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(&call.arguments).unwrap_or(Value::Null)
                };
                let (tool, outcome, result) = if args.is_null() {
                    (
                        "unknown",
                        "invalid_arguments",
                        json!({ "error": "Invalid arguments: not JSON" }),
                    )
                } else {
                    self.tools.run(user, &call.name, args.clone()).await
                };
                crate::telemetry::chat_tool_call(tool, outcome);
                messages.push(
                    ChatCompletionRequestToolMessage {
                        content: ChatCompletionRequestToolMessageContent::Text(result.to_string()),
                        tool_call_id: call.id.clone(),
                    }
                    .into(),
                );
                items.push(json!({
                    "id": call.id,
                    "tool": call.name,
                    "name": call.name,
                    "tool_name": call.name,
                    "arguments": args,
                    "result": shown(&result),
                    "status": if outcome == "ok" { "success" } else { "error" },
                }));
            }
        }
    }
}

/// A tool's result as a reply item carries it: small ones whole, a list
/// as its count, anything else cut.
fn shown(result: &Value) -> Value {
    if let Some(tasks) = result.get("tasks").and_then(Value::as_array) {
        return json!({ "count": tasks.len(), "total": result.get("total").cloned().unwrap_or(Value::Null) });
    }
    if result.to_string().len() <= RESULT_SHOWN_BYTES {
        return result.clone();
    }
    json!({ "truncated": true })
}

/// A new conversation's id: random, positive, under 2^53 (a JavaScript
/// number holds it exactly); keyed by user, a collision needs one user's
/// millions of conversations.
pub(super) fn new_id() -> i64 {
    (rand::random::<u64>() >> 11).max(1) as i64
}

/// The first message, cut at a word near [`TITLE_CHARS`].
fn title(message: &str) -> String {
    let flat: String = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= TITLE_CHARS {
        return flat;
    }
    let cut: String = flat.chars().take(TITLE_CHARS).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > TITLE_CHARS / 2 => cut[..i].to_owned(),
        _ => cut,
    };
    format!("{cut}…")
}

fn model_outcome(e: &ModelError) -> &'static str {
    match e {
        ModelError::Unauthorized(_) => "unauthorized",
        ModelError::RateLimited { .. } => "rate_limited",
        ModelError::Timeout => "timeout",
        ModelError::Unreachable => "unreachable",
        ModelError::Failed(_) => "failed",
        ModelError::BadAnswer => "bad_answer",
    }
}

/// The answer to a model failure; the provider's body is never passed on.
fn model_error(e: ModelError) -> ChatError {
    tracing::warn!(target: "chat", error = %e, "the model failed");
    match e {
        ModelError::Unauthorized(_) => ChatError::new(
            StatusCode::BAD_GATEWAY,
            "model_auth_failed",
            "The model provider refused the configured API key",
        ),
        ModelError::RateLimited { retry_after } => ChatError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "model_rate_limited",
            "The model provider is rate limiting; try again shortly",
        )
        .retry(retry_after.unwrap_or(Duration::from_secs(10))),
        ModelError::Timeout => ChatError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "model_timeout",
            "The model did not answer in time; nothing was saved",
        )
        .retry(Duration::from_secs(5)),
        ModelError::Unreachable => ChatError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_unavailable",
            "The model provider could not be reached",
        )
        .retry(Duration::from_secs(5)),
        ModelError::Failed(_) | ModelError::BadAnswer => ChatError::new(
            StatusCode::BAD_GATEWAY,
            "model_error",
            "The model provider failed to answer",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_message_cut_at_a_word() {
        assert_eq!(title("  Add   milk\nplease "), "Add milk please");
        let long = "word ".repeat(30);
        let t = title(&long);
        assert!(
            t.ends_with('…') && t.chars().count() <= TITLE_CHARS + 1,
            "{t}"
        );
        assert!(!t.contains("  "));
        let ids: std::collections::HashSet<i64> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|&id| id > 0 && id < (1 << 53)));
    }
}
