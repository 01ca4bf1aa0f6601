//! `/mcp` (docs/mcp.md): the user's tasks as Model Context Protocol tools over
//! Streamable HTTP (rmcp), under the REST API's authentication, limits and
//! isolation; the OAuth protected-resource metadata (RFC 9728); and the
//! same tools over stdio for local agents (`todo-api mcp`).

mod catalog;
mod sessions;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use crate::http::AppState;
use crate::http::auth::{AccessTokenRules, AuthUser, authenticate};
use crate::http::error::ApiError;
use crate::http::middleware::BODY_LIMIT;
use crate::http::shape::BodyKind;

use sessions::{Caps, Opener, OwnedSessions};
pub use tools::TaskTools;

/// The MCP endpoint's settings.
#[derive(Debug, Clone)]
pub struct McpConfig {
    /// `MCP_RESOURCE_URL`: this endpoint as an OAuth resource. When set,
    /// only access tokens for it are accepted at `/mcp`.
    pub resource: Option<String>,
    /// The authorization servers the metadata names (`BETTER_AUTH_URL`).
    pub authorization_servers: Vec<String>,
    /// Issuers accepted on access tokens (any, when empty).
    pub issuers: Vec<String>,
    /// `Host` values accepted (DNS-rebinding protection); empty: any.
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted besides the endpoint's own (`CORS_ORIGINS`).
    pub allowed_origins: Vec<String>,
    /// Sessions of the previous protocol version kept at once.
    pub max_sessions: usize,
    /// Of those, how many one user may have.
    pub max_sessions_per_user: usize,
    /// Long-lived `GET /mcp` streams open at once.
    pub max_streams: usize,
    /// Of those, how many one user may have.
    pub max_streams_per_user: usize,
    /// `REQUEST_TIMEOUT_SECONDS`: a tool call answered as an event stream
    /// ends by then too.
    pub request_timeout: Duration,
}

/// An idle session of the previous protocol version is closed after this.
const SESSION_IDLE: Duration = Duration::from_secs(300);

/// The longest `Mcp-Session-Id` looked at (rmcp's are UUIDs).
const MAX_SESSION_ID: usize = 128;

/// What the `/mcp` guard needs.
#[derive(Clone)]
struct Guard {
    state: AppState,
    config: Arc<McpConfig>,
    access: Option<AccessTokenRules>,
    /// Each session's user: a session is only ever used by the user who
    /// opened it (another user's token with its id gets a 404).
    sessions: Arc<OwnedSessions>,
}

/// `/mcp` and the protected-resource metadata, on the REST API's state.
/// `routes`: the REST route table with its state, that the tools call.
/// `stop`: cancelled when the server shuts down (closes session streams).
pub fn router(
    state: AppState,
    config: McpConfig,
    routes: Router,
    document: &serde_json::Value,
    stop: tokio_util::sync::CancellationToken,
) -> Router<AppState> {
    if config.resource.is_none() && config.allowed_hosts.is_empty() {
        tracing::warn!(
            "MCP: neither MCP_RESOURCE_URL nor MCP_ALLOWED_HOSTS is set: the OAuth metadata names \
             the resource after each request's Host; set one of them on a public server"
        );
    }
    let config = Arc::new(config);
    let tools = TaskTools::new(routes, document, None);
    let mut local = LocalSessionManager::default();
    local.session_config.keep_alive = Some(SESSION_IDLE);
    let sessions = Arc::new(OwnedSessions::new(
        local,
        Caps {
            sessions: config.max_sessions,
            sessions_per_user: config.max_sessions_per_user,
            streams: config.max_streams,
            streams_per_user: config.max_streams_per_user,
        },
    ));
    let mut http = StreamableHttpServerConfig::default()
        .with_max_request_body_bytes(BODY_LIMIT)
        // Plain JSON answers to tool calls without a session: the request
        // timeout covers the whole call (in a session, rmcp answers with
        // an event stream, which the guard ends at the same deadline).
        .with_json_response(true)
        .with_cancellation_token(stop);
    http = if config.allowed_hosts.is_empty() {
        http.disable_allowed_hosts()
    } else {
        http.with_allowed_hosts(config.allowed_hosts.clone())
    };
    let service =
        StreamableHttpService::new(move || Ok(tools.clone()), Arc::clone(&sessions), http);
    let guard = Guard {
        state,
        access: config.resource.clone().map(|resource| AccessTokenRules {
            resource,
            issuers: config.issuers.clone(),
        }),
        config: Arc::clone(&config),
        sessions,
    };
    let metadata = {
        let config = Arc::clone(&config);
        move |req: Request| {
            let config = Arc::clone(&config);
            async move { protected_resource(&config, &req) }
        }
    };
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(guard, admit))
        .route(
            "/.well-known/oauth-protected-resource",
            get(metadata.clone()),
        )
        .route("/.well-known/oauth-protected-resource/mcp", get(metadata))
}

/// This endpoint's resource URL: `MCP_RESOURCE_URL`, else the request's
/// `Host` when it is a plain authority (no user info, no stray bytes)
/// that `MCP_ALLOWED_HOSTS` accepts; `None` for any other `Host`.
fn resource_url(config: &McpConfig, req: &Request) -> Option<String> {
    if let Some(r) = &config.resource {
        return Some(r.clone());
    }
    let host = match req.headers().get(header::HOST) {
        Some(h) => h.to_str().ok()?,
        None => "localhost",
    };
    let authority = axum::http::uri::Authority::try_from(host).ok()?;
    if authority.as_str().contains('@') || !host_allowed(&config.allowed_hosts, &authority) {
        return None;
    }
    let scheme = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    // Written back by the URL parser: what it says is a URL.
    let url = url::Url::parse(&format!("{scheme}://{authority}/mcp")).ok()?;
    Some(url.to_string())
}

/// `MCP_ALLOWED_HOSTS` as rmcp reads it: the host, and the port when the
/// entry names one; an empty list allows any.
fn host_allowed(allowed: &[String], authority: &axum::http::uri::Authority) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|entry| {
            axum::http::uri::Authority::try_from(entry.as_str()).is_ok_and(|a| {
                a.host().eq_ignore_ascii_case(authority.host())
                    && a.port_u16().is_none_or(|p| authority.port_u16() == Some(p))
            })
        })
}

/// Where the metadata of `resource` is (RFC 9728 3.1: the well-known path
/// with the resource's path after it).
fn metadata_url(resource: &str) -> String {
    match url::Url::parse(resource) {
        Ok(u) => {
            let path = u.path().trim_end_matches('/');
            format!(
                "{}/.well-known/oauth-protected-resource{path}",
                u.origin().ascii_serialization()
            )
        }
        Err(_) => resource.to_owned(),
    }
}

/// RFC 9728 protected-resource metadata.
fn protected_resource(config: &McpConfig, req: &Request) -> Response {
    let Some(resource) = resource_url(config, req) else {
        return ApiError::BadRequest(
            "Host is not one this endpoint answers for (MCP_ALLOWED_HOSTS)",
        )
        .into_response();
    };
    axum::Json(json!({
        "resource": resource,
        "authorization_servers": config.authorization_servers,
        "bearer_methods_supported": ["header"],
        "resource_name": "todo-api",
    }))
    .into_response()
}

/// Before rmcp, and around it. Before: the `Origin` check, the session
/// header's form, the bearer token (401 with the metadata's URL, per the
/// MCP authorization spec), the session's owner. The verified user goes
/// into the request for the tools, and rmcp runs as that user, so the
/// session manager counts and owns what it opens ([`sessions`]). After: a
/// refusal becomes 429, a streamed answer is bounded in time, and nothing
/// of `/mcp` is reshaped by the REST conventions.
async fn admit(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let resp = guarded(g, req, next).await;
    BodyKind::Verbatim.mark(resp)
}

async fn guarded(g: Guard, req: Request, next: Next) -> Response {
    let started = tokio::time::Instant::now();
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin_allowed(&g.config, &req, origin)
    {
        tracing::warn!("MCP request from a foreign Origin refused");
        return ApiError::Forbidden("Origin not allowed").into_response();
    }
    let session = match req.headers().get("mcp-session-id") {
        None => None,
        Some(v)
            if v.len() <= MAX_SESSION_ID
                && !v.is_empty()
                && v.as_bytes().iter().all(|b| b.is_ascii_graphic()) =>
        {
            v.to_str().ok().map(str::to_owned)
        }
        Some(_) => {
            return ApiError::BadRequest("Mcp-Session-Id is not a session id this server issued")
                .into_response();
        }
    };
    let (mut parts, body) = req.into_parts();
    let user = match authenticate(&mut parts, &g.state, g.access.as_ref()).await {
        Ok(user) => user,
        Err(e) => {
            let unauthorized = matches!(e, ApiError::Unauthorized { .. });
            let resource = resource_url(&g.config, &Request::from_parts(parts, Body::empty()));
            let mut resp = e.into_response();
            if unauthorized && let Some(resource) = resource {
                let challenge = format!("Bearer resource_metadata=\"{}\"", metadata_url(&resource));
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            return resp;
        }
    };
    if let Some(id) = &session
        && g.sessions.owner(id).is_some_and(|owner| owner != user.id())
    {
        tracing::warn!("MCP session used with another user's token");
        return ApiError::NotFound("Session not found").into_response();
    }
    let user_id = user.id().to_owned();
    let token_expires = user.0.expires_at;
    let method = parts.method.clone();
    parts.extensions.insert::<AuthUser>(user);
    let (resp, refused) = Opener::scope(user_id, next.run(Request::from_parts(parts, body))).await;
    if let Some(why) = refused {
        crate::telemetry::rate_limited(why.metric());
        return ApiError::TooMany {
            detail: why.detail(),
            retry_after: Duration::from_secs(5),
        }
        .into_response();
    }
    let streamed = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streamed {
        return resp;
    }
    // A request's answer (a tool call in a session) ends with the request
    // timeout, as every other answer does; a `GET /mcp` stream (counted
    // per user by the session manager) when its token expires.
    let ends_at = if method == Method::GET {
        token_expires.map(|exp| {
            let left = exp.saturating_sub(chrono::Utc::now().timestamp()).max(0);
            tokio::time::Instant::now() + Duration::from_secs(left as u64)
        })
    } else {
        Some(started + g.config.request_timeout)
    };
    match ends_at {
        Some(at) => {
            let (parts, body) = resp.into_parts();
            let body = body
                .into_data_stream()
                .take_until(tokio::time::sleep_until(at));
            Response::from_parts(parts, Body::from_stream(body))
        }
        None => resp,
    }
}

/// An `Origin` is allowed when it is the endpoint's own (its resource URL's,
/// or the request's `Host`), or one of `CORS_ORIGINS`.
fn origin_allowed(config: &McpConfig, req: &Request, origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if config
        .allowed_origins
        .iter()
        .any(|o| o == origin || o == "*")
    {
        return true;
    }
    let own = resource_url(config, req)
        .and_then(|r| url::Url::parse(&r).ok())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    if origin == own {
        return true;
    }
    // Same host as the request, whatever the scheme a proxy terminated.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    url::Url::parse(origin)
        .ok()
        .and_then(|u| {
            let h = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h,
            })
        })
        .is_some_and(|o| Some(o.as_str()) == host)
}

/// The MCP client configuration the development banner prints: the URL
/// and the bearer header, for the common clients, each as it is pasted.
pub fn client_configuration(url: &str, token: &str) -> String {
    let bearer = format!("Bearer {token}");
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    let cursor = pretty(json!({ "mcpServers": { "todo-api": {
        "url": url, "headers": { "Authorization": bearer },
    } } }));
    let vscode = pretty(json!({ "servers": { "todo-api": {
        "type": "http", "url": url, "headers": { "Authorization": bearer },
    } } }));
    // Claude Desktop's file takes local commands: mcp-remote bridges.
    let desktop = pretty(json!({ "mcpServers": { "todo-api": {
        "command": "npx",
        "args": ["-y", "mcp-remote", url, "--header", format!("Authorization:{bearer}")],
    } } }));
    format!(
        "  MCP for agents: {url}, with the same bearer token.\n\n  \
         Claude Code:\n\n  claude mcp add --transport http todo-api {url} --header \"Authorization: {bearer}\"\n\n  \
         Cursor (.cursor/mcp.json):\n{cursor}\n\n  \
         VS Code (.vscode/mcp.json):\n{vscode}\n\n  \
         Claude Desktop (claude_desktop_config.json, through mcp-remote):\n{desktop}\n"
    )
}

/// Serve the tools over stdio as `user` until the client closes it.
pub async fn serve_stdio(
    routes: Router,
    document: &serde_json::Value,
    user: AuthUser,
) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let tools = TaskTools::new(routes, document, Some(user));
    let running = tools
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("MCP over stdio: {e}"))?;
    running.waiting().await?;
    Ok(())
}
