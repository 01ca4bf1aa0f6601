//! The tools' catalog (docs/mcp.md): which tools there are ([`ToolName`]),
//! their fixed parts (titles, descriptions, hints) and their input and
//! output schemas, taken from the OpenAPI document and made to stand alone.
//! What a call does is in `tools.rs`.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use crate::tasks::list::is_canonical_param;

/// The tools. Every place that says something of a tool (its name, its
/// fixed parts, its schemas, what a call does) matches on this, so a new
/// tool does not compile until each of them handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolName {
    ListTasks,
    GetTask,
    AddTask,
    UpdateTask,
    CompleteTask,
    DeleteTask,
    TaskStats,
}

/// A tool's fixed parts.
struct ToolSpec {
    title: &'static str,
    description: &'static str,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
}

impl ToolName {
    /// In the order `tools/list` gives them.
    pub(crate) const ALL: [ToolName; 7] = [
        ToolName::ListTasks,
        ToolName::GetTask,
        ToolName::AddTask,
        ToolName::UpdateTask,
        ToolName::CompleteTask,
        ToolName::DeleteTask,
        ToolName::TaskStats,
    ];

    /// Its name on the wire (also its metrics label).
    pub(crate) fn name(self) -> &'static str {
        match self {
            ToolName::ListTasks => "list_tasks",
            ToolName::GetTask => "get_task",
            ToolName::AddTask => "add_task",
            ToolName::UpdateTask => "update_task",
            ToolName::CompleteTask => "complete_task",
            ToolName::DeleteTask => "delete_task",
            ToolName::TaskStats => "task_stats",
        }
    }

    /// Its earlier name, still answered (not listed): clients written
    /// against it keep working.
    fn alias(self) -> Option<&'static str> {
        match self {
            ToolName::AddTask => Some("create_task"),
            ToolName::CompleteTask => Some("set_task_completed"),
            ToolName::ListTasks
            | ToolName::GetTask
            | ToolName::UpdateTask
            | ToolName::DeleteTask
            | ToolName::TaskStats => None,
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name || t.alias() == Some(name))
    }

    fn spec(self) -> ToolSpec {
        let (title, description, read_only, destructive, idempotent) = match self {
            ToolName::ListTasks => (
                "List tasks",
                "The user's tasks, filtered, sorted and paged: the query parameters of \
                 GET /api/tasks (status, priority, category, q, tag (all must match), \
                 due_before, due_after, overdue, sort, order, limit, offset). Returns \
                 {tasks, total}; total counts every match, not just this page.",
                true,
                false,
                true,
            ),
            ToolName::GetTask => (
                "Get a task",
                "One of the user's tasks by its id.",
                true,
                false,
                true,
            ),
            ToolName::AddTask => (
                "Create a task",
                "Create a task (title required; description, priority, category, \
                 due_date, completed, tags optional). With idempotency_key, a retry \
                 returns the first task instead of creating another.",
                false,
                false,
                false,
            ),
            ToolName::UpdateTask => (
                "Update a task",
                "Change some fields of a task (the others are kept); null clears \
                 description or due_date.",
                false,
                false,
                true,
            ),
            ToolName::CompleteTask => (
                "Complete or reopen a task",
                "Mark a task completed (completed: true, the default) or pending again \
                 (completed: false).",
                false,
                false,
                true,
            ),
            ToolName::DeleteTask => (
                "Delete a task",
                "Delete a task for good.",
                false,
                true,
                true,
            ),
            ToolName::TaskStats => (
                "Task statistics",
                "Counts of the user's tasks: total, completed, pending, overdue, \
                 completion rate, by priority and by category.",
                true,
                false,
                true,
            ),
        };
        ToolSpec {
            title,
            description,
            read_only,
            destructive,
            idempotent,
        }
    }
}

/// The tools with their schemas, taken from the OpenAPI document.
pub(super) fn catalog(doc: &Value) -> Vec<Tool> {
    let schema = |name: &str| -> Value {
        let mut s = doc["components"]["schemas"][name].clone();
        inline_refs(&mut s, doc, 0);
        s
    };
    let id = json!({ "type": "integer", "format": "int64", "description": "The task's id" });
    let object = |props: Value, required: &[&str]| json!({ "type": "object", "properties": props, "required": required });
    let with = |mut base: Value, extra: Value, required: &[&str]| {
        if let (Some(props), Some(extra)) = (base["properties"].as_object_mut(), extra.as_object())
        {
            for (k, v) in extra {
                props.insert(k.clone(), v.clone());
            }
        }
        let mut req: Vec<Value> = base["required"].as_array().cloned().unwrap_or_default();
        req.extend(required.iter().map(|r| json!(r)));
        base["required"] = Value::Array(req);
        base
    };
    let task = schema("Task");
    let list_params = {
        let mut props = Map::new();
        for p in doc["paths"]["/api/tasks"]["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            // The frontends' spellings (`sortBy`, `search`, …) are the
            // REST API's leniency; an agent gets the canonical names.
            .filter(|p| p["name"].as_str().is_some_and(is_canonical_param))
        {
            let Some(name) = p["name"].as_str() else {
                continue;
            };
            let mut s = p["schema"].clone();
            if name == "tag" {
                // Repeatable: an array here, each element a tag.
                s = json!({ "type": "array", "items": { "type": "string" }, "maxItems": 20 });
            }
            if let (Some(d), Some(obj)) = (p["description"].as_str(), s.as_object_mut()) {
                obj.entry("description").or_insert(json!(d));
            }
            props.insert(name.to_owned(), s);
        }
        object(Value::Object(props), &[])
    };
    let input = |tool: ToolName| -> Value {
        match tool {
            ToolName::ListTasks => list_params.clone(),
            ToolName::GetTask | ToolName::DeleteTask => object(json!({ "id": id }), &["id"]),
            ToolName::AddTask => with(
                schema("TaskInput"),
                json!({ "idempotency_key": {
                    "type": "string", "pattern": "^[!-~]{1,255}$",
                    "description": "Optional: a retry with the same key and arguments returns the first task"
                } }),
                &[],
            ),
            ToolName::UpdateTask => with(schema("TaskPatch"), json!({ "id": id }), &["id"]),
            ToolName::CompleteTask => object(
                json!({ "id": id, "completed": { "type": "boolean", "default": true } }),
                &["id"],
            ),
            ToolName::TaskStats => object(json!({}), &[]),
        }
    };
    let output = |tool: ToolName| -> Value {
        match tool {
            ToolName::ListTasks => object(
                json!({
                    "tasks": { "type": "array", "items": task },
                    "total": { "type": "integer", "description": "Tasks matching the filters" },
                }),
                &["tasks", "total"],
            ),
            ToolName::DeleteTask => object(
                json!({ "id": id, "deleted": { "type": "boolean", "const": true } }),
                &["id", "deleted"],
            ),
            ToolName::TaskStats => schema("Stats"),
            ToolName::GetTask
            | ToolName::AddTask
            | ToolName::UpdateTask
            | ToolName::CompleteTask => task.clone(),
        }
    };
    ToolName::ALL
        .into_iter()
        .map(|name| {
            let spec = name.spec();
            let mut tool = Tool::new(
                Cow::Borrowed(name.name()),
                Cow::Borrowed(spec.description),
                Arc::new(as_object(input(name))),
            );
            tool.title = Some(spec.title.to_owned());
            tool.output_schema = Some(Arc::new(as_object(output(name))));
            tool.annotations = Some(
                ToolAnnotations::with_title(spec.title)
                    .read_only(spec.read_only)
                    .destructive(spec.destructive)
                    .idempotent(spec.idempotent)
                    .open_world(false),
            );
            tool
        })
        .collect()
}

/// The document's `$ref`s to its components written in place: a tool's
/// schema stands alone (an MCP client resolves no reference outside it).
/// The components refer to each other without cycles; `depth` bounds the
/// walk all the same.
fn inline_refs(v: &mut Value, doc: &Value, depth: usize) {
    match v {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                && depth < 16
            {
                let mut target = doc["components"]["schemas"][name].clone();
                inline_refs(&mut target, doc, depth + 1);
                map.remove("$ref");
                if let Value::Object(t) = target {
                    for (k, val) in t {
                        // The referring side's own words (a description) win.
                        map.entry(k).or_insert(val);
                    }
                }
                return;
            }
            for val in map.values_mut() {
                inline_refs(val, doc, depth);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| inline_refs(i, doc, depth)),
        _ => {}
    }
}

fn as_object(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    }
}
