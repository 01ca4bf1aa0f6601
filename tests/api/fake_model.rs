//! An OpenAI-compatible chat-completions server for the chat's tests:
//! it answers from a script (text, tool calls, an error status, a slow
//! answer) and records every request it was sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Scripted {
    Text(String),
    /// Tool calls: each a name and its arguments.
    Tools(Vec<(&'static str, Value)>),
    /// An error status, with `Retry-After` seconds, and a body that must
    /// never reach the chat's client.
    Status(u16, Option<u64>),
    /// A text answer after a wait.
    Slow(Duration, String),
}

/// The key the tests configure; the fake checks it is sent.
pub const KEY: &str = "sk-test-0123456789";
/// Tokens each answer reports.
pub const TOKENS_PER_ANSWER: i64 = 15;

#[derive(Default)]
struct Inner {
    script: VecDeque<Scripted>,
    requests: Vec<Value>,
    keys: Vec<String>,
}

#[derive(Clone)]
pub struct FakeModel {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeModel {
    pub async fn start() -> FakeModel {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeModel {
            url: format!("http://127.0.0.1:{port}/v1"),
            inner,
        }
    }

    /// Answers to give, in order; past them, `"OK"`.
    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// The bearer keys the requests carried.
    pub fn keys(&self) -> Vec<String> {
        self.inner.lock().unwrap().keys.clone()
    }
}

pub fn text(s: &str) -> Scripted {
    Scripted::Text(s.to_owned())
}

async fn answer(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let next = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(body.clone());
        let key = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim_start_matches("Bearer ")
            .to_owned();
        inner.keys.push(key);
        inner.script.pop_front().unwrap_or_else(|| text("OK"))
    };
    let message = match next {
        Scripted::Text(s) => json!({ "role": "assistant", "content": s }),
        Scripted::Slow(wait, s) => {
            tokio::time::sleep(wait).await;
            json!({ "role": "assistant", "content": s })
        }
        Scripted::Tools(calls) => json!({
            "role": "assistant",
            "content": null,
            "tool_calls": calls.iter().enumerate().map(|(i, (name, args))| json!({
                "id": format!("call_{i}"),
                "type": "function",
                "function": { "name": name, "arguments": args.to_string() },
            })).collect::<Vec<_>>(),
        }),
        Scripted::Status(code, retry) => {
            let mut resp = (
                StatusCode::from_u16(code).unwrap(),
                Json(json!({ "error": { "message": "provider secret detail sk-live-leak" } })),
            )
                .into_response();
            if let Some(s) = retry {
                resp.headers_mut()
                    .insert("retry-after", s.to_string().parse().unwrap());
            }
            return resp;
        }
    };
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{ "index": 0, "message": message, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": TOKENS_PER_ANSWER },
    }))
    .into_response()
}
