//! The server and its connections (docs/configuration.md#server-and-connections): where it
//! listens, what it accepts from clients, how long it waits, how it logs.

use super::*;

/// Where the server listens and how it treats client connections.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerSettings {
    #[arg(long, global = true, env = "API_HOST", default_value = DEFAULT_HOST)]
    pub api_host: String,
    #[arg(long, global = true, env = "API_PORT", default_value_t = DEFAULT_PORT)]
    pub api_port: u16,
    /// Allowed CORS origins (comma list).
    #[arg(long, global = true, env = "CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Most client connections open at once (default: from the open-file limit).
    #[arg(long, global = true, env = "MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// A connection with no request in flight for this long is closed, in seconds.
    #[arg(
        long,
        global = true,
        env = "IDLE_TIMEOUT_SECONDS",
        default_value_t = 60
    )]
    pub idle_timeout_seconds: u64,
    /// Longest a request may take, in seconds (then 503, JSON).
    #[arg(
        long,
        global = true,
        env = "REQUEST_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub request_timeout_seconds: u64,
    /// Serve /metrics on this address only (e.g. 127.0.0.1:9090), not on the API port.
    #[arg(long, global = true, env = "METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// development or production (production makes weak auth fatal).
    #[arg(
        long,
        global = true,
        env = "ENVIRONMENT",
        default_value = "development"
    )]
    pub environment: String,
    /// trace, debug, info, warn, error (or a tracing filter).
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// json or text; json when standard output is not a terminal.
    #[arg(long, global = true, env = "LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log lines waiting for the log writer's thread; beyond it new lines
    /// are dropped (and counted) rather than held or waited for.
    #[arg(
        long,
        global = true,
        env = "LOG_BUFFER_LINES",
        default_value_t = 16_384,
        value_parser = clap::value_parser!(u32).range(1..=1_048_576)
    )]
    pub log_buffer_lines: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// The server settings resolved.
#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// `ENVIRONMENT=production`: weak auth is fatal, no development tokens.
    pub production: bool,
    pub request_timeout: Duration,
    /// Client connections open at once; `None`: from the open-file limit.
    pub max_connections: Option<u32>,
    /// A connection with no request in flight this long is closed.
    pub idle_timeout: Duration,
    /// Where `/metrics` is served instead of the API port.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Server {
    /// Whether `API_HOST` names this machine only (then the MCP endpoint
    /// accepts only local `Host` names by default: DNS rebinding).
    pub fn is_loopback(&self) -> bool {
        matches!(
            self.host.trim(),
            "127.0.0.1" | "localhost" | "::1" | "[::1]"
        )
    }
}

impl ServerSettings {
    pub fn resolve(&self) -> Result<Server, ConfigError> {
        let production = match self.environment.trim().to_ascii_lowercase().as_str() {
            "production" => true,
            "development" | "" => false,
            other => {
                return Err(fail(
                    "ENVIRONMENT",
                    format!("{other:?} is neither \"development\" nor \"production\""),
                ));
            }
        };
        let metrics_addr = match given(&self.metrics_addr) {
            Some(a) => Some(a.trim().parse().map_err(|_| {
                fail(
                    "METRICS_ADDR",
                    format!("{a:?} is not an address such as 127.0.0.1:9090"),
                )
            })?),
            None => None,
        };
        if self.max_connections == Some(0) {
            return Err(fail("MAX_CONNECTIONS", "must be at least 1"));
        }
        let cors_origins = comma_list(self.cors_origins.as_deref())
            .into_iter()
            .map(|o| {
                axum::http::HeaderValue::from_str(o.trim_end_matches('/'))
                    .map_err(|_| fail("CORS_ORIGINS", format!("invalid origin {o:?}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Server {
            host: self.api_host.clone(),
            port: self.api_port,
            cors_origins,
            production,
            request_timeout: Duration::from_secs(self.request_timeout_seconds.max(1)),
            max_connections: self.max_connections,
            idle_timeout: Duration::from_secs(self.idle_timeout_seconds.max(1)),
            metrics_addr,
        })
    }
}

/// A `tracing` filter from `LOG_LEVEL`; Python's level names (a seed's
/// `LOG_LEVEL=WARNING`) are understood too.
pub fn log_filter(level: &str) -> String {
    let level = level.trim();
    let word = match level.to_ascii_lowercase().as_str() {
        "warning" => "warn".to_owned(),
        "critical" | "fatal" => "error".to_owned(),
        "" => "info".to_owned(),
        other if !other.contains(['=', ',']) => other.to_owned(),
        _ => level.to_owned(),
    };
    // rmcp logs every MCP session id at info (and more below): a session
    // id is what a session's requests present, so it stays out of the log
    // unless a filter names rmcp itself.
    if word.contains("rmcp") {
        format!("{word},sqlx=warn")
    } else {
        format!("{word},sqlx=warn,rmcp=warn")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(tweak: impl FnOnce(&mut ServerSettings)) -> Result<Server, ConfigError> {
        let mut s = Settings::default().server;
        tweak(&mut s);
        s.resolve()
    }

    #[test]
    fn python_log_levels_are_understood() {
        assert_eq!(log_filter("WARNING"), "warn,sqlx=warn,rmcp=warn");
        assert_eq!(log_filter("CRITICAL"), "error,sqlx=warn,rmcp=warn");
        assert_eq!(log_filter("Debug"), "debug,sqlx=warn,rmcp=warn");
        assert_eq!(
            log_filter("info,todo_api=debug"),
            "info,todo_api=debug,sqlx=warn,rmcp=warn"
        );
        // Named, rmcp logs as asked (session ids included).
        assert_eq!(log_filter("info,rmcp=debug"), "info,rmcp=debug,sqlx=warn");
    }

    #[test]
    fn environment_metrics_address_and_origins_are_checked() {
        assert!(!server(|_| {}).unwrap().production);
        assert!(
            server(|s| s.environment = " Production ".into())
                .unwrap()
                .production
        );
        assert_eq!(
            server(|s| s.environment = "staging".into())
                .unwrap_err()
                .var,
            "ENVIRONMENT"
        );
        assert_eq!(
            server(|s| s.metrics_addr = Some("localhost".into()))
                .unwrap_err()
                .var,
            "METRICS_ADDR"
        );
        assert!(
            server(|s| s.metrics_addr = Some(" ".into()))
                .unwrap()
                .metrics_addr
                .is_none()
        );
        assert_eq!(
            server(|s| s.max_connections = Some(0)).unwrap_err().var,
            "MAX_CONNECTIONS"
        );
        let c =
            server(|s| s.cors_origins = Some("https://a.example/, http://b:3000".into())).unwrap();
        assert_eq!(c.cors_origins, ["https://a.example", "http://b:3000"]);
        assert_eq!(
            server(|s| s.cors_origins = Some("https://a\nb".into()))
                .unwrap_err()
                .var,
            "CORS_ORIGINS"
        );
        // Zero timeouts would close every connection at once: a second at least.
        let c = server(|s| {
            s.request_timeout_seconds = 0;
            s.idle_timeout_seconds = 0;
        })
        .unwrap();
        assert_eq!(
            (c.request_timeout, c.idle_timeout),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
    }
}
