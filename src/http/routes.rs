//! The route table and the middleware stack around it.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use super::error::ApiError;
use super::middleware::{self, BODY_LIMIT, REQUEST_ID};
use super::shape::{self, Conventions};
use super::state::AppState;
use super::{events, metrics, openapi, ops, ratelimit, shape_document, tasks};

/// The task routes of one style; their paths are relative to the prefix
/// they are nested under.
fn task_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tasks::list, tasks::create))
        .routes(routes!(
            tasks::get,
            tasks::replace,
            tasks::patch,
            tasks::delete
        ))
        .routes(routes!(tasks::toggle))
        .routes(routes!(tasks::toggle_alias))
        .routes(routes!(tasks::stats))
        .routes(routes!(tasks::tags))
        .routes(routes!(events::changes))
        .routes(routes!(events::events))
        .routes(routes!(events::ticket))
}

/// The one route table: every route with its handler and its OpenAPI
/// operation, from the handlers' `#[utoipa::path]`. The task routes exist in
/// both styles, `/api/…` and `/api/{user_id}/…` (the bearer extractor checks
/// the path's user), generated here once.
fn table(metrics_here: bool) -> OpenApiRouter<AppState> {
    let mut table = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api", task_routes())
        .nest("/api/{user_id}", task_routes())
        .routes(routes!(tasks::me))
        .routes(routes!(ops::health));
    if metrics_here {
        table = table.routes(routes!(metrics::render));
    }
    table
}

/// The OpenAPI document of the default route table in the shape the
/// conventions ask for (`todo-api openapi`).
pub fn document(conventions: &Conventions) -> serde_json::Value {
    let (_, mut doc) = table(true).split_for_parts();
    openapi::finish(&mut doc);
    shape_document::shaped(&doc, conventions)
}

/// The route table alone with its state, no middleware: what an MCP tool
/// call runs its REST request through, in process, for its already
/// authenticated user (`auth::Preauthenticated`).
pub fn rest_routes(state: AppState) -> Router {
    let (routes, _) = table(false).split_for_parts();
    routes
        .fallback(|| async { ApiError::NotFound("Not Found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

/// `/metrics` alone, for its own listener (`METRICS_ADDR`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render))
        .fallback(|| async { ApiError::NotFound("Not Found") })
        .with_state(state)
        .layer(axum::middleware::from_fn(middleware::security_headers))
}

/// The whole application router with its middleware; `/metrics` on it
/// unless `metrics_elsewhere` (it has a listener of its own).
pub fn router(
    state: AppState,
    cors_origins: &[axum::http::HeaderValue],
    request_timeout: Duration,
    metrics_elsewhere: bool,
    mcp: Option<Router<AppState>>,
) -> Router {
    let (mut routes, mut doc) = table(!metrics_elsewhere).split_for_parts();
    openapi::finish(&mut doc);
    let conventions = state.conventions;
    let doc = shape_document::shaped(&doc, &conventions);
    if let Some(mcp) = mcp {
        // Inside every limit the REST routes have.
        routes = routes.merge(mcp);
    }
    let mut routes = routes
        .fallback(|| async { ApiError::NotFound("Not Found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    if state.limits.limits_clients() {
        routes = routes.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::per_client,
        ));
    }
    let mut app = routes
        .with_state(state)
        // Swagger UI from the binary (vendored assets), and the document.
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", doc))
        .layer(axum::middleware::from_fn_with_state(
            request_timeout,
            middleware::counted_with_deadline,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(middleware::refuse_oversized))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn(middleware::request_id_on_500));
    if conventions.reshapes() {
        // Outside the handlers and every layer that answers errors, so
        // that each body the API writes is in the shape asked for.
        app = app.layer(axum::middleware::from_fn_with_state(
            conventions,
            shape::reshape,
        ));
    }
    app = app.layer(
        TraceLayer::new_for_http()
            .make_span_with(middleware::request_span)
            .on_request(())
            .on_response(middleware::log_response)
            .on_failure(()),
    );
    if !cors_origins.is_empty() {
        app = app.layer(middleware::cors(cors_origins));
    }
    app.layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // Outermost: on every answer, preflights and panics included; it
        // also drops an insane `X-Request-ID` before the layers above.
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(axum::middleware::from_fn(middleware::close_if_body_unread))
}
