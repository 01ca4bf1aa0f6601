//! The OpenAPI 3.1 document (SPEC 5), generated from the handlers'
//! `#[utoipa::path]` annotations and the types below, served at
//! `/openapi.json` and by `todo-api openapi`; Swagger UI at `/docs`.
//!
//! The handlers are annotated once, in their plain style; [`ScopedRoutes`]
//! adds the `/api/{user_id}/…` twin of each, as the router does.

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, Required, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::tasks;

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
    paths(
        tasks::routes::list,
        tasks::routes::create,
        tasks::routes::get,
        tasks::routes::replace,
        tasks::routes::patch,
        tasks::routes::toggle,
        tasks::routes::delete,
        tasks::routes::stats,
        tasks::routes::me,
        super::health,
        super::metrics::render,
    ),
    components(schemas(Detail, ValidationError, FieldErrorDoc)),
    modifiers(&Security, &CommonResponses, &ScopedRoutes),
    tags(
        (name = "tasks", description = "The token's user's tasks"),
        (name = "users", description = "The token's user"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// The document as served (and as `todo-api openapi` prints it).
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// `{"detail": "…"}`: every error but 422 (SPEC 6).
#[derive(Serialize, ToSchema)]
pub struct Detail {
    #[schema(example = "Task not found")]
    pub detail: String,
}

/// One problem of a 422, as FastAPI reports it.
#[derive(Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorDoc {
    /// Machine-readable kind: `missing`, `string_too_long`, `enum`, `json_invalid`, …
    #[serde(rename = "type")]
    #[schema(example = "string_too_long")]
    pub kind: String,
    /// Where: `["body", "title"]`, `["query", "limit"]`, `["path", "id"]`, `["header", "idempotency-key"]`.
    #[schema(example = json!(["body", "title"]))]
    pub loc: Vec<Value>,
    pub msg: String,
    /// Details such as `{"max_length": 200}`.
    pub ctx: Option<Value>,
}

/// 422: every problem of the request at once.
#[derive(Serialize, ToSchema)]
pub struct ValidationError {
    pub detail: Vec<FieldErrorDoc>,
}

/// The query of `GET /api/tasks` (SPEC 5.2). Invalid values are 422 with
/// `loc: ["query", name]`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct ListParams {
    /// `all` (default), `pending` or `completed`.
    #[param(inline, value_type = Option<String>, pattern = "^(all|pending|completed)$")]
    status: Option<String>,
    /// `low`, `medium` or `high`.
    #[param(value_type = Option<String>, pattern = "^(low|medium|high)$")]
    priority: Option<String>,
    /// `work`, `personal`, `home` or `other`.
    #[param(value_type = Option<String>, pattern = "^(work|personal|home|other)$")]
    category: Option<String>,
    /// Due on or before (RFC 3339 date-time, or a date: the whole day).
    due_before: Option<String>,
    /// Due on or after (RFC 3339 date-time, or a date).
    due_after: Option<String>,
    /// `true`: pending and past due; `false`: everything else.
    overdue: Option<bool>,
    /// Case-insensitive substring of title or description (`%`, `_` literal), at most 200 characters.
    q: Option<String>,
    /// `created_at` (default), `updated_at`, `due_date` (undated last), `priority` or `title`.
    #[param(value_type = Option<String>, pattern = "^(created_at|updated_at|due_date|priority|title)$")]
    sort: Option<String>,
    /// `asc` or `desc` (default).
    #[param(value_type = Option<String>, pattern = "^(asc|desc)$")]
    order: Option<String>,
    /// Page size, 1 to 1000; without it the whole list up to 1000, then `Link`.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Tasks to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
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
    #[param(rename = "If-Match")]
    if_match: Option<String>,
}

/// The body of POST and PUT (SPEC 5.1). Unknown fields are ignored.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct TaskInput {
    /// Trimmed; 1 to 200 characters, not all blank, no NUL.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$",
        example = "Buy milk"
    )]
    title: String,
    #[schema(max_length = 1000)]
    description: Option<String>,
    /// PUT sets it only when present.
    completed: Option<bool>,
    /// Sets `completed` when `completed` is absent (seed 002).
    #[schema(value_type = Option<String>, pattern = "^(pending|completed)$")]
    status: Option<String>,
    #[schema(value_type = Option<String>, pattern = "^(low|medium|high)$", default = "medium")]
    priority: Option<String>,
    #[schema(value_type = Option<String>, pattern = "^(work|personal|home|other)$", default = "other")]
    category: Option<String>,
    /// RFC 3339 date-time, or a date meaning midnight UTC.
    #[schema(format = DateTime)]
    due_date: Option<String>,
}

/// The body of PATCH: only the fields present change; `null` clears
/// `description` and `due_date` (and is 422 elsewhere); `{}` changes nothing.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct TaskPatch {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$",
        nullable = false
    )]
    title: Option<String>,
    /// `null` clears it.
    #[schema(max_length = 1000)]
    description: Option<String>,
    #[schema(nullable = false)]
    completed: Option<bool>,
    #[schema(value_type = Option<String>, pattern = "^(pending|completed)$", nullable = false)]
    status: Option<String>,
    #[schema(value_type = Option<String>, pattern = "^(low|medium|high)$", nullable = false)]
    priority: Option<String>,
    #[schema(value_type = Option<String>, pattern = "^(work|personal|home|other)$", nullable = false)]
    category: Option<String>,
    /// RFC 3339 date-time or date; `null` clears it.
    #[schema(format = DateTime)]
    due_date: Option<String>,
}

/// `GET /api/me`.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct Me {
    /// The token's user id.
    id: String,
    /// From the token's claims, when present.
    email: Option<String>,
    name: Option<String>,
    tasks: MeCounts,
}

#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct MeCounts {
    total: i64,
    completed: i64,
    pending: i64,
    overdue: i64,
}

/// `GET /health`.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema only: read by the derive")]
pub struct Health {
    /// `healthy` or `unhealthy`.
    #[schema(example = "healthy")]
    status: String,
    /// Why, when unhealthy.
    detail: Option<String>,
}

/// Routes that need no token.
const PUBLIC: [&str; 2] = ["/health", "/metrics"];

/// Bearer tokens (SPEC 4): Better Auth JWTs (JWKS or shared secret) or
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

/// Adds `/api/{user_id}/…` for every `/api/tasks…` and `/api/stats` path.
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
        let scoped: Vec<(String, utoipa::openapi::PathItem)> = doc
            .paths
            .paths
            .iter()
            .filter(|(path, _)| path.starts_with("/api/tasks") || *path == "/api/stats")
            .map(|(path, item)| {
                let mut item = item.clone();
                for op in operations(&mut item) {
                    op.operation_id = op.operation_id.as_ref().map(|id| format!("{id}_scoped"));
                    let params = op.parameters.get_or_insert_with(Vec::new);
                    params.insert(0, user_id.clone());
                    op.responses.responses.insert(
                        "403".into(),
                        detail_response("`user_id` is not the token's user").into(),
                    );
                }
                (path.replacen("/api", "/api/{user_id}", 1), item)
            })
            .collect();
        doc.paths.paths.extend(scoped);
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
