//! The chat (docs/chat.md): which model, through which provider, and the
//! bounds of a turn. The provider follows the teams' own variables: the key
//! that is set chooses it (or `LLM_PROVIDER`), `OPENAI_BASE_URL` and
//! `OPENAI_MODEL` override its endpoint and model.

use super::*;
use crate::chat::{
    ChatConfig, ErrorFormat, IdForm, ListForm, MaxTokensField, ModelConfig, ReplyShape,
};

/// The chat and its model.
#[derive(clap::Args, Debug, Clone)]
pub struct ChatSettings {
    /// Serve the chat routes (docs/chat.md); without a model they answer 503.
    #[arg(long, global = true, env = "CHAT_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub chat_enabled: bool,
    /// openai, gemini, openrouter or groq; default: the provider whose key is set.
    #[arg(long, global = true, env = "LLM_PROVIDER")]
    pub llm_provider: Option<String>,
    #[arg(long, global = true, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<Secret>,
    /// Any OpenAI-compatible endpoint (e.g. Ollama's http://localhost:11434/v1).
    #[arg(long, global = true, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,
    /// The model; default: the provider's.
    #[arg(long, global = true, env = "OPENAI_MODEL")]
    pub openai_model: Option<String>,
    #[arg(long, global = true, env = "GEMINI_API_KEY", hide_env_values = true)]
    pub gemini_api_key: Option<Secret>,
    #[arg(
        long,
        global = true,
        env = "OPENROUTER_API_KEY",
        hide_env_values = true
    )]
    pub openrouter_api_key: Option<Secret>,
    #[arg(long, global = true, env = "GROQ_API_KEY", hide_env_values = true)]
    pub groq_api_key: Option<Secret>,
    /// Replaces the built-in system prompt (today's date is appended).
    #[arg(long, global = true, env = "CHAT_SYSTEM_PROMPT")]
    pub chat_system_prompt: Option<String>,
    /// Earlier messages of the conversation sent with each turn.
    #[arg(
        long,
        global = true,
        env = "CHAT_HISTORY_MESSAGES",
        default_value_t = 20
    )]
    pub chat_history_messages: u32,
    /// Longest message, in characters (then 422 message_too_long).
    #[arg(
        long,
        global = true,
        env = "CHAT_MAX_MESSAGE_CHARS",
        default_value_t = 10_000
    )]
    pub chat_max_message_chars: u32,
    /// Rounds of tool calls in one turn.
    #[arg(long, global = true, env = "CHAT_MAX_TOOL_STEPS", default_value_t = 5)]
    pub chat_max_tool_steps: u32,
    /// Most tokens of one model answer.
    #[arg(
        long,
        global = true,
        env = "CHAT_MAX_REPLY_TOKENS",
        default_value_t = 1024
    )]
    pub chat_max_reply_tokens: u32,
    /// The model's time for a whole turn, in seconds (then 504).
    #[arg(
        long,
        global = true,
        env = "CHAT_TURN_TIMEOUT_SECONDS",
        default_value_t = 25
    )]
    pub chat_turn_timeout_seconds: u64,
    /// Conversations one user may keep.
    #[arg(
        long,
        global = true,
        env = "CHAT_MAX_CONVERSATIONS_PER_USER",
        default_value_t = 1000
    )]
    pub chat_max_conversations_per_user: u32,
    /// Messages one conversation may hold (a turn writes two).
    #[arg(
        long,
        global = true,
        env = "CHAT_MAX_MESSAGES_PER_CONVERSATION",
        default_value_t = 1000
    )]
    pub chat_max_messages_per_conversation: u32,
    /// Chat turns per user per minute (0: no limit).
    #[arg(
        long,
        global = true,
        env = "CHAT_TURNS_PER_MINUTE",
        default_value_t = 10
    )]
    pub chat_turns_per_minute: u32,
    /// Model tokens per user per UTC day (0: no budget).
    #[arg(
        long,
        global = true,
        env = "CHAT_DAILY_TOKEN_BUDGET",
        default_value_t = 200_000
    )]
    pub chat_daily_token_budget: u64,
    /// The reply's shape: response, message (an object) or text (message as a string).
    #[arg(long, global = true, env = "CHAT_REPLY_SHAPE", value_enum, ignore_case = true, default_value_t = ReplyShape::Response)]
    pub chat_reply_shape: ReplyShape,
    /// Conversation and message ids as string or integer.
    #[arg(long, global = true, env = "CHAT_ID_FORM", value_enum, ignore_case = true, default_value_t = IdForm::String)]
    pub chat_id_form: IdForm,
    /// Chat errors as detail ({"detail", "code"}) or error ({"error", "message"}).
    #[arg(long, global = true, env = "CHAT_ERROR_FORMAT", value_enum, ignore_case = true, default_value_t = ErrorFormat::Detail)]
    pub chat_error_format: ErrorFormat,
    /// The conversation list as array or wrapped ({"conversations", "total"}).
    #[arg(long, global = true, env = "CHAT_CONVERSATION_LIST", value_enum, ignore_case = true, default_value_t = ListForm::Array)]
    pub chat_conversation_list: ListForm,
}

/// A provider's OpenAI-compatible endpoint and default model.
struct Preset {
    name: &'static str,
    base_url: &'static str,
    model: &'static str,
    max_tokens_field: MaxTokensField,
}

const OPENAI: Preset = Preset {
    name: "openai",
    base_url: "https://api.openai.com/v1",
    model: "gpt-5-mini",
    max_tokens_field: MaxTokensField::MaxCompletionTokens,
};
const GEMINI: Preset = Preset {
    name: "gemini",
    base_url: "https://generativelanguage.googleapis.com/v1beta/openai",
    model: "gemini-2.5-flash",
    max_tokens_field: MaxTokensField::MaxTokens,
};
const OPENROUTER: Preset = Preset {
    name: "openrouter",
    base_url: "https://openrouter.ai/api/v1",
    model: "openai/gpt-5-mini",
    max_tokens_field: MaxTokensField::MaxTokens,
};
const GROQ: Preset = Preset {
    name: "groq",
    base_url: "https://api.groq.com/openai/v1",
    model: "llama-3.3-70b-versatile",
    max_tokens_field: MaxTokensField::MaxTokens,
};

fn key(k: &Option<Secret>) -> Option<&Secret> {
    k.as_ref().filter(|s| !s.expose().trim().is_empty())
}

impl ChatSettings {
    /// `None` when the chat is off. `delete_json`: `DELETE_RESPONSE=json`.
    pub fn resolve(&self, delete_json: bool) -> Result<Option<ChatConfig>, ConfigError> {
        if !self.chat_enabled {
            return Ok(None);
        }
        Ok(Some(ChatConfig {
            model: self.model()?,
            system_prompt: given(&self.chat_system_prompt).map(|s| s.trim().to_owned()),
            history: i64::from(self.chat_history_messages.min(200)),
            max_message_chars: self.chat_max_message_chars.max(1) as usize,
            max_tool_steps: self.chat_max_tool_steps.min(20) as usize,
            turn_timeout: Duration::from_secs(self.chat_turn_timeout_seconds.max(1)),
            max_conversations: i64::from(self.chat_max_conversations_per_user.max(1)),
            max_messages: i64::from(self.chat_max_messages_per_conversation.max(2)),
            turns_per_minute: self.chat_turns_per_minute,
            daily_token_budget: i64::try_from(self.chat_daily_token_budget).unwrap_or(i64::MAX),
            reply_shape: self.chat_reply_shape,
            id_form: self.chat_id_form,
            error_format: self.chat_error_format,
            list_form: self.chat_conversation_list,
            delete_json,
        }))
    }

    /// The provider: `LLM_PROVIDER`, else the first whose key is set
    /// (OpenAI, Gemini, OpenRouter, Groq), else a keyless server at
    /// `OPENAI_BASE_URL`; `None` without any.
    fn model(&self) -> Result<Option<ModelConfig>, ConfigError> {
        let keyed = [
            (&OPENAI, key(&self.openai_api_key)),
            (&GEMINI, key(&self.gemini_api_key)),
            (&OPENROUTER, key(&self.openrouter_api_key)),
            (&GROQ, key(&self.groq_api_key)),
        ];
        let base_url =
            given(&self.openai_base_url).map(|u| u.trim().trim_end_matches('/').to_owned());
        let chosen = match given(&self.llm_provider) {
            Some(name) => {
                let name = name.trim().to_ascii_lowercase();
                let Some((preset, own)) = keyed.iter().find(|(p, _)| p.name == name) else {
                    return Err(fail(
                        "LLM_PROVIDER",
                        format!("{name:?} is none of openai, gemini, openrouter, groq"),
                    ));
                };
                // A team may keep the provider's key in OPENAI_API_KEY.
                Some((*preset, own.or(key(&self.openai_api_key))))
            }
            None => keyed
                .iter()
                .find(|(_, k)| k.is_some())
                .map(|(p, k)| (*p, *k))
                .or_else(|| base_url.is_some().then_some((&OPENAI, None))),
        };
        let Some((preset, api_key)) = chosen else {
            return Ok(None);
        };
        if let Some(url) = &base_url {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return Err(fail(
                        "OPENAI_BASE_URL",
                        "must be an http:// or https:// URL",
                    ));
                }
            }
        }
        // A server of one's own behind OPENAI_BASE_URL is spoken to as
        // most compatible servers expect.
        let (provider, max_tokens_field) = match (&base_url, given(&self.llm_provider)) {
            (Some(_), None) if api_key.is_none() || preset.name == "openai" => {
                ("openai-compatible", MaxTokensField::MaxTokens)
            }
            _ => (preset.name, preset.max_tokens_field),
        };
        Ok(Some(ModelConfig {
            provider,
            base_url: base_url.unwrap_or_else(|| preset.base_url.to_owned()),
            api_key: api_key.cloned(),
            model: given(&self.openai_model)
                .map(|m| m.trim().to_owned())
                .unwrap_or_else(|| preset.model.to_owned()),
            max_reply_tokens: self.chat_max_reply_tokens.clamp(16, 100_000),
            max_tokens_field,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(tweak: impl FnOnce(&mut ChatSettings)) -> Result<Option<ChatConfig>, ConfigError> {
        let mut s = Settings::default().chat;
        tweak(&mut s);
        s.resolve(false)
    }

    fn model(tweak: impl FnOnce(&mut ChatSettings)) -> Option<ModelConfig> {
        chat(tweak).unwrap().unwrap().model
    }

    #[test]
    fn the_key_that_is_set_chooses_the_provider() {
        assert!(model(|_| {}).is_none());
        let m = model(|s| s.groq_api_key = Some(Secret::new("gsk"))).unwrap();
        assert_eq!(
            (m.provider, m.model.as_str()),
            ("groq", "llama-3.3-70b-versatile")
        );
        assert_eq!(m.base_url, "https://api.groq.com/openai/v1");
        let m = model(|s| {
            s.gemini_api_key = Some(Secret::new("g"));
            s.openai_api_key = Some(Secret::new("sk"));
        })
        .unwrap();
        assert_eq!(m.provider, "openai");
        assert_eq!(m.max_tokens_field, MaxTokensField::MaxCompletionTokens);
        let m = model(|s| {
            s.llm_provider = Some("Gemini".into());
            s.openai_api_key = Some(Secret::new("kept-in-openai"));
            s.openai_model = Some("gemini-2.5-pro".into());
        })
        .unwrap();
        assert_eq!((m.provider, m.model.as_str()), ("gemini", "gemini-2.5-pro"));
        assert_eq!(m.api_key.unwrap().expose(), "kept-in-openai");
        // A local server needs no key.
        let m = model(|s| s.openai_base_url = Some("http://localhost:11434/v1/".into())).unwrap();
        assert_eq!(
            (m.provider, m.base_url.as_str()),
            ("openai-compatible", "http://localhost:11434/v1")
        );
        assert!(m.api_key.is_none());
        assert_eq!(
            chat(|s| s.llm_provider = Some("claude".into()))
                .unwrap_err()
                .var,
            "LLM_PROVIDER"
        );
        assert_eq!(
            chat(|s| s.openai_base_url = Some("localhost:11434".into()))
                .unwrap_err()
                .var,
            "OPENAI_BASE_URL"
        );
        assert!(chat(|s| s.chat_enabled = false).unwrap().is_none());
    }
}
