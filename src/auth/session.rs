//! Better Auth's opaque session tokens (`bearer()` plugin; docs/auth.md and 11),
//! accepted when the API can read Better Auth's `session` table.
//!
//! A token is the raw 32-character session token, or that token signed:
//! `<token>.<base64 HMAC-SHA256(BETTER_AUTH_SECRET, token)>`. A signed token
//! whose HMAC is wrong is refused before any query. Lookups (found or not) are
//! cached briefly, so a hot token costs one query per cache period.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use moka::sync::Cache;
use percent_encoding::percent_decode_str;
use sha2::Sha256;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::config::Secret;
use super::jwt::Alg;
use super::{AuthFailure, Identity, VerifyError, hmac_valid};

/// Longest raw session token looked up (Better Auth's are 32 characters).
const MAX_SESSION_TOKEN: usize = 255;
/// Unknown tokens are remembered this long, to spare the database a flood.
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
const CACHE_ENTRIES: u64 = 100_000;

/// Standard or URL-safe base64, padded or not: Better Auth signs with
/// standard base64, and proxies or clients sometimes re-encode it.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// What a lookup found, cached until `ttl` runs out.
#[derive(Clone)]
struct Found {
    user_id: Option<String>,
    ttl: Duration,
    /// The session's `expiresAt` (unix seconds).
    expires_at: Option<i64>,
}

struct PerEntry;

impl moka::Expiry<String, Found> for PerEntry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Found,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Session lookups in Better Auth's database.
pub struct SessionStore {
    pool: PgPool,
    secret: Option<Secret>,
    cache_ttl: Duration,
    cache: Cache<String, Found>,
}

impl SessionStore {
    /// A lazy pool: the session database is only contacted for session tokens.
    pub fn new(
        options: &PgConnectOptions,
        secret: Option<Secret>,
        cache_ttl: Duration,
        acquire_timeout: Duration,
    ) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(acquire_timeout)
            .connect_lazy_with(options.clone().extra_float_digits(None));
        Self {
            pool,
            secret,
            cache_ttl,
            cache: Cache::builder()
                .max_capacity(CACHE_ENTRIES)
                .expire_after(PerEntry)
                .build(),
        }
    }

    /// The user of a session token, raw or signed.
    pub async fn verify(&self, token: &str) -> Result<Identity, VerifyError> {
        let decoded;
        let token = if token.contains('%') {
            decoded = percent_decode_str(token)
                .decode_utf8()
                .map_err(|_| AuthFailure::Malformed)?;
            decoded.as_ref()
        } else {
            token
        };
        let raw = match token.split_once('.') {
            None => token,
            Some((raw, signature)) => {
                self.check_signature(raw, signature)?;
                raw
            }
        };
        if raw.is_empty()
            || raw.len() > MAX_SESSION_TOKEN
            || !raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(AuthFailure::Malformed.into());
        }
        let found = match self.cache.get(raw) {
            Some(found) => found,
            None => {
                let found = self.lookup(raw).await?;
                self.cache.insert(raw.to_owned(), found.clone());
                found
            }
        };
        let user_id = found.user_id.ok_or(AuthFailure::UnknownSession)?;
        Ok(Identity {
            user_id,
            email: None,
            name: None,
            expires_at: found.expires_at,
        })
    }

    fn check_signature(&self, raw: &str, signature: &str) -> Result<(), AuthFailure> {
        let secret = self.secret.as_ref().ok_or(AuthFailure::NoKey)?;
        let mac_bytes = STANDARD_LENIENT
            .decode(signature)
            .or_else(|_| URL_SAFE_LENIENT.decode(signature))
            .map_err(|_| AuthFailure::Signature)?;
        // The same constant-time check as an HS256 token's.
        if hmac_valid(Alg::HS256, secret, raw.as_bytes(), &mac_bytes) {
            Ok(())
        } else {
            Err(AuthFailure::Signature)
        }
    }

    async fn lookup(&self, raw: &str) -> Result<Found, VerifyError> {
        let row: Option<(String, f64)> = sqlx::query_as(
            r#"SELECT "userId", EXTRACT(EPOCH FROM ("expiresAt" - now()))::float8
               FROM "session" WHERE token = $1 AND "expiresAt" > now()"#,
        )
        .bind(raw)
        .fetch_optional(&self.pool)
        .await
        .map_err(VerifyError::Lookup)?;
        Ok(match row {
            Some((user_id, remaining)) => Found {
                user_id: Some(user_id),
                expires_at: Some(chrono::Utc::now().timestamp() + remaining.max(0.0) as i64),
                // Never cached past the session's own expiry.
                ttl: self
                    .cache_ttl
                    .min(Duration::from_secs_f64(remaining.clamp(0.0, 86_400.0))),
            },
            None => Found {
                user_id: None,
                expires_at: None,
                ttl: self.cache_ttl.min(NEGATIVE_TTL),
            },
        })
    }
}

/// The signed form Better Auth's `set-auth-token` header carries, for tests
/// and tools: `<token>.<base64 HMAC-SHA256(secret, token)>`.
pub fn sign_session_token(secret: &Secret, raw: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any size");
    mac.update(raw.as_bytes());
    format!("{raw}.{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE;

    #[tokio::test]
    async fn signatures_are_checked_in_every_base64_spelling() {
        let secret = Secret::new("s".repeat(32));
        let store = SessionStore::new(
            &"postgres://x@127.0.0.1:1/db".parse().unwrap(),
            Some(secret.clone()),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let signed = sign_session_token(&secret, "abc");
        let (raw, sig) = signed.split_once('.').unwrap();
        assert!(store.check_signature(raw, sig).is_ok());
        assert!(
            store
                .check_signature(raw, sig.trim_end_matches('='))
                .is_ok()
        );
        let url_safe = URL_SAFE.encode(STANDARD.decode(sig).unwrap());
        assert!(store.check_signature(raw, &url_safe).is_ok());
        assert_eq!(
            store.check_signature("abd", sig),
            Err(AuthFailure::Signature)
        );
        assert_eq!(
            store.check_signature(raw, "%%"),
            Err(AuthFailure::Signature)
        );
    }
}
