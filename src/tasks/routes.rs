//! Task handlers. Each serves both route styles: `/api/tasks…` and
//! `/api/{user_id}/tasks…` (the `AuthUser` extractor checks the latter).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::list::{ListQuery, next_page_query};
use super::model::{Task, parse_input, parse_patch};
use crate::auth::AuthUser;
use crate::db::Write;
use crate::http::AppState;
use crate::http::conditional::{IfMatch, IfNoneMatch, etag};
use crate::http::error::ApiError;
use crate::http::extract::{JsonBody, TaskId};

fn audit(action: &'static str, user: &AuthUser, task_id: i64) {
    tracing::info!(target: "audit", action, user_id = user.id(), task_id, "task {action}");
}

/// A single task with its `ETag` (SPEC 7).
fn task_response(status: StatusCode, task: Task) -> Response {
    (status, [(header::ETAG, etag(task.version))], Json(task)).into_response()
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
pub async fn list(
    State(s): State<AppState>,
    user: AuthUser,
    uri: Uri,
) -> Result<Response, ApiError> {
    let q = ListQuery::parse(uri.query()).map_err(ApiError::invalid)?;
    let page = s.store.list_tasks(user.id(), &q).await?;
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
    Ok((headers, Json(page.tasks)).into_response())
}

/// `POST /api/tasks`: 201 with the task and its `Location`.
pub async fn create(
    State(s): State<AppState>,
    user: AuthUser,
    uri: Uri,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let input = parse_input(&body).map_err(ApiError::invalid)?;
    let task = match s.store.create_task(user.id(), &input).await {
        // The user's row was deleted (say, to erase their data) after this
        // instance cached it: write it again and retry once.
        Err(e) if e.is_missing_user() => {
            s.users.forget(user.id());
            s.users.ensure(&s.store, &user.0).await?;
            s.store.create_task(user.id(), &input).await?
        }
        result => result?,
    };
    audit("created", &user, task.id);
    let location = format!("{}/{}", uri.path().trim_end_matches('/'), task.id);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    Ok((headers, task_response(StatusCode::CREATED, task)).into_response())
}

/// `GET /api/tasks/{id}`: 304 when `If-None-Match` names its version.
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

/// `PUT /api/tasks/{id}`: replace (SPEC 5.1).
pub async fn replace(
    State(s): State<AppState>,
    user: AuthUser,
    TaskId(id): TaskId,
    IfMatch(versions): IfMatch,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let input = parse_input(&body).map_err(ApiError::invalid)?;
    let write = s
        .store
        .replace_task(user.id(), id, versions.as_deref(), &input);
    let task = written(write.await?)?;
    audit("replaced", &user, id);
    Ok(task_response(StatusCode::OK, task))
}

/// `PATCH /api/tasks/{id}`: merge patch.
pub async fn patch(
    State(s): State<AppState>,
    user: AuthUser,
    TaskId(id): TaskId,
    IfMatch(versions): IfMatch,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let patch = parse_patch(&body).map_err(ApiError::invalid)?;
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

/// `DELETE /api/tasks/{id}`: 204 with an empty body.
pub async fn delete(
    State(s): State<AppState>,
    user: AuthUser,
    TaskId(id): TaskId,
    IfMatch(versions): IfMatch,
) -> Result<StatusCode, ApiError> {
    written(
        s.store
            .delete_task(user.id(), id, versions.as_deref())
            .await?,
    )?;
    audit("deleted", &user, id);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/stats`: counts of the user's tasks.
pub async fn stats(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    Ok(Json(s.store.stats(user.id()).await?).into_response())
}

/// `GET /api/me`: the token's user and their task counts.
pub async fn me(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let stats = s.store.stats(user.id()).await?;
    Ok(Json(json!({
        "id": user.0.user_id,
        "email": user.0.email,
        "name": user.0.name,
        "tasks": {
            "total": stats.total,
            "completed": stats.completed,
            "pending": stats.pending,
            "overdue": stats.overdue,
        },
    }))
    .into_response())
}
