//! Building and running the application: connect, migrate, bind, serve.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Layer;
use tower::util::MapRequestLayer;

use crate::auth::{Authenticator, SeenUsers};
use crate::config::{Config, DatabaseUrl};
use crate::db::{self, MigrateCommand, Store, StoreError};
use crate::http::{self, AppState};

/// How long start-up keeps trying to reach the database before giving up.
const CONNECT_ATTEMPTS: u32 = 5;

/// Open the database, retrying a few times with backoff.
pub async fn connect_store(config: &Config) -> anyhow::Result<Store> {
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        let attempt_result = tokio::time::timeout(
            config.pool.acquire_timeout,
            db::connect(&config.database, &config.pool),
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
                let what = match &config.database {
                    DatabaseUrl::Sqlite(_) => "SQLite",
                    DatabaseUrl::Postgres(_) => "PostgreSQL",
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
    state: AppState,
    config: Config,
}

impl Application {
    /// Connect, migrate (unless disabled) and bind `config.host:config.port`
    /// (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        http::metrics::init();
        let store = connect_store(&config).await?;
        if config.auto_migrate {
            store
                .migrate(MigrateCommand::Up)
                .await
                .context("applying migrations")?;
        }
        let state = AppState {
            store,
            auth: Arc::new(Authenticator::new(&config.auth)),
            users: Arc::new(SeenUsers::default()),
            limits: Arc::new(http::ratelimit::RateLimits::new(
                config.rate_limit_ip,
                config.rate_limit_user,
            )),
        };
        let addr = format!("{}:{}", config.host, config.port);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("API_HOST/API_PORT: cannot listen on {addr}"))?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            port,
            state,
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Serve until `shutdown` resolves; in-flight requests are finished.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let router = http::router(
            self.state,
            &self.config.cors_origins,
            self.config.request_timeout,
        );
        // Before routing, so that `/api/tasks/` finds `/api/tasks`.
        let app = MapRequestLayer::new(http::trim_trailing_slash).layer(router);
        // Headers must arrive within this (slowloris); bodies are bounded by
        // the request timeout.
        let header_timeout = HEADER_READ_TIMEOUT.min(self.config.request_timeout);
        serve(self.listener, app, header_timeout, shutdown).await;
        store.close().await;
        Ok(())
    }

    /// Serve until SIGTERM or SIGINT.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Longest a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Accept connections until `shutdown`, then let those open finish their
/// requests. Like `axum::serve`, plus a header-read timeout.
async fn serve<S>(
    listener: TcpListener,
    app: S,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) where
    S: tower::Service<
            Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = tower::ServiceExt::map_request(app.clone(), move |req: Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(addr));
            req
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
