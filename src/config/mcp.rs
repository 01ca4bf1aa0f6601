//! The MCP endpoint (docs/mcp.md): its resource URL, allowed hosts and
//! origins, and its caps.

use super::*;

/// Whether `/mcp` is served, and to whom.
#[derive(clap::Args, Debug, Clone)]
pub struct McpSettings {
    /// Serve the MCP endpoint (`/mcp`) and its OAuth metadata.
    #[arg(long, global = true, env = "MCP_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub mcp_enabled: bool,
    /// `/mcp` as an OAuth resource (e.g. https://api.example.com/mcp): then only access tokens for it are accepted there.
    #[arg(long, global = true, env = "MCP_RESOURCE_URL")]
    pub mcp_resource_url: Option<String>,
    /// `Host` values accepted at /mcp (comma-separated; `*`: any). Default: loopback names when API_HOST is loopback, else any.
    #[arg(long, global = true, env = "MCP_ALLOWED_HOSTS")]
    pub mcp_allowed_hosts: Option<String>,
    /// MCP sessions (clients of the previous protocol version) open at once.
    #[arg(long, global = true, env = "MCP_MAX_SESSIONS", default_value_t = 1000)]
    pub mcp_max_sessions: usize,
    /// MCP sessions one user may have open at once.
    #[arg(
        long,
        global = true,
        env = "MCP_MAX_SESSIONS_PER_USER",
        default_value_t = 10
    )]
    pub mcp_max_sessions_per_user: usize,
    /// Long-lived GET /mcp streams open at once.
    #[arg(long, global = true, env = "MCP_MAX_STREAMS", default_value_t = 1000)]
    pub mcp_max_streams: usize,
    /// GET /mcp streams one user may have open at once.
    #[arg(
        long,
        global = true,
        env = "MCP_MAX_STREAMS_PER_USER",
        default_value_t = 10
    )]
    pub mcp_max_streams_per_user: usize,
}

impl McpSettings {
    /// `None` when `MCP_ENABLED=false`. The server gives the default
    /// hosts, the origins and the timeout; the auth settings, the
    /// issuers of OAuth access tokens.
    pub fn resolve(
        &self,
        server: &Server,
        auth: &AuthSettings,
    ) -> Result<Option<crate::mcp::McpConfig>, ConfigError> {
        if !self.mcp_enabled {
            return Ok(None);
        }
        let resource = match given(&self.mcp_resource_url) {
            Some(r) => {
                let r = r.trim().to_owned();
                match url::Url::parse(&r) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                        Some(r)
                    }
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
        let listed = comma_list(given(&self.mcp_allowed_hosts).map(String::as_str));
        let mut allowed_hosts = if listed.iter().any(|h| h == "*") {
            Vec::new()
        } else if !listed.is_empty() {
            listed
        } else if server.is_loopback() {
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
        let base = auth.better_auth_base();
        let mut issuers = auth.issuers();
        if let Some(base) = &base {
            // Better Auth's OAuth provider issues as its auth path.
            issuers.push(format!("{base}/api/auth"));
        }
        Ok(Some(crate::mcp::McpConfig {
            resource,
            authorization_servers: base.into_iter().collect(),
            issuers,
            allowed_hosts,
            allowed_origins: server
                .cors_origins
                .iter()
                .filter_map(|o| o.to_str().ok().map(str::to_owned))
                .collect(),
            max_sessions: self.mcp_max_sessions.max(1),
            max_sessions_per_user: self.mcp_max_sessions_per_user.max(1),
            max_streams: self.mcp_max_streams.max(1),
            max_streams_per_user: self.mcp_max_streams_per_user.max(1),
            request_timeout: server.request_timeout,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mcp_off() -> Option<crate::mcp::McpConfig> {
        let s = Settings::default();
        let mcp = McpSettings {
            mcp_enabled: false,
            ..s.mcp.clone()
        };
        mcp.resolve(&s.server.resolve().unwrap(), &s.auth).unwrap()
    }

    #[test]
    fn mcp_hosts_issuers_and_resource_follow_the_settings() {
        let mcp = |tweak: fn(&mut Settings)| {
            let mut s = Settings::default();
            tweak(&mut s);
            let server = s.server.resolve()?;
            s.mcp
                .resolve(&server, &s.auth)
                .map(|c| c.expect("served by default"))
        };
        // Loopback API_HOST: loopback names only.
        let local = mcp(|_| {}).unwrap();
        assert_eq!(local.allowed_hosts, ["localhost", "127.0.0.1", "::1"]);
        assert!(local.resource.is_none() && local.authorization_servers.is_empty());
        // A deployment: any Host, unless listed.
        assert!(
            mcp(|s| s.server.api_host = "0.0.0.0".into())
                .unwrap()
                .allowed_hosts
                .is_empty()
        );
        let listed =
            mcp(|s| s.mcp.mcp_allowed_hosts = Some("a.example, b.example:8443".into())).unwrap();
        assert_eq!(listed.allowed_hosts, ["a.example", "b.example:8443"]);
        assert!(
            mcp(|s| s.mcp.mcp_allowed_hosts = Some("*".into()))
                .unwrap()
                .allowed_hosts
                .is_empty()
        );
        let resource = mcp(|s| {
            s.mcp.mcp_resource_url = Some("https://api.example.com/mcp".into());
            s.auth.better_auth_url = Some("https://app.example.com/".into());
        })
        .unwrap();
        assert_eq!(
            resource.resource.as_deref(),
            Some("https://api.example.com/mcp")
        );
        assert!(
            resource
                .allowed_hosts
                .contains(&"api.example.com".to_owned())
        );
        assert_eq!(resource.authorization_servers, ["https://app.example.com"]);
        assert!(
            resource
                .issuers
                .contains(&"https://app.example.com/api/auth".to_owned())
        );
        let bad = mcp(|s| s.mcp.mcp_resource_url = Some("api.example.com/mcp".into()));
        assert_eq!(bad.unwrap_err().var, "MCP_RESOURCE_URL");
        assert!(mcp_off().is_none());
    }
}
