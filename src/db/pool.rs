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

use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};
use sqlx::{ConnectOptions, Connection};

use super::{PoolOptions, PoolState, StoreError};

/// A connection idle for longer than this is pinged before it is used.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);
/// Connections idle this long are closed (sqlx's default idle timeout)...
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// ... and none lives longer than this (sqlx's default max lifetime), so a
/// database failover or a pooler's rebalancing is picked up.
const MAX_LIFETIME: Duration = Duration::from_secs(1800);

/// Opens and recycles connections of type `C`.
pub struct Connector<C: Connection> {
    options: <C as Connection>::Options,
}

impl<C> managed::Manager for Connector<C>
where
    C: Connection,
{
    type Type = C;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<C, sqlx::Error> {
        self.options.connect().await
    }

    async fn recycle(&self, conn: &mut C, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if metrics.last_used() > PING_IDLE_AFTER {
            conn.ping().await?;
        }
        Ok(())
    }
}

/// A pool of connections of type `C`.
pub struct Pool<C: Connection> {
    inner: managed::Pool<Connector<C>>,
}

/// A connection taken from a [`Pool`]; it goes back when dropped.
pub type Pooled<C> = Object<Connector<C>>;

impl<C> Pool<C>
where
    C: Connection + 'static,
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
        let inner = managed::Pool::builder(Connector { options })
            .max_size(settings.max_connections.max(1) as usize)
            .wait_timeout(Some(settings.acquire_timeout))
            .create_timeout(Some(settings.acquire_timeout))
            .recycle_timeout(Some(settings.acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("a runtime is set, so timeouts are allowed");
        Self { inner }
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
        if let Err(StoreError::Sqlx(e)) = &result
            && connection_lost(e)
        {
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
