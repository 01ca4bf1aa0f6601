//! The query string of `GET /api/tasks` (SPEC 5.2), parsed into a filter.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::model::search_key;
use super::model::{
    CATEGORY_EXPECTED, Category, PRIORITY_EXPECTED, Priority, parse_datetime_or_date,
};
use super::problem::Problem;

/// The most tasks one response carries; a longer list is paged with `Link`.
pub const MAX_PAGE: i64 = 1000;
const Q_MAX: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    All,
    Pending,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    CreatedAt,
    UpdatedAt,
    DueDate,
    Priority,
    Title,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

/// Which of a user's tasks to list and in what order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    pub status: StatusFilter,
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    /// Inclusive upper bound on `due_date`.
    pub due_before: Option<DateTime<Utc>>,
    /// Inclusive lower bound on `due_date`.
    pub due_after: Option<DateTime<Utc>>,
    /// `Some(true)`: pending and past due; `Some(false)`: everything else.
    pub overdue: Option<bool>,
    /// The search text as a [`search_key`], matched as a literal substring.
    pub q: Option<String>,
    pub sort: SortKey,
    pub order: Order,
}

/// A filter plus the page asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    pub filter: ListFilter,
    pub limit: Option<i64>,
    pub offset: i64,
}

fn err(name: &str, kind: &'static str, msg: impl Into<String>) -> Problem {
    Problem::new(vec![json!("query"), json!(name)], kind, msg)
}

fn enum_err(name: &str, expected: &'static str) -> Problem {
    err(name, "enum", format!("Input should be {expected}"))
        .with_ctx(json!({ "expected": expected }))
}

fn int(name: &str, raw: &str, min: i64, max: i64) -> Result<i64, Problem> {
    let n: i64 = raw.trim().parse().map_err(|_| {
        err(
            name,
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        )
    })?;
    if n < min {
        return Err(err(
            name,
            "greater_than_equal",
            format!("Input should be greater than or equal to {min}"),
        )
        .with_ctx(json!({ "ge": min })));
    }
    if n > max {
        return Err(err(
            name,
            "less_than_equal",
            format!("Input should be less than or equal to {max}"),
        )
        .with_ctx(json!({ "le": max })));
    }
    Ok(n)
}

fn pick<T: Copy>(
    name: &str,
    raw: &str,
    options: &[(&str, T)],
    expected: &'static str,
) -> Result<T, Problem> {
    options
        .iter()
        .find(|(k, _)| *k == raw)
        .map(|(_, v)| *v)
        .ok_or_else(|| enum_err(name, expected))
}

fn boolean(name: &str, raw: &str) -> Result<bool, Problem> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(err(name, "bool_parsing", "Input should be a valid boolean")),
    }
}

fn date(name: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, Problem> {
    let (t, plain_date) = parse_datetime_or_date(raw).ok_or_else(|| {
        err(
            name,
            "datetime_parsing",
            "Input should be a valid datetime (RFC 3339) or date (YYYY-MM-DD), years 0001 to 9999",
        )
    })?;
    // A plain date as an upper bound includes the whole day.
    if plain_date && end_of_day {
        return Ok(t + Duration::days(1) - Duration::microseconds(1));
    }
    Ok(t)
}

impl ListQuery {
    /// Parse a raw query string; unknown parameters are ignored, the last of
    /// a repeated parameter wins, and every invalid value is reported.
    pub fn parse(raw: Option<&str>) -> Result<Self, Vec<Problem>> {
        let mut q = ListQuery::default();
        let mut errors = Vec::new();
        let pairs = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes());
        for (name, value) in pairs {
            let v = value.as_ref();
            let f = &mut q.filter;
            let result = match name.as_ref() {
                "status" => pick(
                    "status",
                    v,
                    &[
                        ("all", StatusFilter::All),
                        ("pending", StatusFilter::Pending),
                        ("completed", StatusFilter::Completed),
                    ],
                    "'all', 'pending' or 'completed'",
                )
                .map(|s| f.status = s),
                "priority" => Priority::parse(v)
                    .map(|p| f.priority = Some(p))
                    .ok_or_else(|| enum_err("priority", PRIORITY_EXPECTED)),
                "category" => Category::parse(v)
                    .map(|c| f.category = Some(c))
                    .ok_or_else(|| enum_err("category", CATEGORY_EXPECTED)),
                "due_before" => date("due_before", v, true).map(|t| f.due_before = Some(t)),
                "due_after" => date("due_after", v, false).map(|t| f.due_after = Some(t)),
                "overdue" => boolean("overdue", v).map(|b| f.overdue = Some(b)),
                "q" if v.contains('\0') => Err(err(
                    "q",
                    "string_pattern_mismatch",
                    "String should not contain NUL characters",
                )),
                "q" if v.chars().count() > Q_MAX => Err(err(
                    "q",
                    "string_too_long",
                    format!("String should have at most {Q_MAX} characters"),
                )
                .with_ctx(json!({ "max_length": Q_MAX }))),
                "q" => {
                    f.q = (!v.is_empty()).then(|| search_key(v));
                    Ok(())
                }
                "sort" => pick(
                    "sort",
                    v,
                    &[
                        ("created_at", SortKey::CreatedAt),
                        ("updated_at", SortKey::UpdatedAt),
                        ("due_date", SortKey::DueDate),
                        ("priority", SortKey::Priority),
                        ("title", SortKey::Title),
                    ],
                    "'created_at', 'updated_at', 'due_date', 'priority' or 'title'",
                )
                .map(|s| f.sort = s),
                "order" => pick(
                    "order",
                    v,
                    &[("asc", Order::Asc), ("desc", Order::Desc)],
                    "'asc' or 'desc'",
                )
                .map(|o| f.order = o),
                "limit" => int("limit", v, 1, MAX_PAGE).map(|n| q.limit = Some(n)),
                "offset" => int("offset", v, 0, i64::MAX).map(|n| q.offset = n),
                _ => Ok(()),
            };
            if let Err(e) = result {
                errors.retain(|old: &Problem| old.loc != e.loc);
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(errors)
        }
    }

    /// The page size actually used: the asked limit or the server maximum.
    pub fn page_size(&self) -> i64 {
        self.limit.unwrap_or(MAX_PAGE)
    }
}

/// The query string of the next page: the original one with `offset` moved on.
pub fn next_page_query(raw: Option<&str>, next_offset: i64) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if k != "offset" {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair("offset", &next_offset.to_string());
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_error_at_once() {
        assert_eq!(ListQuery::parse(None).unwrap(), ListQuery::default());
        let errs = ListQuery::parse(Some(
            "status=done&limit=0&offset=-1&sort=x&order=up&due_before=x",
        ))
        .unwrap_err();
        let names: Vec<_> = errs.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(
            names,
            ["status", "limit", "offset", "sort", "order", "due_before"]
        );
    }

    #[test]
    fn like_metacharacters_are_literal() {
        let q = ListQuery::parse(Some("q=50%25_OFF%5C")).unwrap();
        assert_eq!(q.filter.q.as_deref(), Some("50%_off\\"));
    }

    #[test]
    fn plain_date_upper_bound_covers_the_day() {
        let q = ListQuery::parse(Some("due_before=2026-01-10")).unwrap();
        let t = q.filter.due_before.unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-10T23:59:59.999999+00:00");
    }

    #[test]
    fn next_page_keeps_filters() {
        assert_eq!(
            next_page_query(Some("status=pending&offset=20&limit=20"), 40),
            "status=pending&limit=20&offset=40"
        );
    }
}
