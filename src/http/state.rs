//! What every handler can reach.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::db::{SeenUsers, Store};

use super::ratelimit::RateLimits;
use super::shape::Conventions;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub users: Arc<SeenUsers>,
    pub limits: Arc<RateLimits>,
    /// Output shapes and PUT's meaning (SPEC 13).
    pub conventions: Conventions,
    /// How event streams behave (SPEC 15).
    pub events: super::events::EventsConfig,
    /// Cancelled when shutdown begins: open streams (events, MCP) end.
    pub shutdown: tokio_util::sync::CancellationToken,
}
