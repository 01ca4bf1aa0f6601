//! Errors (docs/api.md#errors): FastAPI-shaped 422s, JSON 404/405/413, never a 500.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_422, assert_detail};

crate::both_backends!(
    validation_reports_every_problem_at_once,
    malformed_and_odd_bodies_are_422,
    oversized_bodies_are_413_json,
    unknown_routes_and_methods_are_json,
    hostile_text_is_stored_verbatim,
    request_ids_are_kept_only_when_sane,
);

async fn post_raw(app: &TestApp, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.client
        .post(app.url("/api/tasks"))
        .bearer_auth(app.token("u"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn validation_reports_every_problem_at_once(app: TestApp) {
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("u"),
            Some(&json!({
                "title": "", "description": "d".repeat(1001), "completed": "perhaps",
                "priority": "urgent", "category": 3, "due_date": "next week"
            })),
        )
        .await;
    let body = assert_422(
        resp,
        &[
            json!(["body", "title"]),
            json!(["body", "description"]),
            json!(["body", "completed"]),
            json!(["body", "priority"]),
            json!(["body", "category"]),
            json!(["body", "due_date"]),
        ],
    )
    .await;
    let types: Vec<&str> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "string_too_short",
            "string_too_long",
            "bool_parsing",
            "enum",
            "enum",
            "datetime_parsing"
        ]
    );
    // Wrong JSON types.
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("u"),
            Some(&json!({ "title": 5, "description": [] })),
        )
        .await;
    assert_422(
        resp,
        &[json!(["body", "title"]), json!(["body", "description"])],
    )
    .await;
    // Missing title; whitespace-only title.
    let resp = app
        .call(Method::POST, "/api/tasks", Some("u"), Some(&json!({})))
        .await;
    let body = assert_422(resp, &[json!(["body", "title"])]).await;
    assert_eq!(body["detail"][0]["type"], "missing");
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("u"),
            Some(&json!({ "title": " \t\n " })),
        )
        .await;
    assert_422(resp, &[json!(["body", "title"])]).await;
    // Limits count characters: 200 multi-byte characters are fine.
    let t = app
        .create(
            "u",
            json!({ "title": "ü".repeat(200), "description": "ß".repeat(1000) }),
        )
        .await;
    assert_eq!(t["title"].as_str().unwrap().chars().count(), 200);
    // Lax booleans as pydantic takes them.
    let t = app
        .create("u", json!({ "title": "x", "completed": "true" }))
        .await;
    assert_eq!(t["completed"], true);
    assert_eq!(
        app.list("u", "").await.1,
        2,
        "no invalid request stored anything"
    );
}

async fn malformed_and_odd_bodies_are_422(app: TestApp) {
    let resp = post_raw(&app, "{\"title\": ").await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    let e = &body["detail"][0];
    assert_eq!(e["type"], "json_invalid");
    assert_eq!(e["loc"][0], "body");
    assert!(e["loc"][1].is_u64(), "the position of the error: {e}");
    let resp = post_raw(&app, "").await;
    assert_422(resp, &[json!(["body"])]).await;
    for not_object in ["[]", "\"title\"", "42", "null"] {
        let resp = post_raw(&app, not_object).await;
        assert_422(resp, &[json!(["body"])]).await;
    }
    // Invalid UTF-8, deep nesting, lone surrogates: all 422, none 500.
    let resp = post_raw(&app, b"{\"title\": \"\xff\xfe\"}".to_vec()).await;
    assert_eq!(resp.status(), 422);
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert_eq!(post_raw(&app, deep).await.status(), 422);
    let resp = post_raw(&app, r#"{"title": "\ud800"}"#).await;
    assert_eq!(resp.status(), 422);
    // NUL characters cannot be stored by PostgreSQL: refused on both.
    let resp = post_raw(&app, r#"{"title": "a\u0000b"}"#).await;
    assert_422(resp, &[json!(["body", "title"])]).await;
    // Duplicate keys: the last one wins, as in Python's json.
    let resp = post_raw(&app, r#"{"title": "first", "title": "second"}"#).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.json::<Value>().await.unwrap()["title"], "second");
    // PATCH and PUT parse bodies the same way.
    let id = app.create_titled("u", "a").await;
    let resp = app
        .client
        .patch(app.url(&format!("/api/tasks/{id}")))
        .bearer_auth(app.token("u"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
}

async fn oversized_bodies_are_413_json(app: TestApp) {
    let big = json!({ "title": "x", "description": "y".repeat(70 * 1024) }).to_string();
    let resp = post_raw(&app, big).await;
    assert_detail(resp, 413, "Request body too large").await;
    // Just under the limit is accepted.
    let near = json!({ "title": "x", "pad": "y".repeat(60 * 1024) }).to_string();
    assert_eq!(post_raw(&app, near).await.status(), 201);
}

async fn unknown_routes_and_methods_are_json(app: TestApp) {
    let resp = app
        .call(Method::GET, "/api/nothing/here/at/all", Some("u"), None)
        .await;
    assert_detail(resp, 404, "Not Found").await;
    let resp = app
        .call(Method::DELETE, "/api/tasks", Some("u"), None)
        .await;
    assert_detail(resp, 405, "Method Not Allowed").await;
    let resp = app.call(Method::POST, "/health", None, None).await;
    assert_detail(resp, 405, "Method Not Allowed").await;
    // Every response carries a request id.
    assert!(resp_has_request_id(&app).await);
}

async fn resp_has_request_id(app: &TestApp) -> bool {
    let resp = app.call(Method::GET, "/nope", None, None).await;
    resp.headers().contains_key("x-request-id")
}

async fn hostile_text_is_stored_verbatim(app: TestApp) {
    let nasty = [
        "'; DROP TABLE tasks; --",
        "\" OR 1=1 --",
        "%_\\",
        "<script>alert(1)</script>",
        "Robert'); DELETE FROM users;--",
        "emoji 🦀 and RTL \u{202e}",
    ];
    for s in nasty {
        let t = app
            .create("u", json!({ "title": s, "description": s }))
            .await;
        assert_eq!(
            (&t["title"], &t["description"]),
            (&json!(s.trim()), &json!(s))
        );
        let listed = app
            .list_ids("u", &format!("q={}", urlencode(s.trim())))
            .await;
        assert!(
            listed.contains(&t["id"].as_i64().unwrap()),
            "search for {s:?}"
        );
    }
    assert_eq!(app.list("u", "").await.1, nasty.len() as i64);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, "cors", |s| {
        s.server.cors_origins = Some("http://localhost:3000, https://app.example.com/".into());
    })
    .await
    .unwrap();
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/tasks/1"))
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "authorization,content-type,if-match,if-none-match,idempotency-key",
            )
            .send()
    };
    let resp = preflight("http://localhost:3000").await.unwrap();
    assert!(resp.status().is_success());
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:3000");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for name in [
        "authorization",
        "content-type",
        "if-match",
        "if-none-match",
        "idempotency-key",
    ] {
        assert!(allowed.contains(name), "{name} in {allowed}");
    }
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PATCH")
    );

    let resp = preflight("https://evil.example.com").await.unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    let resp = app
        .client
        .get(app.url("/api/tasks"))
        .bearer_auth(app.token("u"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let exposed = resp.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for name in [
        "etag",
        "link",
        "location",
        "x-total-count",
        "idempotent-replayed",
        "x-request-id",
    ] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
}

#[tokio::test]
async fn cors_wildcard_allows_any_origin() {
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, "cors-any", |s| {
        s.server.cors_origins = Some("*".into());
    })
    .await
    .unwrap();
    let resp = app
        .client
        .request(Method::OPTIONS, app.url("/api/tasks"))
        .header("origin", "https://anywhere.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
}

/// The `X-Request-ID` a request with these ids gets back.
async fn echoed_id(app: &TestApp, path: &str, ids: &[&[u8]]) -> (u16, String) {
    let mut req = app.client.get(app.url(path)).bearer_auth(app.token("rid"));
    for id in ids {
        req = req.header(
            "x-request-id",
            reqwest::header::HeaderValue::from_bytes(id).unwrap(),
        );
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (
        status,
        resp.headers()["x-request-id"].to_str().unwrap().to_owned(),
    )
}

async fn request_ids_are_kept_only_when_sane(app: TestApp) {
    let is_uuid = |s: &str| uuid::Uuid::parse_str(s).is_ok();
    // Kept, and echoed on successes and errors alike.
    let sane = "req-42_a.b:c/d+e=f@g";
    for path in [
        "/api/tasks",
        "/api/tasks/999999",
        "/api/tasks?limit=x",
        "/nope",
    ] {
        let (status, got) = echoed_id(&app, path, &[sane.as_bytes()]).await;
        assert_eq!(got, sane, "{path} ({status})");
    }
    let unauthenticated = app
        .client
        .get(app.url("/api/tasks"))
        .header("x-request-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(unauthenticated.headers()["x-request-id"], "abc");
    let (_, got) = echoed_id(&app, "/api/tasks", &[&[b'a'; 128]]).await;
    assert_eq!(got.len(), 128);
    // Replaced by a fresh UUID: too long, odd characters, several headers.
    let long = [b'a'; 129];
    for ids in [
        vec![&long[..]],
        vec![&b"two words"[..]],
        vec![&b"x\"}{\"level\":\"ERROR"[..]],
        vec![&b"caf\xc3\xa9"[..]],
        vec![&b"\t"[..]],
        vec![&b"a"[..], &b"b"[..]],
    ] {
        let (status, got) = echoed_id(&app, "/api/tasks", &ids).await;
        assert_eq!(status, 200);
        assert!(is_uuid(&got), "{ids:?} gave {got}");
    }
    let (_, first) = echoed_id(&app, "/api/tasks", &[]).await;
    let (_, second) = echoed_id(&app, "/api/tasks", &[]).await;
    assert!(is_uuid(&first) && is_uuid(&second) && first != second);
}

/// A request past `REQUEST_TIMEOUT_SECONDS` is a JSON 503, whether the
/// server is slow (a JWKS that never answers) or the client (a body that
/// never arrives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_timeout_are_a_json_503() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::keys::{FakeJwks, Mode, TestKey, better_auth_claims};

    let jwks = FakeJwks::start(vec![]).await;
    jwks.set_mode(Mode::Hanging);
    let base = jwks.base.clone();
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, "errors::timeout", |s| {
        s.auth.better_auth_url = Some(base);
        s.server.request_timeout_seconds = 1;
    })
    .await
    .unwrap();
    // Server side: verifying needs the JWKS, which hangs (its own limit is 2 s).
    let token = TestKey::new("ed25519", "k").sign("EdDSA", &better_auth_claims(&jwks.base, "slow"));
    let started = std::time::Instant::now();
    let resp = app
        .client
        .get(app.url("/api/tasks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(1900));
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(resp.headers().contains_key("x-request-id"));
    assert_detail(resp, 503, "Request timed out").await;

    // Client side: headers promise 100 bytes of body; 10 arrive.
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, "errors::timeout2", |s| {
        s.server.request_timeout_seconds = 1;
    })
    .await
    .unwrap();
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"title\":",
        app.token("slow-client")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered within the timeout")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains(r#"{"detail":"Request timed out"}"#),
        "{answer}"
    );
    assert!(
        app.list("slow-client", "").await.0.is_empty(),
        "nothing half written"
    );
}

/// Slowloris: clients that send their headers a byte at a time are cut off
/// (headers must arrive within min(10 s, REQUEST_TIMEOUT_SECONDS)), and
/// while they hang on, everyone else is served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_without_tying_up_the_server() {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, "errors::slowloris", |s| {
        s.server.request_timeout_seconds = 1;
    })
    .await
    .unwrap();
    let addr = app.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let attackers: Vec<_> = (0..50)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
                s.write_all(b"GET /api/tasks HTTP/1.1\r\nHost: x\r\n")
                    .await
                    .unwrap();
                // A header byte every 200 ms, for up to 5 s, until cut off.
                for _ in 0..25 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if s.write_all(b"X").await.is_err() {
                        break;
                    }
                }
                let mut buf = [0u8; 1024];
                let closed = tokio::time::timeout(Duration::from_secs(5), async {
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return true,
                            Ok(_) => {}
                        }
                    }
                })
                .await;
                (closed.unwrap_or(false), started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The server answers others promptly while 50 slow clients hang on.
    let quick = Instant::now();
    assert_eq!(
        app.call(Method::GET, "/api/tasks", Some("u"), None)
            .await
            .status(),
        200
    );
    assert!(quick.elapsed() < Duration::from_millis(500));
    for attacker in attackers {
        let (closed, at) = attacker.await.unwrap();
        assert!(closed, "a slow client was never cut off");
        assert!(at < Duration::from_secs(4), "cut off after {at:?}");
    }
}
