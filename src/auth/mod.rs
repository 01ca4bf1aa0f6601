//! Bearer-token authentication (docs/auth.md): verifying tokens and minting them
//! for development and tests. Knows nothing of HTTP or the task store: the
//! web layer's extractor (`http::auth`) hands it the token.

pub mod config;
pub mod jwks;
mod jwt;
mod keys;
mod session;

pub use session::sign_session_token;

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use config::{AuthConfig, Secret};
use jwks::JwksCache;
use jwt::{Alg, ClaimRules, Compact};
use keys::PublicKey;
use session::SessionStore;

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
    /// When the token expires (unix seconds: a JWT's `exp`, a session's
    /// `expiresAt`): an event stream opened with it ends then.
    pub expires_at: Option<i64>,
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
    /// No key of this kind is configured (no secret, no JWKS, no sessions).
    NoKey,
    /// The JWKS has no key with the token's `kid` (or none that fits its `alg`).
    UnknownKey,
    /// No live session has this token.
    UnknownSession,
    /// Not an OAuth access token (`typ: at+jwt`) where one is required.
    NotAccessToken,
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
            AuthFailure::UnknownKey => "unknown_kid",
            AuthFailure::UnknownSession => "unknown_session",
            AuthFailure::NotAccessToken => "not_an_access_token",
        }
    }
}

/// A token that is refused (401), or a session token that cannot be checked
/// because the session database failed (503 when it is unreachable).
#[derive(Debug)]
pub enum VerifyError {
    Invalid(AuthFailure),
    /// The session lookup's query failed.
    Lookup(sqlx::Error),
}

impl From<AuthFailure> for VerifyError {
    fn from(f: AuthFailure) -> Self {
        VerifyError::Invalid(f)
    }
}

/// Verifies bearer tokens (docs/auth.md): HS* with the shared secret, every
/// asymmetric algorithm with keys from the JWKS, and Better Auth session
/// tokens from its database when enabled.
pub struct Authenticator {
    hmac_secret: Option<Secret>,
    jwks: Option<Arc<JwksCache>>,
    sessions: Option<SessionStore>,
    rules: ClaimRules,
    /// User-id claims of HS* tokens.
    user_claims: Vec<String>,
    /// User-id claims of JWKS-verified tokens (`sub` unless configured).
    jwks_user_claims: Vec<String>,
    verified: Option<VerifiedTokens>,
}

/// A JWT whose signature and claims were checked.
struct Verified {
    identity: Identity,
    /// Its `exp` plus the leeway: from then on it is refused.
    refused_from: i64,
    /// The JWKS key that verified it (`None`: the HS* secret). A hit counts
    /// only while this very key is still in the cached set, so a key removed
    /// from the JWKS (or any refresh) sends its tokens back to verification.
    key: Option<Arc<PublicKey>>,
}

/// Verified JWTs by the SHA-256 of the token, each until its `exp` (plus
/// leeway), at most `capacity` of them. Only tokens that passed every check
/// get in, so a flood of forged tokens cannot fill it.
struct VerifiedTokens {
    cache: moka::sync::Cache<[u8; 32], Arc<Verified>>,
}

/// The longest a verified token is remembered before it is checked again.
const MAX_REMEMBERED_SECS: u64 = 3600;

/// Entries live until their token expires (moka drops them then), an hour
/// at most.
struct UntilExpiry;

impl moka::Expiry<[u8; 32], Arc<Verified>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Verified>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        // Capped: a token valid for years is verified again after an hour
        // (and a huge `exp` cannot overflow the cache's clock).
        let left = value
            .refused_from
            .saturating_sub(chrono::Utc::now().timestamp());
        Some(Duration::from_secs(
            u64::try_from(left).unwrap_or(0).min(MAX_REMEMBERED_SECS),
        ))
    }
}

impl VerifiedTokens {
    fn new(capacity: u64) -> Option<Self> {
        (capacity > 0).then(|| Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build(),
        })
    }
}

impl Authenticator {
    /// With a JWKS configured this starts its background refresher, so it
    /// must run inside a Tokio runtime.
    pub fn new(cfg: &AuthConfig) -> Self {
        let jwks = cfg.jwks.clone().map(|settings| {
            let cache = Arc::new(JwksCache::new(settings));
            cache.spawn_refresher();
            cache
        });
        let sessions = cfg.sessions.as_ref().map(|s| {
            SessionStore::new(
                &s.database,
                cfg.secret.clone(),
                s.cache_ttl,
                Duration::from_secs(2),
            )
        });
        Self {
            hmac_secret: cfg.secret.clone(),
            jwks,
            sessions,
            rules: ClaimRules {
                leeway: i64::try_from(cfg.leeway.as_secs()).unwrap_or(i64::MAX),
                issuers: cfg.issuers.clone(),
                audiences: cfg.audiences.clone(),
            },
            user_claims: cfg.user_claims.clone(),
            jwks_user_claims: if cfg.jwks_user_claims.is_empty() {
                vec!["sub".to_owned()]
            } else {
                cfg.jwks_user_claims.clone()
            },
            verified: VerifiedTokens::new(cfg.token_cache_size),
        }
    }

    /// Verify a bearer token and name its user.
    pub async fn verify(&self, token: &str) -> Result<Identity, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthFailure::TooLarge.into());
        }
        // A JWS has two dots; Better Auth session tokens have none (raw) or
        // one (signed).
        if token.bytes().filter(|&b| b == b'.').count() != 2 {
            return match &self.sessions {
                Some(sessions) => sessions.verify(token).await,
                None => Err(AuthFailure::Malformed.into()),
            };
        }
        let Some(verified) = &self.verified else {
            return Ok(self.verify_jws(token).await?.identity);
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = verified.cache.get(&digest) {
            if self.still_valid(&hit) {
                crate::telemetry::token_cache("hit");
                return Ok(hit.identity.clone());
            }
            verified.cache.invalidate(&digest);
        }
        crate::telemetry::token_cache("miss");
        let fresh = Arc::new(self.verify_jws(token).await?);
        verified.cache.insert(digest, Arc::clone(&fresh));
        Ok(fresh.identity.clone())
    }

    /// A cached verification still holds: the token has not expired and the
    /// key that verified it is still the one in the JWKS cache.
    fn still_valid(&self, hit: &Verified) -> bool {
        let unexpired = chrono::Utc::now().timestamp() < hit.refused_from;
        let key_kept = match (&hit.key, &self.jwks) {
            (None, _) => true,
            (Some(key), Some(jwks)) => jwks.holds(key),
            (Some(_), None) => false,
        };
        unexpired && key_kept
    }

    /// Verify an OAuth access token for one resource (docs/mcp.md, RFC 9068):
    /// a JWT with `typ: at+jwt` whose `aud` names `resource` and whose `iss`
    /// is one of `issuers` (any, when empty), signed by the JWKS (or the
    /// shared secret). Session tokens and plain JWTs are refused: a token
    /// issued for another audience is never passed through. Not cached (the
    /// cache holds tokens checked against the REST API's rules).
    pub async fn verify_access_token(
        &self,
        token: &str,
        resource: &str,
        issuers: &[String],
    ) -> Result<Identity, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthFailure::TooLarge.into());
        }
        if token.bytes().filter(|&b| b == b'.').count() != 2 {
            return Err(AuthFailure::NotAccessToken.into());
        }
        let jws = Compact::parse(token)?;
        if !jws.is_access_token() {
            return Err(AuthFailure::NotAccessToken.into());
        }
        let rules = ClaimRules {
            leeway: self.rules.leeway,
            issuers: issuers.to_vec(),
            audiences: vec![resource.to_owned()],
        };
        Ok(self.verify_parsed(jws, &rules).await?.identity)
    }

    /// Check a JWS's signature and claims (docs/auth.md).
    async fn verify_jws(&self, token: &str) -> Result<Verified, AuthFailure> {
        let jws = Compact::parse(token)?;
        self.verify_parsed(jws, &self.rules).await
    }

    /// Check a parsed JWS's signature, and its claims against `rules`.
    async fn verify_parsed(
        &self,
        jws: Compact<'_>,
        rules: &ClaimRules,
    ) -> Result<Verified, AuthFailure> {
        let (valid, key) = if jws.alg.is_hmac() {
            let secret = self.hmac_secret.as_ref().ok_or(AuthFailure::NoKey)?;
            let valid = hmac_valid(jws.alg, secret, jws.signing_input, &jws.signature);
            (valid, None)
        } else {
            let jwks = self.jwks.as_ref().ok_or(AuthFailure::NoKey)?;
            let key = jwks
                .key(jws.kid.as_deref(), jws.alg)
                .await
                .ok_or(AuthFailure::UnknownKey)?;
            let valid = key.verify(jws.alg, jws.signing_input, &jws.signature);
            (valid, Some(key))
        };
        if !valid {
            return Err(AuthFailure::Signature);
        }
        let claims = jws.claims()?;
        let refused_from = rules.check(&claims, chrono::Utc::now().timestamp())?;
        let user_claims = if key.is_some() {
            &self.jwks_user_claims
        } else {
            &self.user_claims
        };
        let mut identity = identity(user_claims, &claims)?;
        identity.expires_at = Some(refused_from.saturating_sub(rules.leeway));
        Ok(Verified {
            identity,
            refused_from,
            key,
        })
    }
}

/// The user a token's claims name: the first non-empty string among
/// `user_claims`, with its email and name when present.
fn identity(user_claims: &[String], claims: &Map<String, Value>) -> Result<Identity, AuthFailure> {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let user_id = user_claims
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
        expires_at: None,
    })
}

/// Constant-time check of an HS256/384/512 signature.
fn hmac_valid(alg: Alg, secret: &Secret, message: &[u8], signature: &[u8]) -> bool {
    fn check<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes keys of any size");
        mac.update(message);
        mac.verify_slice(signature).is_ok()
    }
    let key = secret.expose().as_bytes();
    match alg {
        Alg::HS256 => check::<Hmac<Sha256>>(key, message, signature),
        Alg::HS384 => check::<Hmac<Sha384>>(key, message, signature),
        Alg::HS512 => check::<Hmac<Sha512>>(key, message, signature),
        _ => false,
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
    mint(secret, user, ttl, claim, None, None)
}

/// Mint an HS256 token that a server with `auth` accepts: signed with its
/// secret, carrying the first configured `iss` and `aud` when it checks them
/// (`todo-api token`). `None` when no secret is configured.
pub fn mint_configured_token(
    auth: &AuthConfig,
    user: &str,
    ttl: Duration,
    claim: UserClaim,
) -> Option<Result<String, jsonwebtoken::errors::Error>> {
    let secret = auth.secret.as_ref()?;
    let iss = auth.issuers.first().map(String::as_str);
    let aud = auth.audiences.first().map(String::as_str);
    Some(mint(secret, user, ttl, claim, iss, aud))
}

/// Mint an HS256 OAuth-style access token (`typ: at+jwt`, `aud` =
/// `resource`) for `user`: what `/mcp` accepts when `MCP_RESOURCE_URL` is
/// set (development and tests; real ones come from Better Auth's OAuth
/// provider).
pub fn mint_access_token(
    secret: &Secret,
    user: &str,
    ttl: Duration,
    resource: &str,
) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = mint_claims(user, ttl, UserClaim::Sub, None, Some(resource));
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
}

fn mint(
    secret: &Secret,
    user: &str,
    ttl: Duration,
    claim: UserClaim,
    iss: Option<&str>,
    aud: Option<&str>,
) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &mint_claims(user, ttl, claim, iss, aud),
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
}

fn mint_claims(
    user: &str,
    ttl: Duration,
    claim: UserClaim,
    iss: Option<&str>,
    aud: Option<&str>,
) -> Map<String, Value> {
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
    if let Some(iss) = iss {
        claims.insert("iss".into(), Value::from(iss));
    }
    if let Some(aud) = aud {
        claims.insert("aud".into(), Value::from(aud));
    }
    claims
}

/// A random secret for development auth (docs/auth.md): 32 random bytes, hex.
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

    async fn failure(auth: &Authenticator, token: &str) -> Option<AuthFailure> {
        match auth.verify(token).await {
            Err(VerifyError::Invalid(f)) => Some(f),
            _ => None,
        }
    }

    #[tokio::test]
    async fn minted_tokens_verify_and_name_the_user() {
        let s = random_secret();
        let t = mint_token(&s, "alice", Duration::from_secs(60), UserClaim::Sub).unwrap();
        assert_eq!(auth(&s).verify(&t).await.unwrap().user_id, "alice");
        let other = random_secret();
        assert_eq!(
            failure(&auth(&other), &t).await,
            Some(AuthFailure::Signature)
        );
    }

    #[tokio::test]
    async fn alg_none_garbage_and_unconfigured_kinds_are_refused() {
        let s = random_secret();
        let a = auth(&s);
        // {"alg":"none","typ":"JWT"} . {"sub":"a","exp":9999999999} .
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert_eq!(failure(&a, none).await, Some(AuthFailure::Algorithm));
        assert_eq!(
            failure(&a, "not.a.token").await,
            Some(AuthFailure::Malformed)
        );
        let big = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(failure(&a, &big).await, Some(AuthFailure::TooLarge));
        // {"alg":"EdDSA","kid":"k"}: no JWKS configured.
        let eddsa = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsifQ.e30.c2ln";
        assert_eq!(failure(&a, eddsa).await, Some(AuthFailure::NoKey));
        // A session token without session lookups configured.
        assert_eq!(failure(&a, "abcdef").await, Some(AuthFailure::Malformed));
    }

    #[tokio::test]
    async fn access_tokens_need_at_jwt_and_the_resource_as_audience() {
        let s = random_secret();
        let a = auth(&s);
        let r = "https://api.example.com/mcp";
        let ttl = Duration::from_secs(60);
        let check = |t: String, issuers: Vec<String>| {
            let a = &a;
            async move {
                match a.verify_access_token(&t, r, &issuers).await {
                    Ok(id) => Ok(id.user_id),
                    Err(VerifyError::Invalid(f)) => Err(Some(f)),
                    Err(_) => Err(None),
                }
            }
        };
        let access = mint_access_token(&s, "ann", ttl, r).unwrap();
        assert_eq!(check(access.clone(), vec![]).await, Ok("ann".into()));
        // A plain JWT, even one naming the resource: not an access token.
        let plain = mint(&s, "ann", ttl, UserClaim::Sub, None, Some(r)).unwrap();
        assert_eq!(
            check(plain, vec![]).await,
            Err(Some(AuthFailure::NotAccessToken))
        );
        let other = mint_access_token(&s, "ann", ttl, "https://other.example/mcp").unwrap();
        assert_eq!(check(other, vec![]).await, Err(Some(AuthFailure::Audience)));
        // A session token (no dots) is never one.
        assert_eq!(
            check("abcdef".into(), vec![]).await,
            Err(Some(AuthFailure::NotAccessToken))
        );
        // Issuers, when given, are checked (the minted one has no `iss`).
        assert_eq!(
            check(access, vec!["https://auth.example".into()]).await,
            Err(Some(AuthFailure::MissingClaim))
        );
    }
}
