//! The MCP endpoint's settings resolved (docs/mcp.md): its resource URL,
//! allowed hosts and origins, and its caps.

use super::*;

/// The MCP endpoint's settings (docs/mcp.md).
pub(super) fn mcp_config(
    s: &Settings,
    cors_origins: &[axum::http::HeaderValue],
) -> Result<crate::mcp::McpConfig, ConfigError> {
    let resource = match given(&s.mcp_resource_url) {
        Some(r) => {
            let r = r.trim().to_owned();
            match url::Url::parse(&r) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(r),
                _ => {
                    return Err(fail(
                        "MCP_RESOURCE_URL",
                        "must be an http:// or https:// URL",
                    ));
                }
            }
        }
        None => None,
    };
    let resource_host = resource
        .as_deref()
        .and_then(|r| url::Url::parse(r).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        });
    let listed = comma_list(given(&s.mcp_allowed_hosts).map(String::as_str));
    let mut allowed_hosts = if listed.iter().any(|h| h == "*") {
        Vec::new()
    } else if !listed.is_empty() {
        listed
    } else if matches!(
        s.api_host.trim(),
        "127.0.0.1" | "localhost" | "::1" | "[::1]"
    ) {
        // A local server: only local names (DNS rebinding).
        ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec()
    } else {
        Vec::new()
    };
    if !allowed_hosts.is_empty()
        && let Some(host) = resource_host
    {
        allowed_hosts.push(host);
    }
    let base = given(&s.better_auth_url).map(|u| u.trim().trim_end_matches('/').to_owned());
    let mut issuers = match given(&s.jwt_issuer) {
        Some(list) => comma_list(Some(list)),
        None => better_auth_identities(s),
    };
    if let Some(base) = &base {
        // Better Auth's OAuth provider issues as its auth path.
        issuers.push(format!("{base}/api/auth"));
    }
    Ok(crate::mcp::McpConfig {
        resource,
        authorization_servers: base.into_iter().collect(),
        issuers,
        allowed_hosts,
        allowed_origins: cors_origins
            .iter()
            .filter_map(|o| o.to_str().ok().map(str::to_owned))
            .collect(),
        max_sessions: s.mcp_max_sessions.max(1),
        max_sessions_per_user: s.mcp_max_sessions_per_user.max(1),
        max_streams: s.mcp_max_streams.max(1),
        max_streams_per_user: s.mcp_max_streams_per_user.max(1),
        request_timeout: Duration::from_secs(s.request_timeout_seconds.max(1)),
    })
}
