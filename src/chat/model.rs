//! The model (docs/chat.md#models): any OpenAI-compatible chat-completions
//! endpoint with tool calling. Requests are async-openai's types; the
//! answer is read leniently (local servers leave out fields OpenAI sends),
//! and every failure becomes a [`ModelError`] without the provider's body,
//! which may echo the prompt or the key.

use std::time::Duration;

use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionTools, CreateChatCompletionRequest,
};
use serde::Deserialize;

use crate::auth::config::Secret;

/// Where the model is and how to ask it.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// The provider's name, for the log and the banner (`openai`, `gemini`, …).
    pub provider: &'static str,
    /// `…/chat/completions` is appended.
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub model: String,
    /// Most tokens one answer may use.
    pub max_reply_tokens: u32,
    /// OpenAI's newer models refuse `max_tokens`; most compatible servers
    /// know only it.
    pub max_tokens_field: MaxTokensField,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    MaxCompletionTokens,
    MaxTokens,
}

/// Why the model gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("the provider refused the API key ({0})")]
    Unauthorized(u16),
    #[error("the provider is rate limiting")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the model did not answer in time")]
    Timeout,
    #[error("the provider could not be reached")]
    Unreachable,
    #[error("the provider failed ({0})")]
    Failed(u16),
    #[error("the provider's answer could not be read")]
    BadAnswer,
}

/// One answer of the model.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    /// Tokens the request and answer used (0 when the provider does not say).
    pub tokens: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text, as the model wrote it.
    pub arguments: String,
}

/// The biggest answer read from a provider.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Model {
    http: reqwest::Client,
    url: String,
    config: ModelConfig,
}

impl Model {
    pub fn new(config: ModelConfig) -> Self {
        let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        Self {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            url,
            config,
        }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Ask the model once, within `timeout`.
    pub async fn complete(
        &self,
        messages: Vec<ChatCompletionRequestMessage>,
        tools: &[ChatCompletionTools],
        timeout: Duration,
    ) -> Result<Completion, ModelError> {
        let c = &self.config;
        let mut request = CreateChatCompletionRequest {
            model: c.model.clone(),
            messages,
            tools: (!tools.is_empty()).then(|| tools.to_vec()),
            ..Default::default()
        };
        match c.max_tokens_field {
            MaxTokensField::MaxCompletionTokens => {
                request.max_completion_tokens = Some(c.max_reply_tokens)
            }
            #[allow(deprecated)]
            MaxTokensField::MaxTokens => request.max_tokens = Some(c.max_reply_tokens),
        }
        let mut req = self.http.post(&self.url).timeout(timeout).json(&request);
        if let Some(key) = &c.api_key {
            req = req.bearer_auth(key.expose());
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                ModelError::Timeout
            } else {
                ModelError::Unreachable
            }
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(match status.as_u16() {
                401 | 403 => ModelError::Unauthorized(status.as_u16()),
                429 => ModelError::RateLimited {
                    retry_after: resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs),
                },
                408 | 504 => ModelError::Timeout,
                code => ModelError::Failed(code),
            });
        }
        let body = read_capped(resp).await?;
        let answer: Answer = serde_json::from_slice(&body).map_err(|_| ModelError::BadAnswer)?;
        let message = answer
            .choices
            .into_iter()
            .next()
            .ok_or(ModelError::BadAnswer)?
            .message;
        Ok(Completion {
            content: message.content.filter(|s| !s.is_empty()),
            tool_calls: message
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .map(|t| ToolCall {
                    id: t.id,
                    name: t.function.name,
                    arguments: t.function.arguments,
                })
                .collect(),
            tokens: answer.usage.map_or(0, |u| {
                u.total_tokens
                    .unwrap_or(u.prompt_tokens.unwrap_or(0) + u.completion_tokens.unwrap_or(0))
            }),
        })
    }
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, ModelError> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(ModelError::BadAnswer);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(ModelError::Timeout),
            Err(_) => return Err(ModelError::Unreachable),
        }
    }
}

/// What is read of a chat-completions answer.
#[derive(Deserialize)]
struct Answer {
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
}

#[derive(Deserialize)]
struct AnswerMessage {
    content: Option<String>,
    tool_calls: Option<Vec<AnswerToolCall>>,
}

#[derive(Deserialize)]
struct AnswerToolCall {
    #[serde(default)]
    id: String,
    function: AnswerFunction,
}

#[derive(Deserialize)]
struct AnswerFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    total_tokens: Option<i64>,
}
