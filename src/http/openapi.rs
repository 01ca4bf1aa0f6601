//! The OpenAPI 3.1 document (SPEC 5), generated from the handlers'
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

/// `{"detail": "…"}`: every error but 422 (SPEC 6).
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
    /// Due on or before (RFC 3339 date-time, or a date: the whole day), years 0001 to 9999.
    #[param(value_type = Option<String>, format = DateTime)]
    due_before: Option<String>,
    /// Due on or after (RFC 3339 date-time, or a date), years 0001 to 9999.
    #[param(value_type = Option<String>, format = DateTime)]
    due_after: Option<String>,
    /// `true`: pending and past due; `false`: everything else.
    overdue: Option<bool>,
    /// Case-insensitive substring of title or description (`%`, `_` literal), at most 200 characters, no NUL.
    #[param(max_length = 200, pattern = "^[^\\u0000]*$")]
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
    let any_case = |word: &str| {
        word.chars()
            .map(|c| {
                let (l, u) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
                if l == u {
                    c.to_string()
                } else {
                    format!("[{l}{u}]")
                }
            })
            .collect::<String>()
    };
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

/// The body of POST and PUT (SPEC 5.1). Unknown fields are ignored.
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
    /// PUT sets it only when present.
    #[schema(schema_with = lax_boolean)]
    completed: Option<bool>,
    /// Sets `completed` when `completed` is absent (seed 002).
    #[schema(value_type = Option<String>, pattern = "^(pending|completed)$", nullable = false)]
    status: Option<String>,
    #[schema(value_type = Option<String>, pattern = "^(low|medium|high)$", default = "medium", nullable = false)]
    priority: Option<String>,
    #[schema(value_type = Option<String>, pattern = "^(work|personal|home|other)$", default = "other", nullable = false)]
    category: Option<String>,
    /// RFC 3339 date-time, or a date meaning midnight UTC; years 0001 to 9999.
    #[schema(format = DateTime, min_length = 10)]
    due_date: Option<String>,
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
    #[schema(value_type = Option<String>, pattern = "^(pending|completed)$", nullable = false)]
    status: Option<String>,
    #[schema(value_type = Option<String>, pattern = "^(low|medium|high)$", nullable = false)]
    priority: Option<String>,
    #[schema(value_type = Option<String>, pattern = "^(work|personal|home|other)$", nullable = false)]
    category: Option<String>,
    /// RFC 3339 date-time or date, years 0001 to 9999; `null` clears it.
    #[schema(format = DateTime, min_length = 10)]
    due_date: Option<String>,
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
