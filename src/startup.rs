//! Building and running the application: connect, migrate, bind, serve.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tower::Layer;
use tower::util::MapRequestLayer;

use crate::auth::Authenticator;
use crate::config::{Config, DatabaseUrl};
use crate::connection::{self, ConnectionLimits};
use crate::db::{self, MigrateCommand, SeenUsers, Store, StoreError};
use crate::http::{self, AppState};

/// How long start-up keeps trying to reach the database before giving up.
const CONNECT_ATTEMPTS: u32 = 5;

/// Open the database, retrying a few times with backoff.
pub async fn connect_store(config: &Config) -> anyhow::Result<Store> {
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        let attempt_result = tokio::time::timeout(
            config.database.pool.acquire_timeout,
            db::connect(
                &config.database.url,
                &config.database.pool,
                config.limits.user,
                config.live.streams,
            ),
        )
        .await
        .unwrap_or(Err(StoreError::ConnectTimeout));
        match attempt_result {
            Ok(store) => return Ok(store),
            Err(e) if attempt < CONNECT_ATTEMPTS => {
                tracing::warn!(attempt, error = %e, "database not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => {
                let what = match &config.database.url {
                    DatabaseUrl::Sqlite(_) => "SQLite",
                    DatabaseUrl::Postgres(..) => "PostgreSQL",
                };
                return Err(anyhow::anyhow!(
                    "DATABASE_URL: {what} database unreachable after {CONNECT_ATTEMPTS} attempts: {e}"
                ));
            }
        }
    }
}

/// A built application: bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    port: u16,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    config: Config,
}

impl Application {
    /// Connect, migrate (unless disabled) and bind `config.server.host:config.server.port`
    /// (port 0 picks a free one), and `METRICS_ADDR` when set.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        crate::telemetry::init();
        let store = connect_store(&config).await?;
        if config.database.auto_migrate {
            store
                .migrate(MigrateCommand::Up)
                .await
                .context("applying migrations")?;
        }
        let state = AppState::new(http::state::Parts {
            store,
            auth: Arc::new(Authenticator::new(&config.auth)),
            users: Arc::new(SeenUsers::default()),
            limits: Arc::new(http::ratelimit::RateLimits::new(
                config.limits.rate_ip,
                config.limits.rate_user,
            )),
            conventions: config.conventions,
            events: config.live.events,
            shutdown: tokio_util::sync::CancellationToken::new(),
        });
        let addr = format!("{}:{}", config.server.host, config.server.port);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("API_HOST/API_PORT: cannot listen on {addr}"))?;
        let port = listener.local_addr()?.port();
        let metrics_listener = match config.server.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("METRICS_ADDR: cannot listen on {addr}"))?,
            ),
            None => None,
        };
        Ok(Self {
            listener,
            port,
            metrics_listener,
            state,
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener, when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        let listener = self.metrics_listener.as_ref()?;
        listener.local_addr().ok().map(|a| a.port())
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// What bounds a client connection, from the configuration.
    fn connection_limits(&self) -> ConnectionLimits {
        let config = &self.config;
        ConnectionLimits {
            max_connections: config.server.max_connections.map_or_else(
                || connection::default_max_connections(config.database.pool.max_connections),
                |n| usize::try_from(n).unwrap_or(usize::MAX),
            ),
            // Headers must arrive within this (slowloris), and a first
            // request at all; bodies are bounded by the request timeout.
            header_timeout: HEADER_READ_TIMEOUT.min(config.server.request_timeout),
            idle_timeout: config.server.idle_timeout,
            write_timeout: config.server.request_timeout,
        }
    }

    /// Serve until `shutdown` resolves; in-flight requests are finished.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let limits = self.connection_limits();
        tracing::debug!(
            max_connections = limits.max_connections,
            "connection limits"
        );
        let store = self.state.store.clone();
        let sweeper = self
            .config
            .database
            .idempotency_sweep
            .map(|every| tokio::spawn(sweep_idempotency_keys(store.clone(), every)));
        let metrics = self.metrics_listener.map(|listener| {
            let app = http::metrics_router(self.state.clone());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(connection::serve(listener, app, limits, async move {
                let _ = stopped.await;
            }));
            (stop, task)
        });
        // Closes the event streams and the MCP sessions' streams when
        // shutdown begins.
        let stopping = self.state.shutdown.clone();
        let listen = self.config.live.listen_database.clone().filter(|options| {
            // A transaction pooler cannot hold a LISTEN, and the server
            // connection it ran on would then deliver notifications to
            // whichever client it serves next (which sqlx refuses).
            let pooled = !self.config.live.listen_given
                && (self.state.store.through_pooler() || options.get_host().contains("-pooler"));
            if pooled {
                tracing::warn!(
                    "DATABASE_URL goes through a transaction pooler, which cannot LISTEN: event \
                     streams get this instance's changes only; set LISTEN_DATABASE_URL to a \
                     direct connection for the changes of other instances"
                );
            }
            !pooled
        });
        let listener = match listen {
            Some(options) => {
                let (ready, listening) = tokio::sync::oneshot::channel();
                let task = tokio::spawn(db::changes::listen(
                    options,
                    Arc::clone(self.state.store.hub()),
                    stopping.clone(),
                    ready,
                ));
                // Listening before serving, so that no change made elsewhere
                // after this instance's first answer goes unheard (if the
                // database is slow to answer, serve anyway: the listener
                // keeps trying, and streams catch up once it is in place).
                if tokio::time::timeout(LISTEN_READY_WITHIN, listening)
                    .await
                    .is_err()
                {
                    tracing::warn!("the LISTEN connection is not in place yet; serving anyway");
                }
                Some(task)
            }
            None => None,
        };
        let change_sweeper = self.config.live.tombstone_sweep.map(|every| {
            tokio::spawn(sweep_changes(
                store.clone(),
                every,
                self.config.live.tombstone_retention,
            ))
        });
        let mcp = self.config.mcp.clone().map(|config| {
            let rest = http::rest_routes(self.state.clone());
            let document = http::document(&Default::default());
            crate::mcp::router(
                self.state.clone(),
                config,
                rest,
                &document,
                stopping.clone(),
            )
        });
        let chat = self.config.chat.clone().map(|config| {
            let rest = http::rest_routes(self.state.clone());
            crate::chat::router(config, rest, &http::document(&Default::default()))
        });
        let extra = [mcp, chat]
            .into_iter()
            .flatten()
            .reduce(axum::Router::merge);
        let router = http::router(
            self.state,
            &self.config.server.cors_origins,
            self.config.server.request_timeout,
            metrics.is_some(),
            extra,
        );
        let shutdown = {
            let stopping = stopping.clone();
            async move {
                shutdown.await;
                stopping.cancel();
            }
        };
        // Before routing, so that `/api/tasks/` finds `/api/tasks`.
        let app = MapRequestLayer::new(http::trim_trailing_slash).layer(router);
        connection::serve(self.listener, app, limits, shutdown).await;
        if let Some((stop, task)) = metrics {
            let _ = stop.send(());
            let _ = task.await;
        }
        stopping.cancel();
        for task in [sweeper, change_sweeper, listener].into_iter().flatten() {
            task.abort();
        }
        store.close().await;
        Ok(())
    }

    /// The MCP tools over stdio, as the user `token` names (verified as a
    /// request's would be), until the client closes stdin.
    pub async fn serve_mcp_stdio(self, token: &str) -> anyhow::Result<()> {
        let mut parts = axum::http::Request::builder()
            .header(axum::http::header::AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .context("a request for the stdio user")?
            .into_parts()
            .0;
        let user = http::auth::authenticate(&mut parts, &self.state, None)
            .await
            .map_err(|e| anyhow::anyhow!("the stdio user: {e}"))?;
        let rest = http::rest_routes(self.state.clone());
        let document = http::document(&Default::default());
        crate::mcp::serve_stdio(rest, &document, user).await?;
        self.state.store.close().await;
        Ok(())
    }

    /// Serve until SIGTERM or SIGINT (`stop`, from [`shutdown_signal`]).
    pub async fn run_until_stopped(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.run_until(stop).await
    }
}

/// Longest start-up waits for the LISTEN connection before serving.
const LISTEN_READY_WITHIN: Duration = Duration::from_secs(5);

/// Longest a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Delete expired Idempotency-Key records every `every`, whichever user
/// they belong to (a user who never comes back would otherwise keep theirs).
async fn sweep_idempotency_keys(store: Store, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match store.sweep_expired_keys().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "swept expired Idempotency-Key records"),
            Err(e) => tracing::warn!(error = %e, "could not sweep Idempotency-Key records"),
        }
    }
}

/// Forget tombstones past their retention and expired event tickets every
/// `every` (docs/live-updates.md), whichever user they belong to.
async fn sweep_changes(store: Store, every: Duration, retention: Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match store.sweep_changes(retention).await {
            Ok(0) => {}
            Ok(batches) => tracing::info!(batches, "forgot tombstones past their retention"),
            Err(e) => tracing::warn!(error = %e, "could not sweep tombstones and tickets"),
        }
    }
}

/// SIGTERM or SIGINT. The handlers are installed when this is called, not
/// when the future is first polled: a signal sent as soon as the server
/// says it is listening (a test, an orchestrator stopping a pod that just
/// started) must find them. Installed on the first poll, as they were, a
/// signal that came before the accept loop first polled the future killed
/// the process outright.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            let (term, int) = signals;
            tokio::select! {
                () = next(term) => {},
                () = next(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}
