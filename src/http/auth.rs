//! The `AuthUser` extractor: every task handler starts here. It takes the
//! bearer token from the header, has `auth` verify it, applies the per-user
//! rate limit and the scoped path's check, and records the user's row.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::auth::{AuthFailure, Identity, VerifyError};
use crate::db::StoreError;

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
    crate::telemetry::auth_failure(failure.reason());
    ApiError::Unauthorized { token_sent }
}

/// An OAuth resource's rules for its access tokens (`/mcp` with
/// `MCP_RESOURCE_URL`): the audience that must be named and the issuers
/// accepted (any, when empty).
#[derive(Debug, Clone)]
pub struct AccessTokenRules {
    pub resource: String,
    pub issuers: Vec<String>,
}

/// A user already authenticated by the request that carries this one (an
/// MCP tool call runs the REST handler for its user). Set only by the
/// server on requests it builds itself, never from anything a client sends.
#[derive(Debug, Clone)]
pub struct Preauthenticated(pub AuthUser);

/// Authenticate a request's bearer token: with `access` (the MCP endpoint
/// as an OAuth resource), only access tokens for that resource; otherwise
/// every token the REST API accepts. Then the per-user rate limit, the
/// scoped path's check and the user's row, as for every task route.
pub async fn authenticate(
    parts: &mut Parts,
    state: &AppState,
    access: Option<&AccessTokenRules>,
) -> Result<AuthUser, ApiError> {
    let token = bearer(parts).ok_or_else(|| refuse(AuthFailure::Missing, false))?;
    let verified = match access {
        Some(rules) => {
            state
                .auth
                .verify_access_token(token, &rules.resource, &rules.issuers)
                .await
        }
        None => state.auth.verify(token).await,
    };
    let identity = verified.map_err(|e| match e {
        VerifyError::Invalid(f) => refuse(f, true),
        VerifyError::Lookup(err) => ApiError::from(StoreError::Sqlx(err)),
    })?;
    admit(parts, state, identity).await
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(Preauthenticated(user)) = parts.extensions.get::<Preauthenticated>() {
            return Ok(user.clone());
        }
        authenticate(parts, state, None).await
    }
}

/// A verified identity's admission: rate limit, path check, users row.
pub(super) async fn admit(
    parts: &mut Parts,
    state: &AppState,
    identity: Identity,
) -> Result<AuthUser, ApiError> {
    {
        tracing::Span::current().record("user_id", identity.user_id.as_str());
        state.limits.check_user(&identity.user_id)?;

        // Fails closed: a `user_id` segment that is not UTF-8 is a 422, not
        // a skipped check.
        if let Some(params) = super::extract::path_params(parts, state).await? {
            let path_user = params.iter().find(|(k, _)| *k == "user_id").map(|(_, v)| v);
            if path_user.is_some_and(|u| u != identity.user_id) {
                tracing::warn!("user id in path does not match the token");
                return Err(ApiError::Forbidden("User ID mismatch"));
            }
        }

        let (email, name) = (identity.email.as_deref(), identity.name.as_deref());
        state
            .users
            .ensure(&state.store, &identity.user_id, email, name)
            .await?;
        Ok(AuthUser(identity))
    }
}
