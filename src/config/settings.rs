//! The settings as clap reads them from flags and the environment, one
//! field a variable, each with its default (docs/configuration.md;
//! `tests/configuration.rs` checks the two agree). `mod.rs` resolves them.

use super::*;

/// The raw settings as given by flags or environment (clap reads both).
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    /// Database: postgres://…, postgresql+asyncpg://…, sqlite://path, sqlite::memory:
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Shared secret for HS256/HS384/HS512 tokens.
    #[arg(
        long,
        global = true,
        env = "BETTER_AUTH_SECRET",
        hide_env_values = true
    )]
    pub better_auth_secret: Option<Secret>,
    /// Better Auth base URL (JWKS at {url}/api/auth/jwks; expected iss and aud).
    #[arg(long, global = true, env = "BETTER_AUTH_URL")]
    pub better_auth_url: Option<String>,
    /// Explicit JWKS location.
    #[arg(long, global = true, env = "JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Accepted issuers (comma list).
    #[arg(long, global = true, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Accepted audiences (comma list).
    #[arg(long, global = true, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Claims tried in order for the user id (default: user_id,sub for HS*
    /// tokens, sub for JWKS-verified ones; when set, for every token).
    #[arg(long, global = true, env = "JWT_USER_CLAIM")]
    pub jwt_user_claim: Option<String>,
    /// Least seconds between JWKS fetches triggered by unknown kids (also the
    /// floor under the JWKS server's max-age).
    #[arg(
        long,
        global = true,
        env = "JWKS_COOLDOWN_SECONDS",
        default_value_t = 10
    )]
    pub jwks_cooldown_seconds: u64,
    /// JWKS refresh period when its response carries no max-age, in seconds.
    #[arg(
        long,
        global = true,
        env = "JWKS_REFRESH_SECONDS",
        default_value_t = 300
    )]
    pub jwks_refresh_seconds: u64,
    /// Accept Better Auth session tokens, looked up in DATABASE_URL's `session` table.
    #[arg(long, global = true, env = "BETTER_AUTH_SESSIONS", default_value_t = false, action = clap::ArgAction::Set)]
    pub better_auth_sessions: bool,
    /// Accept Better Auth session tokens, looked up in this database's `session` table.
    #[arg(
        long,
        global = true,
        env = "BETTER_AUTH_SESSION_DB_URL",
        hide_env_values = true
    )]
    pub better_auth_session_db_url: Option<String>,
    /// Seconds a session lookup is cached (0 turns the cache off).
    #[arg(
        long,
        global = true,
        env = "BETTER_AUTH_SESSION_CACHE_SECONDS",
        default_value_t = 30
    )]
    pub better_auth_session_cache_seconds: u64,
    /// Clock skew allowed on exp and nbf, in seconds.
    #[arg(long, global = true, env = "JWT_LEEWAY_SECONDS", default_value_t = 30)]
    pub jwt_leeway_seconds: u64,
    /// Verified JWTs remembered until their exp, so a token's signature is
    /// checked once (0 turns the cache off).
    #[arg(
        long,
        global = true,
        env = "TOKEN_CACHE_SIZE",
        default_value_t = 10_000
    )]
    pub token_cache_size: u64,
    /// Allowed CORS origins (comma list).
    #[arg(long, global = true, env = "CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    #[arg(long, global = true, env = "API_HOST", default_value = DEFAULT_HOST)]
    pub api_host: String,
    #[arg(long, global = true, env = "API_PORT", default_value_t = DEFAULT_PORT)]
    pub api_port: u16,
    /// Connections kept for the pool (at most size + overflow are opened).
    #[arg(long, global = true, env = "DB_POOL_SIZE", default_value_t = 10)]
    pub db_pool_size: u32,
    #[arg(long, global = true, env = "DB_MAX_OVERFLOW", default_value_t = 20)]
    pub db_max_overflow: u32,
    /// PostgreSQL: shared connections the reads are pipelined on, besides
    /// the pool (0: reads use the pool).
    #[arg(
        long,
        global = true,
        env = "DB_PIPELINE_CONNECTIONS",
        default_value_t = 4
    )]
    pub db_pipeline_connections: u32,
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
    /// development or production (production makes weak auth fatal).
    #[arg(
        long,
        global = true,
        env = "ENVIRONMENT",
        default_value = "development"
    )]
    pub environment: String,
    /// Requests per second per client address (0: no limit).
    #[arg(
        long,
        global = true,
        env = "RATE_LIMIT_IP_PER_SECOND",
        default_value_t = 0
    )]
    pub rate_limit_ip_per_second: u32,
    /// Burst per client address (0: the per-second rate).
    #[arg(long, global = true, env = "RATE_LIMIT_IP_BURST", default_value_t = 0)]
    pub rate_limit_ip_burst: u32,
    /// Requests per second per user (0: no limit).
    #[arg(
        long,
        global = true,
        env = "RATE_LIMIT_USER_PER_SECOND",
        default_value_t = 0
    )]
    pub rate_limit_user_per_second: u32,
    /// Burst per user (0: the per-second rate).
    #[arg(
        long,
        global = true,
        env = "RATE_LIMIT_USER_BURST",
        default_value_t = 0
    )]
    pub rate_limit_user_burst: u32,
    /// Longest a request may take, in seconds (then 503, JSON).
    #[arg(
        long,
        global = true,
        env = "REQUEST_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub request_timeout_seconds: u64,
    /// Apply pending migrations when serving.
    #[arg(long, global = true, env = "AUTO_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_migrate: bool,
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
    /// Most tasks one user may have (creates beyond it are 409).
    #[arg(
        long,
        global = true,
        env = "MAX_TASKS_PER_USER",
        default_value_t = 100_000
    )]
    pub max_tasks_per_user: u32,
    /// Most database operations of one user at once; more wait their turn.
    #[arg(long, global = true, env = "USER_DB_CONCURRENCY", default_value_t = 4)]
    pub user_db_concurrency: u32,
    /// Longest one database statement may run, in milliseconds (then 503).
    #[arg(
        long,
        global = true,
        env = "STATEMENT_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub statement_timeout_ms: u64,
    /// Serve /metrics on this address only (e.g. 127.0.0.1:9090), not on the API port.
    #[arg(long, global = true, env = "METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// How often expired Idempotency-Key records are swept, in seconds (0: never).
    #[arg(
        long,
        global = true,
        env = "IDEMPOTENCY_SWEEP_SECONDS",
        default_value_t = 600
    )]
    pub idempotency_sweep_seconds: u64,
    /// Field names of response bodies: snake (seeds) or camel (docs/frontends.md).
    #[arg(long, global = true, env = "JSON_CASE", value_enum, ignore_case = true, default_value_t = JsonCase::Snake)]
    pub json_case: JsonCase,
    /// Response envelope: none (seeds), named ({tasks, total, …}, {task}) or data ({data: …}).
    #[arg(long, global = true, env = "RESPONSE_ENVELOPE", value_enum, ignore_case = true, default_value_t = Envelope::None)]
    pub response_envelope: Envelope,
    /// PUT: replace (seed 001) or merge (as PATCH).
    #[arg(long, global = true, env = "PUT_SEMANTICS", value_enum, ignore_case = true, default_value_t = PutSemantics::Replace)]
    pub put_semantics: PutSemantics,
    /// Task bodies also carry `is_completed` (= `completed`).
    #[arg(long, global = true, env = "RESPONSE_IS_COMPLETED", default_value_t = false, action = clap::ArgAction::Set)]
    pub response_is_completed: bool,
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
    /// A direct PostgreSQL URL for the LISTEN connection of live updates, when DATABASE_URL goes through a transaction pooler (PgBouncer, Neon's pooled host). Default: DATABASE_URL.
    #[arg(
        long,
        global = true,
        env = "LISTEN_DATABASE_URL",
        hide_env_values = true
    )]
    pub listen_database_url: Option<String>,
    /// Days a deleted task's tombstone is kept for the changes feed; a cursor older than the oldest forgotten one is 410.
    #[arg(
        long,
        global = true,
        env = "TOMBSTONE_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub tombstone_retention_days: u32,
    /// How often tombstones past their retention (and expired event tickets) are swept, in seconds (0: never).
    #[arg(
        long,
        global = true,
        env = "TOMBSTONE_SWEEP_SECONDS",
        default_value_t = 3600
    )]
    pub tombstone_sweep_seconds: u64,
    /// Event streams (GET /api/events) one user may have open on an instance.
    #[arg(long, global = true, env = "EVENTS_MAX_PER_USER", default_value_t = 10)]
    pub events_max_per_user: usize,
    /// Event streams an instance holds open at once.
    #[arg(
        long,
        global = true,
        env = "EVENTS_MAX_STREAMS",
        default_value_t = 10_000
    )]
    pub events_max_streams: usize,
    /// Changes a stream may fall behind by; past that it gets `event: reset` and is closed (the client re-syncs from the changes feed).
    #[arg(
        long,
        global = true,
        env = "EVENTS_MAX_BACKLOG",
        default_value_t = 1000
    )]
    pub events_max_backlog: i64,
    /// Seconds between heartbeat comments on an idle event stream.
    #[arg(
        long,
        global = true,
        env = "EVENTS_HEARTBEAT_SECONDS",
        default_value_t = 15
    )]
    pub events_heartbeat_seconds: u64,
    /// Unused event tickets one user may hold; a new one past it replaces their oldest.
    #[arg(
        long,
        global = true,
        env = "EVENTS_MAX_TICKETS_PER_USER",
        default_value_t = 16
    )]
    pub events_max_tickets_per_user: i64,
    /// Signs event tickets; instances behind one address need the same one. Default: derived from BETTER_AUTH_SECRET, else drawn at start-up.
    #[arg(
        long,
        global = true,
        env = "EVENTS_TICKET_SECRET",
        hide_env_values = true
    )]
    pub events_ticket_secret: Option<Secret>,
    /// Tombstones kept per user for the changes feed; past it (and a tenth more) the oldest are forgotten, and a cursor older than them is 410.
    #[arg(
        long,
        global = true,
        env = "MAX_TOMBSTONES_PER_USER",
        default_value_t = 10_000
    )]
    pub max_tombstones_per_user: u32,
    /// DELETE answers: empty (204) or json (200 with a body).
    #[arg(long, global = true, env = "DELETE_RESPONSE", value_enum, ignore_case = true, default_value_t = DeleteResponse::Empty)]
    pub delete_response: DeleteResponse,
}

impl Settings {
    /// The frontend conventions asked for (docs/frontends.md); needs nothing else
    /// (`todo-api openapi` describes the shape in force from these alone).
    pub fn conventions(&self) -> Conventions {
        Conventions {
            json_case: self.json_case,
            envelope: self.response_envelope,
            put: self.put_semantics,
            is_completed: self.response_is_completed,
            delete: self.delete_response,
        }
    }
}

/// The defaults are clap's (its `default_value`s above), read with no flags
/// and no environment, so they are written once.
impl Default for Settings {
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        let command =
            Settings::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["defaults"])
            .expect("every setting has a default or is optional");
        Settings::from_arg_matches(&matches).expect("the defaults are valid settings")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}
