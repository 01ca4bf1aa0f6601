//! Response shapes for the frontends that already exist (docs/frontends.md, "by
//! setting"): camelCase field names, `{tasks, total, …}` / `{task}` or
//! `{data: …}` envelopes with `{error: {code, message}}` beside `detail`,
//! an `is_completed` key, a JSON body on DELETE, and PUT as a merge.
//!
//! Handlers answer in the default shape and say what their body is
//! ([`BodyKind`], a response extension); [`reshape`] rewrites the body when
//! a setting asks for another shape, so every body the API writes follows
//! it (errors from anywhere in the stack, Idempotency-Key replays, the
//! document). With the defaults the layer is not installed at all.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value, json};

/// `JSON_CASE`: the field names of every response body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum JsonCase {
    #[default]
    Snake,
    Camel,
}

/// `RESPONSE_ENVELOPE`: how lists, tasks and errors are wrapped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Envelope {
    /// The seeds' bare bodies.
    #[default]
    None,
    /// `{"tasks": […], "total", "completed_count", "pending_count"}`, `{"task": {…}}`.
    Named,
    /// `{"data": …}` around every success body.
    Data,
}

/// `PUT_SEMANTICS`: what a PUT does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PutSemantics {
    /// Replace (seed 001): a title is required, omitted fields reset.
    #[default]
    Replace,
    /// As PATCH: only the fields present change.
    Merge,
}

/// `DELETE_RESPONSE`: what a successful DELETE answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DeleteResponse {
    /// 204 with no body (the seeds).
    #[default]
    Empty,
    /// 200 `{"id": …, "deleted": true, "message": "Task deleted"}`.
    Json,
}

/// The conventions in force: the output shape and PUT's meaning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conventions {
    pub json_case: JsonCase,
    pub envelope: Envelope,
    pub put: PutSemantics,
    /// `RESPONSE_IS_COMPLETED`: task bodies also carry `is_completed`.
    pub is_completed: bool,
    pub delete: DeleteResponse,
}

impl Conventions {
    /// Whether any body needs rewriting (else [`reshape`] is not installed).
    pub fn reshapes(&self) -> bool {
        self.json_case != JsonCase::Snake || self.envelope != Envelope::None || self.is_completed
    }
}

/// What a success body is, so that [`reshape`] knows how to wrap it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// One task.
    Task,
    /// A page of tasks, with the filtered list's counts (only counted when
    /// an envelope shows them).
    TaskList { completed: i64, pending: i64 },
    /// Stats, `/api/me`, tags, a DELETE body: wrapped only by `data`.
    Other,
    /// A protocol's own body (MCP's JSON-RPC, its errors included): never
    /// rewritten.
    Verbatim,
}

impl BodyKind {
    /// Mark `resp` as a body of this kind.
    pub fn mark(self, mut resp: Response) -> Response {
        resp.extensions_mut().insert(self);
        resp
    }
}

/// The largest body [`reshape`] reads back (the API's own bodies: a page of
/// 1000 tasks is well under it).
const MAX_SHAPED_BODY: usize = 16 * 1024 * 1024;

/// Rewrite a marked success body, or any JSON error body, in the shape the
/// conventions ask for.
pub async fn reshape(State(c): State<Conventions>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let kind = resp.extensions().get::<BodyKind>().copied();
    if kind == Some(BodyKind::Verbatim) {
        return resp;
    }
    let is_error = status.is_client_error() || status.is_server_error();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json || (kind.is_none() && !is_error) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_SHAPED_BODY).await else {
        return internal();
    };
    let total = parts
        .headers
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    // Unless `is_completed` adds a key, a success body is not parsed: the
    // envelope is spliced around its bytes and its keys renamed in place.
    if !is_error {
        let spliced = match c.splice(kind.unwrap_or(BodyKind::Other), &bytes, total) {
            Spliced::Unchanged => Some(bytes.to_vec()),
            Spliced::Body(spliced) => Some(spliced),
            Spliced::Rewrite => None,
        };
        let done = match (spliced, c.json_case) {
            (Some(b), JsonCase::Snake) => Some(b),
            (Some(b), JsonCase::Camel) => camel_keys_bytes(&b),
            (None, _) => None,
        };
        if let Some(done) = done {
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::from(done));
        }
    }
    let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let shaped = if is_error {
        c.error(status, value)
    } else {
        c.success(kind.unwrap_or(BodyKind::Other), value, total)
    };
    let bytes = serde_json::to_vec(&shaped).unwrap_or_else(|_| bytes.to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// What [`Conventions::splice`] made of a success body.
enum Spliced {
    Unchanged,
    Body(Vec<u8>),
    /// The body must be parsed and rewritten.
    Rewrite,
}

fn internal() -> Response {
    let mut resp = Response::new(Body::from(r#"{"detail":"Internal server error"}"#));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

impl Conventions {
    /// The body in its envelope, written around the handler's bytes, when
    /// no key is added inside it (`is_completed`); keys keep their case.
    fn splice(&self, kind: BodyKind, body: &[u8], total: Option<i64>) -> Spliced {
        if self.is_completed {
            return Spliced::Rewrite;
        }
        let mut out = Vec::with_capacity(body.len() + 96);
        let close = match (self.envelope, kind) {
            (Envelope::None | Envelope::Named, BodyKind::Other) | (_, BodyKind::Verbatim) => {
                return Spliced::Unchanged;
            }
            (Envelope::None, _) => return Spliced::Unchanged,
            (Envelope::Named, BodyKind::Task) => {
                out.extend_from_slice(br#"{"task":"#);
                1
            }
            (envelope, BodyKind::TaskList { completed, pending }) => {
                if envelope == Envelope::Data {
                    out.extend_from_slice(br#"{"data":"#);
                }
                out.extend_from_slice(br#"{"tasks":"#);
                out.extend_from_slice(body);
                let total = total.unwrap_or(completed + pending);
                out.extend_from_slice(
                    format!(
                        r#","total":{total},"completed_count":{completed},"pending_count":{pending}}}"#
                    )
                    .as_bytes(),
                );
                if envelope == Envelope::Data {
                    out.push(b'}');
                }
                return Spliced::Body(out);
            }
            (Envelope::Data, _) => {
                out.extend_from_slice(br#"{"data":"#);
                1
            }
        };
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(b'}', close));
        Spliced::Body(out)
    }

    fn success(&self, kind: BodyKind, mut value: Value, total: Option<i64>) -> Value {
        if self.is_completed {
            match (&kind, &mut value) {
                (BodyKind::Task, v) => add_is_completed(v),
                (BodyKind::TaskList { .. }, Value::Array(items)) => {
                    items.iter_mut().for_each(add_is_completed)
                }
                _ => {}
            }
        }
        let value = match (self.envelope, kind) {
            (Envelope::None, _) | (Envelope::Named, BodyKind::Other) | (_, BodyKind::Verbatim) => {
                value
            }
            (Envelope::Named, BodyKind::Task) => json!({ "task": value }),
            (envelope, BodyKind::TaskList { completed, pending }) => {
                let count = value.as_array().map_or(0, Vec::len) as i64;
                let list = json!({
                    "tasks": value,
                    "total": total.unwrap_or(count),
                    "completed_count": completed,
                    "pending_count": pending,
                });
                if envelope == Envelope::Data {
                    json!({ "data": list })
                } else {
                    list
                }
            }
            (Envelope::Data, _) => json!({ "data": value }),
        };
        self.cased(value)
    }

    fn error(&self, status: StatusCode, mut value: Value) -> Value {
        if self.envelope != Envelope::None
            && let Value::Object(obj) = &mut value
        {
            let message = error_message(obj.get("detail"));
            obj.insert(
                "error".into(),
                json!({ "code": error_code(status), "message": message }),
            );
        }
        self.cased(value)
    }

    fn cased(&self, value: Value) -> Value {
        match self.json_case {
            JsonCase::Snake => value,
            JsonCase::Camel => camel_keys(value),
        }
    }
}

fn add_is_completed(task: &mut Value) {
    if let Value::Object(obj) = task
        && let Some(done) = obj.get("completed").cloned()
    {
        obj.insert("is_completed".into(), done);
    }
}

/// The `error.code` of an error status (docs/frontends.md).
pub fn error_code(status: StatusCode) -> &'static str {
    let code = status.as_u16();
    ERROR_CODES
        .iter()
        .find(|(s, _)| *s == code)
        .map(|(_, c)| *c)
        .unwrap_or(if code >= 500 {
            "internal"
        } else {
            "bad_request"
        })
}

/// The `error.code` of each status with one of its own; any other 5xx is
/// `internal`, any other status `bad_request` (the document lists these).
pub const ERROR_CODES: [(u16, &str); 11] = [
    (400, "bad_request"),
    (401, "unauthorized"),
    (403, "forbidden"),
    (404, "not_found"),
    (405, "method_not_allowed"),
    (409, "conflict"),
    (412, "precondition_failed"),
    (413, "payload_too_large"),
    (422, "validation_error"),
    (429, "rate_limited"),
    (503, "unavailable"),
];

/// Every `error.code` there is.
pub fn error_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = ERROR_CODES.iter().map(|(_, c)| *c).collect();
    codes.push("internal");
    codes
}

/// The longest `error.message`, in characters: a 422's problems are
/// already capped (`error::MAX_PROBLEMS`); this bounds the sentence made
/// of them whatever their texts.
pub const MAX_ERROR_MESSAGE: usize = 1000;

/// `error.message`: the `detail` text, or the 422's problems as
/// `body.title: Field required; …`, at most [`MAX_ERROR_MESSAGE`]
/// characters (then ending in `…`).
fn error_message(detail: Option<&Value>) -> String {
    let message = full_error_message(detail);
    if message.chars().count() <= MAX_ERROR_MESSAGE {
        return message;
    }
    let cut = message
        .char_indices()
        .nth(MAX_ERROR_MESSAGE - 1)
        .map_or(message.len(), |(at, _)| at);
    format!("{}…", &message[..cut])
}

fn full_error_message(detail: Option<&Value>) -> String {
    match detail {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(problems)) => problems
            .iter()
            .map(|p| {
                let at: Vec<String> = p["loc"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| match l {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                format!("{}: {}", at.join("."), p["msg"].as_str().unwrap_or(""))
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => "Error".to_owned(),
    }
}

/// `due_date` → `dueDate`.
pub fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            // ASCII only, as the API's own keys are (and as
            // `camel_keys_bytes` does).
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// [`camel_keys`] over a serialised JSON document, in one pass over its
/// bytes (no parse into a tree): each object key is rewritten, nothing
/// else. `None` if `json` is not well formed (never the case for the API's
/// own bodies; the caller then falls back to the tree).
pub fn camel_keys_bytes(json: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(json.len());
    // For each open container: is it an object, and is a key due next?
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        match b {
            b'"' => {
                let start = i;
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
                if i >= json.len() {
                    return None;
                }
                let is_key = matches!(stack.last(), Some((true, true)));
                let text = &json[start..=i];
                if is_key {
                    if let Some(top) = stack.last_mut() {
                        top.1 = false;
                    }
                    let mut upper = false;
                    for (n, &c) in text.iter().enumerate() {
                        // `_` after the opening quote and the first letter.
                        if c == b'_' && n > 1 {
                            upper = true;
                        } else if upper {
                            out.push(c.to_ascii_uppercase());
                            upper = false;
                        } else {
                            out.push(c);
                        }
                    }
                } else {
                    out.extend_from_slice(text);
                }
            }
            b'{' => {
                stack.push((true, true));
                out.push(b);
            }
            b'[' => {
                stack.push((false, false));
                out.push(b);
            }
            b'}' | b']' => {
                stack.pop()?;
                out.push(b);
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.1 = top.0;
                }
                out.push(b);
            }
            _ => out.push(b),
        }
        i += 1;
    }
    stack.is_empty().then_some(out)
}

/// Every object key of `value`, at any depth, in camelCase.
pub fn camel_keys(value: Value) -> Value {
    match value {
        Value::Object(obj) => Value::Object(
            obj.into_iter()
                .map(|(k, v)| (camel(&k), camel_keys(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn camel_bytes_agree_with_the_tree(v in any_json()) {
            let bytes = serde_json::to_vec(&v).unwrap();
            let fast: Value = serde_json::from_slice(&camel_keys_bytes(&bytes).unwrap()).unwrap();
            proptest::prop_assert_eq!(fast, camel_keys(v));
        }
    }

    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z_\"\\\\{},:\\[\\] é]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-z][a-zé_]{0,8}|_x|a\"b", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn camel_case_names() {
        assert_eq!(camel("due_date"), "dueDate");
        assert_eq!(camel("completed_count"), "completedCount");
        assert_eq!(camel("title"), "title");
        assert_eq!(camel("_private"), "_private");
    }

    #[test]
    fn envelopes_wrap_lists_tasks_and_errors() {
        let c = Conventions {
            envelope: Envelope::Named,
            json_case: JsonCase::Camel,
            ..Default::default()
        };
        let list = c.success(
            BodyKind::TaskList {
                completed: 1,
                pending: 2,
            },
            json!([{ "due_date": null }]),
            Some(3),
        );
        assert_eq!(
            list,
            json!({ "tasks": [{ "dueDate": null }], "total": 3, "completedCount": 1, "pendingCount": 2 })
        );
        let err = c.error(StatusCode::NOT_FOUND, json!({ "detail": "Task not found" }));
        assert_eq!(
            err,
            json!({ "detail": "Task not found", "error": { "code": "not_found", "message": "Task not found" } })
        );
        let data = Conventions {
            envelope: Envelope::Data,
            is_completed: true,
            ..Default::default()
        };
        assert_eq!(
            data.success(BodyKind::Task, json!({ "completed": true }), None),
            json!({ "data": { "completed": true, "is_completed": true } })
        );
        let e = data.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "detail": [{ "loc": ["body", "title"], "msg": "Field required" }] }),
        );
        assert_eq!(e["error"]["message"], "body.title: Field required");
    }

    #[test]
    fn splicing_agrees_with_rewriting() {
        let tasks = json!([{ "id": 1, "completed": false }]);
        let bytes = serde_json::to_vec(&tasks).unwrap();
        for envelope in [Envelope::Named, Envelope::Data] {
            let c = Conventions {
                envelope,
                ..Default::default()
            };
            for kind in [
                BodyKind::Task,
                BodyKind::Other,
                BodyKind::TaskList {
                    completed: 0,
                    pending: 1,
                },
            ] {
                let rewritten = c.success(kind, tasks.clone(), Some(1));
                match c.splice(kind, &bytes, Some(1)) {
                    Spliced::Body(spliced) => assert_eq!(
                        serde_json::from_slice::<Value>(&spliced).unwrap(),
                        rewritten,
                        "{envelope:?} {kind:?}"
                    ),
                    Spliced::Unchanged => assert_eq!(rewritten, tasks, "{envelope:?} {kind:?}"),
                    Spliced::Rewrite => panic!("no rewrite needed for {envelope:?} {kind:?}"),
                }
            }
        }
    }
}
