//! Configuration (docs/configuration.md): environment variables, a `.env` file, CLI flags;
//! read once at start-up into one typed struct. Failures name the variable
//! and never print a password or a secret.

use std::time::Duration;

pub use crate::auth::config::{AuthConfig, JWKS_TIMEOUT, JwksSettings, Secret, SessionSettings};
pub use crate::db::url::{DatabaseUrl, UrlError, mask_url};
use crate::http::ratelimit::Rate;
pub use crate::http::shape::{Conventions, DeleteResponse, Envelope, JsonCase, PutSemantics};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://todo.db";
/// The user-id claims of HS* tokens unless `JWT_USER_CLAIM` is set (seed 000
/// puts the user in `user_id`).
pub const DEFAULT_USER_CLAIMS: &str = "user_id,sub";
/// The user-id claim of JWKS-verified tokens unless `JWT_USER_CLAIM` is set:
/// Better Auth's `jwt()` copies the whole user row into its tokens, so a
/// user-editable field named `user_id` must not be able to name the user.
pub const DEFAULT_JWKS_USER_CLAIMS: &str = "sub";
pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 8000;
/// Below this, a shared secret is refused in production.
pub const MIN_SECRET_BYTES: usize = 32;

mod auth;
mod chat;
mod conventions;
mod database;
mod limits;
mod live;
mod mcp;
mod server;
mod settings;

pub use auth::AuthSettings;
pub use chat::ChatSettings;
pub use conventions::ConventionSettings;
pub use database::{Database, DatabaseSettings};
pub use limits::{LimitSettings, Limits};
pub use live::{Live, LiveSettings};
pub use mcp::McpSettings;
pub use server::{LogFormat, Server, ServerSettings, log_filter};
pub use settings::Settings;

/// A start-up failure: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {msg}")]
pub struct ConfigError {
    pub var: &'static str,
    pub msg: String,
}

impl From<UrlError> for ConfigError {
    fn from(e: UrlError) -> Self {
        Self {
            var: e.var,
            msg: e.msg,
        }
    }
}

fn fail(var: &'static str, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        msg: msg.into(),
    }
}

/// Validated configuration: each group resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub database: Database,
    pub auth: AuthConfig,
    pub limits: Limits,
    /// Output shapes and PUT's meaning for existing frontends (docs/frontends.md).
    pub conventions: Conventions,
    /// The MCP endpoint (docs/mcp.md); `None`: not served.
    pub mcp: Option<crate::mcp::McpConfig>,
    /// Event streams and the changes feed (docs/live-updates.md).
    pub live: Live,
    /// The chat (docs/chat.md); `None`: not served.
    pub chat: Option<crate::chat::ChatConfig>,
}

/// A setting given but blank (`BETTER_AUTH_URL=` in a `.env`, or an empty
/// variable from compose) counts as not given.
fn given(v: &Option<String>) -> Option<&String> {
    v.as_ref().filter(|s| !s.trim().is_empty())
}

fn comma_list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Config {
    /// Each group resolved, in the order their dependencies need: the
    /// server (is this production?) and the database before auth, and so on.
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let server = s.server.resolve()?;
        let database = s.database.resolve()?;
        let auth = s.auth.resolve(&database.url, server.production)?;
        let mcp = s.mcp.resolve(&server, &s.auth)?;
        let live = s.live.resolve(&database.url, s.auth.secret())?;
        let conventions = s.conventions.resolve();
        let chat = s.chat.resolve(conventions.delete == DeleteResponse::Json)?;
        Ok(Self {
            limits: s.limits.resolve()?,
            conventions,
            chat,
            mcp,
            live,
            auth,
            database,
            server,
        })
    }
}
