//! The database (docs/configuration.md#database): which one, its pool and
//! pipelined connections, its statement timeout, migrations and sweeps.

use super::*;

/// Which database, and how it is used.
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseSettings {
    /// Database: postgres://…, postgresql+asyncpg://…, sqlite://path, sqlite::memory:
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
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
    /// Longest one database statement may run, in milliseconds (then 503).
    #[arg(
        long,
        global = true,
        env = "STATEMENT_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub statement_timeout_ms: u64,
    /// Apply pending migrations when serving.
    #[arg(long, global = true, env = "AUTO_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_migrate: bool,
    /// How often expired Idempotency-Key records are swept, in seconds (0: never).
    #[arg(
        long,
        global = true,
        env = "IDEMPOTENCY_SWEEP_SECONDS",
        default_value_t = 600
    )]
    pub idempotency_sweep_seconds: u64,
}

/// The database settings resolved.
#[derive(Debug, Clone)]
pub struct Database {
    pub url: DatabaseUrl,
    pub pool: crate::db::PoolOptions,
    /// Apply pending migrations when serving.
    pub auto_migrate: bool,
    /// How often expired Idempotency-Key records are swept (`None`: never).
    pub idempotency_sweep: Option<Duration>,
}

impl DatabaseSettings {
    pub fn resolve(&self) -> Result<Database, ConfigError> {
        if self.db_pool_size + self.db_max_overflow == 0 {
            return Err(fail(
                "DB_POOL_SIZE",
                "pool size plus overflow must be at least 1",
            ));
        }
        Ok(Database {
            url: DatabaseUrl::parse(&self.database_url)?,
            pool: crate::db::PoolOptions {
                max_connections: self.db_pool_size + self.db_max_overflow,
                acquire_timeout: Duration::from_secs(5),
                statement_timeout: Duration::from_millis(self.statement_timeout_ms.max(1)),
                pipeline_connections: self.db_pipeline_connections.min(64),
            },
            auto_migrate: self.auto_migrate,
            idempotency_sweep: (self.idempotency_sweep_seconds > 0)
                .then(|| Duration::from_secs(self.idempotency_sweep_seconds)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn debug_output_hides_the_password() {
        let url = DatabaseUrl::parse("postgres://admin:hunter2@db:5432/app").unwrap();
        let shown = format!("{url:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("admin@db:5432/app"),
            "{shown}"
        );
    }

    #[test]
    fn the_pool_is_size_plus_overflow_and_never_empty() {
        let mut s = Settings::default().database;
        let d = s.resolve().unwrap();
        assert_eq!(d.pool.max_connections, 30);
        assert_eq!(d.idempotency_sweep, Some(Duration::from_secs(600)));
        s.idempotency_sweep_seconds = 0;
        s.db_pipeline_connections = 1_000;
        let d = s.resolve().unwrap();
        assert!(d.idempotency_sweep.is_none());
        assert_eq!(d.pool.pipeline_connections, 64);
        s.db_pool_size = 0;
        s.db_max_overflow = 0;
        assert_eq!(s.resolve().unwrap_err().var, "DB_POOL_SIZE");
    }
}
