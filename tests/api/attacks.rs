//! The attack matrix (docs/security.md): SQL metacharacters in every field and
//! parameter, numbers out of range, hostile headers, oversized requests.
//! Never a 5xx, never another user's data, and the server keeps serving.

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::TestApp;

crate::both_backends!(
    sql_metacharacters_everywhere_are_data_or_422,
    numbers_out_of_range_are_422_or_empty,
    oversized_and_malformed_requests_are_refused_and_the_server_lives_on,
);

const SQL: [&str; 5] = [
    "'; DROP TABLE tasks; --",
    "1 OR 1=1",
    "x' UNION SELECT * FROM users --",
    "%' AND 1=1 --",
    "\\\"); DELETE FROM tasks WHERE (\"1\"=\"1",
];

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn sql_metacharacters_everywhere_are_data_or_422(app: TestApp) {
    let victim = app.create_titled("victim", "untouched").await;
    let id = app.create_titled("attacker", "mine").await;
    for s in SQL {
        // Text fields: stored and returned verbatim.
        let t = app
            .create("attacker", json!({"title": s, "description": s}))
            .await;
        assert_eq!((&t["title"], &t["description"]), (&json!(s), &json!(s)));
        // Every other body field: a 422 naming it.
        for field in ["priority", "category", "status", "due_date", "completed"] {
            let resp = app
                .call(
                    Method::POST,
                    "/api/tasks",
                    Some("attacker"),
                    Some(&json!({"title": "t", field: s})),
                )
                .await;
            assert_eq!(resp.status(), 422, "{field}={s}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(
                body["detail"][0]["loc"],
                json!(["body", field]),
                "{field}={s}"
            );
        }
        let patched = app
            .call(
                Method::PATCH,
                &format!("/api/tasks/{id}"),
                Some("attacker"),
                Some(&json!({"description": s})),
            )
            .await;
        assert_eq!(patched.status(), 200);
        // Every query parameter: `q` searches for the literal text; the others are 422.
        for param in [
            "status",
            "priority",
            "category",
            "due_before",
            "due_after",
            "overdue",
            "sort",
            "order",
            "limit",
            "offset",
        ] {
            let path = format!("/api/tasks?{param}={}", enc(s));
            let resp = app.call(Method::GET, &path, Some("attacker"), None).await;
            assert_eq!(resp.status(), 422, "{param}={s}");
        }
        let found = app.list_ids("attacker", &format!("q={}", enc(s))).await;
        assert!(found.contains(&t["id"].as_i64().unwrap()), "q={s}");
        // In the path: the user id (403) and the task id (422).
        let path = format!("/api/{}/tasks", enc(s).replace('+', "%20"));
        let resp = app.call(Method::GET, &path, Some("attacker"), None).await;
        assert_eq!(resp.status(), 403, "user_id={s}");
        let path = format!("/api/tasks/{}", enc(s).replace('+', "%20"));
        let resp = app.call(Method::GET, &path, Some("attacker"), None).await;
        assert_eq!(resp.status(), 422, "id={s}");
    }
    // Nothing reached the victim, and every table is intact.
    let victims: Value = app
        .call_json(Method::GET, "/api/tasks", Some("victim"), None)
        .await;
    assert_eq!(victims.as_array().unwrap().len(), 1);
    assert_eq!(victims[0]["id"], victim);
    assert_eq!(app.list("attacker", "").await.1, 1 + SQL.len() as i64);
}

async fn numbers_out_of_range_are_422_or_empty(app: TestApp) {
    app.create_titled("u", "one").await;
    for id in [
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999999",
        "1e3",
        "0x10",
        "1.0",
    ] {
        for (method, suffix) in [
            (Method::GET, ""),
            (Method::DELETE, ""),
            (Method::PATCH, "/complete"),
        ] {
            let resp = app
                .call(
                    method.clone(),
                    &format!("/api/tasks/{id}{suffix}"),
                    Some("u"),
                    None,
                )
                .await;
            assert_eq!(resp.status(), 422, "{method} id {id}");
        }
    }
    for id in ["9223372036854775807", "-9223372036854775808", "0", "-1"] {
        let resp = app
            .call(Method::GET, &format!("/api/tasks/{id}"), Some("u"), None)
            .await;
        assert_eq!(resp.status(), 404, "id {id}");
    }
    for query in [
        "limit=0",
        "limit=-1",
        "limit=1001",
        "limit=99999999999999999999",
        "offset=-1",
        "offset=99999999999999999999",
        "limit=1e2",
    ] {
        let resp = app
            .call(Method::GET, &format!("/api/tasks?{query}"), Some("u"), None)
            .await;
        assert_eq!(resp.status(), 422, "{query}");
    }
    let (tasks, total) = app.list("u", "offset=9223372036854775807&limit=1000").await;
    assert_eq!(
        (tasks.len(), total),
        (0, 1),
        "the last page is empty, not an error"
    );
    let body = json!({"title": "n", "completed": 1e308, "priority": 2});
    let resp = app
        .call(Method::POST, "/api/tasks", Some("u"), Some(&body))
        .await;
    assert_eq!(resp.status(), 422);
}

/// One raw HTTP/1.1 exchange; the status code of the answer.
pub async fn raw_status(app: &TestApp, request: &[u8]) -> u16 {
    let mut s = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let _ = s.write_all(request).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&answer);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

async fn oversized_and_malformed_requests_are_refused_and_the_server_lives_on(app: TestApp) {
    let token = app.token("u");
    let get = |extra: &str| {
        format!(
            "GET /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{extra}\r\n"
        )
    };
    // hyper refuses these before the application sees them (empty bodies).
    let huge_header = get(&format!("X-Big: {}\r\n", "x".repeat(600_000)));
    assert_eq!(raw_status(&app, huge_header.as_bytes()).await, 431);
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(raw_status(&app, get(&many_headers).as_bytes()).await, 431);
    let long_url = format!(
        "GET /api/tasks?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    assert_eq!(raw_status(&app, long_url.as_bytes()).await, 414);
    assert_eq!(
        raw_status(&app, get("X-Request-ID: a\rb\r\n").as_bytes()).await,
        400
    );
    assert_eq!(raw_status(&app, b"GARBAGE\r\n\r\n").await, 400);
    // The application's own limits: JSON answers.
    let token_8k = format!("Bearer {}", "a".repeat(9000));
    let resp = app
        .client
        .get(app.url("/api/tasks"))
        .header("authorization", token_8k)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = app
        .client
        .get(app.url(&format!("/api/tasks?q={}", "a".repeat(201))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let long_id = app
        .client
        .get(app.url(&format!("/api/tasks/{}", "9".repeat(5000))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(long_id.status(), 422);
    let long_rid = app
        .client
        .get(app.url("/api/tasks"))
        .bearer_auth(&token)
        .header("x-request-id", "r".repeat(10_000))
        .send()
        .await
        .unwrap();
    assert_eq!(long_rid.status(), 200);
    assert!(
        long_rid.headers()["x-request-id"].len() <= 128,
        "an oversized id is replaced"
    );
    // Still serving.
    assert_eq!(
        app.call(Method::GET, "/api/tasks", Some("u"), None)
            .await
            .status(),
        200
    );
}
