//! `/metrics` in Prometheus text format (docs/operations.md); requests are counted and
//! timed by `middleware::counted_with_deadline`.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::AppState;
use crate::telemetry;

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
