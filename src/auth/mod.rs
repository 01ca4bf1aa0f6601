//! Bearer-token authentication (SPEC 4): verifying tokens, minting them for
//! development and tests, and the extractor that yields the request's user.

mod extract;

pub use extract::{AuthUser, SeenUsers};

use std::collections::HashSet;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use crate::config::{AuthConfig, Secret};

/// Tokens larger than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// User ids longer than this are refused (they are stored and indexed).
pub const MAX_USER_ID_CHARS: usize = 255;

/// The user a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// Why a token was refused; goes to the log, never to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    TooLarge,
    Malformed,
    Algorithm,
    Signature,
    Expired,
    NotYetValid,
    MissingClaim,
    Issuer,
    Audience,
    NoUser,
    NoKey,
}

impl AuthFailure {
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing_token",
            AuthFailure::TooLarge => "token_too_large",
            AuthFailure::Malformed => "malformed",
            AuthFailure::Algorithm => "algorithm_not_allowed",
            AuthFailure::Signature => "bad_signature",
            AuthFailure::Expired => "expired",
            AuthFailure::NotYetValid => "not_yet_valid",
            AuthFailure::MissingClaim => "missing_claim",
            AuthFailure::Issuer => "bad_issuer",
            AuthFailure::Audience => "bad_audience",
            AuthFailure::NoUser => "no_user_claim",
            AuthFailure::NoKey => "no_key",
        }
    }
}

impl From<jsonwebtoken::errors::Error> for AuthFailure {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::InvalidSignature => AuthFailure::Signature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => AuthFailure::Algorithm,
            ErrorKind::ExpiredSignature => AuthFailure::Expired,
            ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
            ErrorKind::MissingRequiredClaim(_) => AuthFailure::MissingClaim,
            ErrorKind::InvalidIssuer => AuthFailure::Issuer,
            ErrorKind::InvalidAudience => AuthFailure::Audience,
            _ => AuthFailure::Malformed,
        }
    }
}

const HMAC: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

/// Verifies bearer tokens against the configured keys and claims.
pub struct Authenticator {
    hmac_key: Option<DecodingKey>,
    validation: Validation,
    user_claims: Vec<String>,
}

impl Authenticator {
    pub fn new(cfg: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = HMAC.to_vec();
        validation.leeway = cfg.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.required_spec_claims = HashSet::from(["exp".to_owned()]);
        // Once configured, `iss` and `aud` must be present, not just right
        // when present.
        if cfg.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&cfg.audiences);
            validation.required_spec_claims.insert("aud".to_owned());
        }
        if !cfg.issuers.is_empty() {
            validation.set_issuer(&cfg.issuers);
            validation.required_spec_claims.insert("iss".to_owned());
        }
        Self {
            hmac_key: cfg
                .secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.expose().as_bytes())),
            validation,
            user_claims: cfg.user_claims.clone(),
        }
    }

    /// Verify a bearer token and name its user.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthFailure> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthFailure::TooLarge);
        }
        let header = jsonwebtoken::decode_header(token).map_err(AuthFailure::from)?;
        if !HMAC.contains(&header.alg) {
            // Asymmetric tokens need a JWKS, which is not configured.
            return Err(AuthFailure::Algorithm);
        }
        let key = self.hmac_key.as_ref().ok_or(AuthFailure::NoKey)?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation)?;
        self.identity(&data.claims)
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, AuthFailure> {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let user_id = self
            .user_claims
            .iter()
            .find_map(|c| text(c))
            .filter(|id| id.chars().count() <= MAX_USER_ID_CHARS && !id.contains('\0'))
            .ok_or(AuthFailure::NoUser)?;
        let bounded = |name: &str| {
            text(name)
                .filter(|s| s.len() <= 320 && !s.contains('\0'))
                .map(str::to_owned)
        };
        Ok(Identity {
            user_id: user_id.to_owned(),
            email: bounded("email"),
            name: bounded("name"),
        })
    }
}

/// Which claim a minted token carries the user in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UserClaim {
    Sub,
    #[value(name = "user_id")]
    UserId,
}

/// Mint an HS256 token for `user` valid for `ttl` (development and tests).
pub fn mint_token(
    secret: &Secret,
    user: &str,
    ttl: Duration,
    claim: UserClaim,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = chrono::Utc::now().timestamp();
    let mut claims = Map::new();
    let name = match claim {
        UserClaim::Sub => "sub",
        UserClaim::UserId => "user_id",
    };
    claims.insert(name.into(), Value::from(user));
    claims.insert("iat".into(), Value::from(now));
    claims.insert(
        "exp".into(),
        Value::from(now.saturating_add(ttl.as_secs() as i64)),
    );
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
}

/// A random secret for development auth (SPEC 4.4): 32 random bytes, hex.
pub fn random_secret() -> Secret {
    let bytes: [u8; 32] = rand::random();
    Secret::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(secret: &Secret) -> Authenticator {
        Authenticator::new(&AuthConfig {
            secret: Some(secret.clone()),
            user_claims: vec!["user_id".into(), "sub".into()],
            leeway: Duration::from_secs(30),
            ..Default::default()
        })
    }

    #[test]
    fn minted_tokens_verify_and_name_the_user() {
        let s = random_secret();
        let t = mint_token(&s, "alice", Duration::from_secs(60), UserClaim::Sub).unwrap();
        assert_eq!(auth(&s).verify(&t).unwrap().user_id, "alice");
        let other = random_secret();
        assert_eq!(auth(&other).verify(&t), Err(AuthFailure::Signature));
    }

    #[test]
    fn alg_none_and_garbage_are_refused() {
        let s = random_secret();
        // {"alg":"none","typ":"JWT"} . {"sub":"a","exp":9999999999} .
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(auth(&s).verify(none).is_err());
        assert!(auth(&s).verify("not.a.token").is_err());
        assert_eq!(
            auth(&s).verify(&"a".repeat(MAX_TOKEN_BYTES + 1)),
            Err(AuthFailure::TooLarge)
        );
    }
}
