//! The tools (docs/mcp.md): each one is a REST call for the tool's user, run
//! through the API's own route table in process, so that parsing,
//! validation, isolation, Idempotency-Key, the audit log and the SQL are the
//! REST API's, not a second copy. The schemas come from the OpenAPI
//! document the REST API serves.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::catalog::{ToolName, catalog};
use crate::http::auth::{AuthUser, Preauthenticated};

/// The biggest REST answer a tool reads (a list page of 100 full tasks is
/// well under it).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The MCP server: the tools, and the route table they call.
#[derive(Clone)]
pub struct TaskTools {
    routes: Router,
    catalog: Arc<Vec<Tool>>,
    /// The user of every call (`todo-api mcp` over stdio); over HTTP each
    /// request's verified user instead.
    fixed_user: Option<AuthUser>,
}

impl TaskTools {
    /// `routes`: the REST route table with its state (no middleware);
    /// `document`: the OpenAPI document in the default shape.
    pub fn new(routes: Router, document: &Value, fixed_user: Option<AuthUser>) -> Self {
        Self {
            routes,
            catalog: Arc::new(catalog(document)),
            fixed_user,
        }
    }

    /// Each tool's name, description and input schema (the chat offers
    /// them to its model as functions).
    pub fn functions(&self) -> Vec<(String, String, Value)> {
        self.catalog
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.description.as_deref().unwrap_or_default().to_owned(),
                    Value::Object((*t.input_schema).clone()),
                )
            })
            .collect()
    }

    /// Run a tool by name as `user` (the chat's tool calls): the tool's
    /// name (`unknown` when there is none so named), its outcome label and
    /// what the model is told, the answer or `{"error": …}`.
    pub async fn run(
        &self,
        user: &AuthUser,
        name: &str,
        args: Value,
    ) -> (&'static str, &'static str, Value) {
        let Some(tool) = ToolName::parse(name) else {
            let error = json!({ "error": format!("There is no tool named {name:?}") });
            return ("unknown", "unknown_tool", error);
        };
        let args = match args {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => {
                let error = json!({ "error": "Invalid arguments: must be an object" });
                return (tool.name(), "invalid_arguments", error);
            }
        };
        let answer = self.call(user, tool, args).await;
        let outcome = answer.outcome();
        match answer {
            Answer::Ok(value, _) => (tool.name(), outcome, value),
            Answer::Failed { message, .. } => (tool.name(), outcome, json!({ "error": message })),
        }
    }

    fn user(&self, ctx: &RequestContext<RoleServer>) -> Option<AuthUser> {
        if let Some(user) = &self.fixed_user {
            return Some(user.clone());
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<AuthUser>())
            .cloned()
    }

    /// Run one REST request as `user`.
    async fn rest(&self, user: &AuthUser, call: Rest) -> Answer {
        let mut req = Request::builder()
            .method(call.method)
            .uri(&call.path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = &call.idempotency_key {
            match HeaderValue::from_str(key) {
                Ok(v) => req = req.header("idempotency-key", v),
                Err(_) => return Answer::invalid("idempotency_key", "must be visible ASCII"),
            }
        }
        let body = match &call.body {
            Some(v) => Body::from(v.to_string()),
            None => Body::empty(),
        };
        let Ok(mut req) = req.body(body) else {
            return Answer::invalid("id", "is not a valid task id");
        };
        req.extensions_mut().insert(Preauthenticated(user.clone()));
        let resp = match self.routes.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status();
        let total = resp
            .headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok());
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match axum::body::to_bytes(resp.into_body(), MAX_ANSWER_BYTES).await {
            Ok(b) => b,
            Err(_) => return Answer::failed("error", "the answer was too large".into()),
        };
        let value: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        };
        Answer::from_rest(status, value, total, retry_after)
    }

    async fn call(&self, user: &AuthUser, tool: ToolName, mut args: Map<String, Value>) -> Answer {
        // The tools act for the authenticated user only: a `user_id` that
        // a prompt or the model supplies selects no one.
        args.remove("user_id");
        args.remove("userId");
        match tool {
            ToolName::ListTasks => {
                let query = match list_query(&args) {
                    Ok(q) => q,
                    Err(answer) => return answer,
                };
                let answer = self
                    .rest(user, Rest::get(format!("/api/tasks?{query}")))
                    .await;
                answer.map(|tasks, total| json!({ "tasks": tasks, "total": total.unwrap_or(0) }))
            }
            ToolName::GetTask => match task_path(&args) {
                Ok(path) => self.rest(user, Rest::get(path)).await,
                Err(answer) => answer,
            },
            ToolName::AddTask => {
                let mut body = args;
                let key = match body.remove("idempotency_key") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(k)) => Some(k),
                    Some(_) => return Answer::invalid("idempotency_key", "must be a string"),
                };
                let mut call = Rest::with_body(Method::POST, "/api/tasks".into(), body);
                call.idempotency_key = key;
                self.rest(user, call).await
            }
            ToolName::UpdateTask => match task_path(&args) {
                Ok(path) => {
                    let mut body = args;
                    body.remove("id");
                    self.rest(user, Rest::with_body(Method::PATCH, path, body))
                        .await
                }
                Err(answer) => answer,
            },
            ToolName::CompleteTask => {
                let path = match task_path(&args) {
                    Ok(path) => path,
                    Err(answer) => return answer,
                };
                let completed = args
                    .get("completed")
                    .filter(|v| !v.is_null())
                    .cloned()
                    .unwrap_or(Value::Bool(true));
                let body = Map::from_iter([("completed".to_owned(), completed)]);
                self.rest(user, Rest::with_body(Method::PATCH, path, body))
                    .await
            }
            ToolName::DeleteTask => {
                let path = match task_path(&args) {
                    Ok(path) => path,
                    Err(answer) => return answer,
                };
                let id = args.get("id").cloned().unwrap_or(Value::Null);
                let mut call = Rest::get(path);
                call.method = Method::DELETE;
                self.rest(user, call)
                    .await
                    .map(|_, _| json!({ "id": id, "deleted": true }))
            }
            ToolName::TaskStats => self.rest(user, Rest::get("/api/stats".into())).await,
        }
    }
}

/// A REST request a tool makes.
struct Rest {
    method: Method,
    path: String,
    body: Option<Value>,
    idempotency_key: Option<String>,
}

impl Rest {
    fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            body: None,
            idempotency_key: None,
        }
    }

    fn with_body(method: Method, path: String, body: Map<String, Value>) -> Self {
        Self {
            method,
            path,
            body: Some(Value::Object(body)),
            idempotency_key: None,
        }
    }
}

/// A tool's outcome: the REST body (and list total), or an error for the
/// agent with the outcome label that `/metrics` and the log carry.
enum Answer {
    Ok(Value, Option<i64>),
    Failed {
        outcome: &'static str,
        message: String,
    },
}

impl Answer {
    fn failed(outcome: &'static str, message: String) -> Self {
        Answer::Failed { outcome, message }
    }

    fn invalid(field: &str, msg: &str) -> Self {
        Answer::failed(
            "invalid_arguments",
            format!("Invalid arguments: {field}: {msg}"),
        )
    }

    fn map(self, f: impl FnOnce(Value, Option<i64>) -> Value) -> Self {
        match self {
            Answer::Ok(v, total) => Answer::Ok(f(v, total), None),
            failed => failed,
        }
    }

    fn from_rest(
        status: StatusCode,
        body: Value,
        total: Option<i64>,
        retry: Option<String>,
    ) -> Self {
        if status.is_success() {
            return Answer::Ok(body, total);
        }
        let detail = &body["detail"];
        match status {
            StatusCode::UNPROCESSABLE_ENTITY => {
                let fields: Vec<String> = detail
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        // The location without its `body`/`query`/`path`:
                        // the argument as the agent sent it.
                        let field = e["loc"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .skip(1)
                            .map(|p| match p {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(".");
                        format!("{field}: {}", e["msg"].as_str().unwrap_or("invalid"))
                    })
                    .collect();
                Answer::failed(
                    "invalid_arguments",
                    format!("Invalid arguments: {}", fields.join("; ")),
                )
            }
            StatusCode::NOT_FOUND => Answer::failed("not_found", "Task not found".into()),
            StatusCode::CONFLICT => {
                Answer::failed("conflict", detail.as_str().unwrap_or("Conflict").to_owned())
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                let after = retry
                    .map(|s| format!("; retry after {s} s"))
                    .unwrap_or_default();
                Answer::failed(
                    "unavailable",
                    format!("{}{after}", detail.as_str().unwrap_or("Unavailable")),
                )
            }
            _ => Answer::failed(
                "error",
                detail
                    .as_str()
                    .unwrap_or("Internal server error")
                    .to_owned(),
            ),
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Answer::Ok(..) => "ok",
            Answer::Failed { outcome, .. } => outcome,
        }
    }

    fn into_result(self) -> CallToolResult {
        match self {
            Answer::Ok(value, _) => CallToolResult::structured(value),
            Answer::Failed { message, .. } => {
                CallToolResult::error(vec![ContentBlock::text(message)])
            }
        }
    }
}

/// `/api/tasks/{id}` for the `id` argument, as sent: the REST path
/// extractor says what is wrong with it.
fn task_path(args: &Map<String, Value>) -> Result<String, Answer> {
    let id = match args.get("id") {
        None | Some(Value::Null) => return Err(Answer::invalid("id", "Field required")),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    Ok(format!(
        "/api/tasks/{}",
        utf8_percent_encode(&id, NON_ALPHANUMERIC)
    ))
}

/// The query string of `list_tasks`' arguments: the REST parameters, an
/// array repeating its name (`tag`).
fn list_query(args: &Map<String, Value>) -> Result<String, Answer> {
    let mut pairs = Vec::new();
    for (name, value) in args {
        let values: Vec<&Value> = match value {
            Value::Null => continue,
            Value::Array(items) => items.iter().collect(),
            v => vec![v],
        };
        for v in values {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => v.to_string(),
                _ => return Err(Answer::invalid(name, "must be a string, number or boolean")),
            };
            pairs.push(format!(
                "{}={}",
                utf8_percent_encode(name, NON_ALPHANUMERIC),
                utf8_percent_encode(&text, NON_ALPHANUMERIC)
            ));
        }
    }
    Ok(pairs.join("&"))
}

impl ServerHandler for TaskTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("todo-api", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "The signed-in user's tasks: list (filters, tags, sort), get, create, \
                 update, complete, delete, and counts. Task ids are integers.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.catalog.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.catalog.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(tool) = ToolName::parse(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("no tool named {:?}", request.name),
                None,
            ));
        };
        let Some(user) = self.user(&context) else {
            return Err(ErrorData::internal_error("no authenticated user", None));
        };
        let started = Instant::now();
        let answer = self
            .call(&user, tool, request.arguments.unwrap_or_default())
            .await;
        let outcome = answer.outcome();
        let took = started.elapsed();
        // Never the arguments' text: titles and descriptions are user data.
        tracing::info!(
            target: "mcp",
            tool = tool.name(),
            user_id = user.id(),
            outcome,
            latency_ms = took.as_secs_f64() * 1000.0,
            "tool call"
        );
        crate::telemetry::mcp_tool_call(tool.name(), outcome, took);
        Ok(answer.into_result().into())
    }
}
