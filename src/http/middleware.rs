//! The middleware stack's pieces: request ids, the request span and its log
//! line, the request deadline, method refusal, security headers, the 500
//! body, panics, CORS and the trailing slash.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, State};
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Span;

use super::error::ApiError;
use super::idempotency;

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn cors(origins: &[axum::http::HeaderValue]) -> CorsLayer {
    // `*` (which seed .env files use) allows any origin, without
    // credentials. An explicit list allows credentialed requests (docs/frontends.md):
    // frontends that send cookies to their auth server often send
    // `credentials: "include"` everywhere; the origin is echoed with
    // `Vary: Origin`. The token still travels in the Authorization header.
    let any = origins.iter().any(|o| o == "*");
    let allow = if any {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().cloned())
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_credentials(!any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            idempotency::IDEMPOTENCY_KEY,
            REQUEST_ID,
            // A browser MCP client (`/mcp`, docs/mcp.md) of an allowed origin.
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-method"),
            HeaderName::from_static("mcp-name"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LINK,
            header::LOCATION,
            HeaderName::from_static("x-total-count"),
            idempotency::REPLAYED,
            REQUEST_ID,
            HeaderName::from_static("mcp-session-id"),
            header::WWW_AUTHENTICATE,
        ])
        .max_age(Duration::from_secs(600))
}

pub(super) fn request_span(req: &Request<Body>) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = crate::telemetry::method_label(req.method()),
        route,
        request_id,
        client_addr = %client,
        user_id = tracing::field::Empty,
    )
}

pub(super) fn log_response(resp: &Response<Body>, latency: Duration, _span: &Span) {
    tracing::info!(
        status = resp.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request finished"
    );
}

/// Count and time every request (docs/operations.md metrics), refuse a method this API
/// does not know, and cut a request off at its deadline: one layer, since
/// each `from_fn` layer clones and boxes the services inside it on every
/// request (docs/benchmarks.md's profile).
///
/// - Metrics: by method, route template and status, labels from closed
///   sets only (known methods or `other`, the router's templates or
///   `unmatched`, the status codes this server sends).
/// - A method this API does not know is refused before any other work, as
///   a 405 (it is labelled `other` in metrics and logs; its name is never
///   kept).
/// - No request runs longer than `REQUEST_TIMEOUT_SECONDS`, body reading
///   included; past it the answer is a JSON 503 and the work is dropped
///   (each write is one statement, or a transaction, so nothing is half
///   done).
pub(super) async fn counted_with_deadline(
    State(limit): State<Duration>,
    req: Request<Body>,
    next: Next,
) -> Response<Body> {
    let started = Instant::now();
    let method = crate::telemetry::method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = if !crate::telemetry::KNOWN_METHODS.contains(req.method()) {
        ApiError::MethodNotAllowed.into_response()
    } else {
        match tokio::time::timeout(limit, next.run(req)).await {
            Ok(resp) => resp,
            Err(_) => {
                tracing::warn!(limit_secs = limit.as_secs(), "request timed out");
                ApiError::TimedOut.into_response()
            }
        }
    };
    crate::telemetry::request(method, route, resp.status().as_u16(), started.elapsed());
    resp
}

/// Every response says `nosniff`; the documentation page (the one HTML page)
/// also may not be framed (clickjacking) and loads scripts, styles and
/// images from this server only.
///
/// It also drops a caller's `X-Request-ID` that is not sane (see
/// [`keep_sane_request_id`]) before the request id layers inside it see it.
pub(super) async fn security_headers(mut req: Request<Body>, next: Next) -> Response<Body> {
    keep_sane_request_id(&mut req);
    let docs = req.uri().path().starts_with("/docs");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if docs {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CSP),
        );
    }
    resp
}

/// Swagger UI's page: its own scripts and styles (it sets some styles
/// inline), images from itself or `data:` URLs, requests to this API only.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self' data:; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// docs/api.md#errors: a 500 carries the request id, so a user can quote it to support.
pub(super) async fn request_id_on_500(req: Request<Body>, next: Next) -> Response<Body> {
    let id = req.headers().get(REQUEST_ID).cloned();
    let resp = next.run(req).await;
    if resp.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return resp;
    }
    let id = id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
    let (parts, _) = resp.into_parts();
    let body = json!({ "detail": "Internal server error", "request_id": id });
    let mut resp = axum::Json(body).into_response();
    *resp.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
            resp.headers_mut().insert(name, value.clone());
        }
    }
    resp
}

pub(super) fn panic_response(payload: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {what}")).into_response()
}

/// Serve `/api/tasks/` as `/api/tasks` (FastAPI would redirect). Swagger UI's
/// own `/docs/…` paths keep their slash: its page loads assets relative to
/// `/docs/` and redirects `/docs` there.
pub fn trim_trailing_slash(mut req: Request<Body>) -> Request<Body> {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/docs/") {
        let trimmed = match path.trim_end_matches('/') {
            "" => "/",
            p => p,
        };
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = path_and_query.parse().ok();
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Longest caller-supplied `X-Request-ID` that is kept.
const MAX_REQUEST_ID: usize = 128;

/// A caller's `X-Request-ID` is kept (and logged, and echoed) only when it is
/// sane: one header of 1 to 128 letters, digits or `-_.:/+=@`. Otherwise it is
/// dropped and a UUID generated, so log lines cannot be forged or bloated.
fn keep_sane_request_id(req: &mut Request<Body>) {
    let sane = |v: &axum::http::HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= MAX_REQUEST_ID
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:/+=@".contains(c))
    };
    let mut given = req.headers().get_all(REQUEST_ID).iter();
    let keep = match (given.next(), given.next()) {
        (Some(one), None) => sane(one),
        _ => false,
    };
    if !keep {
        req.headers_mut().remove(REQUEST_ID);
    }
}

/// A body announced (`Content-Length`) larger than [`BODY_LIMIT`] is 413 at
/// once: nothing of it is read, and the client is not kept waiting to send
/// what would be refused.
pub async fn refuse_oversized(req: Request<Body>, next: Next) -> Response<Body> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > BODY_LIMIT as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    next.run(req).await
}

/// HTTP/1.1: an answer given before its request's body was read to the end
/// (a 401, 413 or 422 decided from the headers) says `Connection: close`.
/// The server closes such a connection rather than read an unbounded
/// remainder, and a client that was not told would send its next request
/// on a connection about to close ("Server disconnected").
pub async fn close_if_body_unread(req: Request<Body>, next: Next) -> Response<Body> {
    let has_body = req.version() == axum::http::Version::HTTP_11
        && (req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0"));
    if !has_body {
        return next.run(req).await;
    }
    let read = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let req = req.map(|body| {
        Body::new(ReadToEnd {
            inner: body,
            read: std::sync::Arc::clone(&read),
        })
    });
    let mut resp = next.run(req).await;
    if !read.load(std::sync::atomic::Ordering::Acquire) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// A request body that sets `read` once its end has been reached.
struct ReadToEnd {
    inner: Body,
    read: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl http_body::Body for ReadToEnd {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, std::sync::atomic::Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
