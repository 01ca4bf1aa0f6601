//! What the token verifier is configured with (assembled by `config.rs`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

pub use super::jwks::JwksSettings;

/// A secret that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// What the token verifier needs.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// `None` with no auth configured outside production: development auth.
    pub secret: Option<Secret>,
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    /// User-id claims of HS* tokens, tried in order.
    pub user_claims: Vec<String>,
    /// User-id claims of JWKS-verified tokens.
    pub jwks_user_claims: Vec<String>,
    pub leeway: Duration,
    /// How many verified JWTs are remembered (0: none).
    pub token_cache_size: u64,
    /// Asymmetric tokens: where their keys are published.
    pub jwks: Option<JwksSettings>,
    /// Better Auth session tokens: where its `session` table is.
    pub sessions: Option<SessionSettings>,
}

/// Session-token lookups (docs/auth.md, opt-in).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub database: PgConnectOptions,
    pub cache_ttl: Duration,
}

/// The whole JWKS fetch (connect, headers, body) must finish within this.
pub const JWKS_TIMEOUT: Duration = Duration::from_secs(2);
