//! The HTTP surface: the route table and its middleware, the handlers, the
//! bearer extractor, the one error type and the wire-only shapes.

pub mod auth;
pub mod conditional;
pub mod error;
pub mod events;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod ratelimit;
pub mod routes;
pub mod shape;
pub mod shape_document;
pub mod state;
pub mod tasks;
pub mod wire;

pub use middleware::trim_trailing_slash;
pub use routes::{document, metrics_router, rest_routes, router};
pub use state::AppState;
