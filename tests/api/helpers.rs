//! The test harness: a real server on a random port per test, on SQLite or
//! PostgreSQL, and one helper per endpoint.

use std::io::Write;
use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::{Value, json};
use sqlx::Connection;
use todo_api::auth::{UserClaim, mint_token};
use todo_api::config::{Config, Secret, Settings};
use todo_api::db::Store;
use todo_api::startup::Application;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    /// The `/metrics` listener's base URL, when `METRICS_ADDR` is set.
    pub metrics_base: Option<String>,
    pub client: reqwest::Client,
    pub secret: Secret,
    pub backend: Backend,
    pub database_url: String,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server for tests, if configured. In CI its absence fails.
pub fn postgres_admin_url(test: &str) -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "TEST_DATABASE_URL must be set in CI: PostgreSQL tests may not be skipped"
            );
            // Written past the test harness's capture, so it is seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (PostgreSQL): {test}: set TEST_DATABASE_URL to run it"
            );
            None
        }
    }
}

/// A direct PostgreSQL connection for test set-up, sending no startup
/// parameter a pooler rejects (so the suite runs through PgBouncer too).
pub async fn pg_connect(url: &str) -> sqlx::PgConnection {
    let opts: sqlx::postgres::PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    sqlx::PgConnection::connect_with(&opts.extra_float_digits(None))
        .await
        .expect("connect to PostgreSQL")
}

/// A pool for test set-up, likewise.
pub async fn pg_pool(url: &str) -> sqlx::PgPool {
    let opts: sqlx::postgres::PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    sqlx::PgPool::connect_with(opts.extra_float_digits(None))
        .await
        .expect("connect to PostgreSQL")
}

/// A fresh, empty database for one test; its URL.
pub async fn fresh_database(
    backend: Backend,
    test: &str,
) -> Option<(String, Option<tempfile::TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("todo.db").display());
            Some((url, Some(dir)))
        }
        Backend::Postgres => {
            let admin = postgres_admin_url(test)?;
            let name = format!("todo_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = pg_connect(&admin).await;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let mut url = url::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
            url.set_path(&name);
            if let Some(workers) = citus_workers() {
                make_citus_database(&url, &name, &workers).await;
            }
            Some((url.to_string(), None))
        }
    }
}

/// `TEST_CITUS_WORKERS=host:port,…`: `TEST_DATABASE_URL` is a Citus
/// coordinator with these workers (scripts/citus.sh).
pub fn citus_workers() -> Option<Vec<String>> {
    std::env::var("TEST_CITUS_WORKERS")
        .ok()
        .filter(|w| !w.trim().is_empty())
        .map(|w| w.split(',').map(|s| s.trim().to_owned()).collect())
}

/// Create database `name` with the citus extension on the node at
/// `host:port`, so that it can join that database's cluster.
pub async fn prepare_citus_node(node: &str, name: &str) {
    let admin = format!("postgres://postgres@{node}/postgres");
    let mut conn = pg_connect(&admin).await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create the test database on a worker");
    let mut db = pg_connect(&format!("postgres://postgres@{node}/{name}")).await;
    sqlx::query("CREATE EXTENSION citus")
        .execute(&mut db)
        .await
        .expect("citus on a worker");
}

/// Make the new database `name` (at `url`, on the coordinator) a Citus
/// cluster of its own: the database and the extension on every worker,
/// then the extension on the coordinator with the workers registered. The
/// API distributes its tables when it migrates.
async fn make_citus_database(url: &url::Url, name: &str, workers: &[String]) {
    for worker in workers {
        prepare_citus_node(worker, name).await;
    }
    let mut coord = pg_connect(url.as_str()).await;
    sqlx::query("CREATE EXTENSION citus")
        .execute(&mut coord)
        .await
        .expect("citus on the coordinator");
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = i32::from(url.port().unwrap_or(5432));
    sqlx::query("SELECT citus_set_coordinator_host($1, $2)")
        .bind(&host)
        .bind(port)
        .execute(&mut coord)
        .await
        .expect("set the coordinator host");
    for worker in workers {
        let (host, port) = worker
            .rsplit_once(':')
            .expect("TEST_CITUS_WORKERS is host:port,…");
        // Retried: with many tests setting up databases at once, the
        // coordinator's first connection to a worker now and then fails.
        let port: i32 = port.parse().expect("a port");
        let mut tries = 0;
        loop {
            let added = sqlx::query("SELECT citus_add_node($1, $2)")
                .bind(host)
                .bind(port)
                .execute(&mut coord)
                .await;
            match added {
                Ok(_) => break,
                Err(e) if tries < 5 => {
                    tries += 1;
                    eprintln!("citus_add_node({host}:{port}) failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => panic!("add a worker: {e}"),
            }
        }
    }
}

pub const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// Settings for a test server: random port, a known secret.
pub fn settings(database_url: &str) -> Settings {
    let mut s = Settings::default();
    s.database.database_url = database_url.to_owned();
    s.auth.better_auth_secret = Some(Secret::new(SECRET));
    s.server.api_port = 0;
    // Small pools: many tests run at once against one PostgreSQL server.
    s.database.db_pool_size = 2;
    s.database.db_max_overflow = 3;
    s.database.db_pipeline_connections = 2;
    s
}

impl TestApp {
    pub async fn spawn(backend: Backend, test: &str) -> Option<TestApp> {
        Self::spawn_with(backend, test, |_| {}).await
    }

    /// Start a server on a fresh database, with `tweak` applied to its settings.
    pub async fn spawn_with(
        backend: Backend,
        test: &str,
        tweak: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        let (url, dir) = fresh_database(backend, test).await?;
        let mut s = settings(&url);
        tweak(&mut s);
        let mut app = Self::start(&s).await;
        app.backend = backend;
        app._dir = dir;
        Some(app)
    }

    /// Start a server with exactly these settings.
    pub async fn start(s: &Settings) -> TestApp {
        let config = Config::from_settings(s).expect("valid test settings");
        let app = Application::build(config)
            .await
            .expect("application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let metrics_base = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
        let store = app.store().clone();
        tokio::spawn(app.run_until(std::future::pending()));
        TestApp {
            base,
            metrics_base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            secret: s.auth.better_auth_secret.clone().unwrap_or(Secret::new("")),
            backend: Backend::Sqlite,
            database_url: s.database.database_url.clone(),
            store,
            _dir: None,
        }
    }

    pub fn token(&self, user: &str) -> String {
        self.token_for(user, Duration::from_secs(600))
    }

    /// A token of `user` that expires after `ttl`.
    pub fn token_for(&self, user: &str, ttl: Duration) -> String {
        mint_token(&self.secret, user, ttl, UserClaim::Sub).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Any request as `user` (no `Authorization` header when `None`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(u) = user {
            req = req.bearer_auth(self.token(u));
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request sent")
    }

    /// [`call`](Self::call), and the response body as JSON.
    pub async fn call_json(
        &self,
        method: Method,
        path: &str,
        user: Option<&str>,
        body: Option<&Value>,
    ) -> Value {
        let resp = self.call(method, path, user, body).await;
        resp.json().await.expect("a JSON body")
    }

    /// `GET /api/me` with a given token.
    pub async fn me_with(&self, token: &str) -> Response {
        self.client
            .get(self.url("/api/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn create(&self, user: &str, body: Value) -> Value {
        let resp = self
            .call(Method::POST, "/api/tasks", Some(user), Some(&body))
            .await;
        assert_eq!(resp.status(), 201, "create {body}");
        resp.json().await.unwrap()
    }

    pub async fn create_titled(&self, user: &str, title: &str) -> i64 {
        self.create(user, json!({ "title": title })).await["id"]
            .as_i64()
            .unwrap()
    }

    /// `POST /api/tasks` as `user`, whatever the answer.
    pub async fn post_task(&self, user: &str, body: Value) -> Response {
        self.call(Method::POST, "/api/tasks", Some(user), Some(&body))
            .await
    }

    /// `PATCH /api/tasks/{id}/toggle` as `user`, whatever the answer.
    pub async fn toggle(&self, user: &str, id: i64) -> Response {
        let path = format!("/api/tasks/{id}/toggle");
        self.call(Method::PATCH, &path, Some(user), None).await
    }

    /// `DELETE /api/tasks/{id}` as `user`: the answer, whatever it is.
    pub async fn delete_task(&self, user: &str, id: i64) -> Response {
        self.call(
            Method::DELETE,
            &format!("/api/tasks/{id}"),
            Some(user),
            None,
        )
        .await
    }

    pub async fn get_task(&self, user: &str, id: i64) -> Response {
        self.call(Method::GET, &format!("/api/tasks/{id}"), Some(user), None)
            .await
    }

    /// The list as `user` with a query string; the tasks and X-Total-Count.
    pub async fn list(&self, user: &str, query: &str) -> (Vec<Value>, i64) {
        let resp = self
            .call(
                Method::GET,
                &format!("/api/tasks?{query}"),
                Some(user),
                None,
            )
            .await;
        assert_eq!(resp.status(), 200, "list ?{query}");
        let total = resp.headers()["x-total-count"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        (resp.json().await.unwrap(), total)
    }

    pub async fn list_ids(&self, user: &str, query: &str) -> Vec<i64> {
        self.list(user, query)
            .await
            .0
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    }

    /// `GET /openapi.json`, the document as served.
    pub async fn document(&self) -> Value {
        let resp = self
            .client
            .get(self.url("/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    pub async fn stats(&self, user: &str) -> Value {
        let resp = self.call(Method::GET, "/api/stats", Some(user), None).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }
}

/// Assert a response is a 422 naming exactly these locations.
pub async fn assert_422(resp: Response, locs: &[Value]) -> Value {
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    let got: Vec<Value> = body["detail"]
        .as_array()
        .expect("detail is a list")
        .iter()
        .map(|e| {
            assert!(e["msg"].is_string() && e["type"].is_string(), "{e}");
            e["loc"].clone()
        })
        .collect();
    assert_eq!(got, locs, "{body}");
    body
}

/// Assert a `{"detail": "…"}` error.
pub async fn assert_detail(resp: Response, status: u16, detail: &str) {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "detail": detail }));
}

/// Generate one test per backend for each listed `async fn(TestApp)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    if let Some(app) = $crate::helpers::TestApp::spawn(
                        $crate::helpers::Backend::Sqlite, test).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    if let Some(app) = $crate::helpers::TestApp::spawn(
                        $crate::helpers::Backend::Postgres, test).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

/// As [`both_backends!`], each test on a server whose settings `tweak`
/// changes: `name => |s: &mut Settings| …`.
#[macro_export]
macro_rules! both_backends_with {
    ($($name:ident => $tweak:expr),* $(,)?) => {
        mod sqlite_with {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    if let Some(app) = $crate::helpers::TestApp::spawn_with(
                        $crate::helpers::Backend::Sqlite, test, $tweak).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres_with {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    if let Some(app) = $crate::helpers::TestApp::spawn_with(
                        $crate::helpers::Backend::Postgres, test, $tweak).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}
