//! `/mcp` (SPEC 16): the user's tasks as Model Context Protocol tools over
//! Streamable HTTP (rmcp), under the REST API's authentication, limits and
//! isolation; the OAuth protected-resource metadata (RFC 9728); and the
//! same tools over stdio for local agents (`todo-api mcp`).

mod tools;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use crate::http::AppState;
use crate::http::auth::{AccessTokenRules, AuthUser, authenticate};
use crate::http::error::ApiError;
use crate::http::middleware::BODY_LIMIT;

pub use tools::TaskTools;

/// The MCP endpoint's settings.
#[derive(Debug, Clone, Default)]
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
}

/// An idle session of the previous protocol version is closed after this.
const SESSION_IDLE: Duration = Duration::from_secs(300);

/// What the `/mcp` guard needs.
#[derive(Clone)]
struct Guard {
    state: AppState,
    config: Arc<McpConfig>,
    access: Option<AccessTokenRules>,
    sessions: Arc<LocalSessionManager>,
    /// Each session's user: a session is only ever used by the user who
    /// opened it (another user's token with its id gets a 404).
    owners: moka::sync::Cache<String, String>,
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
    let config = Arc::new(config);
    let tools = TaskTools::new(routes, document, None);
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(SESSION_IDLE);
    let sessions = Arc::new(sessions);
    let mut http = StreamableHttpServerConfig::default()
        .with_max_request_body_bytes(BODY_LIMIT)
        // Plain JSON answers to tool calls: the request timeout covers the
        // whole call.
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
        owners: moka::sync::Cache::builder()
            .max_capacity(
                u64::try_from(config.max_sessions)
                    .unwrap_or(u64::MAX)
                    .saturating_mul(2),
            )
            .time_to_idle(SESSION_IDLE)
            .build(),
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

/// This endpoint's resource URL: `MCP_RESOURCE_URL`, else from the request.
fn resource_url(config: &McpConfig, req: &Request) -> String {
    if let Some(r) = &config.resource {
        return r.clone();
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}/mcp")
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
    let resource = resource_url(config, req);
    axum::Json(json!({
        "resource": resource,
        "authorization_servers": config.authorization_servers,
        "bearer_methods_supported": ["header"],
        "resource_name": "todo-api",
    }))
    .into_response()
}

/// Before rmcp: the `Origin` check, the session cap, and the bearer token
/// (401 with the metadata's URL, per the MCP authorization spec). The
/// verified user goes into the request for the tools.
async fn admit(State(g): State<Guard>, req: Request, next: Next) -> Response {
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin_allowed(&g.config, &req, origin)
    {
        tracing::warn!("MCP request from a foreign Origin refused");
        return ApiError::Forbidden("Origin not allowed").into_response();
    }
    let (mut parts, body) = req.into_parts();
    let user = match authenticate(&mut parts, &g.state, g.access.as_ref()).await {
        Ok(user) => user,
        Err(e) => {
            let unauthorized = matches!(e, ApiError::Unauthorized { .. });
            let resource = resource_url(
                &g.config,
                &Request::from_parts(parts, axum::body::Body::empty()),
            );
            let mut resp = e.into_response();
            if unauthorized {
                let challenge = format!("Bearer resource_metadata=\"{}\"", metadata_url(&resource));
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            return resp;
        }
    };
    // A request of the previous protocol version without a session opens
    // one (if it is an `initialize`): at most `max_sessions` at once, and
    // `max_sessions_per_user` of one user, so that one user cannot take
    // them all.
    let opens_session = parts.method == axum::http::Method::POST
        && !parts.headers.contains_key("mcp-session-id")
        && parts
            .headers
            .get("mcp-protocol-version")
            .is_none_or(|v| v.as_bytes() < b"2026-07-28".as_slice());
    if opens_session {
        let full = g.sessions.sessions.read().await.len() >= g.config.max_sessions;
        let users = g
            .owners
            .iter()
            .filter(|(_, owner)| owner.as_str() == user.id())
            .count();
        if full || users >= g.config.max_sessions_per_user {
            crate::telemetry::rate_limited(if full {
                "mcp_sessions"
            } else {
                "mcp_user_sessions"
            });
            return ApiError::TooManyRequests {
                retry_after: Duration::from_secs(5),
            }
            .into_response();
        }
    }
    let session = parts
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &session
        && g.owners.get(id).is_some_and(|owner| owner != user.id())
    {
        tracing::warn!("MCP session used with another user's token");
        return ApiError::NotFound("Session not found").into_response();
    }
    let user_id = user.id().to_owned();
    let closes = parts.method == axum::http::Method::DELETE;
    parts.extensions.insert::<AuthUser>(user);
    let resp = next.run(Request::from_parts(parts, body)).await;
    match (&session, resp.headers().get("mcp-session-id")) {
        (None, Some(id)) => {
            if let Ok(id) = id.to_str() {
                g.owners.insert(id.to_owned(), user_id);
            }
        }
        (Some(id), _) if closes && resp.status().is_success() => g.owners.invalidate(id),
        _ => {}
    }
    resp
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
    let own = url::Url::parse(&resource_url(config, req))
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
