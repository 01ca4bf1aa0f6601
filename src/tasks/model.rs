//! The task: its domain types, and the parsing of request bodies into them.
//!
//! Bodies are parsed from `serde_json::Value` by hand rather than with
//! `#[derive(Deserialize)]` so that every problem is reported at once, in the
//! FastAPI/pydantic shape the seed frontends already understand.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::problem::Problem;

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 1000;

/// A task's priority; stored as a small integer so that sorting by it is
/// served by an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    Low = 0,
    Medium = 1,
    High = 2,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Medium, Priority::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn rank(self) -> i16 {
        self as i16
    }

    pub fn from_rank(rank: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.rank() == rank)
    }
}

/// A task's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Work,
    Personal,
    Home,
    Other,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Work,
        Category::Personal,
        Category::Home,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Work => "work",
            Category::Personal => "personal",
            Category::Home => "home",
            Category::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

macro_rules! serialize_as_str {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}
serialize_as_str!(Priority, Category);

/// A stored task as the API returns it (SPEC 5.1).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Task {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "demo")]
    pub user_id: String,
    #[schema(example = "Buy milk")]
    pub title: String,
    #[schema(required = true)]
    pub description: Option<String>,
    pub completed: bool,
    /// Derived from `completed`.
    #[schema(value_type = String, pattern = "^(pending|completed)$")]
    pub status: &'static str,
    #[schema(value_type = String, pattern = "^(low|medium|high)$")]
    pub priority: Priority,
    #[schema(value_type = String, pattern = "^(work|personal|home|other)$")]
    pub category: Category,
    #[serde(serialize_with = "ser_opt_time")]
    #[schema(required = true)]
    pub due_date: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_time")]
    pub updated_at: DateTime<Utc>,
    /// Bumped on every change; the source of the `ETag`.
    #[serde(skip)]
    pub version: i64,
}

/// RFC 3339 in UTC with a `Z` and microseconds, as pydantic prints them.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

fn ser_opt_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser_time(t, s),
        None => s.serialize_none(),
    }
}

/// The current time at the precision both databases store (microseconds).
pub fn now() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(t)
}

/// A validated, trimmed title of 1 to 200 characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Title(String);

impl Title {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fields a POST or PUT sets (PUT: omitted means null or the default).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInput {
    pub title: Title,
    pub description: Option<String>,
    pub completed: Option<bool>,
    pub priority: Priority,
    pub category: Category,
    pub due_date: Option<DateTime<Utc>>,
}

/// The fields a PATCH changes; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPatch {
    pub title: Option<Title>,
    pub description: Option<Option<String>>,
    pub completed: Option<bool>,
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    pub due_date: Option<Option<DateTime<Utc>>>,
}

impl TaskPatch {
    pub fn is_empty(&self) -> bool {
        *self == TaskPatch::default()
    }
}

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

    /// The field's value: absent is `None`, present (even `null`) is `Some`.
    fn get(&self, field: &str) -> Option<&'a Value> {
        self.obj.get(field)
    }

    fn fail(&mut self, field: &str, kind: &'static str, msg: impl Into<String>) {
        self.errors.push(Problem::new(loc(field), kind, msg));
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

    fn due_date(&mut self, v: &Value) -> Option<Option<DateTime<Utc>>> {
        if v.is_null() {
            return Some(None);
        }
        let parsed = v.as_str().and_then(parse_datetime);
        if parsed.is_none() {
            self.fail(
                "due_date",
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
pub const PRIORITY_EXPECTED: &str = "'low', 'medium' or 'high'";
const STATUS_EXPECTED: &str = "'pending' or 'completed'";

fn status_completed(s: &str) -> Option<bool> {
    match s {
        "completed" => Some(true),
        "pending" => Some(false),
        _ => None,
    }
}

pub const CATEGORY_EXPECTED: &str = "'work', 'personal', 'home' or 'other'";

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
        .get(TITLE_FIELD)
        .and_then(|v| r.non_null(TITLE_FIELD, v))
        .and_then(|v| r.title(v));
    let description = r.get(DESCRIPTION_FIELD).and_then(|v| r.description(v));
    // Seed 002's frontends send `status` rather than `completed`; an
    // explicit `completed` wins. A `status` is checked either way, as the
    // document says it must be `pending` or `completed`.
    let status = r
        .get("status")
        .and_then(|v| r.non_null("status", v))
        .and_then(|v| r.choice("status", v, status_completed, STATUS_EXPECTED));
    let completed = match r.get("completed") {
        Some(v) => r
            .non_null("completed", v)
            .and_then(|v| r.boolean("completed", v)),
        None => status,
    };
    let priority = r
        .get("priority")
        .and_then(|v| r.non_null("priority", v))
        .and_then(|v| r.priority(v));
    let category = r
        .get("category")
        .and_then(|v| r.non_null("category", v))
        .and_then(|v| r.category(v));
    let due_date = r.get("due_date").and_then(|v| r.due_date(v));
    r.finish(|| TaskPatch {
        title,
        description,
        completed,
        priority,
        category,
        due_date,
    })
}

/// How a title, a description and a search text compare in `q=` searches:
/// lower-cased with Unicode's rules here (not by the database, whose rules
/// differ between SQLite and PostgreSQL), so both match `CAFÉ` with `café`.
pub fn search_key(s: &str) -> String {
    s.to_lowercase()
}

/// An RFC 3339 date-time (an offset-less one is taken as UTC), or a plain
/// date meaning midnight UTC.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    parse_datetime_or_date(s).map(|(t, _)| t)
}

/// As [`parse_datetime`], also saying whether the input was a plain date.
/// Only years 0001 to 9999 (in UTC) are dates: both databases store and
/// compare those alike (SQLite as fixed-width text, which a five-digit or
/// negative year would sort wrongly; PostgreSQL refuses years before 4713 BC).
/// The date is always written `YYYY-MM-DD` (zero-padded, as RFC 3339 has
/// it), so the document can say so.
pub fn parse_datetime_or_date(s: &str) -> Option<(DateTime<Utc>, bool)> {
    let s = s.trim();
    let b = s.as_bytes();
    let padded = b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !padded {
        return None;
    }
    parse_any(s).filter(|(t, _)| (1..=9999).contains(&t.year()))
}

fn parse_any(s: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some((truncate_micros(t.with_timezone(&Utc)), false));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some((truncate_micros(t.and_utc()), false));
        }
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some((date.and_hms_opt(0, 0, 0)?.and_utc(), true))
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
        assert!(parse_patch(&json!({ "status": "done" })).is_err());
        // Checked even when `completed` decides.
        assert!(parse_patch(&json!({ "status": "", "completed": true })).is_err());
    }

    #[test]
    fn plain_dates_are_midnight_utc() {
        let t = parse_datetime("2026-03-01").unwrap();
        assert_eq!(format_time(&t), "2026-03-01T00:00:00.000000Z");
        let t = parse_datetime("2026-03-01T10:00:00+02:00").unwrap();
        assert_eq!(format_time(&t), "2026-03-01T08:00:00.000000Z");
        assert!(parse_datetime("2026-13-01").is_none());
        // Years outside 0001-9999, also after the offset is applied.
        for out in [
            "-4714-11-23T23:59:59",
            "+10000-01-01T00:00:00",
            "0000-12-31",
            "9999-12-31T23:00:00-05:00",
            "0001-01-01T00:30:00+01:00",
        ] {
            assert!(parse_datetime(out).is_none(), "{out}");
        }
        assert!(parse_datetime("9999-12-31T23:59:59Z").is_some());
        // The date part is zero-padded, YYYY-MM-DD.
        for short in ["2026-1-2", "0122-08-2", "26-01-02", "2026-01-2T03:04:05"] {
            assert!(parse_datetime(short).is_none(), "{short}");
        }
        assert!(parse_datetime("0001-01-01").is_some());
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
