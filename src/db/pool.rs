//! The connection pool of both drivers: deadpool holding sqlx connections.
//!
//! sqlx's own pool sends a ping (a round trip to the database) when it hands
//! a connection out and another when it takes it back: three round trips for
//! every one-statement request. Here a connection is pinged only when it has
//! been idle for more than a second (a restart or an idle cut may have killed
//! it), and a connection whose query failed at the connection level is
//! dropped instead of going back. A connection abandoned mid-query (a client
//! hung up) is safe to reuse: sqlx drains what is left of the previous
//! exchange before it sends the next statement.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};
use sqlx::{ConnectOptions, Connection};

use super::{PoolOptions, PoolState, StoreError};

/// How much longer than the statement timeout a statement may take before
/// the API gives up on it itself (the database's own cancel comes first): a
/// fifth of the timeout and 50 ms, at most a second.
fn backstop(statement_timeout: Duration) -> Duration {
    let grace = (statement_timeout / 5 + Duration::from_millis(50)).min(Duration::from_secs(1));
    statement_timeout + grace
}

/// A connection idle for longer than this is pinged before it is used.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);
/// Connections idle this long are closed (sqlx's default idle timeout)...
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// ... and none lives longer than this (sqlx's default max lifetime), so a
/// database failover or a pooler's rebalancing is picked up.
const MAX_LIFETIME: Duration = Duration::from_secs(1800);

/// When a connection's statement must stop: milliseconds since [`EPOCH`],
/// 0 while no statement runs. Shared with the connection's own time check
/// (SQLite's progress handler); PostgreSQL enforces its limit itself.
#[derive(Clone, Default)]
pub struct Deadline(Arc<AtomicU64>);

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn millis_since_epoch() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Deadline {
    /// Start the clock for one statement; it stops when the guard drops.
    pub fn arm(&self, limit: Duration) -> Armed<'_> {
        let limit = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let at = millis_since_epoch().saturating_add(limit).max(1);
        self.0.store(at, Ordering::Relaxed);
        Armed(self)
    }

    /// Whether the running statement is past its time.
    pub fn passed(&self) -> bool {
        let at = self.0.load(Ordering::Relaxed);
        at != 0 && millis_since_epoch() >= at
    }
}

/// A running statement's clock; dropping it stops the clock.
pub struct Armed<'a>(&'a Deadline);

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.0.store(0, Ordering::Relaxed);
    }
}

/// What a driver does to each new connection so that no statement runs
/// longer than the statement timeout.
pub trait Setup: Connection {
    fn setup(
        &mut self,
        deadline: &Deadline,
        statement_timeout: Duration,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// A pooled connection and its statement clock.
pub struct Conn<C> {
    pub inner: C,
    pub deadline: Deadline,
}

/// Opens and recycles connections of type `C`.
pub struct Connector<C: Setup> {
    options: <C as Connection>::Options,
    statement_timeout: Duration,
}

impl<C> managed::Manager for Connector<C>
where
    C: Setup,
{
    type Type = Conn<C>;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Conn<C>, sqlx::Error> {
        let mut inner = self.options.connect().await?;
        let deadline = Deadline::default();
        inner.setup(&deadline, self.statement_timeout).await?;
        Ok(Conn { inner, deadline })
    }

    async fn recycle(&self, conn: &mut Conn<C>, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if metrics.last_used() > PING_IDLE_AFTER {
            conn.inner.ping().await?;
        }
        Ok(())
    }
}

/// A pool of connections of type `C`.
pub struct Pool<C: Setup> {
    inner: managed::Pool<Connector<C>>,
    statement_timeout: Duration,
}

/// A connection taken from a [`Pool`]; it goes back when dropped.
pub type Pooled<C> = Object<Connector<C>>;

impl<C> Pool<C>
where
    C: Setup + 'static,
{
    /// A pool that opens connections when they are first needed, and closes
    /// those idle or old (checked every minute).
    pub fn new(options: <C as Connection>::Options, settings: &PoolOptions) -> Self {
        let pool = Self::unreaped(options, settings);
        pool.spawn_reaper();
        pool
    }

    /// A pool whose connections are never closed for being idle or old (an
    /// in-memory SQLite database lives only as long as its connection).
    pub fn unreaped(options: <C as Connection>::Options, settings: &PoolOptions) -> Self {
        let statement_timeout = settings.statement_timeout;
        let connector = Connector {
            options,
            statement_timeout,
        };
        let inner = managed::Pool::builder(connector)
            .max_size(settings.max_connections.max(1) as usize)
            .wait_timeout(Some(settings.acquire_timeout))
            .create_timeout(Some(settings.acquire_timeout))
            .recycle_timeout(Some(settings.acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("a runtime is set, so timeouts are allowed");
        Self {
            inner,
            statement_timeout,
        }
    }

    /// Run one statement (or one transaction) on a connection of this pool
    /// under the statement timeout: its clock armed for the database's own
    /// check (SQLite's progress handler; PostgreSQL's `statement_timeout`
    /// cancels by itself), and a deadline of our own a little later, for a
    /// database that does not enforce it (through PgBouncer the startup
    /// option is accepted but not applied: PostgreSQL does not report the
    /// setting, so the pooler cannot track it).
    /// Past that the work is abandoned: [`StoreError::StatementTimedOut`],
    /// and [`checked`](Self::checked) drops the connection.
    pub async fn bounded<T, E: Into<StoreError>>(
        &self,
        deadline: &Deadline,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        let _armed = deadline.arm(self.statement_timeout);
        match tokio::time::timeout(backstop(self.statement_timeout), work).await {
            Ok(done) => done.map_err(Into::into),
            Err(_) => Err(StoreError::StatementTimedOut),
        }
    }

    fn spawn_reaper(&self) {
        let reaped = self.inner.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                if reaped.is_closed() {
                    break;
                }
                reaped.retain(|_, m| m.last_used() < IDLE_TIMEOUT && m.age() < MAX_LIFETIME);
            }
        });
    }

    /// A connection, waiting at most the acquire timeout for one.
    pub async fn get(&self) -> Result<Pooled<C>, StoreError> {
        self.inner.get().await.map_err(|e| match e {
            PoolError::Backend(e) => StoreError::Sqlx(e),
            PoolError::Timeout(_) | PoolError::Closed | PoolError::NoRuntimeSpecified => {
                StoreError::PoolTimedOut
            }
            PoolError::PostCreateHook(e) => StoreError::Corrupt(e.to_string()),
        })
    }

    /// Pass on a statement's result; a connection that failed at the
    /// connection level is dropped rather than reused.
    pub fn checked<R, E: Into<StoreError>>(
        conn: Pooled<C>,
        result: Result<R, E>,
    ) -> Result<R, StoreError> {
        let result = result.map_err(Into::into);
        let broken = match &result {
            Err(StoreError::Sqlx(e)) => connection_lost(e),
            // Still busy with the abandoned statement.
            Err(StoreError::StatementTimedOut) => true,
            _ => false,
        };
        if broken {
            drop(Object::take(conn));
        }
        result
    }

    pub fn state(&self) -> PoolState {
        let status = self.inner.status();
        PoolState {
            open: u32::try_from(status.size).unwrap_or(u32::MAX),
            idle: u32::try_from(status.available).unwrap_or(u32::MAX),
        }
    }

    pub fn close(&self) {
        self.inner.close();
    }
}

/// A connection in a transaction. If the work is abandoned half-way (the
/// request's future dropped: a timeout, a client gone), the connection is
/// closed rather than put back: a dropped sqlx transaction is only rolled
/// back at the connection's next use, and until then it would hold its
/// locks (a user's row: every later change of that user would wait).
/// Closing it ends the transaction on the server at once.
pub struct Transacting<C: Setup>(Option<Pooled<C>>);

impl<C: Setup> Transacting<C> {
    pub fn new(conn: Pooled<C>) -> Self {
        Self(Some(conn))
    }

    pub fn conn(&mut self) -> &mut Conn<C> {
        self.0.as_mut().expect("taken only by finish")
    }

    /// The work ended (committed or rolled back): the connection.
    pub fn finish(mut self) -> Pooled<C> {
        self.0.take().expect("taken only once")
    }
}

impl<C: Setup> Drop for Transacting<C> {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            tracing::debug!("a transaction was abandoned; its connection is closed");
            drop(Object::take(conn));
        }
    }
}

/// The connection itself is broken: I/O, TLS or protocol failures, and
/// PostgreSQL's connection-exception and shutdown classes.
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}
