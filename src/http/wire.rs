//! The request shapes the document describes and nothing decodes: the list
//! query, the path and header parameters, and the task bodies (named
//! `…Body` apart from the domain's `TaskInput`/`TaskPatch`, which the
//! body parser builds; the document still calls them `TaskInput` and
//! `TaskPatch`). Each says what the parsers in `tasks/` accept, any case
//! and every alias included, so that a client generated from the document
//! sends what the server takes.

use utoipa::{IntoParams, ToSchema};

use crate::tasks::model::{COMPLETED_WORDS, PENDING_WORDS, TAGS_MAX};

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
/// A title: trimmed of Unicode white space ([`WS`]), then 1 to 200
/// characters, none of them NUL.
fn title_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::ObjectBuilder;
    use utoipa::openapi::schema::Type;
    let pattern = format!("^[{WS}]*[^{WS}\\u0000](?:[^\\u0000]{{0,198}}[^{WS}\\u0000])?[{WS}]*$");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(
            "Trimmed (Unicode white space); then 1 to 200 characters; no NUL.",
        ))
        .examples(["Buy milk"])
        .build()
}

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
#[schema(as = TaskInput)]
pub struct TaskInputBody {
    #[schema(schema_with = title_schema)]
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
#[schema(as = TaskPatch)]
pub struct TaskPatchBody {
    #[schema(schema_with = title_schema)]
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
