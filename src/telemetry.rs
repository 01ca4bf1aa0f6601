//! Metrics (docs/operations.md): the process-wide Prometheus recorder and every counter
//! the other parts bump. A leaf: it imports nothing of the crate, so any
//! part may count without depending on the web layer.
//!
//! Labels come from closed sets only (the values passed here are static, a
//! known method or `other`, a route template), so their number is bounded.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::Method;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const REQUEST_SECONDS: &str = "http_request_duration_seconds";
/// Latency buckets from 1 ms to 30 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

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

/// Install the recorder; call before serving so that the first requests count.
pub fn init() {
    recorder();
}

/// The log writer's count of lines it dropped (its queue full).
static LOG_DROPS: OnceLock<tracing_appender::non_blocking::ErrorCounter> = OnceLock::new();

/// Report the log writer's dropped lines as `log_lines_dropped_total`.
pub fn log_drops(counter: tracing_appender::non_blocking::ErrorCounter) {
    let _ = LOG_DROPS.set(counter);
}

/// Everything recorded, in Prometheus text format.
pub fn render() -> String {
    let handle = recorder();
    if let Some(drops) = LOG_DROPS.get() {
        metrics::counter!("log_lines_dropped_total").absolute(drops.dropped_lines() as u64);
    }
    handle.run_upkeep();
    handle.render()
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

/// One request: its method label, route template and status.
pub fn request(method: &'static str, route: String, status: u16, took: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!(REQUEST_SECONDS, &labels).record(took.as_secs_f64());
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

/// A database operation that had to wait for its user's turn (`waited`),
/// or gave up waiting (`refused`).
pub fn user_db_wait(outcome: &'static str) {
    metrics::counter!("user_db_waits_total", "outcome" => outcome).increment(1);
}

/// A request refused by a rate limit, by scope (`user`, `ip`).
pub fn rate_limited(scope: &'static str) {
    metrics::counter!("rate_limited_total", "scope" => scope).increment(1);
}

/// An MCP tool call, by tool and outcome (`ok`, `invalid_arguments`,
/// `not_found`, `conflict`, `unavailable`, `error`).
pub fn mcp_tool_call(tool: &'static str, outcome: &'static str, took: Duration) {
    metrics::counter!("mcp_tool_calls_total", "tool" => tool, "outcome" => outcome).increment(1);
    metrics::histogram!("mcp_tool_call_seconds", "tool" => tool).record(took.as_secs_f64());
}

/// The database pool at scrape time.
pub fn db_pool(open: u32, idle: u32) {
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(f64::from(open.saturating_sub(idle)));
}

/// An event stream (docs/live-updates.md) opened (`1.0`) or closed (`-1.0`) on this instance.
pub fn event_stream(delta: f64) {
    metrics::gauge!("event_streams_open").increment(delta);
}

/// An event written to a stream, by kind (`task.created`, …, `reset`).
pub fn event_sent(kind: &'static str) {
    metrics::counter!("events_sent_total", "event" => kind).increment(1);
}

/// One batch of SQLite's writer and how many changes it held: `committed`,
/// `rolled_back` (to run again change by change) or `unanswered` (its
/// commit did not answer in time: answered 503).
pub fn write_batch(changes: usize, outcome: &'static str) {
    metrics::counter!("sqlite_write_batches_total", "outcome" => outcome).increment(1);
    if outcome == "committed" {
        metrics::counter!("sqlite_batched_changes_total").increment(changes as u64);
    }
}

/// A change's notification to other instances dropped (the queue full).
pub fn notification_dropped() {
    metrics::counter!("change_notifications_dropped_total").increment(1);
}

/// A chat turn (docs/chat.md#operations), by outcome (`ok`, or the error
/// code it answered), and how long the server and the model took.
pub fn chat_turn(outcome: &'static str, took: Duration) {
    metrics::counter!("chat_turns_total", "outcome" => outcome).increment(1);
    metrics::histogram!("chat_turn_seconds").record(took.as_secs_f64());
}

/// One request to the model, by outcome (`ok`, `timeout`, `rate_limited`, …).
pub fn chat_model_call(outcome: &'static str, took: Duration) {
    metrics::counter!("chat_model_calls_total", "outcome" => outcome).increment(1);
    metrics::histogram!("chat_model_call_seconds").record(took.as_secs_f64());
}

/// Tokens the model used, as its provider counted them.
pub fn chat_tokens(tokens: i64) {
    metrics::counter!("chat_model_tokens_total").increment(tokens.max(0) as u64);
}

/// A tool the chat's model called, by tool and outcome. The tool name is
/// the catalog's or `unknown` (a model may name anything).
pub fn chat_tool_call(tool: &'static str, outcome: &'static str) {
    metrics::counter!("chat_tool_calls_total", "tool" => tool, "outcome" => outcome).increment(1);
}
