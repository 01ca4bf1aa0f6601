//! The `AuthUser` extractor: every task handler starts here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{AuthFailure, Identity, VerifyError};
use crate::db::{Store, StoreError};
use crate::http::AppState;
use crate::http::error::ApiError;

/// The authenticated user of a request.
///
/// On scoped routes (`/api/{user_id}/…`) it also checks that the path names
/// the token's user, answering 403 before any database access.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Identity);

impl AuthUser {
    pub fn id(&self) -> &str {
        &self.0.user_id
    }
}

/// The token after `Bearer ` (scheme case-insensitive), if there is one.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn refuse(failure: AuthFailure, token_sent: bool) -> ApiError {
    // The span carries the request id and client address.
    tracing::warn!(reason = failure.reason(), "authentication failed");
    crate::http::metrics::auth_failure(failure.reason());
    ApiError::Unauthorized { token_sent }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| refuse(AuthFailure::Missing, false))?;
        let identity = state.auth.verify(token).await.map_err(|e| match e {
            VerifyError::Invalid(f) => refuse(f, true),
            VerifyError::Store(err) => ApiError::from(err),
        })?;
        tracing::Span::current().record("user_id", identity.user_id.as_str());
        state.limits.check_user(&identity.user_id)?;

        // Fails closed: a `user_id` segment that is not UTF-8 is a 422, not
        // a skipped check.
        if let Some(params) = crate::http::extract::path_params(parts, state).await? {
            let path_user = params.iter().find(|(k, _)| *k == "user_id").map(|(_, v)| v);
            if path_user.is_some_and(|u| u != identity.user_id) {
                tracing::warn!("user id in path does not match the token");
                return Err(ApiError::Forbidden("User ID mismatch"));
            }
        }

        state.users.ensure(&state.store, &identity).await?;
        Ok(AuthUser(identity))
    }
}

/// Users recently recorded in `users`, so that the upsert runs once per user
/// per interval rather than on every request.
#[derive(Default)]
pub struct SeenUsers {
    seen: Mutex<HashMap<String, Instant>>,
}

/// How often a user's `last_seen_at` (and email, name) is refreshed.
const REFRESH: Duration = Duration::from_secs(300);
/// Bound on the cache; it is simply emptied when full.
const CAPACITY: usize = 100_000;

impl SeenUsers {
    /// Drop a user from the cache, so that the next `ensure` writes the row.
    pub fn forget(&self, user_id: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.remove(user_id);
    }

    pub async fn ensure(&self, store: &Store, who: &Identity) -> Result<(), StoreError> {
        let fresh = {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.get(&who.user_id)
                .is_some_and(|t| t.elapsed() < REFRESH)
        };
        if fresh {
            return Ok(());
        }
        store
            .upsert_user(&who.user_id, who.email.as_deref(), who.name.as_deref())
            .await?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= CAPACITY {
            seen.clear();
        }
        seen.insert(who.user_id.clone(), Instant::now());
        Ok(())
    }
}
