//! The PostgreSQL driver (Neon and PgBouncer included): it sends no startup
//! parameter a transaction-pooling proxy would reject.

use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection};
use sqlx::{Arguments, Connection, Postgres};

use super::pool::{Conn, Deadline, Pool, Setup};
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

    /// Readers and writers share one pool.
    fn pool_for(&self, _read_only: bool) -> &Pool<PgConnection> {
        &self.pool
    }

    fn pool_state_all(&self) -> PoolState {
        self.pool.state()
    }

    fn close_all(&self) {
        self.pool.close();
    }
}

/// PostgreSQL enforces the statement timeout itself (and cancels the
/// statement, freeing its backend). Set per session rather than as a startup
/// parameter, which PgBouncer refuses; through a transaction pooler the
/// setting lands on whichever server connection runs it, so there also set
/// it on the role (README).
impl Setup for PgConnection {
    async fn setup(
        &mut self,
        _deadline: &Deadline,
        statement_timeout: std::time::Duration,
    ) -> Result<(), sqlx::Error> {
        let ms = statement_timeout.as_millis().max(1);
        let set = format!("SET statement_timeout = {ms}");
        sqlx::query(&set).execute(&mut *self).await.map(drop)
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
