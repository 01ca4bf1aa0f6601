//! The OpenAPI document reshaped for the conventions in force
//! (docs/frontends.md), beside `shape.rs`, which reshapes the bodies: the
//! same settings, applied to the schemas, so that the document describes
//! the bodies the API writes.

use utoipa::openapi::OpenApi as Document;

use super::shape::{Conventions, DeleteResponse, Envelope, JsonCase, PutSemantics, camel};
use super::tasks::Deleted;

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
                "code": { "type": "string", "enum": super::shape::error_codes() },
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
