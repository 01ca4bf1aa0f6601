//! Bounds on the surfaces of Citus, MCP and live updates (docs/security.md): MCP sessions
//! and streams counted whatever the headers say, tag counts and filters,
//! the size of a 422, event tickets, tombstones, and connections answered
//! before their body was read. Each check is on sizes and counts, and
//! failed on the server before the issue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, TestApp};

crate::both_backends!(
    tags_are_counted_by_the_database_and_listed_up_to_a_thousand,
    long_parameter_and_tag_lists_are_one_problem,
    malformed_and_forged_tickets_are_refused_before_the_database,
    a_ticket_never_outlives_its_token,
    an_answer_before_the_body_is_read_closes_the_connection,
    mcp_bodies_and_metadata_follow_configuration_not_the_request,
);

crate::both_backends_with!(
    mcp_sessions_are_counted_whatever_the_headers =>
        |s: &mut todo_api::config::Settings| s.mcp.mcp_max_sessions_per_user = 2,
    the_instance_cap_on_mcp_sessions_holds =>
        |s: &mut todo_api::config::Settings| s.mcp.mcp_max_sessions = 2,
    mcp_streams_are_counted_per_user =>
        |s: &mut todo_api::config::Settings| s.mcp.mcp_max_streams_per_user = 2,
    a_422_lists_at_most_twenty_problems =>
        |s: &mut todo_api::config::Settings| {
            s.conventions.response_envelope = todo_api::http::shape::Envelope::Named;
        },
    live_tickets_are_bounded_per_user =>
        |s: &mut todo_api::config::Settings| s.live.events_max_tickets_per_user = 3,
    tombstones_are_bounded_per_user_and_older_cursors_are_410 =>
        |s: &mut todo_api::config::Settings| s.limits.max_tombstones_per_user = 10,
    a_streamed_tool_call_ends_with_the_request_timeout =>
        |s: &mut todo_api::config::Settings| s.server.request_timeout_seconds = 1,
);

const PREVIOUS: &str = "2025-06-18";

/// `initialize` as `user`, with `headers`: of the version the
/// `mcp-protocol-version` header names, else the previous one.
async fn initialize(app: &TestApp, user: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let version = headers
        .iter()
        .find(|(k, _)| *k == "mcp-protocol-version")
        .map_or(PREVIOUS, |(_, v)| *v);
    let mut req = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(app.token(user));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.json(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": version, "capabilities": {}, "clientInfo": { "name": "tests", "version": "1" } }
    }))
    .send()
    .await
    .unwrap()
}

/// A session of `user`, initialized.
async fn session(app: &TestApp, user: &str) -> String {
    let resp = initialize(app, user, &[]).await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let done = in_session(app, user, &id)
        .json(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 202);
    id
}

fn in_session(app: &TestApp, user: &str, id: &str) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", PREVIOUS)
        .bearer_auth(app.token(user))
}

/// `GET /mcp`: the session's stream, left open.
async fn mcp_stream(app: &TestApp, user: &str, id: &str) -> reqwest::Response {
    app.client
        .get(app.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", PREVIOUS)
        .bearer_auth(app.token(user))
        .send()
        .await
        .unwrap()
}

/// Finding 1: rmcp opens a session for every `initialize`, whatever the
/// protocol-version header says; each is counted, and owned.
async fn mcp_sessions_are_counted_whatever_the_headers(app: TestApp) {
    let newer = [("mcp-protocol-version", "2026-07-28")];
    let mut opened = Vec::new();
    for _ in 0..2 {
        let resp = initialize(&app, "ann", &newer).await;
        assert_eq!(resp.status(), 200);
        opened.push(
            resp.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    // The third, with or without the header: the user's cap.
    for headers in [&newer[..], &[]] {
        let resp = initialize(&app, "ann", headers).await;
        assert_eq!(resp.status(), 429, "{headers:?}");
        assert!(resp.headers().contains_key("retry-after"));
        assert!(!resp.headers().contains_key("mcp-session-id"));
    }
    // Another user is not held up.
    session(&app, "bob").await;
    // The sessions opened under the newer header are Ann's alone.
    let stolen = in_session(&app, "bob", &opened[0])
        .json(&json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 404);
    // A session id that is not one (not visible ASCII, too long): 400,
    // never read as absent.
    for bad in [
        reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        reqwest::header::HeaderValue::from_str(&"a".repeat(200)).unwrap(),
    ] {
        let resp = app
            .client
            .post(app.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", bad)
            .bearer_auth(app.token("bob"))
            .json(&json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/list" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
    }
    // Closing one frees its place.
    let end = app
        .client
        .delete(app.url("/mcp"))
        .header("mcp-session-id", &opened[0])
        .bearer_auth(app.token("ann"))
        .send()
        .await
        .unwrap();
    assert!(end.status().is_success(), "{}", end.status());
    assert_eq!(initialize(&app, "ann", &newer).await.status(), 200);
}

/// `MCP_MAX_SESSIONS` counts every user's sessions; a closed one frees
/// its place for anyone.
async fn the_instance_cap_on_mcp_sessions_holds(app: TestApp) {
    let anns = session(&app, "ann").await;
    session(&app, "bob").await;
    let full = initialize(&app, "carl", &[]).await;
    assert_eq!(full.status(), 429);
    let end = app
        .client
        .delete(app.url("/mcp"))
        .header("mcp-session-id", &anns)
        .bearer_auth(app.token("ann"))
        .send()
        .await
        .unwrap();
    assert!(end.status().is_success());
    session(&app, "carl").await;
    assert_eq!(initialize(&app, "ann", &[]).await.status(), 429);
}

/// Finding 5: long-lived `GET /mcp` streams are counted per user (rmcp
/// keeps up to 33 per session).
async fn mcp_streams_are_counted_per_user(app: TestApp) {
    let id = session(&app, "ann").await;
    let first = mcp_stream(&app, "ann", &id).await;
    let second = mcp_stream(&app, "ann", &id).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = mcp_stream(&app, "ann", &id).await;
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    // Another user's streams are their own.
    let bobs = session(&app, "bob").await;
    assert_eq!(mcp_stream(&app, "bob", &bobs).await.status(), 200);
    // A stream closed by its client frees its place.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let again = mcp_stream(&app, "ann", &id).await;
        if again.status() == 200 {
            break;
        }
        assert_eq!(again.status(), 429);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(second);
}

/// Finding 2: `GET /api/tags` is counted by the database; the answer
/// holds at most 1,000 tags, the first by name.
async fn tags_are_counted_by_the_database_and_listed_up_to_a_thousand(app: TestApp) {
    // Spellings: the oldest task's wins; counts are case-insensitive.
    app.create("ann", json!({"title": "a", "tags": ["Errand", "z-last"]}))
        .await;
    app.create("ann", json!({"title": "b", "tags": ["errand", "ÉTÉ"]}))
        .await;
    app.create("ann", json!({"title": "c", "tags": "été, x_%\\"}))
        .await;
    app.create("bob", json!({"title": "d", "tags": ["errand", "bob-only"]}))
        .await;
    let tags: Value = app
        .call_json(Method::GET, "/api/tags", Some("ann"), None)
        .await;
    assert_eq!(
        tags,
        json!([
            {"name": "Errand", "count": 2},
            {"name": "x_%\\", "count": 1},
            {"name": "z-last", "count": 1},
            {"name": "ÉTÉ", "count": 2},
        ])
    );
    let bobs: Value = app
        .call_json(Method::GET, "/api/tags", Some("bob"), None)
        .await;
    assert_eq!(
        bobs,
        json!([{"name": "bob-only", "count": 1}, {"name": "errand", "count": 1}])
    );
    // 51 tasks of 20 new tags each: 1,020 tags and more; 1,000 listed.
    for t in 0..51 {
        let tags: Vec<String> = (0..20).map(|i| format!("t{t:02}-{i:02}")).collect();
        app.create("carl", json!({"title": "many", "tags": tags}))
            .await;
    }
    let listed: Value = app
        .call_json(Method::GET, "/api/tags", Some("carl"), None)
        .await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1000);
    assert_eq!(listed[0], json!({"name": "t00-00", "count": 1}));
    assert_eq!(listed[999]["name"], "t49-19");
}

/// Findings 3 and 4: a list of parameters or tags past its limit is one
/// problem, found before any value is parsed; repeated parameters are
/// one value (the last).
async fn long_parameter_and_tag_lists_are_one_problem(app: TestApp) {
    // 6,000 tag filters.
    let tags = "tag=x&".repeat(6000);
    let body = one_problem(&app, &format!("/api/tasks?{tags}")).await;
    assert_eq!(body["detail"][0]["loc"], json!(["query", "tag"]));
    // 7,000 bad cursors: one problem.
    let since = "since=x&".repeat(7000);
    one_problem(&app, &format!("/api/tasks/changes?{since}")).await;
    // Repeats: the last value counts, alone.
    let (_, total) = app
        .list(
            "ann",
            &format!("{}status=pending", "status=bogus&".repeat(3000)),
        )
        .await;
    assert_eq!(total, 0);
    // A 64 kB tags string: one problem, a small answer.
    let long = "t,".repeat(32_000);
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("ann"),
            Some(&json!({"title": "x", "tags": long})),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let text = resp.text().await.unwrap();
    assert!(text.len() < 1000, "{} bytes", text.len());
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["body", "tags", 20]));
    // The same through MCP's list_tasks (its arguments become the query).
    let tags: Vec<String> = (0..6000).map(|i| format!("t{i}")).collect();
    let resp = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "list_tasks")
        .bearer_auth(app.token("ann"))
        .json(
            &json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "list_tasks", "arguments": { "tag": tags },
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": { "name": "tests", "version": "1" },
                "io.modelcontextprotocol/clientCapabilities": {},
            } } }),
        )
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.len() < 4000, "{} bytes: {text:.300}", text.len());
}

/// A 422 with one problem, for ann's GET of `path`.
async fn one_problem(app: &TestApp, path: &str) -> Value {
    let resp = app.call(Method::GET, path, Some("ann"), None).await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["detail"].as_array().map_or(0, Vec::len), 1, "{body}");
    body
}

/// Finding 4: a 422 lists 20 problems and counts the rest; the envelope's
/// message is bounded too.
async fn a_422_lists_at_most_twenty_problems(app: TestApp) {
    // 20 bad tags, and a bad title, priority, category and due date.
    let tags: Vec<String> = (0..20).map(|i| format!("bad\u{1}{i}")).collect();
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("ann"),
            Some(&json!({
                "title": "", "priority": "x", "category": "x", "due_date": "x", "tags": tags
            })),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    let detail = body["detail"].as_array().unwrap();
    assert_eq!(detail.len(), 21, "{body}");
    assert_eq!(detail[20]["type"], "too_many_errors");
    assert_eq!(detail[20]["ctx"]["omitted"], 4);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.chars().count() <= 1000, "{message}");
    assert_eq!(body["error"]["code"], "validation_error");
    // Finding 10: MCP's JSON-RPC errors are MCP's, not reshaped into the
    // envelope (a header that contradicts the body is rmcp's 400).
    let resp = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", PREVIOUS)
        .bearer_auth(app.token("ann"))
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": { "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": { "name": "tests", "version": "1" } }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert!(body["error"]["code"].is_i64(), "{body}");
    assert!(body.get("detail").is_none(), "{body}");
}

/// Findings 6 and 7: a ticket that is not one this server signed (NUL
/// bytes, not UTF-8, wrong length, forged for a real user) is 401 without
/// a query: here the tickets' table is gone, and they are still 401.
async fn malformed_and_forged_tickets_are_refused_before_the_database(app: TestApp) {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let issued: Value = app
        .call_json(Method::POST, "/api/events/ticket", Some("ann"), None)
        .await;
    let issued = issued["ticket"].as_str().unwrap().to_owned();
    let (user, body) = issued.split_once('.').unwrap();
    let mut flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap();
    flipped[0] ^= 1;
    let forged = [
        format!("{}.AAAA", b64(b"ali\0ce")),
        format!("{}.{body}", b64(b"ali\0ce")),
        format!("{}.{body}", b64(&[0xff, 0xfe])),
        format!("{user}.{}", b64(&[7u8; 40])),
        format!("{user}.{}", b64(&flipped)),
        format!("{}.{body}", b64(b"bob")),
        format!("{user}.{}", b64(&[7u8; 41])),
    ];
    crate::changes::exec(&app, "DROP TABLE event_tickets", None).await;
    for ticket in &forged {
        let mut u = url::Url::parse(&app.url("/api/events")).unwrap();
        u.query_pairs_mut().append_pair("ticket", ticket);
        let resp = app.client.get(u).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{ticket}");
    }
}

/// A count of rows for a user.
async fn count(app: &TestApp, sql: &str, user: &str) -> i64 {
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query_scalar(&sql.replace("$1", "?"))
                .bind(user)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
        Backend::Postgres => {
            let mut c = crate::helpers::pg_connect(&app.database_url).await;
            sqlx::query_scalar(sql)
                .bind(user)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
    }
}

fn ticket_url(app: &TestApp, ticket: &Value) -> url::Url {
    let mut u = url::Url::parse(&app.url("/api/events")).unwrap();
    u.query_pairs_mut()
        .append_pair("ticket", ticket["ticket"].as_str().unwrap());
    u
}

/// Finding 8: a user holds at most `EVENTS_MAX_TICKETS_PER_USER` live
/// tickets; a new one replaces their oldest.
async fn live_tickets_are_bounded_per_user(app: TestApp) {
    let mut tickets = Vec::new();
    for _ in 0..40 {
        tickets.push(
            app.call_json(Method::POST, "/api/events/ticket", Some("ann"), None)
                .await,
        );
    }
    let bobs = app
        .call_json(Method::POST, "/api/events/ticket", Some("bob"), None)
        .await;
    let live = "SELECT COUNT(*) FROM event_tickets WHERE user_id = $1";
    assert_eq!(count(&app, live, "ann").await, 3);
    assert_eq!(count(&app, live, "bob").await, 1);
    // The oldest went; the newest works; Bob's is untouched by Ann's.
    let oldest = app.client.get(ticket_url(&app, &tickets[0])).send().await;
    assert_eq!(oldest.unwrap().status(), 401);
    let newest = app.client.get(ticket_url(&app, &tickets[39])).send().await;
    assert_eq!(newest.unwrap().status(), 200);
    let bob = app.client.get(ticket_url(&app, &bobs)).send().await;
    assert_eq!(bob.unwrap().status(), 200);
}

/// Finding 9: a ticket expires with the token that asked for it.
async fn a_ticket_never_outlives_its_token(app: TestApp) {
    let token = app.token_for("ann", Duration::from_secs(2));
    let resp = app
        .client
        .post(app.url("/api/events/ticket"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ticket: Value = resp.json().await.unwrap();
    assert!(ticket["expires_in"].as_u64().unwrap() <= 2, "{ticket}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = app.client.get(ticket_url(&app, &ticket)).send().await;
    assert_eq!(late.unwrap().status(), 401);
}

/// Finding 8: past `MAX_TOMBSTONES_PER_USER` (and a tenth) a user's
/// oldest tombstones are forgotten, and a cursor older than them is 410.
async fn tombstones_are_bounded_per_user_and_older_cursors_are_410(app: TestApp) {
    let feed = |since: String| {
        let app = &app;
        async move {
            app.call(
                Method::GET,
                &format!("/api/tasks/changes?since={since}"),
                Some("ann"),
                None,
            )
            .await
        }
    };
    app.create_titled("ann", "kept").await;
    let first: Value = feed("0".into()).await.json().await.unwrap();
    let start = first["cursor"].as_str().unwrap().to_owned();
    let bobs = app.create_titled("bob", "kept").await;
    app.delete_task("bob", bobs).await;
    let mut after_tenth = String::new();
    for i in 0..30 {
        let id = app.create_titled("ann", "short-lived").await;
        let resp = app.delete_task("ann", id).await;
        assert!(resp.status().is_success());
        if i == 24 {
            let page: Value = feed("0".into()).await.json().await.unwrap();
            after_tenth = page["cursor"].as_str().unwrap().to_owned();
        }
    }
    let kept = "SELECT COUNT(*) FROM task_tombstones WHERE user_id = $1";
    let n = count(&app, kept, "ann").await;
    assert!((10..=11).contains(&n), "{n} tombstones kept");
    assert_eq!(count(&app, kept, "bob").await, 1);
    // A cursor from before the forgotten ones: 410; a recent one and a new
    // start still work, and see every tombstone after them.
    assert_eq!(feed(start).await.status(), 410);
    let recent: Value = feed(after_tenth).await.json().await.unwrap();
    let deletes = recent["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["op"] == "delete")
        .count();
    assert_eq!(deletes, 5, "{recent}");
    assert_eq!(feed("0".into()).await.status(), 200);
    // Bob's feed is his own.
    let bob: Value = app
        .call_json(Method::GET, "/api/tasks/changes?since=1", Some("bob"), None)
        .await;
    assert_eq!(bob["changes"].as_array().unwrap().len(), 1);
}

/// The head of the answer to `request`, sent on a fresh connection.
async fn raw_head(app: &TestApp, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).to_ascii_lowercase()
}

/// An answer decided before the body was read says `Connection: close`;
/// one that read its body keeps the connection.
async fn an_answer_before_the_body_is_read_closes_the_connection(app: TestApp) {
    let host = app.base.trim_start_matches("http://");
    // No token, a body announced and not sent: 401 at once.
    let unread = format!(
        "POST /api/tasks HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{{\"title\""
    );
    let head = raw_head(&app, unread.as_bytes()).await;
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    // Too large for the body limit, announced: 413 without reading it.
    let large = format!(
        "POST /api/tasks HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{{",
        app.token("ann")
    );
    let head = raw_head(&app, large.as_bytes()).await;
    assert!(head.starts_with("http/1.1 413"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    // A body read to its end: the connection stays.
    let body = r#"{"title":"kept alive"}"#;
    let read = format!(
        "POST /api/tasks HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.token("ann"),
        body.len()
    );
    let head = raw_head(&app, read.as_bytes()).await;
    assert!(head.starts_with("http/1.1 201"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    // And a client reusing its connections sees no failure after a 401.
    for _ in 0..5 {
        let resp = app
            .client
            .post(app.url("/api/tasks"))
            .header("authorization", "Bearer nope")
            .json(&json!({ "title": "x".repeat(60_000) }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(
            app.call(Method::GET, "/api/tasks", Some("ann"), None)
                .await
                .status(),
            200
        );
    }
}

/// Findings 10 and 11: MCP's own bodies are never reshaped; the metadata's
/// resource is never taken from a `Host` the endpoint does not accept.
async fn mcp_bodies_and_metadata_follow_configuration_not_the_request(app: TestApp) {
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let metadata = |host: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/.well-known/oauth-protected-resource/mcp"))
                .header("host", host)
                .send()
                .await
                .unwrap()
        }
    };
    let own: Value = metadata(format!("127.0.0.1:{port}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["resource"], format!("http://127.0.0.1:{port}/mcp"));
    for evil in ["evil.example".to_owned(), format!("evil.example:{port}")] {
        let resp = metadata(evil.clone()).await;
        assert_eq!(resp.status(), 400, "{evil}");
        assert!(!resp.text().await.unwrap().contains("evil"));
    }
    // A 401 with such a Host names no metadata URL, and never a quote.
    let resp = app
        .client
        .post(app.url("/mcp"))
        .header("host", "evil.example\"x")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(!challenge.contains("evil"), "{challenge}");
}

/// A REQUEST_TIMEOUT_SECONDS of 1: a tool call answered as an event
/// stream (in a session) ends with it, even while the write waits on a
/// lock held elsewhere; a `GET /mcp` stream ends when its token expires.
async fn a_streamed_tool_call_ends_with_the_request_timeout(app: TestApp) {
    let app = Arc::new(app);
    // Ann's row exists (her first write made it).
    app.create_titled("ann", "first").await;
    let id = session(&app, "ann").await;
    let released = Arc::new(AtomicBool::new(false));
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let holder = {
        let (app, released) = (Arc::clone(&app), Arc::clone(&released));
        tokio::spawn(async move { hold_write_lock(&app, "ann", locked_tx, released).await })
    };
    locked_rx.await.unwrap();
    let resp = in_session(&app, "ann", &id)
        .json(&json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": { "name": "create_task", "arguments": { "title": "waits" } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = tokio::time::timeout(Duration::from_secs(30), resp.text())
        .await
        .expect("the stream never ended")
        .unwrap_or_default();
    assert!(
        !released.load(Ordering::SeqCst),
        "the stream ended only when the lock went"
    );
    assert!(!text.contains("\"result\""), "{text}");
    holder.await.unwrap();
    // A GET stream ends with its token.
    let token = app.token_for("ann", Duration::from_secs(2));
    let resp = app
        .client
        .get(app.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", PREVIOUS)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ended = tokio::time::timeout(Duration::from_secs(20), resp.text()).await;
    assert!(ended.is_ok(), "the stream outlived its token");
}

/// Hold a lock that `user`'s writes wait on for 8 seconds (PostgreSQL:
/// their users row; SQLite: the database's write lock).
async fn hold_write_lock(
    app: &TestApp,
    user: &str,
    locked: tokio::sync::oneshot::Sender<()>,
    released: Arc<AtomicBool>,
) {
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut c)
                .await
                .unwrap();
            let _ = locked.send(());
            tokio::time::sleep(Duration::from_secs(8)).await;
            released.store(true, Ordering::SeqCst);
            sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = crate::helpers::pg_connect(&app.database_url).await;
            sqlx::query("BEGIN").execute(&mut c).await.unwrap();
            sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
                .bind(user)
                .execute(&mut c)
                .await
                .unwrap();
            let _ = locked.send(());
            tokio::time::sleep(Duration::from_secs(8)).await;
            released.store(true, Ordering::SeqCst);
            sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
        }
    }
}
