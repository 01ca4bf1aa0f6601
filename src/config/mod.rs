//! Configuration (docs/configuration.md): environment variables, a `.env` file, CLI flags;
//! read once at start-up into one typed struct. Failures name the variable
//! and never print a password or a secret.

use std::time::Duration;

pub use crate::auth::config::{AuthConfig, JWKS_TIMEOUT, JwksSettings, Secret, SessionSettings};
pub use crate::db::url::{DatabaseUrl, UrlError, mask_url};
use crate::http::ratelimit::Rate;
pub use crate::http::shape::{Conventions, DeleteResponse, Envelope, JsonCase, PutSemantics};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://todo.db";
/// The user-id claims of HS* tokens unless `JWT_USER_CLAIM` is set (seed 000
/// puts the user in `user_id`).
pub const DEFAULT_USER_CLAIMS: &str = "user_id,sub";
/// The user-id claim of JWKS-verified tokens unless `JWT_USER_CLAIM` is set:
/// Better Auth's `jwt()` copies the whole user row into its tokens, so a
/// user-editable field named `user_id` must not be able to name the user.
pub const DEFAULT_JWKS_USER_CLAIMS: &str = "sub";
pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 8000;
/// Below this, a shared secret is refused in production.
pub const MIN_SECRET_BYTES: usize = 32;

mod mcp;
mod settings;

pub use settings::{LogFormat, Settings};

/// A start-up failure: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {msg}")]
pub struct ConfigError {
    pub var: &'static str,
    pub msg: String,
}

impl From<UrlError> for ConfigError {
    fn from(e: UrlError) -> Self {
        Self {
            var: e.var,
            msg: e.msg,
        }
    }
}

fn fail(var: &'static str, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        msg: msg.into(),
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

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseUrl,
    pub auth: AuthConfig,
    pub cors_origins: Vec<axum::http::HeaderValue>,
    pub host: String,
    pub port: u16,
    pub pool: crate::db::PoolOptions,
    pub user_limits: crate::db::UserLimits,
    pub production: bool,
    pub auto_migrate: bool,
    pub request_timeout: Duration,
    pub rate_limit_ip: Option<crate::http::ratelimit::Rate>,
    pub rate_limit_user: Option<crate::http::ratelimit::Rate>,
    /// Client connections open at once; `None`: from the open-file limit.
    pub max_connections: Option<u32>,
    /// A connection with no request in flight this long is closed.
    pub idle_timeout: Duration,
    /// Where `/metrics` is served instead of the API port.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// How often expired Idempotency-Key records are swept (`None`: never).
    pub idempotency_sweep: Option<Duration>,
    /// Output shapes and PUT's meaning for existing frontends (docs/frontends.md).
    pub conventions: Conventions,
    /// The MCP endpoint (docs/mcp.md); `None`: not served.
    pub mcp: Option<crate::mcp::McpConfig>,
    /// Event streams an instance holds (docs/live-updates.md).
    pub streams: crate::db::StreamLimits,
    /// How an event stream behaves.
    pub events: crate::http::events::EventsConfig,
    /// Where the LISTEN connection goes (PostgreSQL only; `None` on SQLite).
    pub listen_database: Option<sqlx::postgres::PgConnectOptions>,
    /// `LISTEN_DATABASE_URL` was given (else `listen_database` is
    /// `DATABASE_URL`'s, unusable when that is a transaction pooler).
    pub listen_given: bool,
    /// How long tombstones are kept.
    pub tombstone_retention: Duration,
    /// How often tombstones and expired tickets are swept (`None`: never).
    pub tombstone_sweep: Option<Duration>,
}

/// The JWKS location: `JWKS_URL`, else Better Auth's `{url}/api/auth/jwks`.
/// A setting given but blank (`BETTER_AUTH_URL=` in a `.env`, or an empty
/// variable from compose) counts as not given.
fn given(v: &Option<String>) -> Option<&String> {
    v.as_ref().filter(|s| !s.trim().is_empty())
}

fn jwks_url(s: &Settings) -> Result<Option<String>, ConfigError> {
    let (var, url) = match (given(&s.jwks_url), given(&s.better_auth_url)) {
        (Some(explicit), _) => ("JWKS_URL", explicit.trim().to_owned()),
        (None, Some(base)) => {
            let base = base.trim().trim_end_matches('/');
            let url = if base.ends_with("/api/auth") {
                format!("{base}/jwks")
            } else {
                format!("{base}/api/auth/jwks")
            };
            ("BETTER_AUTH_URL", url)
        }
        (None, None) => return Ok(None),
    };
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(Some(url)),
        _ => Err(fail(var, "must be an http:// or https:// URL")),
    }
}

/// `iss` and `aud` expected by default: Better Auth's base URL (docs/configuration.md),
/// with or without a trailing slash.
fn better_auth_identities(s: &Settings) -> Vec<String> {
    match given(&s.better_auth_url) {
        Some(url) => {
            let base = url.trim().trim_end_matches('/');
            vec![base.to_owned(), format!("{base}/")]
        }
        None => Vec::new(),
    }
}

fn comma_list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Config {
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let production = match s.environment.trim().to_ascii_lowercase().as_str() {
            "production" => true,
            "development" | "" => false,
            other => {
                return Err(fail(
                    "ENVIRONMENT",
                    format!("{other:?} is neither \"development\" nor \"production\""),
                ));
            }
        };
        let database = DatabaseUrl::parse(&s.database_url)?;
        let listen_database = match (&database, given(&s.listen_database_url)) {
            (DatabaseUrl::Sqlite(_), _) => None,
            (DatabaseUrl::Postgres(opts, _), None) => Some(opts.clone()),
            (DatabaseUrl::Postgres(..), Some(url)) => {
                match DatabaseUrl::parse_for("LISTEN_DATABASE_URL", url)? {
                    DatabaseUrl::Postgres(opts, _) => Some(opts),
                    DatabaseUrl::Sqlite(_) => {
                        return Err(fail(
                            "LISTEN_DATABASE_URL",
                            "must be a PostgreSQL URL (the database DATABASE_URL names, directly)",
                        ));
                    }
                }
            }
        };
        let secret = s
            .better_auth_secret
            .clone()
            .filter(|sec| !sec.expose().is_empty());
        let jwks = jwks_url(s)?.map(|url| JwksSettings {
            url,
            timeout: JWKS_TIMEOUT,
            cooldown: Duration::from_secs(s.jwks_cooldown_seconds.max(1)),
            refresh: Duration::from_secs(s.jwks_refresh_seconds.max(1)),
        });
        let sessions = match (given(&s.better_auth_session_db_url), s.better_auth_sessions) {
            (Some(url), _) => Some((
                "BETTER_AUTH_SESSION_DB_URL",
                DatabaseUrl::parse_for("BETTER_AUTH_SESSION_DB_URL", url)?,
            )),
            (None, true) => Some(("BETTER_AUTH_SESSIONS", database.clone())),
            (None, false) => None,
        };
        let sessions = match sessions {
            Some((_, DatabaseUrl::Postgres(opts, _))) => Some(SessionSettings {
                database: opts,
                cache_ttl: Duration::from_secs(s.better_auth_session_cache_seconds),
            }),
            Some((var, DatabaseUrl::Sqlite(_))) => {
                return Err(fail(
                    var,
                    "session tokens are looked up in Better Auth's PostgreSQL database; this URL is SQLite",
                ));
            }
            None => None,
        };
        let remote_auth = jwks.is_some() || sessions.is_some();
        if production {
            match &secret {
                Some(sec) if sec.expose().len() < MIN_SECRET_BYTES => {
                    return Err(fail(
                        "BETTER_AUTH_SECRET",
                        format!("must be at least {MIN_SECRET_BYTES} bytes in production"),
                    ));
                }
                None if !remote_auth => {
                    return Err(fail(
                        "BETTER_AUTH_SECRET",
                        "no authentication configured in production: set BETTER_AUTH_SECRET, BETTER_AUTH_URL/JWKS_URL or BETTER_AUTH_SESSION_DB_URL",
                    ));
                }
                _ => {}
            }
        }
        // Blank counts as unset, as for every setting here.
        let (user_claims, jwks_user_claims) = match given(&s.jwt_user_claim) {
            Some(list) => {
                let claims = comma_list(Some(list));
                if claims.is_empty() {
                    return Err(fail("JWT_USER_CLAIM", "names no claim"));
                }
                (claims.clone(), claims)
            }
            None => (
                comma_list(Some(DEFAULT_USER_CLAIMS)),
                comma_list(Some(DEFAULT_JWKS_USER_CLAIMS)),
            ),
        };
        let metrics_addr = match given(&s.metrics_addr) {
            Some(a) => Some(a.trim().parse().map_err(|_| {
                fail(
                    "METRICS_ADDR",
                    format!("{a:?} is not an address such as 127.0.0.1:9090"),
                )
            })?),
            None => None,
        };
        if s.user_db_concurrency == 0 {
            return Err(fail("USER_DB_CONCURRENCY", "must be at least 1"));
        }
        if s.max_connections == Some(0) {
            return Err(fail("MAX_CONNECTIONS", "must be at least 1"));
        }
        let cors_origins: Vec<axum::http::HeaderValue> = comma_list(s.cors_origins.as_deref())
            .into_iter()
            .map(|o| {
                axum::http::HeaderValue::from_str(o.trim_end_matches('/'))
                    .map_err(|_| fail("CORS_ORIGINS", format!("invalid origin {o:?}")))
            })
            .collect::<Result<_, _>>()?;
        let mcp = if s.mcp_enabled {
            Some(mcp::mcp_config(s, &cors_origins)?)
        } else {
            None
        };
        if s.db_pool_size + s.db_max_overflow == 0 {
            return Err(fail(
                "DB_POOL_SIZE",
                "pool size plus overflow must be at least 1",
            ));
        }
        Ok(Self {
            database,
            auth: AuthConfig {
                secret,
                // Blank (`JWT_ISSUER=` in a .env) is unset: the checks stay on
                // with BETTER_AUTH_URL's defaults rather than turning off.
                issuers: match given(&s.jwt_issuer) {
                    Some(list) => comma_list(Some(list)),
                    None => better_auth_identities(s),
                },
                audiences: match given(&s.jwt_audience) {
                    Some(list) => comma_list(Some(list)),
                    None => better_auth_identities(s),
                },
                user_claims,
                jwks_user_claims,
                leeway: Duration::from_secs(s.jwt_leeway_seconds),
                token_cache_size: s.token_cache_size,
                jwks,
                sessions,
            },
            cors_origins,
            host: s.api_host.clone(),
            port: s.api_port,
            pool: crate::db::PoolOptions {
                max_connections: s.db_pool_size + s.db_max_overflow,
                acquire_timeout: Duration::from_secs(5),
                statement_timeout: Duration::from_millis(s.statement_timeout_ms.max(1)),
                pipeline_connections: s.db_pipeline_connections.min(64),
            },
            user_limits: crate::db::UserLimits {
                concurrency: s.user_db_concurrency,
                max_tasks: s.max_tasks_per_user,
                wait: Duration::from_secs(5),
                max_tombstones: s.max_tombstones_per_user.max(1),
            },
            production,
            auto_migrate: s.auto_migrate,
            request_timeout: Duration::from_secs(s.request_timeout_seconds.max(1)),
            rate_limit_ip: Rate::new(s.rate_limit_ip_per_second, s.rate_limit_ip_burst),
            rate_limit_user: Rate::new(s.rate_limit_user_per_second, s.rate_limit_user_burst),
            max_connections: s.max_connections,
            idle_timeout: Duration::from_secs(s.idle_timeout_seconds.max(1)),
            metrics_addr,
            conventions: s.conventions(),
            idempotency_sweep: (s.idempotency_sweep_seconds > 0)
                .then(|| Duration::from_secs(s.idempotency_sweep_seconds)),
            mcp,
            streams: crate::db::StreamLimits {
                per_user: s.events_max_per_user.max(1),
                per_instance: s.events_max_streams.max(1),
            },
            events: crate::http::events::EventsConfig {
                max_backlog: s.events_max_backlog.max(1),
                heartbeat: Duration::from_secs(s.events_heartbeat_seconds.max(1)),
                max_tickets_per_user: s.events_max_tickets_per_user.max(1),
                ticket_key: ticket_key(s),
            },
            listen_database,
            listen_given: given(&s.listen_database_url).is_some(),
            tombstone_retention: Duration::from_secs(
                u64::from(s.tombstone_retention_days.max(1)) * 86_400,
            ),
            tombstone_sweep: (s.tombstone_sweep_seconds > 0)
                .then(|| Duration::from_secs(s.tombstone_sweep_seconds)),
        })
    }
}

/// What event tickets are signed with: `EVENTS_TICKET_SECRET`, else a key
/// derived from `BETTER_AUTH_SECRET` (so that instances sharing it redeem
/// each other's tickets), else one of this process.
fn ticket_key(s: &Settings) -> crate::http::events::TicketKey {
    use crate::http::events::TicketKey;
    [&s.events_ticket_secret, &s.better_auth_secret]
        .into_iter()
        .flatten()
        .find(|sec| !sec.expose().is_empty())
        .map_or_else(TicketKey::random, |sec| TicketKey::derive(sec.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_clap_s_without_flags_or_environment() {
        let d = Settings::default();
        assert_eq!(d.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(
            (d.api_host.as_str(), d.api_port),
            (DEFAULT_HOST, DEFAULT_PORT)
        );
        assert_eq!((d.db_pool_size, d.db_max_overflow), (10, 20));
        assert_eq!(
            (d.statement_timeout_ms, d.max_tasks_per_user),
            (5_000, 100_000)
        );
        assert!(d.better_auth_secret.is_none() && d.jwt_user_claim.is_none());
        assert!(d.auto_migrate && !d.better_auth_sessions);
    }

    #[test]
    fn mcp_hosts_issuers_and_resource_follow_the_settings() {
        let mcp = |tweak: fn(&mut Settings)| {
            let mut s = Settings::default();
            tweak(&mut s);
            Config::from_settings(&s).map(|c| c.mcp.expect("served by default"))
        };
        // Loopback API_HOST: loopback names only.
        let local = mcp(|_| {}).unwrap();
        assert_eq!(local.allowed_hosts, ["localhost", "127.0.0.1", "::1"]);
        assert!(local.resource.is_none() && local.authorization_servers.is_empty());
        // A deployment: any Host, unless listed.
        assert!(
            mcp(|s| s.api_host = "0.0.0.0".into())
                .unwrap()
                .allowed_hosts
                .is_empty()
        );
        let listed =
            mcp(|s| s.mcp_allowed_hosts = Some("a.example, b.example:8443".into())).unwrap();
        assert_eq!(listed.allowed_hosts, ["a.example", "b.example:8443"]);
        assert!(
            mcp(|s| s.mcp_allowed_hosts = Some("*".into()))
                .unwrap()
                .allowed_hosts
                .is_empty()
        );
        let resource = mcp(|s| {
            s.mcp_resource_url = Some("https://api.example.com/mcp".into());
            s.better_auth_url = Some("https://app.example.com/".into());
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
        let bad = mcp(|s| s.mcp_resource_url = Some("api.example.com/mcp".into()));
        assert_eq!(bad.unwrap_err().var, "MCP_RESOURCE_URL");
        assert!(
            Config::from_settings(&Settings {
                mcp_enabled: false,
                ..Settings::default()
            })
            .unwrap()
            .mcp
            .is_none()
        );
    }

    #[test]
    fn sqlalchemy_and_neon_urls_are_accepted() {
        for raw in [
            "postgresql+asyncpg://u:p@h/db",
            "postgresql+psycopg2://u:p@h:5433/db",
            "postgresql+psycopg://u:p@h/db",
            "postgres://u:p@ep-x.neon.tech/db?sslmode=require&channel_binding=require",
            "postgresql://u:p@h/db?ssl=require&connect_timeout=10",
        ] {
            assert!(DatabaseUrl::parse(raw).unwrap().is_postgres(), "{raw}");
        }
        assert!(!DatabaseUrl::parse("sqlite::memory:").unwrap().is_postgres());
    }

    #[test]
    fn errors_name_the_variable_and_mask_the_password() {
        let e = DatabaseUrl::parse("mysql://admin:hunter2@db/x").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("DATABASE_URL:"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let e = DatabaseUrl::parse("postgres://admin:hunter2@db/x?sslmode=bogus").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
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
    fn debug_output_hides_the_password() {
        let url = DatabaseUrl::parse("postgres://admin:hunter2@db:5432/app").unwrap();
        let shown = format!("{url:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("admin@db:5432/app"),
            "{shown}"
        );
    }

    #[test]
    fn production_refuses_weak_or_missing_auth() {
        let mut s = Settings {
            environment: "production".into(),
            ..Settings::default()
        };
        let e = Config::from_settings(&s).unwrap_err();
        assert_eq!(e.var, "BETTER_AUTH_SECRET");
        s.better_auth_secret = Some(Secret::new("short"));
        let e = Config::from_settings(&s).unwrap_err();
        assert!(!e.to_string().contains("short"));
        s.better_auth_secret = Some(Secret::new("x".repeat(32)));
        assert!(Config::from_settings(&s).is_ok());
    }

    #[test]
    fn better_auth_url_sets_the_jwks_issuer_and_audience() {
        let s = Settings {
            better_auth_url: Some("https://app.example.com/".into()),
            ..Settings::default()
        };
        let c = Config::from_settings(&s).unwrap();
        assert_eq!(
            c.auth.jwks.unwrap().url,
            "https://app.example.com/api/auth/jwks"
        );
        assert_eq!(
            c.auth.issuers,
            ["https://app.example.com", "https://app.example.com/"]
        );
        assert_eq!(c.auth.audiences, c.auth.issuers);
        let s = Settings {
            better_auth_url: Some("https://app.example.com/api/auth".into()),
            jwt_audience: Some("api-a, api-b".into()),
            ..Settings::default()
        };
        let c = Config::from_settings(&s).unwrap();
        assert_eq!(
            c.auth.jwks.unwrap().url,
            "https://app.example.com/api/auth/jwks"
        );
        assert_eq!(c.auth.audiences, ["api-a", "api-b"]);
        let s = Settings {
            better_auth_url: Some("https://app.example.com".into()),
            jwks_url: Some("ftp://keys".into()),
            ..Settings::default()
        };
        assert_eq!(Config::from_settings(&s).unwrap_err().var, "JWKS_URL");
        // Blank values (an empty variable from compose or .env) are unset.
        let s = Settings {
            better_auth_url: Some(" ".into()),
            jwks_url: Some(String::new()),
            better_auth_session_db_url: Some(String::new()),
            ..Settings::default()
        };
        let c = Config::from_settings(&s).unwrap();
        assert!(c.auth.jwks.is_none() && c.auth.sessions.is_none() && c.auth.issuers.is_empty());
    }

    #[test]
    fn session_lookups_need_postgresql() {
        let s = Settings {
            better_auth_sessions: true,
            database_url: "sqlite::memory:".into(),
            ..Settings::default()
        };
        assert_eq!(
            Config::from_settings(&s).unwrap_err().var,
            "BETTER_AUTH_SESSIONS"
        );
        let s = Settings {
            better_auth_session_db_url: Some("postgres://u:hunter2@db/auth?bad=1".into()),
            environment: "production".into(),
            ..Settings::default()
        };
        let c = Config::from_settings(&s).expect("session lookups are an auth method");
        assert!(c.auth.sessions.is_some() && c.auth.secret.is_none());
        let s = Settings {
            better_auth_session_db_url: Some("mysql://u:hunter2@db/auth".into()),
            ..Settings::default()
        };
        let e = Config::from_settings(&s).unwrap_err();
        assert_eq!(e.var, "BETTER_AUTH_SESSION_DB_URL");
        assert!(!e.to_string().contains("hunter2"));
    }
}
