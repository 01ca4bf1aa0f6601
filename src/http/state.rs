//! What every handler can reach.

use std::ops::Deref;
use std::sync::Arc;

use crate::auth::Authenticator;
use crate::db::{SeenUsers, Store};

use super::ratelimit::RateLimits;
use super::shape::Conventions;

/// What every handler can reach: one `Arc`, so that the clones axum makes
/// of it per request (each stateful middleware and extractor) cost one
/// reference count, not one per part (the profile of docs/benchmarks.md found the
/// clones and drops of the parts at 4–5% of the server's CPU).
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

/// The parts of [`AppState`].
pub struct Parts {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub users: Arc<SeenUsers>,
    pub limits: Arc<RateLimits>,
    /// Output shapes and PUT's meaning (docs/frontends.md).
    pub conventions: Conventions,
    /// How event streams behave (docs/live-updates.md).
    pub events: super::events::EventsConfig,
    /// Cancelled when shutdown begins: open streams (events, MCP) end.
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }
}

impl Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}
