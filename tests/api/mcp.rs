//! `/mcp` (docs/mcp.md, docs/mcp.md): the tools through HTTP, in the current
//! protocol version (stateless) and the previous one (sessions), with two
//! users' isolation on every tool, argument errors, the REST API's
//! Idempotency-Key and limits, and the MCP authorization rules.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use todo_api::auth::mint_access_token;

use crate::helpers::TestApp;

crate::both_backends!(
    tools_are_listed_with_schemas_and_annotations,
    every_tool_works_for_its_user_and_no_other,
    bad_arguments_are_tool_errors_naming_the_field,
    an_idempotency_key_makes_create_task_safe_to_retry,
    the_previous_protocol_version_has_sessions_of_one_user,
    a_missing_or_bad_token_points_at_the_metadata,
    rest_limits_apply_to_mcp,
);

crate::both_backends_with!(
    with_a_resource_url_only_its_access_tokens_are_accepted =>
        |s: &mut todo_api::config::Settings| s.mcp.mcp_resource_url = Some(RESOURCE.into()),
    one_user_cannot_hold_every_session =>
        |s: &mut todo_api::config::Settings| s.mcp.mcp_max_sessions_per_user = 2,
);

const CURRENT: &str = "2026-07-28";
const PREVIOUS: &str = "2025-06-18";
const RESOURCE: &str = "https://tasks.example.com/mcp";
const TOOLS: [&str; 7] = [
    "list_tasks",
    "get_task",
    "add_task",
    "update_task",
    "complete_task",
    "delete_task",
    "task_stats",
];

/// The JSON-RPC message of an answer: the body itself, or the last `data:`
/// line of an event stream that carries one.
async fn message(resp: reqwest::Response) -> Value {
    let text = resp.text().await.unwrap();
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return v;
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .next_back()
        .unwrap_or_else(|| panic!("no JSON-RPC message in {text:?}"))
}

/// A request of the current protocol version with `bearer`.
fn current(
    app: &TestApp,
    bearer: &str,
    method: &str,
    mut params: Value,
) -> reqwest::RequestBuilder {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": CURRENT,
        "io.modelcontextprotocol/clientInfo": { "name": "tests", "version": "1" },
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let mut req = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", CURRENT)
        .header("mcp-method", method)
        .bearer_auth(bearer)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }));
    if let Some(name) = params["name"].as_str() {
        req = req.header("mcp-name", name);
    }
    req
}

/// `tools/list` as ann, with one more header (`Origin`, `Host`).
async fn list_tools_with(app: &TestApp, name: &str, value: impl AsRef<str>) -> reqwest::Response {
    current(app, &app.token("ann"), "tools/list", json!({}))
        .header(name, value.as_ref())
        .send()
        .await
        .unwrap()
}

/// `tools/call` as `user`: the JSON-RPC result.
async fn call(app: &TestApp, user: &str, tool: &str, args: Value) -> Value {
    let resp = current(
        app,
        &app.token(user),
        "tools/call",
        json!({ "name": tool, "arguments": args }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200, "{tool}");
    let msg = message(resp).await;
    msg.get("result")
        .cloned()
        .unwrap_or_else(|| panic!("{tool}: no result in {msg}"))
}

/// A successful call's structured content.
async fn ok(app: &TestApp, user: &str, tool: &str, args: Value) -> Value {
    let result = call(app, user, tool, args).await;
    assert_eq!(result["isError"], false, "{tool}: {result}");
    // The text content is the same JSON, for clients without structured content.
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, result["structuredContent"]);
    result["structuredContent"].clone()
}

/// A failed call's message.
async fn tool_error(app: &TestApp, user: &str, tool: &str, args: Value) -> String {
    let result = call(app, user, tool, args).await;
    assert_eq!(result["isError"], true, "{tool}: {result}");
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

async fn tools_are_listed_with_schemas_and_annotations(app: TestApp) {
    let resp = current(&app, &app.token("ann"), "tools/list", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let msg = message(resp).await;
    let tools = msg["result"]["tools"].as_array().expect("tools").clone();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, TOOLS);
    for t in &tools {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert_eq!(t["outputSchema"]["type"], "object", "{t}");
        assert!(t["description"].as_str().is_some_and(|d| !d.is_empty()));
        // Each schema stands alone: a client resolves no reference into
        // the OpenAPI document.
        for schema in ["inputSchema", "outputSchema"] {
            assert!(!t[schema].to_string().contains("$ref"), "{schema}: {t}");
        }
    }
    // The closed sets arrive as enums (the document's components inlined).
    let get = tools.iter().find(|t| t["name"] == "get_task").unwrap();
    assert_eq!(
        get["outputSchema"]["properties"]["status"]["enum"],
        json!(["pending", "completed"])
    );
    let tool = |name: &str| tools.iter().find(|t| t["name"] == name).unwrap().clone();
    let hints = |name: &str| {
        let a = &tool(name)["annotations"];
        (
            a["readOnlyHint"].as_bool().unwrap(),
            a["destructiveHint"].as_bool().unwrap(),
            a["idempotentHint"].as_bool().unwrap(),
        )
    };
    assert_eq!(hints("list_tasks"), (true, false, true));
    assert_eq!(hints("get_task"), (true, false, true));
    assert_eq!(hints("task_stats"), (true, false, true));
    assert_eq!(hints("add_task"), (false, false, false));
    assert_eq!(hints("update_task"), (false, false, true));
    assert_eq!(hints("complete_task"), (false, false, true));
    assert_eq!(hints("delete_task"), (false, true, true));
    // The schemas are the REST API's: the task fields, every list filter.
    let create = tool("add_task")["inputSchema"].clone();
    assert_eq!(create["required"], json!(["title"]));
    for field in [
        "title",
        "description",
        "priority",
        "category",
        "due_date",
        "tags",
        "idempotency_key",
    ] {
        assert!(
            create["properties"].get(field).is_some(),
            "create_task {field}"
        );
    }
    let list = tool("list_tasks")["inputSchema"]["properties"].clone();
    for param in [
        "status",
        "priority",
        "category",
        "q",
        "tag",
        "due_before",
        "due_after",
        "overdue",
        "sort",
        "order",
        "limit",
        "offset",
    ] {
        assert!(list.get(param).is_some(), "list_tasks {param}");
    }
    assert!(list.get("sortBy").is_none(), "aliases stay the REST API's");
    assert_eq!(
        tool("update_task")["inputSchema"]["required"],
        json!(["id"])
    );
    // Completing is the default; `completed: false` reopens.
    assert_eq!(
        tool("complete_task")["inputSchema"]["required"],
        json!(["id"])
    );
    let task_out = tool("get_task")["outputSchema"].clone();
    assert!(task_out["properties"]["tags"].is_object());
    assert!(tool("list_tasks")["outputSchema"]["properties"]["total"].is_object());
}

async fn every_tool_works_for_its_user_and_no_other(app: TestApp) {
    let task = ok(
        &app,
        "ann",
        "create_task",
        json!({ "title": "Call the plumber", "priority": "high", "tags": ["home", "urgent"], "due_date": "2030-01-01" }),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    assert_eq!(task["user_id"], "ann");
    assert_eq!(task["tags"], json!(["home", "urgent"]));
    ok(&app, "ann", "create_task", json!({ "title": "Buy milk" })).await;
    // The same task through REST: one Store.
    let rest: Value = app.get_task("ann", id).await.json().await.unwrap();
    assert_eq!(rest, task);

    let list = ok(
        &app,
        "ann",
        "list_tasks",
        json!({ "tag": ["urgent"], "priority": "high" }),
    )
    .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["tasks"][0]["id"], id);
    let page = ok(
        &app,
        "ann",
        "list_tasks",
        json!({ "sort": "title", "order": "asc", "limit": 1 }),
    )
    .await;
    assert_eq!(page["total"], 2, "total counts every match");
    assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(page["tasks"][0]["title"], "Buy milk");

    assert_eq!(ok(&app, "ann", "get_task", json!({ "id": id })).await, task);
    let updated = ok(
        &app,
        "ann",
        "update_task",
        json!({ "id": id, "title": "Call the plumber today" }),
    )
    .await;
    assert_eq!(updated["title"], "Call the plumber today");
    assert_eq!(updated["tags"], task["tags"], "update merges");
    assert_eq!(updated["priority"], "high");
    let done = ok(
        &app,
        "ann",
        "set_task_completed",
        json!({ "id": id, "completed": true }),
    )
    .await;
    assert_eq!(done["completed"], true);
    let again = ok(
        &app,
        "ann",
        "set_task_completed",
        json!({ "id": id, "completed": true }),
    )
    .await;
    assert_eq!(
        again["completed"], true,
        "setting, not toggling: idempotent"
    );
    let stats = ok(&app, "ann", "task_stats", json!({})).await;
    assert_eq!(
        (stats["total"].as_i64(), stats["completed"].as_i64()),
        (Some(2), Some(1))
    );

    // Bob: the same tools see nothing of Ann's, and change nothing.
    for (tool, args) in [
        ("get_task", json!({ "id": id })),
        ("update_task", json!({ "id": id, "title": "mine now" })),
        (
            "set_task_completed",
            json!({ "id": id, "completed": false }),
        ),
        ("delete_task", json!({ "id": id })),
    ] {
        let msg = tool_error(&app, "bob", tool, args).await;
        assert_eq!(msg, "Task not found", "{tool}");
    }
    let bobs = ok(&app, "bob", "list_tasks", json!({})).await;
    assert_eq!(bobs, json!({ "tasks": [], "total": 0 }));
    let bob_stats = ok(&app, "bob", "task_stats", json!({})).await;
    assert_eq!(bob_stats["total"], 0);
    let still: Value = app.get_task("ann", id).await.json().await.unwrap();
    assert_eq!(still["title"], "Call the plumber today");
    assert_eq!(still["completed"], true);

    let deleted = ok(&app, "ann", "delete_task", json!({ "id": id })).await;
    assert_eq!(deleted, json!({ "id": id, "deleted": true }));
    assert_eq!(
        tool_error(&app, "ann", "get_task", json!({ "id": id })).await,
        "Task not found"
    );
    assert_eq!(app.get_task("ann", id).await.status(), 404);
}

async fn bad_arguments_are_tool_errors_naming_the_field(app: TestApp) {
    let cases = [
        ("create_task", json!({}), "title"),
        ("create_task", json!({ "title": "x".repeat(201) }), "title"),
        (
            "create_task",
            json!({ "title": "t", "priority": "urgent" }),
            "priority",
        ),
        (
            "create_task",
            json!({ "title": "t", "tags": ["ok", 7] }),
            "tags.1",
        ),
        (
            "create_task",
            json!({ "title": "t", "idempotency_key": 5 }),
            "idempotency_key",
        ),
        ("list_tasks", json!({ "status": "sleeping" }), "status"),
        ("list_tasks", json!({ "limit": 0 }), "limit"),
        ("list_tasks", json!({ "q": { "nested": true } }), "q"),
        ("get_task", json!({}), "id"),
        ("get_task", json!({ "id": "abc" }), "id"),
        (
            "update_task",
            json!({ "id": 1, "due_date": "not a date" }),
            "due_date",
        ),
        ("complete_task", json!({ "completed": true }), "id"),
        (
            "set_task_completed",
            json!({ "id": 1, "completed": "yes please" }),
            "completed",
        ),
        ("delete_task", json!({ "id": 1.5 }), "id"),
    ];
    for (tool, args, field) in cases {
        let msg = tool_error(&app, "ann", tool, args.clone()).await;
        assert!(
            msg.starts_with("Invalid arguments:") && msg.contains(&format!("{field}:")),
            "{tool} {args}: {msg}"
        );
    }
    assert_eq!(app.list("ann", "").await.1, 0, "nothing was stored");
    // An unknown tool is a JSON-RPC error, not a tool result.
    let resp = current(
        &app,
        &app.token("ann"),
        "tools/call",
        json!({ "name": "drop_tables", "arguments": {} }),
    )
    .send()
    .await
    .unwrap();
    let msg = message(resp).await;
    assert!(
        msg["error"]["message"]
            .as_str()
            .unwrap()
            .contains("drop_tables"),
        "{msg}"
    );
}

async fn an_idempotency_key_makes_create_task_safe_to_retry(app: TestApp) {
    let args = json!({ "title": "once", "idempotency_key": "agent-retry-1" });
    let first = ok(&app, "ann", "create_task", args.clone()).await;
    let retry = ok(&app, "ann", "create_task", args).await;
    assert_eq!(retry, first);
    assert_eq!(app.list("ann", "").await.1, 1);
    // The same key with other arguments: refused, naming the key.
    let msg = tool_error(
        &app,
        "ann",
        "create_task",
        json!({ "title": "twice", "idempotency_key": "agent-retry-1" }),
    )
    .await;
    assert!(msg.contains("idempotency-key"), "{msg}");
    // Keys are per user, as on REST.
    let bobs = ok(
        &app,
        "bob",
        "create_task",
        json!({ "title": "once", "idempotency_key": "agent-retry-1" }),
    )
    .await;
    assert_ne!(bobs["id"], first["id"]);
    assert_eq!(app.list("ann", "").await.1, 1);
    assert_eq!(app.list("bob", "").await.1, 1);
}

/// `initialize` in the previous protocol version as `user`: the session id.
async fn open_session(app: &TestApp, user: &str) -> String {
    let resp = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(app.token(user))
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": { "protocolVersion": PREVIOUS, "capabilities": {}, "clientInfo": { "name": "tests", "version": "1" } }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let init = message(resp).await;
    assert_eq!(init["result"]["protocolVersion"], PREVIOUS);
    assert_eq!(init["result"]["serverInfo"]["name"], "todo-api");
    let resp = in_session(
        app,
        user,
        &session,
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await;
    assert_eq!(resp.status(), 202);
    session
}

async fn in_session(app: &TestApp, user: &str, session: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", PREVIOUS)
        .bearer_auth(app.token(user))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn the_previous_protocol_version_has_sessions_of_one_user(app: TestApp) {
    let session = open_session(&app, "ann").await;
    let list = in_session(
        &app,
        "ann",
        &session,
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }),
    )
    .await;
    let names: Vec<String> = message(list).await["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, TOOLS);
    let created = in_session(
        &app,
        "ann",
        &session,
        json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": "create_task", "arguments": { "title": "in a session" } } }),
    )
    .await;
    let created = message(created).await;
    assert_eq!(
        created["result"]["structuredContent"]["title"], "in a session",
        "{created}"
    );
    assert_eq!(app.list("ann", "").await.1, 1);
    // Bob's token with Ann's session id: not his session.
    let stolen = in_session(
        &app,
        "bob",
        &session,
        json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": { "name": "list_tasks", "arguments": {} } }),
    )
    .await;
    assert_eq!(stolen.status(), 404);
    // Ann's session still works, and a session of Bob's sees only his tasks.
    let bobs = open_session(&app, "bob").await;
    let listed = in_session(
        &app,
        "bob",
        &bobs,
        json!({ "jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": { "name": "list_tasks", "arguments": {} } }),
    )
    .await;
    assert_eq!(
        message(listed).await["result"]["structuredContent"]["total"],
        0
    );
    // The session ends on DELETE.
    let end = app
        .client
        .delete(app.url("/mcp"))
        .header("mcp-session-id", &session)
        .bearer_auth(app.token("ann"))
        .send()
        .await
        .unwrap();
    assert!(end.status().is_success(), "{}", end.status());
    let after = in_session(
        &app,
        "ann",
        &session,
        json!({ "jsonrpc": "2.0", "id": 6, "method": "tools/list" }),
    )
    .await;
    assert_eq!(after.status(), 404);
}

async fn a_missing_or_bad_token_points_at_the_metadata(app: TestApp) {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {} });
    let expected = format!(
        "Bearer resource_metadata=\"http://127.0.0.1:{}/.well-known/oauth-protected-resource/mcp\"",
        app.base.rsplit(':').next().unwrap()
    );
    for bearer in [
        None,
        Some("not-a-token"),
        Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.AAAA"),
    ] {
        let mut req = app.client.post(app.url("/mcp")).json(&body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{bearer:?}");
        assert_eq!(resp.headers()["www-authenticate"], expected.as_str());
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({ "detail": "Invalid authentication credentials" })
        );
    }
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let meta = app.call_json(Method::GET, path, None, None).await;
        assert_eq!(meta["resource"], format!("{}/mcp", app.base), "{path}");
        assert_eq!(meta["bearer_methods_supported"], json!(["header"]));
        assert!(meta["authorization_servers"].is_array());
    }
    // A page of another origin cannot drive the tools with a user's token.
    let foreign = list_tools_with(&app, "origin", "https://evil.example").await;
    assert_eq!(foreign.status(), 403);
    assert_eq!(
        foreign.json::<Value>().await.unwrap(),
        json!({ "detail": "Origin not allowed" })
    );
    let own = list_tools_with(&app, "origin", app.base.clone()).await;
    assert_eq!(own.status(), 200);
    // A server on a loopback address answers only to loopback names at
    // /mcp (DNS rebinding); MCP_ALLOWED_HOSTS says otherwise.
    let rebound = list_tools_with(&app, "host", "attacker.example").await;
    assert_eq!(rebound.status(), 403);
    let open = crate::hardening::second_server(&app, |s| {
        s.mcp.mcp_allowed_hosts = Some("tasks.example.com".into())
    })
    .await;
    let named = list_tools_with(&open, "host", "tasks.example.com").await;
    assert_eq!(named.status(), 200);
    let unnamed = list_tools_with(&open, "host", "127.0.0.1").await;
    assert_eq!(unnamed.status(), 403);
    // A browser client of an origin in CORS_ORIGINS: allowed, with the
    // protocol's headers in the preflight and the session id readable.
    let cors = crate::hardening::second_server(&app, |s| {
        s.server.cors_origins = Some("https://app.example.com".into())
    })
    .await;
    let preflight = cors
        .client
        .request(Method::OPTIONS, cors.url("/mcp"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version, mcp-session-id",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        allowed.contains("mcp-protocol-version") && allowed.contains("mcp-session-id"),
        "{allowed}"
    );
    let from_app = list_tools_with(&cors, "origin", "https://app.example.com").await;
    assert_eq!(from_app.status(), 200);
    let exposed = from_app.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(exposed.contains("mcp-session-id"), "{exposed}");
}

async fn rest_limits_apply_to_mcp(app: TestApp) {
    // The body limit (64 KiB).
    let big = json!({ "name": "create_task", "arguments": { "title": "t", "description": "x".repeat(70_000) } });
    let resp = current(&app, &app.token("ann"), "tools/call", big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(app.list("ann", "").await.1, 0);
    // The per-user rate limit, on a server with a small one.
    let limited = crate::hardening::second_server(&app, |s| {
        s.limits.rate_limit_user_per_second = 1;
        s.limits.rate_limit_user_burst = 2;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let resp = current(&limited, &limited.token("ann"), "tools/list", json!({}))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            assert!(resp.headers().contains_key("retry-after"));
        }
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // Tool calls are counted by tool and outcome on /metrics.
    let before = crate::metrics::scrape(&app).await;
    let ok_calls = r#"mcp_tool_calls_total{tool="task_stats",outcome="ok"}"#;
    let bad_calls = r#"mcp_tool_calls_total{tool="get_task",outcome="invalid_arguments"}"#;
    ok(&app, "ann", "task_stats", json!({})).await;
    tool_error(&app, "ann", "get_task", json!({})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = crate::metrics::scrape(&app).await;
    use crate::metrics::sample;
    assert!(
        sample(&after, ok_calls) >= sample(&before, ok_calls) + 1.0,
        "{after}"
    );
    assert!(sample(&after, bad_calls) >= sample(&before, bad_calls) + 1.0);
    assert!(!after.contains("ann"), "no user ids in labels");
}

async fn with_a_resource_url_only_its_access_tokens_are_accepted(app: TestApp) {
    let list = |bearer: String| {
        let app = &app;
        async move {
            current(
                app,
                &bearer,
                "tools/call",
                json!({ "name": "task_stats", "arguments": {} }),
            )
            .send()
            .await
            .unwrap()
        }
    };
    let day = Duration::from_secs(3600);
    let access = mint_access_token(&app.secret, "ann", day, RESOURCE).unwrap();
    let resp = list(access).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        message(resp).await["result"]["structuredContent"]["total"],
        0
    );
    // A REST token (no `typ: at+jwt`, no audience), and an access token for
    // another resource: refused, and pointed at this resource's metadata.
    let other =
        mint_access_token(&app.secret, "ann", day, "https://other.example.com/mcp").unwrap();
    for bearer in [app.token("ann"), other] {
        let resp = list(bearer).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer resource_metadata=\"https://tasks.example.com/.well-known/oauth-protected-resource/mcp\""
        );
    }
    let meta = app
        .call_json(
            Method::GET,
            "/.well-known/oauth-protected-resource/mcp",
            None,
            None,
        )
        .await;
    assert_eq!(meta["resource"], RESOURCE);
    // The REST API keeps its own rules: the REST token works there.
    assert_eq!(
        app.call(Method::GET, "/api/tasks", Some("ann"), None)
            .await
            .status(),
        200
    );
}

async fn one_user_cannot_hold_every_session(app: TestApp) {
    let first = open_session(&app, "ann").await;
    open_session(&app, "ann").await;
    let third = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(app.token("ann"))
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": { "protocolVersion": PREVIOUS, "capabilities": {}, "clientInfo": { "name": "tests", "version": "1" } }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    // Another user is not held up, nor is the current version (stateless).
    open_session(&app, "bob").await;
    let stateless = current(&app, &app.token("ann"), "tools/list", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(stateless.status(), 200);
    // A session ended frees its place.
    let end = app
        .client
        .delete(app.url("/mcp"))
        .header("mcp-session-id", &first)
        .bearer_auth(app.token("ann"))
        .send()
        .await
        .unwrap();
    assert!(end.status().is_success());
    open_session(&app, "ann").await;
}
