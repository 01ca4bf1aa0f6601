//! The PostgreSQL driver (Neon and PgBouncer included): it sends no startup
//! parameter a transaction-pooling proxy would reject.

use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection};
use sqlx::{Arguments, Connection, Postgres};

use super::pool::{Pool, WriterTurn};
use super::sql::{Arg, Dialect, Statement};
use super::{
    AfterInsert, Driver, KeyRow, MigrateCommand, MigrationState, PoolOptions, PoolState, StatsRow,
    StoreError, TaskRow,
};

pub struct PgDriver {
    pool: Pool<PgConnection>,
}

impl PgDriver {
    pub async fn connect(opts: &PgConnectOptions, pool: &PoolOptions) -> Result<Self, StoreError> {
        // PgBouncer (and so Neon's pooled endpoint) rejects extra_float_digits.
        let opts = opts.clone().extra_float_digits(None);
        // One direct connection first: it fails at once when the server
        // refuses, where a pool would keep retrying until its timeout.
        PgConnection::connect_with(&opts).await?.close().await?;
        Ok(Self {
            pool: Pool::new(opts, pool),
        })
    }

    /// PostgreSQL runs writers concurrently: no lane.
    async fn lane(&self, _sql: &str) -> Result<Option<WriterTurn<'_>>, StoreError> {
        Ok(None)
    }
}

super::sqlx_driver::sqlx_driver!(
    PgDriver,
    Postgres,
    PgConnection,
    PgArguments,
    Dialect::Postgres,
    super::migrate::postgres
);
