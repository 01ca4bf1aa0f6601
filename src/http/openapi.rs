//! The OpenAPI 3.1 document (docs/api.md), generated from the handlers'
//! `#[utoipa::path]` annotations and the types below, served at
//! `/openapi.json` and by `todo-api openapi`; Swagger UI at `/docs`.
//!
//! The paths come from the route table (`routes.rs`, utoipa-axum), where
//! each task handler is nested under both `/api` and `/api/{user_id}`;
//! [`finish`] adds what the table cannot say (security, shared responses,
//! the scoped twins' parameter). The request shapes it describes are in
//! `wire.rs`, the response types beside their handlers, and the document
//! reshaped for the conventions in `shape_document.rs`.

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::{Detail, ValidationError};
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
