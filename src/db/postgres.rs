//! The PostgreSQL driver (Neon and PgBouncer included): it sends no startup
//! parameter a transaction-pooling proxy would reject.

use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Arguments, Connection, Postgres};

use super::sql::{Arg, Dialect, Statement};
use super::{
    AfterInsert, Driver, KeyRow, MigrateCommand, MigrationState, PoolOptions, PoolState, StatsRow,
    StoreError, TaskRow,
};

pub struct PgDriver {
    pool: PgPool,
}

/// Connections idle for longer than this are pinged before use.
const PING_IDLE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl PgDriver {
    pub async fn connect(opts: &PgConnectOptions, pool: &PoolOptions) -> Result<Self, StoreError> {
        // PgBouncer (and so Neon's pooled endpoint) rejects extra_float_digits.
        let opts = opts.clone().extra_float_digits(None);
        // One direct connection first: it fails at once when the server
        // refuses, where a pool would keep retrying until its timeout.
        PgConnection::connect_with(&opts).await?.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .min_connections(pool.min_connections)
            .acquire_timeout(pool.acquire_timeout)
            // sqlx pings every connection it hands out by default: a second
            // round trip per query. A connection that was in use within the
            // last second is known to be alive; only one idle for longer
            // (a server restart or an idle cut may have killed it) is pinged.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(opts);
        Ok(Self { pool })
    }
}

super::sqlx_driver::sqlx_driver!(
    PgDriver,
    Postgres,
    PgArguments,
    Dialect::Postgres,
    super::migrate::postgres
);
