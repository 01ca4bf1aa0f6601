//! The chat (docs/chat.md): the Phase III chat endpoint over the user's
//! tasks. A turn sends the conversation's recent messages and the new one
//! to an OpenAI-compatible model with the task tools (the MCP tools, run as
//! the authenticated user through the REST routes), runs the tools it
//! calls, and stores the user's message with the reply in one transaction.
//!
//! `reply.rs` shapes answers and errors for the frontends' conventions,
//! `turn.rs` runs a turn, `routes.rs` holds the handlers, `model.rs` the
//! model client.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

use crate::http::AppState;
use crate::http::ratelimit::Limiter;
use crate::mcp::TaskTools;

pub mod model;
mod reply;
mod routes;
mod turn;

pub use model::{MaxTokensField, ModelConfig};
pub use reply::{ErrorFormat, IdForm, ListForm, ReplyShape};

/// The chat's settings, resolved (docs/configuration.md#chat).
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// `None`: no model configured; chat routes answer 503 naming the
    /// settings to set.
    pub model: Option<ModelConfig>,
    /// `CHAT_SYSTEM_PROMPT`; `None`: the built-in prompt.
    pub system_prompt: Option<String>,
    /// Earlier messages sent with each turn.
    pub history: i64,
    pub max_message_chars: usize,
    /// Rounds of tool calls one turn may make.
    pub max_tool_steps: usize,
    /// The whole turn's model time.
    pub turn_timeout: Duration,
    pub max_conversations: i64,
    pub max_messages: i64,
    /// Turns per user per minute.
    pub turns_per_minute: u32,
    /// Model tokens per user per UTC day (0: no budget).
    pub daily_token_budget: i64,
    pub reply_shape: ReplyShape,
    pub id_form: IdForm,
    pub error_format: ErrorFormat,
    pub list_form: ListForm,
    /// `DELETE_RESPONSE=json`: a deleted conversation answers 200 with a body.
    pub delete_json: bool,
}

/// What the chat's handlers share.
pub(crate) struct Chat {
    config: ChatConfig,
    model: Option<model::Model>,
    tools: TaskTools,
    /// The tools as the model is offered them (made once, not per turn).
    functions: Vec<async_openai::types::chat::ChatCompletionTools>,
    turns: Option<Limiter<String>>,
    /// Conversations with a turn in progress on this instance (user, id):
    /// one turn at a time each. Bounded by the requests in flight.
    busy: Mutex<HashSet<(String, i64)>>,
}

/// The chat routes in both styles (`/api/chat`, `/api/{user_id}/chat`,
/// `/api/chat/{user_id}`) and the conversations, on the REST API's state.
/// `rest`: the REST route table the tools call; `document`: the OpenAPI
/// document in the default shape (the tools' schemas).
pub fn router(config: ChatConfig, rest: Router, document: &serde_json::Value) -> Router<AppState> {
    if let Some(m) = &config.model {
        tracing::info!(provider = m.provider, model = %m.model, "chat: on");
    } else {
        tracing::info!(
            "chat: no model configured (set OPENAI_API_KEY, GEMINI_API_KEY, OPENROUTER_API_KEY, \
             GROQ_API_KEY or OPENAI_BASE_URL); the chat routes answer 503"
        );
    }
    let turns = std::num::NonZeroU32::new(config.turns_per_minute)
        .map(|n| Limiter::with_quota(governor::Quota::per_minute(n), "chat"));
    let tools = TaskTools::new(rest, document, None);
    let chat = Arc::new(Chat {
        model: config.model.clone().map(model::Model::new),
        functions: turn::functions(&tools),
        tools,
        turns,
        busy: Mutex::new(HashSet::new()),
        config,
    });
    let conversations = || {
        Router::new()
            .route(
                "/conversations",
                get(routes::list_conversations).post(routes::create_conversation),
            )
            .route(
                "/conversations/{conversation_id}",
                get(routes::get_conversation).delete(routes::delete_conversation),
            )
            .route(
                "/conversations/{conversation_id}/messages",
                get(routes::list_messages),
            )
            .route("/chat", post(routes::chat))
    };
    Router::new()
        .nest("/api", conversations())
        .nest("/api/{user_id}", conversations())
        .route("/api/chat/{user_id}", post(routes::chat))
        .layer(axum::Extension(chat))
}
