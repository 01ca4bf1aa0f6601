//! The task's domain types: the task as the API writes it, its validated
//! inputs (`TaskInput`, `TaskPatch`, `Title`, `Tags`), the closed sets
//! (priority, category, the status words), and how times, tags and search
//! texts are stored and compared. Request bodies are parsed into these by
//! `body.rs`.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 1000;

// Stored as a small integer, so that sorting by it is served by an index.
/// A task's priority, written as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
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

    /// Any case: `High` and `HIGH` are `high` (docs/frontends.md).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    pub fn rank(self) -> i16 {
        self as i16
    }

    pub fn from_rank(rank: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.rank() == rank)
    }
}

/// A task's category, written as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
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

    /// Any case, as [`Priority::parse`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
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

/// `status` as the API writes it (the document's `enum`; the field itself
/// is the word, derived from `completed`).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum TaskStatus {
    Pending,
    Completed,
}

/// A stored task as the API returns it (docs/api.md#the-task).
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
    #[schema(value_type = TaskStatus)]
    pub status: &'static str,
    pub priority: Priority,
    pub category: Category,
    #[serde(serialize_with = "ser_opt_time")]
    #[schema(required = true)]
    pub due_date: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_time")]
    pub updated_at: DateTime<Utc>,
    /// At most 20, as first written (docs/api.md#tags).
    #[schema(example = json!(["errand"]))]
    pub tags: Vec<String>,
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
pub struct Title(pub(super) String);

impl Title {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fields a POST or PUT sets (PUT: omitted means null or the default;
/// `completed` and `tags` only when present).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInput {
    pub title: Title,
    pub description: Option<String>,
    pub completed: Option<bool>,
    pub priority: Priority,
    pub category: Category,
    pub due_date: Option<DateTime<Utc>>,
    pub tags: Option<Tags>,
}

pub const TAGS_MAX: usize = 20;
pub const TAG_MAX: usize = 50;

/// A task's tags (docs/api.md#tags): at most [`TAGS_MAX`], each trimmed, 1 to
/// [`TAG_MAX`] characters, no control characters; distinct when compared
/// case-insensitively (a later duplicate is dropped, the first spelling
/// kept), in the order written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tags(pub(super) Vec<String>);

impl Tags {
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The tags as one stored text: each followed by [`TAG_SEPARATOR`].
    pub fn stored(&self) -> String {
        join_tags(self.0.iter().map(String::as_str))
    }

    /// The tags' [`tag_key`]s, stored the same way after a leading
    /// separator, so that `%\x1fkey\x1f%` finds one whole tag.
    pub fn stored_keys(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let keys: Vec<String> = self.0.iter().map(|t| tag_key(t)).collect();
        format!(
            "{TAG_SEPARATOR}{}",
            join_tags(keys.iter().map(String::as_str))
        )
    }
}

/// Between stored tags: a control character, which no tag may contain.
pub const TAG_SEPARATOR: char = '\u{1f}';

fn join_tags<'a>(tags: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for t in tags {
        out.push_str(t);
        out.push(TAG_SEPARATOR);
    }
    out
}

/// The tags of a stored text ([`Tags::stored`]).
pub fn stored_tags(stored: &str) -> Vec<String> {
    stored
        .split(TAG_SEPARATOR)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// How tags compare: case-insensitively, with Unicode's rules.
pub fn tag_key(tag: &str) -> String {
    search_key(tag)
}

/// One tag as given in a body or a `tag=` filter: trimmed; `Ok(None)` when
/// nothing is left; else 1 to 50 characters without control characters.
pub fn parse_tag(raw: &str) -> Result<Option<String>, (&'static str, String, Option<Value>)> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().any(char::is_control) {
        return Err((
            "string_pattern_mismatch",
            "Tags may not contain control characters".to_owned(),
            None,
        ));
    }
    if t.chars().count() > TAG_MAX {
        return Err((
            "string_too_long",
            format!("String should have at most {TAG_MAX} characters"),
            Some(json!({ "max_length": TAG_MAX })),
        ));
    }
    Ok(Some(t.to_owned()))
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
    pub tags: Option<Tags>,
}

impl TaskPatch {
    pub fn is_empty(&self) -> bool {
        *self == TaskPatch::default()
    }
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

pub const PRIORITY_EXPECTED: &str = "'low', 'medium' or 'high'";
pub const STATUS_EXPECTED: &str = "'pending' or 'completed'";
pub const CATEGORY_EXPECTED: &str = "'work', 'personal', 'home' or 'other'";

/// The words for a pending task's status, any case (docs/frontends.md).
pub const PENDING_WORDS: [&str; 5] = ["pending", "incomplete", "active", "open", "todo"];
/// The words for a completed task's status, any case.
pub const COMPLETED_WORDS: [&str; 3] = ["completed", "done", "complete"];

/// A status word: `Some(true)` for completed, `Some(false)` for pending.
pub fn status_completed(s: &str) -> Option<bool> {
    let is = |w: &&str| w.eq_ignore_ascii_case(s);
    if COMPLETED_WORDS.iter().any(is) {
        Some(true)
    } else if PENDING_WORDS.iter().any(is) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
