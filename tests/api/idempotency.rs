//! `Idempotency-Key` on POST (docs/api.md#safe-concurrent-edits-etag-if-match-if-none-match): replays, mismatches, concurrent
//! duplicates, per-user keys, expiry and abandoned first requests.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::{Backend, TestApp, assert_422};

crate::both_backends!(
    a_replay_returns_the_first_response,
    fifty_clients_sending_three_times_at_once_make_fifty_tasks,
    expired_keys_and_abandoned_first_requests_free_the_key,
    expired_keys_are_swept_on_a_timer,
);

/// POST a raw JSON body as `user` with these `Idempotency-Key` headers.
async fn post(app: &TestApp, path: &str, user: &str, keys: &[&str], body: &str) -> Response {
    let mut req = app
        .client
        .post(app.url(path))
        .bearer_auth(app.token(user))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for key in keys {
        req = req.header("idempotency-key", *key);
    }
    req.send().await.unwrap()
}

async fn task_count(app: &TestApp, user: &str) -> i64 {
    app.list(user, "").await.1
}

async fn a_replay_returns_the_first_response(app: TestApp) {
    let first = post(
        &app,
        "/api/tasks",
        "ann",
        &["k-1"],
        r#"{"title": "milk", "priority": "high"}"#,
    )
    .await;
    assert_eq!(first.status(), 201);
    let (location, etag) = (
        first.headers()["location"].clone(),
        first.headers()["etag"].clone(),
    );
    assert!(first.headers().get("idempotent-replayed").is_none());
    let body: Value = first.json().await.unwrap();
    // The task changes afterwards; a replay still gives the first response.
    let path = format!("/api/tasks/{}", body["id"]);
    app.call(
        Method::PATCH,
        &path,
        Some("ann"),
        Some(&json!({"title": "oat milk"})),
    )
    .await;

    // Same body as parsed JSON: other key order and spacing.
    let again = post(
        &app,
        "/api/tasks",
        "ann",
        &["k-1"],
        r#"{ "priority":"high","title":"milk" }"#,
    )
    .await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.headers()["etag"], etag);
    assert_eq!(again.json::<Value>().await.unwrap(), body);
    // The scoped style is the same user, so the same key.
    let scoped = post(
        &app,
        "/api/ann/tasks",
        "ann",
        &["k-1"],
        r#"{"title":"milk","priority":"high"}"#,
    )
    .await;
    assert_eq!(scoped.status(), 201);
    assert_eq!(scoped.json::<Value>().await.unwrap()["id"], body["id"]);
    assert_eq!(task_count(&app, "ann").await, 1);

    // Another body with the same key: 422, nothing created.
    let other = post(&app, "/api/tasks", "ann", &["k-1"], r#"{"title": "bread"}"#).await;
    assert_422(other, &[json!(["header", "idempotency-key"])]).await;
    assert_eq!(task_count(&app, "ann").await, 1);

    // Keys are per user: Bob's k-1 is his own.
    let bobs = post(
        &app,
        "/api/tasks",
        "bob",
        &["k-1"],
        r#"{"title": "milk", "priority": "high"}"#,
    )
    .await;
    assert_eq!(bobs.status(), 201);
    assert!(bobs.headers().get("idempotent-replayed").is_none());
    assert_ne!(bobs.json::<Value>().await.unwrap()["id"], body["id"]);
    assert_eq!(
        (task_count(&app, "ann").await, task_count(&app, "bob").await),
        (1, 1)
    );

    // A bad body is a 422 that does not use up the key.
    let bad = post(&app, "/api/tasks", "ann", &["k-2"], r#"{"title": ""}"#).await;
    assert_eq!(bad.status(), 422);
    let good = post(&app, "/api/tasks", "ann", &["k-2"], r#"{"title": "eggs"}"#).await;
    assert_eq!(good.status(), 201);
    assert!(good.headers().get("idempotent-replayed").is_none());

    // Keys that are not 1 to 255 visible ASCII characters, or two of them.
    let long = "k".repeat(256);
    for keys in [
        vec![""],
        vec![long.as_str()],
        vec!["has space"],
        vec!["a", "b"],
    ] {
        let resp = post(&app, "/api/tasks", "ann", &keys, r#"{"title": "x"}"#).await;
        assert_422(resp, &[json!(["header", "idempotency-key"])]).await;
    }
    let max = "k".repeat(255);
    assert_eq!(
        post(&app, "/api/tasks", "ann", &[&max], r#"{"title": "x"}"#)
            .await
            .status(),
        201
    );
    assert_eq!(task_count(&app, "ann").await, 3);
}

async fn fifty_clients_sending_three_times_at_once_make_fifty_tasks(app: TestApp) {
    let requests = (0..50).flat_map(|client| (0..3).map(move |_| client));
    let results = futures::future::join_all(requests.map(|client| {
        let app = &app;
        async move {
            let key = format!("client-{client}");
            let body = format!(r#"{{"title": "from client {client}"}}"#);
            let resp = post(app, "/api/tasks", "ann", &[&key], &body).await;
            let status = resp.status().as_u16();
            let id = match status {
                201 => resp.json::<Value>().await.unwrap()["id"].as_i64(),
                _ => None,
            };
            (client, status, id)
        }
    }))
    .await;
    for (client, status, _) in &results {
        assert!(matches!(status, 201 | 409), "client {client}: {status}");
    }
    assert_eq!(task_count(&app, "ann").await, 50, "one task per key");
    // Every 201 of a client names the same task, and a later retry gets it too.
    for client in 0..50 {
        let ids: Vec<i64> = results
            .iter()
            .filter(|(c, _, _)| *c == client)
            .filter_map(|(_, _, id)| *id)
            .collect();
        assert!(!ids.is_empty(), "client {client} got no 201");
        let key = format!("client-{client}");
        let body = format!(r#"{{"title": "from client {client}"}}"#);
        let retry: Value = post(&app, "/api/tasks", "ann", &[&key], &body)
            .await
            .json()
            .await
            .unwrap();
        assert!(
            ids.iter().all(|id| *id == retry["id"].as_i64().unwrap()),
            "client {client}"
        );
    }
}

/// Run one statement on the app's database (both backends), binding `at`.
async fn set_created_at(app: &TestApp, sql_pg: &str, at: chrono::DateTime<chrono::Utc>) {
    match app.backend {
        Backend::Postgres => {
            let mut conn = crate::helpers::pg_connect(&app.database_url).await;
            sqlx::query(sql_pg)
                .bind(at)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            let sql = sql_pg.replace("$1", "?");
            sqlx::query(&sql).bind(at).execute(&mut conn).await.unwrap();
        }
    }
}

async fn expired_keys_and_abandoned_first_requests_free_the_key(app: TestApp) {
    let now = chrono::Utc::now();
    let body = r#"{"title": "weekly"}"#;
    assert_eq!(
        post(&app, "/api/tasks", "ann", &["week"], body)
            .await
            .status(),
        201
    );
    // Within 24 h: a replay. After 24 h the key is free again: a new task.
    set_created_at(
        &app,
        "UPDATE idempotency_keys SET created_at = $1",
        now - chrono::Duration::hours(23),
    )
    .await;
    let replay = post(&app, "/api/tasks", "ann", &["week"], body).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    set_created_at(
        &app,
        "UPDATE idempotency_keys SET created_at = $1",
        now - chrono::Duration::hours(25),
    )
    .await;
    let fresh = post(&app, "/api/tasks", "ann", &["week"], body).await;
    assert_eq!(fresh.status(), 201);
    assert!(fresh.headers().get("idempotent-replayed").is_none());
    assert_eq!(task_count(&app, "ann").await, 2);

    // A first request still in flight (its record has no task yet): 409,
    // until it is deemed abandoned after a minute; then the key is free.
    set_created_at(
        &app,
        "UPDATE idempotency_keys SET task_id = NULL, task_version = NULL, response_body = NULL, created_at = $1",
        now - chrono::Duration::seconds(10),
    )
    .await;
    let busy = post(&app, "/api/tasks", "ann", &["week"], body).await;
    assert_eq!(busy.status(), 409);
    let detail: Value = busy.json().await.unwrap();
    assert!(
        detail["detail"].as_str().unwrap().contains("in progress"),
        "{detail}"
    );
    set_created_at(
        &app,
        "UPDATE idempotency_keys SET created_at = $1",
        now - chrono::Duration::seconds(90),
    )
    .await;
    assert_eq!(
        post(&app, "/api/tasks", "ann", &["week"], body)
            .await
            .status(),
        201
    );
    assert_eq!(task_count(&app, "ann").await, 3);
}

/// How many Idempotency-Key records `user` has.
async fn key_count(app: &TestApp, user: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM idempotency_keys WHERE user_id = $1";
    match app.backend {
        Backend::Postgres => {
            let mut conn = crate::helpers::pg_connect(&app.database_url).await;
            sqlx::query_scalar(sql)
                .bind(user)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query_scalar(&sql.replace("$1", "?"))
                .bind(user)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    }
}

/// A user who never sends another keyed request still loses their expired
/// records: a sweep runs every `IDEMPOTENCY_SWEEP_SECONDS`, and takes only
/// what is past its 24 hours.
async fn expired_keys_are_swept_on_a_timer(app: TestApp) {
    let body = r#"{"title": "once"}"#;
    assert_eq!(
        post(&app, "/api/tasks", "gone", &["old"], body)
            .await
            .status(),
        201
    );
    set_created_at(
        &app,
        "UPDATE idempotency_keys SET created_at = $1",
        chrono::Utc::now() - chrono::Duration::hours(25),
    )
    .await;
    assert_eq!(
        post(&app, "/api/tasks", "stays", &["new"], body)
            .await
            .status(),
        201
    );
    assert_eq!(key_count(&app, "gone").await, 1);
    let mut s = crate::helpers::settings(&app.database_url);
    s.database.idempotency_sweep_seconds = 1;
    let _sweeper = TestApp::start(&s).await;
    let mut left = 1;
    for _ in 0..50 {
        left = key_count(&app, "gone").await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the expired record was swept");
    assert_eq!(key_count(&app, "stays").await, 1, "a live record is kept");
    // The swept user's task is untouched, and their key is free again.
    assert_eq!(task_count(&app, "gone").await, 1);
    assert_eq!(
        post(&app, "/api/tasks", "gone", &["old"], body)
            .await
            .status(),
        201
    );
}
