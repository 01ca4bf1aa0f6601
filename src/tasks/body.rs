//! Request bodies parsed into the domain's types (docs/api.md#the-task): a
//! POST or PUT body into a [`TaskInput`], a PATCH body into a
//! [`TaskPatch`], every problem reported at once, each field under each
//! spelling the frontends send (docs/frontends.md).
//!
//! Bodies are parsed from `serde_json::Value` by hand rather than with
//! `#[derive(Deserialize)]` so that every problem is reported at once, in the
//! FastAPI/pydantic shape the seed frontends already understand.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::model::*;
use super::problem::Problem;

fn loc(field: &str) -> Vec<Value> {
    vec![json!("body"), json!(field)]
}

/// Field-by-field reader of a JSON object that collects every problem.
struct BodyReader<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<Problem>,
}

impl<'a> BodyReader<'a> {
    fn new(body: &'a Value) -> Result<Self, Vec<Problem>> {
        match body {
            Value::Object(obj) => Ok(Self {
                obj,
                errors: Vec::new(),
            }),
            _ => Err(vec![Problem::new(
                vec![json!("body")],
                "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from",
            )]),
        }
    }

    /// The field's value under the first of its `spellings` present, and
    /// that spelling: absent is `None`, present (even `null`) is `Some`.
    fn get(&self, spellings: &[&'static str]) -> Option<(&'static str, &'a Value)> {
        spellings
            .iter()
            .find_map(|name| self.obj.get(*name).map(|v| (*name, v)))
    }

    fn fail(&mut self, field: &str, kind: &'static str, msg: impl Into<String>) {
        self.errors.push(Problem::new(loc(field), kind, msg));
    }

    /// `tags`: an array of strings, or one comma-separated string whose
    /// empty pieces are dropped; `null` is none.
    fn tags(&mut self, field: &str, v: &Value) -> Option<Tags> {
        let at = |i: usize| vec![json!("body"), json!(field), json!(i)];
        let mut tags: Vec<String> = Vec::new();
        let before = self.errors.len();
        let mut take = |errors: &mut Vec<Problem>, i: usize, raw: &str, from_list: bool| {
            match parse_tag(raw) {
                Ok(Some(t)) => tags.push(t),
                Ok(None) if from_list => errors.push(
                    Problem::new(
                        at(i),
                        "string_too_short",
                        "String should have at least 1 character",
                    )
                    .with_ctx(json!({ "min_length": 1 })),
                ),
                Ok(None) => {}
                Err((kind, msg, ctx)) => {
                    let mut p = Problem::new(at(i), kind, msg);
                    p.ctx = ctx;
                    errors.push(p);
                }
            }
        };
        // Too many is one problem, at the first tag past the limit, found
        // before any tag is parsed: a long list costs one pass over it and
        // one line in the answer.
        let past_limit = match v {
            Value::String(s) => s
                .split(',')
                .enumerate()
                .filter(|(_, p)| !p.trim().is_empty())
                .nth(TAGS_MAX)
                .map(|(i, _)| i),
            Value::Array(items) => (items.len() > TAGS_MAX).then_some(TAGS_MAX),
            _ => None,
        };
        if let Some(i) = past_limit {
            self.errors.push(
                Problem::new(
                    at(i),
                    "too_long",
                    format!("A task has at most {TAGS_MAX} tags"),
                )
                .with_ctx(json!({ "max_length": TAGS_MAX })),
            );
            return None;
        }
        match v {
            Value::Null => {}
            Value::String(s) => {
                for (i, piece) in s.split(',').enumerate() {
                    take(&mut self.errors, i, piece, false);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => take(&mut self.errors, i, s, true),
                        _ => self.errors.push(Problem::new(
                            at(i),
                            "string_type",
                            "Input should be a valid string",
                        )),
                    }
                }
            }
            _ => {
                self.fail(
                    field,
                    "list_type",
                    "Input should be a valid list of strings or a comma-separated string",
                );
                return None;
            }
        }
        if self.errors.len() > before {
            return None;
        }
        let mut seen = std::collections::HashSet::new();
        tags.retain(|t| seen.insert(tag_key(t)));
        Some(Tags(tags))
    }

    fn title(&mut self, v: &Value) -> Option<Title> {
        let s = self.string(TITLE_FIELD, v)?;
        let trimmed = s.trim();
        let len = trimmed.chars().count();
        if len < 1 {
            self.errors.push(
                Problem::new(
                    loc(TITLE_FIELD),
                    "string_too_short",
                    "String should have at least 1 character",
                )
                .with_ctx(json!({ "min_length": 1 })),
            );
            None
        } else if len > TITLE_MAX {
            self.too_long(TITLE_FIELD, TITLE_MAX);
            None
        } else {
            Some(Title(trimmed.to_owned()))
        }
    }

    fn too_long(&mut self, field: &str, max: usize) {
        self.errors.push(
            Problem::new(
                loc(field),
                "string_too_long",
                format!("String should have at most {max} characters"),
            )
            .with_ctx(json!({ "max_length": max })),
        );
    }

    fn string(&mut self, field: &str, v: &Value) -> Option<String> {
        match v {
            Value::String(s) if s.contains('\0') => {
                self.fail(
                    field,
                    "string_pattern_mismatch",
                    "String should not contain NUL characters",
                );
                None
            }
            Value::String(s) => Some(s.clone()),
            _ => {
                self.fail(field, "string_type", "Input should be a valid string");
                None
            }
        }
    }

    fn description(&mut self, v: &Value) -> Option<Option<String>> {
        if v.is_null() {
            return Some(None);
        }
        let s = self.string(DESCRIPTION_FIELD, v)?;
        if s.chars().count() > DESCRIPTION_MAX {
            self.too_long(DESCRIPTION_FIELD, DESCRIPTION_MAX);
            return None;
        }
        Some(Some(s))
    }

    /// Booleans as pydantic's lax mode takes them from JSON.
    fn boolean(&mut self, field: &str, v: &Value) -> Option<bool> {
        let parsed = match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
                "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.fail(field, "bool_parsing", "Input should be a valid boolean");
        }
        parsed
    }

    fn choice<T>(
        &mut self,
        field: &str,
        v: &Value,
        parse: fn(&str) -> Option<T>,
        expected: &'static str,
    ) -> Option<T> {
        let parsed = v.as_str().and_then(parse);
        if parsed.is_none() {
            self.errors.push(
                Problem::new(loc(field), "enum", format!("Input should be {expected}"))
                    .with_ctx(json!({ "expected": expected })),
            );
        }
        parsed
    }

    fn priority(&mut self, v: &Value) -> Option<Priority> {
        self.choice("priority", v, Priority::parse, PRIORITY_EXPECTED)
    }

    fn category(&mut self, v: &Value) -> Option<Category> {
        self.choice("category", v, Category::parse, CATEGORY_EXPECTED)
    }

    fn due_date(&mut self, field: &str, v: &Value) -> Option<Option<DateTime<Utc>>> {
        if v.is_null() {
            return Some(None);
        }
        let parsed = v.as_str().and_then(parse_datetime);
        if parsed.is_none() {
            self.fail(
                field,
                "datetime_parsing",
                "Input should be a valid datetime (RFC 3339) or date (YYYY-MM-DD), years 0001 to 9999",
            );
            return None;
        }
        Some(parsed)
    }

    /// A field that may not be `null` (everything but description and due date).
    fn non_null<'v>(&mut self, field: &str, v: &'v Value) -> Option<&'v Value> {
        if v.is_null() {
            self.fail(field, "null_not_allowed", "Field may not be null");
            None
        } else {
            Some(v)
        }
    }

    fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<Problem>> {
        if self.errors.is_empty() {
            Ok(value())
        } else {
            Err(self.errors)
        }
    }
}

const TITLE_FIELD: &str = "title";
const DESCRIPTION_FIELD: &str = "description";

/// The spellings of each body field, the one that wins first: camelCase
/// over snake_case (a form spreading an edit over a task read earlier sends
/// both), and `completed` over its `is_completed` alias (docs/frontends.md).
pub mod fields {
    pub const TITLE: &[&str] = &["title"];
    pub const DESCRIPTION: &[&str] = &["description"];
    pub const COMPLETED: &[&str] = &["isCompleted", "completed", "is_completed"];
    pub const STATUS: &[&str] = &["status"];
    pub const PRIORITY: &[&str] = &["priority"];
    pub const CATEGORY: &[&str] = &["category"];
    pub const DUE_DATE: &[&str] = &["dueDate", "due_date"];
    pub const TAGS: &[&str] = &["tags"];
    /// Read-only fields a client may send back: ignored without a word.
    pub const READ_ONLY: &[&str] = &[
        "id",
        "user_id",
        "userId",
        "created_at",
        "createdAt",
        "updated_at",
        "updatedAt",
    ];
    pub const ALL: [&[&str]; 9] = [
        TITLE,
        DESCRIPTION,
        COMPLETED,
        STATUS,
        PRIORITY,
        CATEGORY,
        DUE_DATE,
        TAGS,
        READ_ONLY,
    ];
}

/// The names of a body's fields that no task field reads: ignored
/// (docs/api.md#the-task), and worth a log line so that a frontend's lost data leaves a trace.
pub fn ignored_fields(body: &Value) -> impl Iterator<Item = &str> {
    body.as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .map(String::as_str)
        .filter(|k| !fields::ALL.iter().any(|names| names.contains(k)))
}

/// Parse a POST or PUT body: the PATCH fields, with `title` required and
/// defaults for the rest. A `user_id` or any other unknown field is ignored.
pub fn parse_input(body: &Value) -> Result<TaskInput, Vec<Problem>> {
    let title_missing = body
        .as_object()
        .is_some_and(|o| !o.contains_key(TITLE_FIELD));
    match (parse_patch(body), title_missing) {
        (Ok(p), false) => Ok(TaskInput {
            title: p.title.expect("a present title parsed without error"),
            description: p.description.flatten(),
            completed: p.completed,
            priority: p.priority.unwrap_or(Priority::Medium),
            category: p.category.unwrap_or(Category::Other),
            due_date: p.due_date.flatten(),
            tags: p.tags,
        }),
        (result, missing) => {
            let mut errors = result.err().unwrap_or_default();
            if missing {
                errors.insert(
                    0,
                    Problem::new(loc(TITLE_FIELD), "missing", "Field required"),
                );
            }
            Err(errors)
        }
    }
}

/// Parse a PATCH body (JSON merge patch over the task's fields).
pub fn parse_patch(body: &Value) -> Result<TaskPatch, Vec<Problem>> {
    let mut r = BodyReader::new(body)?;
    let title = r
        .get(fields::TITLE)
        .and_then(|(f, v)| r.non_null(f, v))
        .and_then(|v| r.title(v));
    let description = r
        .get(fields::DESCRIPTION)
        .and_then(|(_, v)| r.description(v));
    // Seed 002's frontends send `status` rather than `completed`; an
    // explicit `completed` wins. A `status` is checked either way, as the
    // document says what it may be.
    let status = r.get(fields::STATUS).and_then(|(f, v)| {
        r.non_null(f, v)
            .and_then(|v| r.choice(f, v, status_completed, STATUS_EXPECTED))
    });
    let completed = match r.get(fields::COMPLETED) {
        Some((f, v)) => r.non_null(f, v).and_then(|v| r.boolean(f, v)),
        None => status,
    };
    let priority = r
        .get(fields::PRIORITY)
        .and_then(|(f, v)| r.non_null(f, v))
        .and_then(|v| r.priority(v));
    let category = r
        .get(fields::CATEGORY)
        .and_then(|(f, v)| r.non_null(f, v))
        .and_then(|v| r.category(v));
    let due_date = r.get(fields::DUE_DATE).and_then(|(f, v)| r.due_date(f, v));
    let tags = r.get(fields::TAGS).and_then(|(f, v)| r.tags(f, v));
    r.finish(|| TaskPatch {
        title,
        description,
        completed,
        priority,
        category,
        due_date,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let errs = parse_input(&json!({
            "title": "  ", "description": 5, "priority": "urgent",
            "category": null, "completed": "maybe", "due_date": "tomorrow"
        }))
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(
            fields,
            [
                "title",
                "description",
                "completed",
                "priority",
                "category",
                "due_date"
            ]
        );
    }

    #[test]
    fn title_counts_characters_not_bytes() {
        let ok = "é".repeat(200);
        assert_eq!(
            parse_input(&json!({ "title": ok })).unwrap().title.as_str(),
            ok
        );
        assert!(parse_input(&json!({ "title": "é".repeat(201) })).is_err());
    }

    #[test]
    fn status_stands_in_for_completed() {
        let p = parse_patch(&json!({ "status": "completed" })).unwrap();
        assert_eq!(p.completed, Some(true));
        let p = parse_patch(&json!({ "status": "pending", "completed": true })).unwrap();
        assert_eq!(p.completed, Some(true), "completed wins");
        // Synonyms and any case (docs/frontends.md); unknown words still refused.
        for (word, done) in [
            ("done", true),
            ("Complete", true),
            ("TODO", false),
            ("open", false),
        ] {
            let p = parse_patch(&json!({ "status": word })).unwrap();
            assert_eq!(p.completed, Some(done), "{word}");
        }
        assert!(parse_patch(&json!({ "status": "finished" })).is_err());
        // Checked even when `completed` decides.
        assert!(parse_patch(&json!({ "status": "", "completed": true })).is_err());
    }

    #[test]
    fn camel_case_spellings_win() {
        let p = parse_patch(&json!({
            "due_date": "2026-01-01", "dueDate": "2026-02-02",
            "completed": false, "isCompleted": true, "priority": "High"
        }))
        .unwrap();
        assert_eq!(p.completed, Some(true));
        assert_eq!(p.priority, Some(Priority::High));
        assert_eq!(
            format_time(&p.due_date.flatten().unwrap()),
            "2026-02-02T00:00:00.000000Z"
        );
        let p = parse_patch(&json!({ "is_completed": true })).unwrap();
        assert_eq!(p.completed, Some(true));
        // An error is located at the spelling that was sent.
        let e = parse_patch(&json!({ "dueDate": "soon" })).unwrap_err();
        assert_eq!(e[0].loc, [json!("body"), json!("dueDate")]);
    }

    #[test]
    fn tags_from_a_list_or_a_comma_string() {
        let p = parse_patch(&json!({ "tags": [" Errand ", "urgent", "URGENT"] })).unwrap();
        assert_eq!(p.tags.unwrap().as_slice(), ["Errand", "urgent"]);
        let p = parse_patch(&json!({ "tags": "errand, urgent,, " })).unwrap();
        assert_eq!(p.tags.unwrap().as_slice(), ["errand", "urgent"]);
        let p = parse_patch(&json!({ "tags": null })).unwrap();
        assert_eq!(p.tags, Some(Tags::default()));
        let long = "x".repeat(51);
        let e = parse_patch(&json!({ "tags": ["ok", long, 5, " "] })).unwrap_err();
        let locs: Vec<_> = e.iter().map(|p| p.loc.clone()).collect();
        assert_eq!(
            locs,
            [
                vec![json!("body"), json!("tags"), json!(1)],
                vec![json!("body"), json!("tags"), json!(2)],
                vec![json!("body"), json!("tags"), json!(3)],
            ]
        );
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        let e = parse_patch(&json!({ "tags": many })).unwrap_err();
        assert_eq!(e[0].loc, [json!("body"), json!("tags"), json!(20)]);
        assert!(parse_patch(&json!({ "tags": ["a\u{1f}b"] })).is_err());
        assert!(parse_patch(&json!({ "tags": 3 })).is_err());
        let t = Tags(vec!["Errand".into(), "Café".into()]);
        assert_eq!(stored_tags(&t.stored()), ["Errand", "Café"]);
        assert_eq!(t.stored_keys(), "\u{1f}errand\u{1f}café\u{1f}");
    }

    #[test]
    fn ignored_fields_are_named() {
        let body = json!({ "title": "a", "dueDate": null, "userId": "x", "colour": 1, "tagz": [] });
        let ignored: Vec<_> = ignored_fields(&body).collect();
        assert_eq!(ignored, ["colour", "tagz"]);
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let p = parse_patch(&json!({ "description": null })).unwrap();
        assert_eq!(p.description, Some(None));
        assert_eq!(p.due_date, None);
        assert!(parse_patch(&json!({})).unwrap().is_empty());
        assert!(parse_patch(&json!({ "title": null })).is_err());
    }
}
