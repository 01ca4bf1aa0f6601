//! Bounds on what a client can make the server hold (docs/security.md): metrics
//! labels, entity-tag lists, connections, unread responses, one user's
//! share of the database, and inputs that once reached the database badly
//! (invalid UTF-8 in the path, dates outside 0001-9999).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::attacks::raw_status;
use crate::helpers::{Backend, TestApp, assert_422};

crate::both_backends!(
    made_up_methods_are_refused_and_mint_no_metric_labels,
    entity_tag_lists_are_bounded,
    invalid_utf8_in_any_path_parameter_is_422,
    dates_outside_years_1_to_9999_are_422,
    tasks_per_user_are_capped,
    a_statement_past_its_time_is_cancelled_with_503,
    a_client_that_does_not_read_its_response_is_cut_off,
);

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// The label values `label` takes in `metric`'s samples.
fn label_values(text: &str, metric: &str, label: &str) -> std::collections::BTreeSet<String> {
    let key = format!("{label}=\"");
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .filter_map(|l| {
            let at = l.find(&key)? + key.len();
            Some(l[at..].split('"').next()?.to_owned())
        })
        .collect()
}

async fn made_up_methods_are_refused_and_mint_no_metric_labels(app: TestApp) {
    let token = app.token("u");
    for i in 0..300 {
        let request = format!(
            "XMETHOD{i} /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        assert_eq!(
            raw_status(&app, request.as_bytes()).await,
            405,
            "XMETHOD{i}"
        );
    }
    // Without a token, on an unknown path, with a 100 KB method name.
    let long = format!(
        "{} /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
        "Z".repeat(100_000)
    );
    assert_eq!(raw_status(&app, long.as_bytes()).await, 405);
    let resp = app
        .client
        .request(Method::from_bytes(b"BREW").unwrap(), app.url("/api/tasks"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"detail": "Method Not Allowed"}));

    let text = crate::metrics::scrape(&app).await;
    assert!(!text.contains("XMETHOD") && !text.contains("ZZZZ") && !text.contains("BREW"));
    let known = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
    ];
    for metric in ["http_requests_total", "http_request_duration_seconds_count"] {
        let methods = label_values(&text, metric, "method");
        assert!(methods.contains("other"), "{metric}: {methods:?}");
        assert!(
            methods.iter().all(|m| known.contains(&m.as_str())),
            "{metric}: {methods:?}"
        );
    }
    // The whole exposition stays small: labels come from closed sets.
    assert!(text.len() < 256 * 1024, "/metrics is {} bytes", text.len());
    // Still serving.
    assert_eq!(
        app.call(Method::GET, "/api/tasks", Some("u"), None)
            .await
            .status(),
        200
    );
}

async fn entity_tag_lists_are_bounded(app: TestApp) {
    let task = app.create("a", json!({"title": "tagged"})).await;
    let id = task["id"].as_i64().unwrap();
    let path = format!("/api/tasks/{id}");
    let tags = |n: usize, current: bool| {
        let mut list: Vec<String> = (100..100 + n).map(|v| format!("\"{v}\"")).collect();
        if current {
            list[n - 1] = "\"1\"".into();
        }
        list.join(", ")
    };
    let patch = |header: String| {
        app.client
            .patch(app.url(&path))
            .bearer_auth(app.token("a"))
            .header("if-match", header)
            .json(&json!({"title": "changed"}))
            .send()
    };
    for n in [17, 1000, 10_000] {
        assert_422(
            patch(tags(n, true)).await.unwrap(),
            &[json!(["header", "if-match"])],
        )
        .await;
    }
    // Split over several headers counts the same.
    let resp = app
        .client
        .delete(app.url(&path))
        .bearer_auth(app.token("a"))
        .header("if-match", tags(9, false))
        .header("if-match", tags(9, true))
        .send()
        .await
        .unwrap();
    assert_422(resp, &[json!(["header", "if-match"])]).await;
    let resp = app
        .client
        .get(app.url(&path))
        .bearer_auth(app.token("a"))
        .header("if-none-match", tags(17, true))
        .send()
        .await
        .unwrap();
    assert_422(resp, &[json!(["header", "if-none-match"])]).await;
    // Nothing changed; 16 tags (the most) work, stale or current.
    let now: Value = app.get_task("a", id).await.json().await.unwrap();
    assert_eq!(now["title"], "tagged");
    assert_eq!(patch(tags(16, false)).await.unwrap().status(), 412);
    assert_eq!(patch(tags(16, true)).await.unwrap().status(), 200);
    // Another user's task is still not found, whatever the tags.
    let resp = app
        .client
        .patch(app.url(&path))
        .bearer_auth(app.token("b"))
        .header("if-match", tags(16, true))
        .json(&json!({"title": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

async fn invalid_utf8_in_any_path_parameter_is_422(app: TestApp) {
    let id = app.create_titled("a", "mine").await;
    for (path, loc) in [
        ("/api/%FF/tasks".to_owned(), json!(["path", "user_id"])),
        ("/api/%C3%28/stats".to_owned(), json!(["path", "user_id"])),
        (format!("/api/%FF/tasks/{id}"), json!(["path", "user_id"])),
        ("/api/tasks/%FF".to_owned(), json!(["path", "id"])),
        ("/api/a/tasks/%FE%FF".to_owned(), json!(["path", "id"])),
        (
            "/api/a/tasks/%FF/complete".to_owned(),
            json!(["path", "id"]),
        ),
    ] {
        for user in ["a", "b"] {
            let resp = app.call(Method::GET, &path, Some(user), None).await;
            let resp = if path.ends_with("/complete") {
                app.call(Method::PATCH, &path, Some(user), None).await
            } else {
                resp
            };
            assert_422(resp, std::slice::from_ref(&loc)).await;
        }
    }
    // The valid spellings still work, and still only for their user.
    assert_eq!(app.list_ids("a", "").await, [id]);
    assert!(app.list_ids("b", "").await.is_empty());
    let scoped = app.call(Method::GET, "/api/b/tasks", Some("a"), None).await;
    assert_eq!(scoped.status(), 403);
}

async fn dates_outside_years_1_to_9999_are_422(app: TestApp) {
    let id = app.create_titled("a", "dated").await;
    let out_of_range = [
        "-4714-11-23T23:59:59",
        "+10000-01-01T00:00:00",
        "0000-12-31",
        "9999-12-31T23:00:00-05:00",
        "10000-01-01",
    ];
    for due in out_of_range {
        let body = json!({"title": "t", "due_date": due});
        for (method, path) in [
            (Method::POST, "/api/tasks".to_owned()),
            (Method::PUT, format!("/api/tasks/{id}")),
            (Method::PATCH, format!("/api/tasks/{id}")),
        ] {
            let resp = app.call(method, &path, Some("a"), Some(&body)).await;
            assert_422(resp, &[json!(["body", "due_date"])]).await;
        }
        for filter in ["due_before", "due_after"] {
            let q = format!("/api/tasks?{filter}={}", due.replace('+', "%2B"));
            let resp = app.call(Method::GET, &q, Some("a"), None).await;
            assert_422(resp, &[json!(["query", filter])]).await;
        }
    }
    // Nothing was stored or changed; the range's ends work and compare
    // correctly on both databases.
    let (tasks, total) = app.list("a", "").await;
    assert_eq!(total, 1);
    assert!(tasks[0]["due_date"].is_null());
    let late = app
        .create(
            "a",
            json!({"title": "late", "due_date": "9999-12-31T23:59:59Z"}),
        )
        .await;
    let early = app
        .create("a", json!({"title": "early", "due_date": "0001-01-01"}))
        .await;
    assert_eq!(
        app.list_ids("a", "due_before=2000-01-01").await,
        [early["id"].as_i64().unwrap()]
    );
    assert_eq!(
        app.list_ids("a", "due_after=9999-12-31").await,
        [late["id"].as_i64().unwrap()]
    );
    assert_eq!(app.stats("a").await["overdue"], 1);
    assert_eq!(app.stats("b").await["total"], 0);
}

/// A server on the same database as `app`, with `tweak` applied.
pub async fn second_server(
    app: &TestApp,
    tweak: impl FnOnce(&mut todo_api::config::Settings),
) -> TestApp {
    let mut s = crate::helpers::settings(&app.database_url);
    tweak(&mut s);
    TestApp::start(&s).await
}

async fn tasks_per_user_are_capped(app: TestApp) {
    let capped = second_server(&app, |s| s.limits.max_tasks_per_user = 3).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(capped.create_titled("a", &format!("t{i}")).await);
    }
    let resp = capped
        .call(
            Method::POST,
            "/api/tasks",
            Some("a"),
            Some(&json!({"title": "one too many"})),
        )
        .await;
    crate::helpers::assert_detail(
        resp,
        409,
        "Task limit reached: delete tasks before creating more",
    )
    .await;
    // With an Idempotency-Key too; the key is not used up.
    let keyed = |key: &'static str| {
        capped
            .client
            .post(capped.url("/api/tasks"))
            .bearer_auth(capped.token("a"))
            .header("idempotency-key", key)
            .json(&json!({"title": "keyed"}))
            .send()
    };
    assert_eq!(keyed("k1").await.unwrap().status(), 409);
    // Another user has their own allowance.
    capped.create_titled("b", "b's").await;
    assert_eq!(capped.list("a", "").await.1, 3);
    // A delete makes room; the retried key now creates the task.
    let del = capped
        .call(
            Method::DELETE,
            &format!("/api/tasks/{}", ids[0]),
            Some("a"),
            None,
        )
        .await;
    assert_eq!(del.status(), 204);
    assert_eq!(keyed("k1").await.unwrap().status(), 201);
    assert_eq!(capped.list("a", "").await.1, 3);
    assert_eq!(capped.list("b", "").await.1, 1);
}

/// `n` tasks of `user`, each with a title and description of many bytes
/// (4-byte characters), created 8 at a time.
async fn fill(app: &Arc<TestApp>, user: &'static str, n: usize) {
    let body = json!({"title": "😀".repeat(200), "description": "😀".repeat(1000)});
    let mut jobs = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (app, body) = (Arc::clone(app), body.clone());
        jobs.spawn(async move {
            for _ in (worker..n).step_by(8) {
                app.create(user, body.clone()).await;
            }
        });
    }
    while let Some(done) = jobs.join_next().await {
        done.unwrap();
    }
}

async fn a_statement_past_its_time_is_cancelled_with_503(app: TestApp) {
    let app = Arc::new(app);
    fill(&app, "a", 600).await;
    // 50 ms: a one-row page takes a few (through a Citus coordinator too),
    // the search below about a second.
    let slow = second_server(&app, |s| s.database.statement_timeout_ms = 50).await;
    // Almost matches everywhere: a backtracking scan of every task's text.
    let needle = format!("{}x", "😀".repeat(199));
    let search = format!("/api/tasks?q={}", crate::attacks::enc(&needle));
    // Cheap statements are done well within it (a retry covers a busy machine).
    let mut got = 0;
    for _ in 0..5 {
        got = slow
            .call(Method::GET, "/api/tasks?limit=1", Some("a"), None)
            .await
            .status()
            .as_u16();
        if got == 200 {
            break;
        }
    }
    assert_eq!(got, 200, "a one-row page is quick");
    // Scanning 3 MB of text is not: cancelled, answered 503 + Retry-After.
    for user in ["a", "a"] {
        let resp = slow.call(Method::GET, &search, Some(user), None).await;
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "1");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["detail"], "Service temporarily unavailable");
    }
    // The connection was not lost for it: the server still answers, and
    // with a generous limit the same search completes (a minute: the scan
    // takes about a second here, longer on a machine busy with other work).
    assert_eq!(
        slow.call(Method::GET, "/health", None, None).await.status(),
        200
    );
    let patient = second_server(&app, |s| s.database.statement_timeout_ms = 60_000).await;
    let (tasks, total) = patient
        .list("a", search.trim_start_matches("/api/tasks?"))
        .await;
    assert!(tasks.is_empty() && total == 0);
    assert_eq!(app.list("a", "limit=1").await.1, 600);
    assert_eq!(app.list("b", "").await.1, 0);
}

async fn a_client_that_does_not_read_its_response_is_cut_off(app: TestApp) {
    let app = Arc::new(app);
    fill(&app, "a", 1000).await;
    let strict = second_server(&app, |s| s.server.request_timeout_seconds = 2).await;
    let full = strict
        .client
        .get(strict.url("/api/tasks"))
        .bearer_auth(strict.token("a"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    assert!(full > 4_000_000, "the page is {full} bytes");
    // A client with a tiny receive window that reads nothing for 5 s.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket
        .connect(addr(&strict).parse().unwrap())
        .await
        .unwrap();
    let request = format!(
        "GET /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        strict.token("a")
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the server closed the connection");
    assert!(
        got < full,
        "the response was cut off: {got} of {full} bytes"
    );
    // Other clients are served meanwhile and after.
    assert_eq!(strict.list("b", "").await.1, 0);
    assert_eq!(strict.list("a", "limit=1").await.1, 1000);
}

/// A connection that sends nothing, a stuck HTTP/2 preface and an idle
/// keep-alive connection are all closed; at most `MAX_CONNECTIONS` are open,
/// and the next client is served once one closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_silent_connections_are_closed_and_capped() {
    let app = TestApp::spawn_with(Backend::Sqlite, "hardening::connections", |s| {
        s.server.max_connections = Some(3);
        s.server.request_timeout_seconds = 2;
        s.server.idle_timeout_seconds = 1;
    })
    .await
    .unwrap();
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    // The HTTP/2 preface and SETTINGS, then nothing.
    let mut h2 = TcpStream::connect(addr(&app)).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    silent.push(h2);
    // A fourth client waits for a slot, then is served.
    let waiting = {
        let (client, url) = (app.client.clone(), app.url("/health"));
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    // While the three slots are held, the fourth is not served (the silent
    // ones are closed only at the 2 s deadline).
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !waiting.is_finished(),
        "a fourth connection waits for a slot"
    );
    for (i, mut conn) in silent.into_iter().enumerate() {
        let mut buf = vec![0u8; 4096];
        let closed = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {} // HTTP/2 SETTINGS and GOAWAY
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "connection {i} was closed by the server");
    }
    assert_eq!(waiting.await.unwrap().unwrap(), 200);
    // Keep-alive after a response: closed once idle.
    let mut kept = TcpStream::connect(addr(&app)).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match kept.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle keep-alive connection was closed");
}

/// One user cannot hold every database connection: with a pool of 3 and 2
/// turns per user, two of user A's writes wait on a row lock, a third
/// waits for A's turn, and user B is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_cannot_hold_every_connection() {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, "hardening::fairness", |s| {
        s.database.db_pool_size = 3;
        s.database.db_max_overflow = 0;
        s.limits.user_db_concurrency = 2;
    })
    .await
    else {
        return;
    };
    let app = Arc::new(app);
    let id = app.create_titled("a", "contended").await;
    app.create_titled("b", "b's").await;
    let mut locker = crate::helpers::pg_connect(&app.database_url).await;
    sqlx::raw_sql(&format!(
        "BEGIN; SELECT 1 FROM tasks WHERE user_id = 'a' AND id = {id} FOR UPDATE"
    ))
    .execute(&mut locker)
    .await
    .unwrap();
    let writers: Vec<_> = (0..3)
        .map(|i| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let path = format!("/api/tasks/{id}");
                let body = json!({"title": format!("by writer {i}")});
                app.call(Method::PATCH, &path, Some("a"), Some(&body))
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // B gets a connection while A's writers are still held by the lock.
    let b = tokio::time::timeout(Duration::from_secs(4), app.list("b", "")).await;
    assert_eq!(b.expect("user B is not queued behind user A").1, 1);
    sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();
    for w in writers {
        assert_eq!(w.await.unwrap(), 200, "A's writes all complete in turn");
    }
    let text = crate::metrics::scrape(&app).await;
    assert!(crate::metrics::sample(&text, "user_db_waits_total{outcome=\"waited\"}") >= 1.0);
}

/// An HTTP/2 connection is closed (GOAWAY, then the socket) once it has had
/// no request in flight for `IDLE_TIMEOUT_SECONDS`, although the client
/// answers every keep-alive PING; a request on it keeps it open meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_are_closed() {
    let app = TestApp::spawn_with(Backend::Sqlite, "hardening::h2_idle", |s| {
        s.server.idle_timeout_seconds = 2;
    })
    .await
    .unwrap();
    let tcp = TcpStream::connect(addr(&app)).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let started = std::time::Instant::now();
    let driver = tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    for _ in 0..3 {
        let request = axum::http::Request::get(format!("{}/health", app.base))
            .body(())
            .unwrap();
        let (response, _) = client.send_request(request, true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            chunk.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
        client = client.ready().await.unwrap();
    }
    // Requests 1.2 s apart kept it open past the 2 s limit...
    assert!(started.elapsed() >= Duration::from_secs(3));
    // ... and with none it ends, from the server's side.
    // (2 s after the last request, and a check's lateness of at most 2 s.)
    let ended = tokio::time::timeout(Duration::from_secs(5), driver).await;
    assert!(
        ended.is_ok(),
        "the server closed the idle HTTP/2 connection"
    );
}
