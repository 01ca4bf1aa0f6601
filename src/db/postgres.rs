//! The PostgreSQL driver (Neon and PgBouncer included): it sends no startup
//! parameter a transaction-pooling proxy would reject.

use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection};
use sqlx::{Arguments, Connection, Postgres};

use super::pool::{Conn, Deadline, Pool, Setup};
use super::sql::{Arg, Dialect, Statement};
use super::{
    ChangeTx, ConversationRow, Driver, KeyRow, MessageRow, MigrateCommand, MigrationState,
    PoolOptions, PoolState, StatsRow, StoreError, TagRow, TaskRow,
};

pub struct PgDriver {
    pool: Pool<PgConnection>,
    /// The server refused a startup option: a transaction pooler.
    pooler: bool,
    /// The database has the Citus extension (a coordinator).
    citus: bool,
}

impl PgDriver {
    pub async fn connect(opts: &PgConnectOptions, pool: &PoolOptions) -> Result<Self, StoreError> {
        // PgBouncer (and so Neon's pooled endpoint) rejects extra_float_digits.
        let plain = opts.clone().extra_float_digits(None);
        // The statement timeout travels as a startup option, so it belongs
        // to this client's session only, and PostgreSQL cancels a statement
        // past it. A `SET` would not do through a transaction pooler: it
        // would stay on whichever server connection ran it, for its other
        // clients too. PgBouncer refuses the option unless told to track it,
        // and even then cannot apply it (PostgreSQL does not report it):
        // there the API's own deadline (`Pool::bounded`) is what holds.
        let ms = pool.statement_timeout.as_millis().max(1).to_string();
        let timed = plain.clone().options([("statement_timeout", ms.as_str())]);
        // One direct connection first: it fails at once when the server
        // refuses, where a pool would keep retrying until its timeout.
        let (opts, pooler, citus) = match PgConnection::connect_with(&timed).await {
            Ok(mut conn) => {
                let citus = super::migrate::citus_installed(&mut conn).await?;
                conn.close().await?;
                (timed, false, citus)
            }
            Err(e) if refused_startup_option(&e) => {
                tracing::warn!(
                    "the database (a pooler) refuses the statement_timeout startup option: \
                     the API abandons a statement past STATEMENT_TIMEOUT_MS, but the database \
                     runs it to its end; set statement_timeout on the role or database there"
                );
                let mut conn = PgConnection::connect_with(&plain).await?;
                let citus = super::migrate::citus_installed(&mut conn).await?;
                conn.close().await?;
                (plain, true, citus)
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            pool: Pool::new(opts, pool),
            pooler,
            citus,
        })
    }

    /// Each change in a transaction of its own.
    async fn run_change(&self, change: ChangeTx) -> Result<Option<(i64, TaskRow)>, StoreError> {
        change_alone(&self.pool, &change).await
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

    fn through_pooler(&self) -> bool {
        self.pooler
    }

    /// Plain PostgreSQL, connected directly (`sql::create_task_at_once`,
    /// `sql::toggle_task_at_once`). Citus keeps the transaction of
    /// statements, and so does a transaction pooler: there PostgreSQL does
    /// not apply the statement timeout, so a statement the API gave up on
    /// (503) would still commit once it got its lock, where a transaction
    /// whose client is gone never gets its `COMMIT`.
    fn changes_at_once(&self) -> bool {
        !self.citus && !self.pooler
    }
}

/// A pooler's refusal of a startup parameter it does not track (PgBouncer:
/// "unsupported startup parameter", a protocol violation).
fn refused_startup_option(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| {
        d.code().is_some_and(|c| c == "08P01") || d.message().contains("startup parameter")
    })
}

/// Nothing to do per connection: PostgreSQL enforces the statement timeout
/// (from the startup option) and cancels the statement itself, freeing its
/// backend.
impl Setup for PgConnection {
    async fn setup(
        &mut self,
        _deadline: &Deadline,
        _statement_timeout: std::time::Duration,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

super::sqlx_driver::sqlx_driver!(
    PgDriver,
    Postgres,
    PgConnection,
    PgArguments,
    Dialect::Postgres,
    super::migrate::postgres,
    super::migrate::distribution
);
