//! Operations endpoints: `/health` (`/metrics` is in `metrics.rs`).

use std::time::Duration;

use super::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /health`: 200 when the database answers, 503 otherwise.
#[utoipa::path(
    get, path = "/health", tag = "operations", operation_id = "health",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database does not answer within 2 s", body = Health),
    )
)]
pub async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let ping = tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await;
    match ping {
        Ok(Ok(())) => (
            StatusCode::OK,
            axum::Json(Health {
                status: "healthy",
                detail: None,
            }),
        ),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "health check failed");
            unhealthy()
        }
        Err(_) => {
            tracing::error!("health check timed out");
            unhealthy()
        }
    }
}

fn unhealthy() -> (StatusCode, axum::Json<Health>) {
    let body = Health {
        status: "unhealthy",
        detail: Some("Database unavailable"),
    };
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body))
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `healthy` or `unhealthy`.
    #[schema(example = "healthy")]
    pub status: &'static str,
    /// Why, when unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}
