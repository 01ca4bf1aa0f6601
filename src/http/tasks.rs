//! Task handlers. Each serves both route styles: `/api/tasks…` and
//! `/api/{user_id}/tasks…` (the `AuthUser` extractor checks the latter).

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::auth::AuthUser;
use super::conditional::{IfMatch, IfNoneMatch, etag};
use super::error::{ApiError, Problem};
use super::error::{Detail, ValidationError};
use super::extract::{JsonBody, TaskId};
use super::idempotency::{IdempotencyKey, REPLAYED, fingerprint};
use super::shape::{BodyKind, DeleteResponse, Envelope, PutSemantics};
use super::wire::{self, IfMatchParam, ListParams, TaskIdParam};
use crate::db::{Claim, StoreError, Write};
use crate::tasks::body::{ignored_fields, parse_input, parse_patch};
use crate::tasks::counts::{Stats, TagCount};
use crate::tasks::list::{ListQuery, next_page_query};
use crate::tasks::model::Task;
use serde::Serialize;
use utoipa::ToSchema;

fn audit(action: &'static str, user: &AuthUser, task_id: i64) {
    tracing::info!(target: "audit", action, user_id = user.id(), task_id, "task {action}");
}

/// A single task with its `ETag` (docs/api.md#safe-concurrent-edits-etag-if-match-if-none-match).
fn task_response(status: StatusCode, task: Task) -> Response {
    BodyKind::Task.mark((status, [(header::ETAG, etag(task.version))], Json(task)).into_response())
}

/// Field names already logged as ignored, at most [`IGNORED_NAMES_LOGGED`].
static IGNORED_LOGGED: std::sync::Mutex<Option<std::collections::HashSet<String>>> =
    std::sync::Mutex::new(None);
/// The most distinct ignored field names logged per process: names come
/// from clients, so the set of those seen is bounded.
const IGNORED_NAMES_LOGGED: usize = 256;
/// Longer names are logged cut to this many characters.
const IGNORED_NAME_CHARS: usize = 64;

/// Say once per process and field name (at INFO, never the value) that a
/// body field was ignored: a frontend's lost data leaves a trace (docs/frontends.md).
fn log_ignored(body: &serde_json::Value) {
    let mut names = ignored_fields(body).peekable();
    if names.peek().is_none() {
        return;
    }
    let mut logged = IGNORED_LOGGED.lock().unwrap_or_else(|e| e.into_inner());
    let logged = logged.get_or_insert_with(Default::default);
    for name in names {
        if logged.len() >= IGNORED_NAMES_LOGGED || logged.contains(name) {
            continue;
        }
        let shown: String = name.chars().take(IGNORED_NAME_CHARS).collect();
        tracing::info!(
            field = %shown.escape_debug(),
            "a request body field is not a task field and was ignored (logged once per field name)"
        );
        logged.insert(name.to_owned());
        if logged.len() == IGNORED_NAMES_LOGGED {
            tracing::info!("{IGNORED_NAMES_LOGGED} ignored field names logged; no more will be");
        }
    }
}

/// The answer to a guarded write: the task, 404, or 412 when `If-Match` was stale.
fn written<T>(write: Write<T>) -> Result<T, ApiError> {
    match write {
        Write::Done(done) => Ok(done),
        Write::Missing => Err(ApiError::task_not_found()),
        Write::Stale => Err(ApiError::PreconditionFailed),
    }
}

/// `GET /api/tasks`: the user's tasks, filtered, sorted and paged.
#[utoipa::path(
    get, path = "/tasks", tag = "tasks", operation_id = "list_tasks",
    params(ListParams),
    responses(
        (status = 200, description = "The user's tasks, filtered, sorted and paged", body = [Task], headers(
            ("X-Total-Count" = i64, description = "Tasks matching the filters"),
            ("Link" = String, description = "`<…>; rel=\"next\"` when the page is not the last"),
        )),
        (status = 422, description = "An invalid query parameter", body = ValidationError),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let q = ListQuery::parse(uri.query()).map_err(ApiError::invalid)?;
    let page = s.store.list_tasks(user.id(), &q).await?;
    // The filtered list's counts, only when an envelope shows them.
    let completed = if s.conventions.envelope == Envelope::None {
        0
    } else {
        s.store.count_completed(user.id(), &q).await?
    };
    let kind = BodyKind::TaskList {
        completed,
        pending: page.total - completed,
    };
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(page.total));
    let next = q.offset.saturating_add(page.tasks.len() as i64);
    if next < page.total {
        let link = format!(
            "<{}?{}>; rel=\"next\"",
            uri.path(),
            next_page_query(uri.query(), next)
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, v);
        }
    }
    Ok(kind.mark((headers, Json(page.tasks)).into_response()))
}

/// `POST /api/tasks`: 201 with the task, its `Location` and `ETag`. With an
/// `Idempotency-Key`, a retry gets the first response instead of a second
/// task (docs/api.md#safe-concurrent-edits-etag-if-match-if-none-match).
#[utoipa::path(
    post, path = "/tasks", tag = "tasks", operation_id = "create_task",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "1 to 255 visible ASCII characters; a retry with the same key and body gets the first response")),
    request_body = wire::TaskInputBody,
    responses(
        (status = 201, description = "Created (or, with `Idempotent-Replayed: true`, the first response again)", body = Task, headers(
            ("Location" = String, description = "The task's URL"),
            ("ETag" = String, description = "The task's version, for If-Match / If-None-Match"),
        )),
        (status = 409, description = "A request with this Idempotency-Key is still in progress, or the user has `MAX_TASKS_PER_USER` tasks already", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 422, description = "Invalid body, or an Idempotency-Key used with another body", body = ValidationError),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let input = parse_input(&body).map_err(ApiError::invalid)?;
    log_ignored(&body);
    let location = |id: i64| format!("{}/{id}", uri.path().trim_end_matches('/'));
    let Some(key) = key else {
        let task = for_user(&s, &user, || s.store.create_task(user.id(), &input)).await?;
        audit("created", &user, task.id);
        let location = location(task.id);
        return Ok(created(&location, task.version, Json(task).into_response()));
    };
    let hash = fingerprint(&body);
    match for_user(&s, &user, || s.store.claim_key(user.id(), &key, &hash)).await? {
        Claim::Claimed => {}
        Claim::Replay {
            task_id,
            version,
            body,
        } => {
            let mut resp = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
            resp.headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
            return Ok(created(&location(task_id), version, resp));
        }
        Claim::InFlight => {
            return Err(ApiError::Conflict(
                "A request with this Idempotency-Key is still in progress",
            ));
        }
        Claim::Mismatch => {
            return Err(ApiError::invalid(vec![Problem::new(
                vec![json!("header"), json!("idempotency-key")],
                "value_error",
                "This Idempotency-Key was used with another request body",
            )]));
        }
    }
    // Run to the end even if the client hangs up: its retry must find the
    // key done (or released), not in flight until it is deemed abandoned.
    let (store, user_id, owned_key) = (s.store.clone(), user.id().to_owned(), key.clone());
    let job = tokio::spawn(async move {
        let result = store
            .create_task_keyed(&user_id, &owned_key, &input, replay_body)
            .await;
        if result.is_err()
            && let Err(e) = store.release_key(&user_id, &owned_key).await
        {
            tracing::warn!(error = %e, "could not release an Idempotency-Key after a failure");
        }
        result
    });
    let task = job
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("create task: {e}")))??;
    audit("created", &user, task.id);
    let location = location(task.id);
    Ok(created(&location, task.version, Json(task).into_response()))
}

/// The body an Idempotency-Key replay answers: the task as the first
/// response had it.
fn replay_body(task: &Task) -> Result<String, String> {
    serde_json::to_string(task).map_err(|e| format!("task JSON: {e}"))
}

/// A 201 with `Location` and `ETag` around `body` (a task).
fn created(location: &str, version: i64, body: Response) -> Response {
    let mut resp = BodyKind::Task.mark(body);
    *resp.status_mut() = StatusCode::CREATED;
    let headers = resp.headers_mut();
    headers.insert(header::ETAG, etag(version));
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, v);
    }
    resp
}

/// Run a store call that needs the user's row; if the row was deleted (say,
/// to erase their data) after this instance cached it, write it again and
/// retry once.
async fn for_user<T, F, Fut>(s: &AppState, user: &AuthUser, op: F) -> Result<T, ApiError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    match op().await {
        Err(e) if e.is_missing_user() => {
            s.users.forget(user.id());
            let who = &user.0;
            let (email, name) = (who.email.as_deref(), who.name.as_deref());
            s.users.ensure(&s.store, &who.user_id, email, name).await?;
            Ok(op().await?)
        }
        result => Ok(result?),
    }
}

/// `GET /api/tasks/{id}`: 304 when `If-None-Match` names its version.
#[utoipa::path(
    get, path = "/tasks/{id}", tag = "tasks", operation_id = "get_task",
    params(TaskIdParam, ("If-None-Match" = Option<String>, Header, pattern = "^[^,]*(,[^,]*){0,15}$", description = "Entity tags (or `*`), at most 16; 304 when one matches")),
    responses(
        (status = 200, description = "The task", body = Task, headers(("ETag" = String, description = "The task's version, for If-Match / If-None-Match"))),
        (status = 304, description = "Not modified", headers(("ETag" = String, description = "The task's version, for If-Match / If-None-Match"))),
        (status = 404, description = "No such task of this user", body = Detail),
        (status = 422, description = "The id is not a 64-bit integer, or more than 16 entity tags in If-None-Match", body = ValidationError),
    )
)]
pub async fn get(
    State(s): State<AppState>,
    user: AuthUser,
    TaskId(id): TaskId,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    let task = s
        .store
        .get_task(user.id(), id)
        .await?
        .ok_or_else(ApiError::task_not_found)?;
    if if_none_match.matches(task.version) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag(task.version))],
        )
            .into_response());
    }
    Ok(task_response(StatusCode::OK, task))
}

/// `PUT /api/tasks/{id}`: replace (docs/api.md#the-task).
#[utoipa::path(
    put, path = "/tasks/{id}", tag = "tasks", operation_id = "replace_task",
    params(TaskIdParam, IfMatchParam),
    request_body = wire::TaskInputBody,
    responses(
        (status = 200, description = "Replaced: omitted fields become null or their default", body = Task, headers(("ETag" = String, description = "The task's version, for If-Match / If-None-Match"))),
        (status = 404, description = "No such task of this user", body = Detail),
        (status = 412, description = "If-Match named another version; nothing changed", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 422, description = "Invalid body or id, or more than 16 entity tags in If-Match", body = ValidationError),
    )
)]
pub async fn replace(
    State(s): State<AppState>,
    user: AuthUser,
    TaskId(id): TaskId,
    IfMatch(versions): IfMatch,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let versions = versions.as_deref();
    let write = if s.conventions.put == PutSemantics::Merge {
        let patch = parse_patch(&body).map_err(ApiError::invalid)?;
        s.store.patch_task(user.id(), id, versions, &patch).await?
    } else {
        let input = parse_input(&body).map_err(ApiError::invalid)?;
        s.store
            .replace_task(user.id(), id, versions, &input)
            .await?
    };
    log_ignored(&body);
    let task = written(write)?;
    audit("replaced", &user, id);
    Ok(task_response(StatusCode::OK, task))
}

/// `PATCH /api/tasks/{id}`: merge patch.
#[utoipa::path(
    patch, path = "/tasks/{id}", tag = "tasks", operation_id = "patch_task",
    params(TaskIdParam, IfMatchParam),
    request_body = wire::TaskPatchBody,
    responses(
        (status = 200, description = "Patched", body = Task, headers(("ETag" = String, description = "The task's version, for If-Match / If-None-Match"))),
        (status = 404, description = "No such task of this user", body = Detail),
        (status = 412, description = "If-Match named another version; nothing changed", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 422, description = "Invalid body or id, or more than 16 entity tags in If-Match", body = ValidationError),
    )
)]
pub async fn patch(
    State(s): State<AppState>,
    user: AuthUser,
    TaskId(id): TaskId,
    IfMatch(versions): IfMatch,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let patch = parse_patch(&body).map_err(ApiError::invalid)?;
    log_ignored(&body);
    let write = s
        .store
        .patch_task(user.id(), id, versions.as_deref(), &patch);
    let task = written(write.await?)?;
    if !patch.is_empty() {
        audit("patched", &user, id);
    }
    Ok(task_response(StatusCode::OK, task))
}

/// `PATCH /api/tasks/{id}/complete`: toggle `completed` atomically.
#[utoipa::path(
    patch, path = "/tasks/{id}/complete", tag = "tasks", operation_id = "toggle_task",
    params(TaskIdParam, IfMatchParam),
    responses(
        (status = 200, description = "`completed` flipped", body = Task, headers(("ETag" = String, description = "The task's version, for If-Match / If-None-Match"))),
        (status = 404, description = "No such task of this user", body = Detail),
        (status = 412, description = "If-Match named another version; nothing changed", body = Detail),
        (status = 422, description = "The id is not a 64-bit integer, or more than 16 entity tags in If-Match", body = ValidationError),
    )
)]
pub async fn toggle(
    State(s): State<AppState>,
    user: AuthUser,
    TaskId(id): TaskId,
    IfMatch(versions): IfMatch,
) -> Result<Response, ApiError> {
    let write = s.store.toggle_task(user.id(), id, versions.as_deref());
    let task = written(write.await?)?;
    audit("toggled", &user, id);
    Ok(task_response(StatusCode::OK, task))
}

/// `PATCH /api/tasks/{id}/toggle`: the same as `/complete` (docs/frontends.md).
#[utoipa::path(
    patch, path = "/tasks/{id}/toggle", tag = "tasks", operation_id = "toggle_task_alias",
    params(TaskIdParam, IfMatchParam),
    responses(
        (status = 200, description = "`completed` flipped (the same as `…/complete`)", body = Task, headers(("ETag" = String, description = "The task's version, for If-Match / If-None-Match"))),
        (status = 404, description = "No such task of this user", body = Detail),
        (status = 412, description = "If-Match named another version; nothing changed", body = Detail),
        (status = 422, description = "The id is not a 64-bit integer, or more than 16 entity tags in If-Match", body = ValidationError),
    )
)]
pub async fn toggle_alias(
    state: State<AppState>,
    user: AuthUser,
    id: TaskId,
    if_match: IfMatch,
) -> Result<Response, ApiError> {
    toggle(state, user, id, if_match).await
}

/// `DELETE /api/tasks/{id}`: 204 with an empty body (or, with
/// `DELETE_RESPONSE=json`, 200 with a small one).
#[utoipa::path(
    delete, path = "/tasks/{id}", tag = "tasks", operation_id = "delete_task",
    params(TaskIdParam, IfMatchParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such task of this user", body = Detail),
        (status = 412, description = "If-Match named another version; nothing changed", body = Detail),
        (status = 422, description = "The id is not a 64-bit integer, or more than 16 entity tags in If-Match", body = ValidationError),
    )
)]
pub async fn delete(
    State(s): State<AppState>,
    user: AuthUser,
    TaskId(id): TaskId,
    IfMatch(versions): IfMatch,
) -> Result<Response, ApiError> {
    written(
        s.store
            .delete_task(user.id(), id, versions.as_deref())
            .await?,
    )?;
    audit("deleted", &user, id);
    if s.conventions.delete == DeleteResponse::Json {
        let body = Deleted {
            id,
            deleted: true,
            message: "Task deleted",
        };
        return Ok(BodyKind::Other.mark(Json(body).into_response()));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/stats`: counts of the user's tasks.
#[utoipa::path(
    get, path = "/stats", tag = "tasks", operation_id = "task_stats",
    responses((status = 200, description = "Counts of the user's tasks", body = Stats))
)]
pub async fn stats(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let stats = s.store.stats(user.id()).await?;
    Ok(BodyKind::Other.mark(Json(stats).into_response()))
}

/// `GET /api/tags`: the user's tags with how many tasks carry each.
#[utoipa::path(
    get, path = "/tags", tag = "tasks", operation_id = "list_tags",
    responses((status = 200, description = "The user's tags (compared case-insensitively, as first written) with their task counts, by name: at most 1,000, the first by name", body = [TagCount]))
)]
pub async fn tags(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let tags = s.store.tags(user.id()).await?;
    Ok(BodyKind::Other.mark(Json(tags).into_response()))
}

/// `GET /api/me`: the token's user and their task counts.
#[utoipa::path(
    get, path = "/api/me", tag = "users", operation_id = "me",
    responses((status = 200, description = "The token's user and their task counts", body = Me))
)]
pub async fn me(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let stats = s.store.stats(user.id()).await?;
    let who = &user.0;
    Ok(BodyKind::Other.mark(
        Json(Me {
            id: &who.user_id,
            email: who.email.as_deref(),
            name: who.name.as_deref(),
            tasks: MeCounts {
                total: stats.total,
                completed: stats.completed,
                pending: stats.pending,
                overdue: stats.overdue,
            },
        })
        .into_response(),
    ))
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
