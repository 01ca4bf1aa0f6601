//! The OpenAPI 3.1 document (docs/api.md), generated from the handlers'
//! `#[utoipa::path]` annotations and the types below, served at
//! `/openapi.json` and by `todo-api openapi`; Swagger UI at `/docs`.
//!
//! The paths come from the route table (`routes.rs`, utoipa-axum), where
//! each task handler is nested under both `/api` and `/api/{user_id}`;
//! [`finish`] adds what the table cannot say (security, shared responses,
//! the scoped twins' parameter).

use serde::Serialize;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, Required, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::tasks::Problem;
use crate::tasks::model::{COMPLETED_WORDS, PENDING_WORDS, TAGS_MAX};

use super::shape::{Conventions, DeleteResponse, Envelope, JsonCase, PutSemantics, camel};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "todo-api",
        description = "A multi-user task API for Better Auth frontends. Every task route \
            exists in two styles: `/api/tasks…` (the token's user) and \
            `/api/{user_id}/tasks…` (the path must name the token's user, else 403).",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(schemas(Detail, ValidationError, Problem)),
    tags(
        (name = "tasks", description = "The token's user's tasks"),
        (name = "users", description = "The token's user"),
        (name = "changes", description = "Changes and live updates: the changes feed, Server-Sent Events and their tickets"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// Complete a document made from the route table: the bearer scheme, the
/// responses every authenticated operation shares, and what the scoped
/// twins add.
pub fn finish(doc: &mut Document) {
    Security.modify(doc);
    CommonResponses.modify(doc);
    ScopedRoutes.modify(doc);
}

/// `{"detail": "…"}`: every error but 422 (docs/api.md#errors).
#[derive(Serialize, ToSchema)]
pub struct Detail {
    #[schema(example = "Task not found")]
    pub detail: String,
}

/// 422: every problem of the request at once.
#[derive(Serialize, ToSchema)]
pub struct ValidationError {
    pub detail: Vec<Problem>,
}

/// The query of `GET /api/tasks` (docs/api.md#listing, with docs/frontends.md's aliases: the
/// canonical name wins when both are given). Invalid values are 422 with
/// `loc: ["query", name]` (the name as sent).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct ListParams {
    /// `all` (default), `pending` or `completed`, any case; also `incomplete`, `active`, `open`, `todo` (pending) and `done`, `complete` (completed).
    #[param(inline, value_type = Option<String>, schema_with = status_filter_schema)]
    status: Option<String>,
    /// `low`, `medium` or `high`, any case.
    #[param(value_type = Option<String>, schema_with = priority_schema)]
    priority: Option<String>,
    /// `work`, `personal`, `home` or `other`, any case.
    #[param(value_type = Option<String>, schema_with = category_schema)]
    category: Option<String>,
    /// Due on or before (RFC 3339 date-time, or a date: the whole day), years 0001 to 9999.
    #[param(value_type = Option<String>, format = DateTime)]
    due_before: Option<String>,
    /// Alias of `due_before`.
    #[param(rename = "dueBefore", value_type = Option<String>, format = DateTime)]
    due_before_camel: Option<String>,
    /// Due on or after (RFC 3339 date-time, or a date), years 0001 to 9999.
    #[param(value_type = Option<String>, format = DateTime)]
    due_after: Option<String>,
    /// Alias of `due_after`.
    #[param(rename = "dueAfter", value_type = Option<String>, format = DateTime)]
    due_after_camel: Option<String>,
    /// `true`: pending and past due; `false`: everything else.
    overdue: Option<bool>,
    /// Case-insensitive substring of title or description (`%`, `_` literal), at most 200 characters, no NUL.
    #[param(max_length = 200, pattern = "^[^\\u0000]*$")]
    q: Option<String>,
    /// Alias of `q`.
    #[param(max_length = 200, pattern = "^[^\\u0000]*$")]
    search: Option<String>,
    /// Tasks carrying this tag (case-insensitive); repeat it for tasks carrying all of them, at most 20. A blank one is ignored.
    #[param(value_type = Option<Vec<String>>, schema_with = tag_filter_schema, style = Form, explode)]
    tag: Option<Vec<String>>,
    /// `created_at` (default), `updated_at`, `due_date` (undated last), `priority` or `title`; camelCase too (`dueDate`), any case; `-` first for descending unless `order` is given.
    #[param(value_type = Option<String>, schema_with = sort_schema)]
    sort: Option<String>,
    /// Alias of `sort`.
    #[param(value_type = Option<String>, schema_with = sort_schema)]
    sort_by: Option<String>,
    /// Alias of `sort`.
    #[param(rename = "sortBy", value_type = Option<String>, schema_with = sort_schema)]
    sort_by_camel: Option<String>,
    /// `asc` or `desc` (default), any case.
    #[param(value_type = Option<String>, schema_with = order_schema)]
    order: Option<String>,
    /// Alias of `order`.
    #[param(value_type = Option<String>, schema_with = order_schema)]
    sort_order: Option<String>,
    /// Alias of `order`.
    #[param(rename = "sortOrder", value_type = Option<String>, schema_with = order_schema)]
    sort_order_camel: Option<String>,
    /// Page size, 1 to 1000; without it the whole list up to 1000, then `Link`.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Tasks to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Alias of `offset` (FastAPI's `skip`).
    #[param(minimum = 0)]
    skip: Option<i64>,
}

/// `word` in any case, as a regular expression: `[lL][oO][wW]`.
fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| {
            let (l, u) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
            if l == u {
                c.to_string()
            } else {
                format!("[{l}{u}]")
            }
        })
        .collect()
}

/// A string that is one of `words`, any case.
fn words_schema(words: &[&str], description: Option<&str>) -> utoipa::openapi::Object {
    use utoipa::openapi::ObjectBuilder;
    use utoipa::openapi::schema::Type;
    let alternatives: Vec<String> = words.iter().map(|w| any_case(w)).collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^({})$", alternatives.join("|"))))
        .description(description)
        .build()
}

fn status_words() -> Vec<&'static str> {
    PENDING_WORDS
        .iter()
        .chain(&COMPLETED_WORDS)
        .copied()
        .collect()
}

fn status_filter_schema() -> utoipa::openapi::Object {
    let mut words = vec!["all"];
    words.extend(status_words());
    words_schema(&words, None)
}

fn status_schema() -> utoipa::openapi::Object {
    words_schema(
        &status_words(),
        Some(
            "Sets `completed` when no `completed` is given (seed 002): `pending` or `completed`, \
             any case; also `incomplete`, `active`, `open`, `todo` and `done`, `complete`",
        ),
    )
}

fn priority_schema() -> utoipa::openapi::Object {
    words_schema(
        &["low", "medium", "high"],
        Some("`low`, `medium` or `high`, any case"),
    )
}

fn category_schema() -> utoipa::openapi::Object {
    words_schema(
        &["work", "personal", "home", "other"],
        Some("`work`, `personal`, `home` or `other`, any case"),
    )
}

fn sort_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::ObjectBuilder;
    use utoipa::openapi::schema::Type;
    let keys = ["created_at", "updated_at", "due_date", "priority", "title"]
        .map(|k| any_case(k).replace('_', "_?"));
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^-?({})$", keys.join("|"))))
        .build()
}

fn order_schema() -> utoipa::openapi::Object {
    words_schema(&["asc", "desc"], None)
}

/// Unicode white space (`str::trim` removes it).
const WS: &str =
    "\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
/// Control characters, which no tag may contain.
const CC: &str = "\\u0000-\\u001f\\u007f-\\u009f";

/// One tag as a regular expression (no anchors): trimmed, then 1 to 50
/// characters without control characters (nor `extra`).
fn tag_pattern(extra: &str) -> String {
    format!("[{WS}]*[^{WS}{CC}{extra}](?:[^{CC}{extra}]{{0,48}}[^{WS}{CC}{extra}])?[{WS}]*")
}

fn tag_item_schema(blank_too: bool) -> utoipa::openapi::Object {
    use utoipa::openapi::ObjectBuilder;
    use utoipa::openapi::schema::Type;
    let one = tag_pattern("");
    let pattern = if blank_too {
        format!("^(?:[{WS}]*|{one})$")
    } else {
        format!("^{one}$")
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .build()
}

fn tag_filter_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(tag_item_schema(true))
        .max_items(Some(TAGS_MAX))
        .build()
}

/// `tags` in a body: a list of at most 20 tags, or one comma-separated
/// string of at most 20 (its blank pieces are dropped), or `null` (none).
fn tags_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::ObjectBuilder;
    use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Type};
    let blank = format!("[{WS}]*");
    let piece = tag_pattern(",");
    let comma_list = format!(
        "^(?:{blank},)*(?:{blank}|{piece}(?:,{blank})*(?:,{piece}(?:,{blank})*){{0,{}}})$",
        TAGS_MAX - 1
    );
    OneOfBuilder::new()
        .item(
            ArrayBuilder::new()
                .items(tag_item_schema(false))
                .max_items(Some(TAGS_MAX)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(comma_list)),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "At most 20 tags, each trimmed, 1 to 50 characters, no control characters; \
             a list, or one comma-separated string (blank pieces dropped); duplicates \
             (compared case-insensitively) are dropped, the first spelling kept; `null`: none",
        ))
        .build()
        .into()
}

/// A task id in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct TaskIdParam {
    /// Task id (a 64-bit integer, else 422).
    id: i64,
}

/// `If-Match` on a write.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct IfMatchParam {
    /// Entity tags (or `*`), at most 16; a stale one is 412 and nothing changes.
    #[param(rename = "If-Match", pattern = "^[^,]*(,[^,]*){0,15}$")]
    if_match: Option<String>,
}

/// The strings a boolean field also accepts, any case (pydantic's lax mode).
const LAX_BOOLEAN_WORDS: [&str; 12] = [
    "true", "t", "yes", "y", "on", "1", "false", "f", "no", "n", "off", "0",
];

/// A boolean as the body parser takes it: `true`/`false`, `0`/`1`, or one of
/// [`LAX_BOOLEAN_WORDS`] in any case.
fn lax_boolean() -> utoipa::openapi::Schema {
    use utoipa::openapi::ObjectBuilder;
    use utoipa::openapi::schema::{OneOfBuilder, Type};
    let words: Vec<String> = LAX_BOOLEAN_WORDS.iter().map(|w| any_case(w)).collect();
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([0, 1])),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(format!("^({})$", words.join("|")))),
        )
        .description(Some(
            "A boolean; also `0`/`1` and `true`, `yes`, `on`, `1`, `false`, `no`, `off`, `0` \
             (and their first letters), any case",
        ))
        .build()
        .into()
}

/// The body of POST and PUT (docs/api.md#the-task). Unknown fields are ignored.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct TaskInput {
    /// Trimmed (Unicode white space); then 1 to 200 characters; no NUL.
    #[schema(
        pattern = "^[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000](?:[^\\u0000]{0,198}[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000])?[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$",
        example = "Buy milk"
    )]
    title: String,
    #[schema(max_length = 1000, pattern = "^[^\\u0000]*$")]
    description: Option<String>,
    /// PUT sets it only when present. `isCompleted` and `is_completed` are the same field.
    #[schema(schema_with = lax_boolean)]
    completed: Option<bool>,
    #[schema(schema_with = status_schema)]
    status: Option<String>,
    #[schema(schema_with = priority_schema, default = "medium")]
    priority: Option<String>,
    #[schema(schema_with = category_schema, default = "other")]
    category: Option<String>,
    /// RFC 3339 date-time, or a date meaning midnight UTC; years 0001 to 9999.
    /// `dueDate` is the same field (and wins when both are sent).
    #[schema(format = DateTime, min_length = 10)]
    due_date: Option<String>,
    /// PUT sets them only when present.
    #[schema(schema_with = tags_schema)]
    tags: Option<Vec<String>>,
}

/// The body of PATCH: only the fields present change; `null` clears
/// `description` and `due_date` (and is 422 elsewhere); `{}` changes nothing.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct TaskPatch {
    #[schema(
        pattern = "^[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000](?:[^\\u0000]{0,198}[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\u0000])?[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$",
        nullable = false
    )]
    title: Option<String>,
    /// `null` clears it.
    #[schema(max_length = 1000, pattern = "^[^\\u0000]*$")]
    description: Option<String>,
    #[schema(schema_with = lax_boolean)]
    completed: Option<bool>,
    #[schema(schema_with = status_schema)]
    status: Option<String>,
    #[schema(schema_with = priority_schema)]
    priority: Option<String>,
    #[schema(schema_with = category_schema)]
    category: Option<String>,
    /// RFC 3339 date-time or date, years 0001 to 9999; `null` clears it.
    /// `dueDate` is the same field (and wins when both are sent).
    #[schema(format = DateTime, min_length = 10)]
    due_date: Option<String>,
    #[schema(schema_with = tags_schema)]
    tags: Option<Vec<String>>,
}

/// `GET /api/me`.
#[derive(Serialize, ToSchema)]
pub struct Me<'a> {
    /// The token's user id.
    pub id: &'a str,
    /// From the token's claims, when present.
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub tasks: MeCounts,
}

#[derive(Serialize, ToSchema)]
pub struct MeCounts {
    pub total: i64,
    pub completed: i64,
    pub pending: i64,
    pub overdue: i64,
}

/// The body of a DELETE with `DELETE_RESPONSE=json`.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// The deleted task's id.
    pub id: i64,
    /// Always `true`.
    pub deleted: bool,
    #[schema(example = "Task deleted")]
    pub message: &'static str,
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `healthy` or `unhealthy`.
    #[schema(example = "healthy")]
    pub status: &'static str,
    /// Why, when unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}

/// Routes that need no token.
const PUBLIC: [&str; 2] = ["/health", "/metrics"];

/// Bearer tokens (docs/auth.md): Better Auth JWTs (JWKS or shared secret) or
/// session tokens; every route but `/health` and `/metrics` needs one.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A Better Auth JWT (EdDSA/ES*/RS*/PS* via JWKS, or HS* with the shared \
                         secret), or a Better Auth session token when enabled",
                    ))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            if PUBLIC.contains(&path.as_str()) {
                continue;
            }
            for op in operations(item) {
                op.security = Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
            }
        }
    }
}

/// The responses every authenticated operation can give: 401, 429, 500, 503.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut Document) {
        for (path, item) in doc.paths.paths.iter_mut() {
            if PUBLIC.contains(&path.as_str()) {
                continue;
            }
            for op in operations(item) {
                let r = &mut op.responses.responses;
                r.insert(
                    "401".into(),
                    detail_response("No valid bearer token (`WWW-Authenticate: Bearer`)").into(),
                );
                r.insert(
                    "503".into(),
                    detail_response("The database is unreachable or busy, a statement ran past `STATEMENT_TIMEOUT_MS`, or the request timed out (`Retry-After: 1`)").into(),
                );
                r.insert(
                    "429".into(),
                    detail_response(
                        "Over a configured rate limit, or the user's `USER_DB_CONCURRENCY` operations stayed busy for 5 s (`Retry-After` says when to retry)",
                    )
                    .into(),
                );
                r.insert(
                    "500".into(),
                    detail_response("Internal error; the body carries `request_id`").into(),
                );
            }
        }
    }
}

/// What the `/api/{user_id}/…` twins of the task routes add to their
/// operations: the `user_id` parameter, the 403, an operation id of their own.
struct ScopedRoutes;

impl Modify for ScopedRoutes {
    fn modify(&self, doc: &mut Document) {
        let user_id: Parameter = ParameterBuilder::new()
            .name("user_id")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(
                "Must be the token's user, else 403 `User ID mismatch`",
            ))
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String),
            ))
            .build();
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/{user_id}/") {
                continue;
            }
            for op in operations(item) {
                op.operation_id = op.operation_id.as_ref().map(|id| format!("{id}_scoped"));
                let params = op.parameters.get_or_insert_with(Vec::new);
                params.insert(0, user_id.clone());
                op.responses.responses.insert(
                    "403".into(),
                    detail_response("`user_id` is not the token's user").into(),
                );
            }
        }
    }
}

/// A response whose body is a [`Detail`].
fn detail_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Detail")))
                .build(),
        )
        .build()
}

/// Every operation of a path item.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The document as served: [`finish`]ed, then reshaped for the conventions
/// in force (docs/frontends.md), so that it describes the bodies the API writes.
pub fn shaped(doc: &Document, c: &Conventions) -> serde_json::Value {
    use serde_json::json;
    let mut v = serde_json::to_value(doc).expect("the document serializes");
    if *c == Conventions::default() {
        return v;
    }
    let schemas = &mut v["components"]["schemas"];
    if c.is_completed {
        schemas["Task"]["properties"]["is_completed"] =
            json!({ "type": "boolean", "description": "The same as `completed`" });
        push_required(&mut schemas["Task"], "is_completed");
    }
    if c.envelope != Envelope::None {
        schemas["ErrorInfo"] = json!({
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": { "type": "string", "enum": [
                    "bad_request", "unauthorized", "forbidden", "not_found", "method_not_allowed",
                    "conflict", "precondition_failed", "payload_too_large", "validation_error",
                    "rate_limited", "unavailable", "internal"] },
                "message": { "type": "string" }
            }
        });
        for name in ["Detail", "ValidationError"] {
            schemas[name]["properties"]["error"] =
                json!({ "$ref": "#/components/schemas/ErrorInfo" });
            push_required(&mut schemas[name], "error");
        }
    }
    if c.delete == DeleteResponse::Json {
        schemas["Deleted"] = serde_json::to_value(<Deleted as utoipa::PartialSchema>::schema())
            .expect("the schema serializes");
    }
    let Some(paths) = v["paths"].as_object_mut() else {
        return v;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            let id = id.trim_end_matches("_scoped").to_owned();
            if id == "delete_task" && c.delete == DeleteResponse::Json {
                let responses = &mut op["responses"];
                if let Some(r) = responses.as_object_mut() {
                    r.remove("204");
                }
                responses["200"] = json!({
                    "description": "Deleted (`DELETE_RESPONSE=json`)",
                    "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/Deleted" } } }
                });
            }
            if id == "replace_task" && c.put == PutSemantics::Merge {
                op["requestBody"]["content"]["application/json"]["schema"] =
                    json!({ "$ref": "#/components/schemas/TaskPatch" });
                op["responses"]["200"]["description"] =
                    json!("Changed (`PUT_SEMANTICS=merge`: only the fields present, as PATCH)");
            }
            let Some(responses) = op["responses"].as_object_mut() else {
                continue;
            };
            for (status, resp) in responses.iter_mut() {
                if !status.starts_with('2') {
                    continue;
                }
                // `pointer_mut`, not indexing: indexing would add a body
                // to a response that has none (a 204).
                if let Some(schema) = resp.pointer_mut("/content/application~1json/schema") {
                    *schema = enveloped(&id, c.envelope, schema.take());
                }
            }
        }
    }
    if c.json_case == JsonCase::Camel {
        camel_properties(&mut v);
    }
    v
}

/// A success body's schema inside the envelope in force.
fn enveloped(operation: &str, envelope: Envelope, schema: serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    let object = |props: serde_json::Value| {
        let required: Vec<String> = props
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        json!({ "type": "object", "required": required, "properties": props })
    };
    let single = matches!(
        operation,
        "create_task"
            | "get_task"
            | "replace_task"
            | "patch_task"
            | "toggle_task"
            | "toggle_task_alias"
    );
    let shown = match (envelope, operation) {
        (Envelope::None, _) => return schema,
        (_, "health") => return schema,
        (_, "list_tasks") => object(json!({
            "tasks": schema,
            "total": { "type": "integer", "description": "Tasks matching the filters" },
            "completed_count": { "type": "integer", "description": "Of them, completed" },
            "pending_count": { "type": "integer", "description": "Of them, pending" },
        })),
        (Envelope::Named, _) if single => return object(json!({ "task": schema })),
        (Envelope::Named, _) => return schema,
        (Envelope::Data, _) => schema,
    };
    if envelope == Envelope::Data {
        object(json!({ "data": shown }))
    } else {
        shown
    }
}

fn push_required(schema: &mut serde_json::Value, name: &str) {
    match schema["required"].as_array_mut() {
        Some(list) => list.push(name.into()),
        None => schema["required"] = serde_json::json!([name]),
    }
}

/// Every schema's property names (and `required` lists) in camelCase.
fn camel_properties(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(obj) => {
            let is_schema = obj.get("type").is_some_and(|t| t == "object")
                || obj.get("properties").is_some_and(Value::is_object);
            if is_schema {
                if let Some(Value::Object(props)) = obj.get_mut("properties") {
                    let renamed: serde_json::Map<String, Value> = std::mem::take(props)
                        .into_iter()
                        .map(|(k, v)| (camel(&k), v))
                        .collect();
                    *props = renamed;
                }
                if let Some(Value::Array(req)) = obj.get_mut("required") {
                    for r in req.iter_mut() {
                        if let Value::String(name) = r {
                            *name = camel(name);
                        }
                    }
                }
            }
            obj.values_mut().for_each(camel_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(camel_properties),
        _ => {}
    }
}
