//! The chat (docs/chat.md) through HTTP against an OpenAI-compatible fake
//! model: each route style and reply shape, the conversations, two users'
//! isolation, every bound, the provider's errors, a restart.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use todo_api::chat::{ErrorFormat, IdForm, ListForm, ReplyShape};
use todo_api::config::{DeleteResponse, Secret, Settings};

use crate::fake_model::{FakeModel, KEY, Scripted, TOKENS_PER_ANSWER, text};
use crate::helpers::{Backend, TestApp};

/// One test per backend, each with a fake model the server is pointed at
/// and `tweak` applied to its settings.
macro_rules! chat_tests {
    ($($name:ident => $tweak:expr),* $(,)?) => {
        mod sqlite { use super::*; $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { run(Backend::Sqlite, concat!(module_path!(), "::", stringify!($name)), $tweak, super::$name).await }
        )* }
        mod postgres { use super::*; $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { run(Backend::Postgres, concat!(module_path!(), "::", stringify!($name)), $tweak, super::$name).await }
        )* }
    };
}

chat_tests!(
    a_turn_runs_the_tools_as_its_user_and_names_them => |_| {},
    conversations_keep_their_history_across_a_restart => |_| {},
    another_users_conversations_are_not_found => |_| {},
    bad_messages_are_422_with_a_code_and_never_reach_the_model => |s| s.chat.chat_max_message_chars = 50,
    model_failures_are_5xx_and_nothing_is_saved => |s| s.chat.chat_turn_timeout_seconds = 1,
    turns_conversations_messages_and_tokens_are_bounded => |s| {
        s.chat.chat_turns_per_minute = 4;
        s.chat.chat_max_conversations_per_user = 1;
        s.chat.chat_max_messages_per_conversation = 4;
        s.chat.chat_max_tool_steps = 1;
    },
    one_turn_at_a_time_per_conversation => |_| {},
    shapes_follow_the_settings => |s| {
        s.chat.chat_reply_shape = ReplyShape::Message;
        s.chat.chat_id_form = IdForm::Integer;
        s.chat.chat_error_format = ErrorFormat::Error;
        s.chat.chat_conversation_list = ListForm::Wrapped;
        s.conventions.delete_response = DeleteResponse::Json;
        // The task routes' shapes leave the chat's alone.
        s.conventions.json_case = todo_api::config::JsonCase::Camel;
        s.conventions.response_envelope = todo_api::config::Envelope::Named;
    },
    the_daily_token_budget_refuses_turns_past_it => |s| {
        s.chat.chat_daily_token_budget = (TOKENS_PER_ANSWER * 2) as u64;
    },
);

async fn run(
    backend: Backend,
    test: &str,
    tweak: impl FnOnce(&mut Settings),
    body: impl AsyncFnOnce(TestApp, FakeModel),
) {
    let fake = FakeModel::start().await;
    let url = fake.url.clone();
    let app = TestApp::spawn_with(backend, test, |s| {
        point_at(s, &url);
        tweak(s);
    })
    .await;
    if let Some(app) = app {
        body(app, fake).await;
    }
}

fn point_at(s: &mut Settings, url: &str) {
    s.chat.openai_base_url = Some(url.to_owned());
    s.chat.openai_api_key = Some(Secret::new(KEY));
    s.chat.openai_model = Some("fake-model".into());
}

async fn say(app: &TestApp, path: &str, user: &str, body: Value) -> (u16, Value) {
    let resp = app.call(Method::POST, path, Some(user), Some(&body)).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A turn that must succeed; its answer.
async fn turn(app: &TestApp, user: &str, message: &str, conversation: Option<&Value>) -> Value {
    let mut body = json!({ "message": message });
    if let Some(id) = conversation {
        body["conversation_id"] = id.clone();
    }
    let (status, answer) = say(app, &format!("/api/{user}/chat"), user, body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn get(app: &TestApp, path: &str, user: &str) -> (u16, Value) {
    let resp = app.call(Method::GET, path, Some(user), None).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The roles and texts of a model request's messages.
fn said(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn a_turn_runs_the_tools_as_its_user_and_names_them(app: TestApp, fake: FakeModel) {
    fake.script([
        // The model tries to act for bob: the tool acts for ann.
        Scripted::Tools(vec![(
            "add_task",
            json!({ "title": "Buy milk", "priority": "high", "user_id": "bob" }),
        )]),
        text("Added **Buy milk**."),
    ]);
    let answer = turn(&app, "ann", "Remind me to buy milk", None).await;
    assert_eq!(answer["response"], "Added **Buy milk**.");
    let id = answer["conversation_id"]
        .as_str()
        .expect("a string id by default");
    assert!(id.parse::<i64>().is_ok_and(|n| n > 0), "{id}");
    let call = &answer["tool_calls"][0];
    for key in ["tool", "name", "tool_name"] {
        assert_eq!(call[key], "add_task", "{call}");
    }
    assert_eq!(call["status"], "success");
    assert_eq!(call["arguments"]["title"], "Buy milk");
    assert_eq!(call["result"]["title"], "Buy milk");
    let (tasks, _) = app.list("ann", "").await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0]["title"].as_str(), tasks[0]["priority"].as_str()),
        (Some("Buy milk"), Some("high"))
    );
    assert_eq!(app.list("bob", "").await.1, 0, "bob got nothing");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(fake.keys(), [KEY, KEY]);
    let first = &requests[0];
    assert_eq!(first["model"], "fake-model");
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    for name in [
        "add_task",
        "list_tasks",
        "complete_task",
        "delete_task",
        "update_task",
    ] {
        assert!(tools.contains(&name), "{name} in {tools:?}");
    }
    let messages = said(first);
    assert_eq!(messages[0].0, "system");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        messages[0].1.contains(&today),
        "the date: {}",
        messages[0].1
    );
    assert_eq!(
        messages.last().unwrap(),
        &("user".to_owned(), "Remind me to buy milk".to_owned())
    );
    // The second request carries the tool's answer for the model.
    let second = said(&requests[1]);
    let (role, result) = second.last().unwrap();
    assert_eq!(role, "tool");
    assert!(result.contains("Buy milk"), "{result}");

    // The same through /api/chat and /api/chat/{user_id}, bob's own.
    fake.script([
        Scripted::Tools(vec![("list_tasks", json!({ "status": "all" }))]),
        text("You have none."),
    ]);
    let (status, answer) = say(
        &app,
        "/api/chat",
        "bob",
        json!({ "message": "What do I have?" }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["tool_calls"][0]["result"]["total"], 0,
        "bob's list is bob's"
    );
    let (status, _) = say(&app, "/api/chat/bob", "bob", json!({ "message": "thanks" })).await;
    assert_eq!(status, 200);
    // A tool the catalogue lacks and arguments that are not JSON are the
    // model's problem, not a failed turn.
    fake.script([
        Scripted::Tools(vec![("drop_tables", json!({}))]),
        text("I cannot."),
    ]);
    let answer = turn(&app, "ann", "drop everything", None).await;
    assert_eq!(answer["tool_calls"][0]["status"], "error");
    assert_eq!(app.list("ann", "").await.1, 1);
}

async fn conversations_keep_their_history_across_a_restart(app: TestApp, fake: FakeModel) {
    fake.script([text("Hello Ann."), text("You said hello.")]);
    let first = turn(&app, "ann", "Hello, I am Ann", None).await;
    let id = first["conversation_id"].clone();
    // The integer form of the id is accepted too.
    let numeric = json!(id.as_str().unwrap().parse::<i64>().unwrap());
    turn(&app, "ann", "What did I say?", Some(&numeric)).await;
    let second = said(&fake.requests()[1]);
    let roles: Vec<&str> = second.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "user"],
        "history as prior messages"
    );
    assert_eq!(second[1].1, "Hello, I am Ann");
    assert_eq!(second[2].1, "Hello Ann.");
    assert!(
        !second[0].1.contains("Hello, I am Ann"),
        "not folded into the system prompt"
    );

    let (status, list) = get(&app, "/api/conversations", "ann").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["title"], "Hello, I am Ann");
    assert_eq!(list[0]["message_count"], 4);
    let path = format!("/api/ann/conversations/{}", id.as_str().unwrap());
    let (status, one) = get(&app, &path, "ann").await;
    assert_eq!(status, 200);
    let texts: Vec<(&str, &str)> = one["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        texts,
        [
            ("user", "Hello, I am Ann"),
            ("assistant", "Hello Ann."),
            ("user", "What did I say?"),
            ("assistant", "You said hello.")
        ]
    );
    let (_, page) = get(&app, &format!("{path}/messages?limit=2&offset=1"), "ann").await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(page[0]["content"], "Hello Ann.");

    // Restarted, the conversation goes on where it was.
    let mut s = crate::helpers::settings(&app.database_url);
    point_at(&mut s, &fake.url);
    let again = TestApp::start(&s).await;
    fake.script([text("Still here.")]);
    turn(&again, "ann", "Are you there?", Some(&id)).await;
    let third = said(fake.requests().last().unwrap());
    assert_eq!(third.len(), 6, "system, four earlier messages, the new one");

    // Deleted with its messages.
    let resp = again.call(Method::DELETE, &path, Some("ann"), None).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(get(&again, &path, "ann").await.0, 404);
    assert_eq!(get(&again, &format!("{path}/messages"), "ann").await.0, 404);
    assert_eq!(get(&again, "/api/conversations", "ann").await.1, json!([]));
    // A conversation made empty, then chatted into.
    let resp = again
        .call(
            Method::POST,
            "/api/conversations",
            Some("ann"),
            Some(&json!({ "title": "Plans" })),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let made: Value = resp.json().await.unwrap();
    assert_eq!(
        (made["title"].as_str(), made["message_count"].as_i64()),
        (Some("Plans"), Some(0))
    );
    turn(&again, "ann", "First", Some(&made["id"])).await;
}

async fn another_users_conversations_are_not_found(app: TestApp, _fake: FakeModel) {
    let answer = turn(&app, "ann", "secret plans", None).await;
    let id = answer["conversation_id"].as_str().unwrap().to_owned();
    for path in [
        format!("/api/conversations/{id}"),
        format!("/api/bob/conversations/{id}"),
        format!("/api/conversations/{id}/messages"),
    ] {
        let (status, body) = get(&app, &path, "bob").await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["code"], "conversation_not_found");
        assert!(!body.to_string().contains("secret"));
    }
    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/conversations/{id}"),
            Some("bob"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 404);
    let (status, body) = say(
        &app,
        "/api/chat",
        "bob",
        json!({ "message": "go on", "conversation_id": id }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("conversation_not_found"))
    );
    assert_eq!(get(&app, "/api/conversations", "bob").await.1, json!([]));
    // A path naming ann with bob's token: 403 in every style.
    for path in ["/api/ann/chat", "/api/chat/ann"] {
        let (status, _) = say(&app, path, "bob", json!({ "message": "hi" })).await;
        assert_eq!(status, 403, "{path}");
    }
    assert_eq!(get(&app, "/api/ann/conversations", "bob").await.0, 403);
    // Ann's is whole.
    let (_, one) = get(&app, &format!("/api/conversations/{id}"), "ann").await;
    assert_eq!(one["message_count"], 2);
    // No token: 401 in the chat's format.
    let resp = app
        .call(
            Method::POST,
            "/api/chat",
            None,
            Some(&json!({ "message": "hi" })),
        )
        .await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
}

async fn bad_messages_are_422_with_a_code_and_never_reach_the_model(app: TestApp, fake: FakeModel) {
    for (body, code) in [
        (json!({}), "invalid_message"),
        (json!({ "message": "   " }), "invalid_message"),
        (json!({ "message": 42 }), "invalid_message"),
        (json!(["message"]), "invalid_request"),
        (json!({ "message": "x".repeat(51) }), "message_too_long"),
    ] {
        let (status, answer) = say(&app, "/api/chat", "ann", body.clone()).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (422, Some(code)),
            "{body}"
        );
        assert!(answer["detail"].is_string());
    }
    let (_, answer) = say(
        &app,
        "/api/chat",
        "ann",
        json!({ "message": "x".repeat(51) }),
    )
    .await;
    assert!(
        answer["detail"].as_str().unwrap().contains("50"),
        "names the limit"
    );
    let resp = app
        .client
        .post(app.url("/api/chat"))
        .bearer_auth(app.token("ann"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    for id in [json!("not-a-uuid-we-made"), json!(-4), json!(999)] {
        let (status, answer) = say(
            &app,
            "/api/chat",
            "ann",
            json!({ "message": "hi", "conversation_id": id }),
        )
        .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (404, Some("conversation_not_found")),
            "{id}"
        );
    }
    let (status, _) = get(&app, "/api/conversations?limit=0", "ann").await;
    assert_eq!(status, 422);
    assert!(fake.requests().is_empty(), "nothing reached the model");
    // 50 characters exactly is fine.
    turn(&app, "ann", &"y".repeat(50), None).await;
}

async fn model_failures_are_5xx_and_nothing_is_saved(app: TestApp, fake: FakeModel) {
    fake.script([
        Scripted::Status(401, None),
        Scripted::Status(429, Some(7)),
        Scripted::Status(500, None),
        Scripted::Slow(Duration::from_secs(3), "too late".into()),
    ]);
    for (status, code) in [
        (502, "model_auth_failed"),
        (429, "model_rate_limited"),
        (502, "model_error"),
        (504, "model_timeout"),
    ] {
        let resp = app
            .call(
                Method::POST,
                "/api/chat",
                Some("ann"),
                Some(&json!({ "message": "hi" })),
            )
            .await;
        assert_eq!(resp.status().as_u16(), status, "{code}");
        if status == 429 {
            assert_eq!(resp.headers()["retry-after"], "7");
        }
        let body = resp.text().await.unwrap();
        assert!(body.contains(code), "{body}");
        assert!(
            !body.contains("sk-live-leak") && !body.contains(KEY),
            "no provider body: {body}"
        );
    }
    assert_eq!(
        get(&app, "/api/conversations", "ann").await.1,
        json!([]),
        "nothing half-written"
    );
    // A provider that is not there at all.
    let mut s = crate::helpers::settings(&app.database_url);
    point_at(&mut s, "http://127.0.0.1:9/v1");
    let offline = TestApp::start(&s).await;
    let (status, body) = say(&offline, "/api/chat", "ann", json!({ "message": "hi" })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("model_unavailable"))
    );
    // No model configured: 503 naming what to set.
    let unconfigured = TestApp::start(&crate::helpers::settings(&app.database_url)).await;
    let (status, body) = say(
        &unconfigured,
        "/api/chat",
        "ann",
        json!({ "message": "hi" }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("chat_not_configured"))
    );
    assert!(body["detail"].as_str().unwrap().contains("OPENAI_API_KEY"));
}

async fn turns_conversations_messages_and_tokens_are_bounded(app: TestApp, fake: FakeModel) {
    // Tool steps: the model asks for tools every time; after one round it
    // is asked once more with none offered.
    fake.script([
        Scripted::Tools(vec![("list_tasks", json!({}))]),
        text("Nothing to do."),
    ]);
    let first = turn(&app, "ann", "anything?", None).await;
    let requests = fake.requests();
    assert!(requests[0]["tools"].is_array());
    assert!(
        requests[1].get("tools").is_none(),
        "no tools past CHAT_MAX_TOOL_STEPS"
    );
    // Conversations per user: a second one is 409.
    let (status, body) = say(&app, "/api/chat", "ann", json!({ "message": "new topic" })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conversation_limit"))
    );
    let resp = app
        .call(Method::POST, "/api/conversations", Some("ann"), None)
        .await;
    assert_eq!(resp.status(), 409);
    // Messages per conversation: 4 = two turns.
    turn(&app, "ann", "second", Some(&first["conversation_id"])).await;
    let (status, body) = say(
        &app,
        "/api/chat",
        "ann",
        json!({ "message": "third", "conversation_id": first["conversation_id"] }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conversation_full"))
    );
    // Turns per minute: four taken (the refused ones count), then 429.
    let resp = app
        .call(
            Method::POST,
            "/api/chat",
            Some("ann"),
            Some(&json!({ "message": "more" })),
        )
        .await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    // Bob has his own minute.
    turn(&app, "bob", "hi", None).await;
}

async fn one_turn_at_a_time_per_conversation(app: TestApp, fake: FakeModel) {
    let first = turn(&app, "ann", "start", None).await;
    let id = first["conversation_id"].clone();
    fake.script([Scripted::Slow(Duration::from_millis(1500), "slow".into())]);
    let slow = {
        let app_url = app.url("/api/chat");
        let token = app.token("ann");
        let client = app.client.clone();
        let id = id.clone();
        tokio::spawn(async move {
            client
                .post(app_url)
                .bearer_auth(token)
                .json(&json!({ "message": "one", "conversation_id": id }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = say(
        &app,
        "/api/chat",
        "ann",
        json!({ "message": "two", "conversation_id": id }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conversation_busy"))
    );
    assert_eq!(slow.await.unwrap(), 200);
    let (_, one) = get(
        &app,
        &format!("/api/conversations/{}", id.as_str().unwrap()),
        "ann",
    )
    .await;
    assert_eq!(one["message_count"], 4);
    // Another conversation is not held up.
    turn(&app, "ann", "elsewhere", None).await;
}

async fn shapes_follow_the_settings(app: TestApp, fake: FakeModel) {
    fake.script([text("Hi there")]);
    let (status, answer) = say(&app, "/api/chat", "ann", json!({ "message": "hello" })).await;
    assert_eq!(status, 200);
    let id = answer["conversation_id"].as_i64().expect("an integer id");
    assert_eq!(answer["message"]["role"], "assistant");
    assert_eq!(answer["message"]["content"], "Hi there");
    assert_eq!(answer["message"]["id"], 2);
    assert!(answer["message"]["created_at"].is_string());
    let (_, list) = get(&app, "/api/conversations", "ann").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["conversations"][0]["id"], id);
    let (status, body) = say(&app, "/api/chat", "ann", json!({ "message": "" })).await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({ "error": "invalid_message", "message": "message is required: a non-empty string" })
    );
    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/conversations/{id}"),
            Some("ann"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "deleted": true, "conversation_id": id }));
}

async fn the_daily_token_budget_refuses_turns_past_it(app: TestApp, _fake: FakeModel) {
    turn(&app, "ann", "one", None).await;
    turn(&app, "ann", "two", None).await;
    let resp = app
        .call(
            Method::POST,
            "/api/chat",
            Some("ann"),
            Some(&json!({ "message": "three" })),
        )
        .await;
    assert_eq!(resp.status(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&wait), "until midnight UTC: {wait}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "token_budget_exhausted");
    // Bob's budget is his own.
    turn(&app, "bob", "one", None).await;
}

/// A page on another origin, as a Next.js frontend served apart from the
/// API: it posts a chat message with `credentials: "include"` and shows the
/// reply. The API lists the page's origin in `CORS_ORIGINS`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_on_another_origin_chats_with_credentials_include() {
    let Some(browser) = crate::docs::chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "chromium must be installed in CI (apt-get install chromium)"
        );
        eprintln!("SKIPPED (Chromium): install Debian's chromium to run it");
        return;
    };
    let fake = FakeModel::start().await;
    fake.script([text("Hello from the model")]);
    let page = std::sync::Arc::new(tokio::sync::OnceCell::<String>::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let served = page.clone();
    let site = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let served = served.clone();
            async move { axum::response::Html(served.get().cloned().unwrap_or_default()) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, site).await.unwrap() });
    let app = TestApp::spawn_with(Backend::Sqlite, "chat::browser", |s| {
        point_at(s, &fake.url);
        s.server.cors_origins = Some(origin.clone());
    })
    .await
    .unwrap();
    let html = format!(
        r#"<!doctype html><html><body><ul id="out"></ul><script>
const say = (s) => {{ const li = document.createElement("li"); li.textContent = s; document.getElementById("out").appendChild(li); }};
fetch("{api}/api/chat", {{
  method: "POST", credentials: "include",
  headers: {{ "Content-Type": "application/json", Authorization: "Bearer {token}" }},
  body: JSON.stringify({{ message: "hi from the page", conversation_id: null }}),
}}).then(async (r) => {{ const b = await r.json(); say("REPLY " + r.status + " " + b.response + " in " + b.conversation_id); }})
  .catch((e) => say("FAILED " + e));
</script></body></html>"#,
        api = app.base,
        token = app.token("browser-user"),
    );
    page.set(html).unwrap();
    let dom = crate::docs::rendered(browser, format!("{origin}/"), 10_000).await;
    assert!(
        dom.contains("<li>REPLY 200 Hello from the model in "),
        "the page says: {dom}"
    );
    let (_, list) = get(&app, "/api/conversations", "browser-user").await;
    assert_eq!(list[0]["title"], "hi from the page");
}
