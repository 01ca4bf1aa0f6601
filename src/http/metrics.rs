//! `/metrics` in Prometheus text format (SPEC 9), and the middleware that
//! counts and times every request by method, route template and status.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::telemetry;

/// Count and time every request by method, route template and status:
/// labels from closed sets only (known methods, the router's templates or
/// `unmatched`, the status codes this server sends).
pub async fn track(req: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let method = telemetry::method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    telemetry::request(method, route, resp.status().as_u16(), started.elapsed());
    resp
}

/// `GET /metrics`: Prometheus text.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format: `http_requests_total` and \
        `http_request_duration_seconds` by method, route template and status; \
        `auth_failures_total` by reason; `db_pool_connections` by state; \
        `jwks_refreshes_total` by outcome; `token_cache_total` by result (hit, miss)", content_type = "text/plain", body = String))
)]
pub async fn render(State(s): State<AppState>) -> impl IntoResponse {
    let pool = s.store.pool_state();
    telemetry::db_pool(pool.open, pool.idle);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        telemetry::render(),
    )
}
