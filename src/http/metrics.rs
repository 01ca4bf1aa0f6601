//! `/metrics` in Prometheus text format (SPEC 9): requests and latency by
//! route template and status, auth failures by reason, the database pool,
//! JWKS refreshes. Labels carry route templates, never raw paths or user ids.

use std::sync::OnceLock;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;

const REQUEST_SECONDS: &str = "http_request_duration_seconds";
/// Latency buckets from 1 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process-wide recorder (installed once: tests run many servers in one
/// process, and they share it).
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.into()), &BUCKETS)
            .expect("buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed");
        // A histogram keeps every sample until upkeep folds it into its
        // buckets, which `install_recorder` leaves to the caller: without
        // a scrape of /metrics, memory grew by every request's latency (the
        // soak found it: RSS up about 60 kB/s). Fold them every 5 s.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            })
            .expect("a thread can be spawned");
        handle
    })
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Install the recorder; call before serving so that the first requests count.
pub fn init() {
    recorder();
}

/// The methods this API answers; any other is labelled `other` (and
/// refused before routing), so a client cannot mint label values.
pub const KNOWN_METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// A method as a label (and a log field): one of [`KNOWN_METHODS`] or `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Count and time every request by method, route template and status:
/// labels from closed sets only (known methods, the router's templates or
/// `unmatched`, the status codes this server sends).
pub async fn track(req: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", resp.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!(REQUEST_SECONDS, &labels).record(started.elapsed().as_secs_f64());
    resp
}

/// A refused token, by reason (`expired`, `bad_signature`, `unknown_kid`, …).
pub fn auth_failure(reason: &'static str) {
    metrics::counter!("auth_failures_total", "reason" => reason).increment(1);
}

/// A JWKS fetch and its outcome (`fetched` or `failed`).
pub fn jwks_refresh(outcome: &'static str) {
    metrics::counter!("jwks_refreshes_total", "outcome" => outcome).increment(1);
}

/// A JWT looked up in the verified-token cache: `hit` or `miss`.
pub fn token_cache(result: &'static str) {
    metrics::counter!("token_cache_total", "result" => result).increment(1);
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
    let idle = f64::from(pool.idle);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(f64::from(pool.open.saturating_sub(pool.idle)));
    let handle = recorder();
    handle.run_upkeep();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
}
