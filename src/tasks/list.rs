//! The query string of `GET /api/tasks` (docs/api.md#listing), parsed into a filter.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::model::{
    CATEGORY_EXPECTED, Category, PRIORITY_EXPECTED, Priority, TAGS_MAX, parse_datetime_or_date,
    parse_tag, search_key, status_completed, tag_key,
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
    /// Tag keys ([`tag_key`]) a task must all carry.
    pub tags: Vec<String>,
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

/// The query parameters read, each with its spellings: the canonical name
/// first, which wins over an alias when both are given (docs/frontends.md).
/// Whether `name` is a list parameter's canonical name (not an alias).
pub fn is_canonical_param(name: &str) -> bool {
    PARAMS.iter().any(|names| names[0] == name)
}

const PARAMS: [&[&str]; 12] = [
    &["status"],
    &["priority"],
    &["category"],
    &["due_before", "dueBefore"],
    &["due_after", "dueAfter"],
    &["overdue"],
    &["q", "search"],
    &["sort", "sort_by", "sortBy"],
    &["order", "sort_order", "sortOrder"],
    &["limit"],
    &["offset", "skip"],
    &["tag"],
];

/// The sort keys by name: snake_case or camelCase, any case.
const SORT_KEYS: [(&str, &str, SortKey); 5] = [
    ("created_at", "createdat", SortKey::CreatedAt),
    ("updated_at", "updatedat", SortKey::UpdatedAt),
    ("due_date", "duedate", SortKey::DueDate),
    ("priority", "priority", SortKey::Priority),
    ("title", "title", SortKey::Title),
];

/// A sort value: a key, `-` before it meaning descending.
fn sort_value(name: &str, raw: &str) -> Result<(SortKey, Option<Order>), Problem> {
    let (key, order) = match raw.strip_prefix('-') {
        Some(rest) => (rest, Some(Order::Desc)),
        None => (raw, None),
    };
    SORT_KEYS
        .iter()
        .find(|(snake, camel, _)| {
            key.eq_ignore_ascii_case(snake) || key.eq_ignore_ascii_case(camel)
        })
        .map(|(_, _, k)| (*k, order))
        .ok_or_else(|| enum_err(name, SORT_EXPECTED))
}

pub const SORT_EXPECTED: &str = "'created_at', 'updated_at', 'due_date', 'priority' or 'title' (or camelCase, '-' first for descending)";

impl ListQuery {
    /// Parse a raw query string; unknown parameters are ignored, the last of
    /// a repeated parameter wins and is the only one checked (of `tag`,
    /// every one counts), the canonical name wins over an alias, and every
    /// invalid value is reported at the name it was sent as.
    pub fn parse(raw: Option<&str>) -> Result<Self, Vec<Problem>> {
        let mut q = ListQuery::default();
        // The last value of each spelling of each parameter, with its
        // position in the query: earlier repeats are neither kept nor
        // checked, so thousands of them cost one pass over the query.
        let mut last: [[Option<(String, usize)>; 3]; PARAMS.len()] = Default::default();
        let mut tags: Vec<(String, String)> = Vec::new();
        let mut tag_count = 0usize;
        let pairs = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes());
        for (at, (name, value)) in pairs.enumerate() {
            let Some((param, rank)) = PARAMS
                .iter()
                .enumerate()
                .find_map(|(i, names)| names.iter().position(|n| *n == name).map(|rank| (i, rank)))
            else {
                continue;
            };
            if PARAMS[param][0] == "tag" {
                // Counted, and kept only up to the limit.
                tag_count += 1;
                if tag_count <= TAGS_MAX {
                    tags.push((name.into_owned(), value.into_owned()));
                }
                continue;
            }
            last[param][rank] = Some((value.into_owned(), at));
        }
        let mut given: Vec<(usize, usize, &str, &str, usize)> = Vec::new();
        for (param, spellings) in last.iter().enumerate() {
            for (rank, value) in spellings.iter().enumerate() {
                if let Some((v, at)) = value {
                    given.push((param, rank, PARAMS[param][rank], v.as_str(), *at));
                }
            }
        }
        // Each spelling's last value is checked; they are applied aliases
        // first and in query order, so the canonical name's value is the
        // one left.
        given.sort_by_key(|(_, rank, _, _, at)| (std::cmp::Reverse(*rank), *at));
        let order_given = given.iter().any(|(param, ..)| PARAMS[*param][0] == "order");
        let mut sort_order = None;
        // Problems in the order their parameters came.
        let mut errors: Vec<(usize, Problem)> = Vec::new();
        for &(param, _, name, v, at) in &given {
            let f = &mut q.filter;
            let result = match PARAMS[param][0] {
                "status" => status_filter(name, v).map(|s| f.status = s),
                "priority" => Priority::parse(v)
                    .map(|p| f.priority = Some(p))
                    .ok_or_else(|| enum_err(name, PRIORITY_EXPECTED)),
                "category" => Category::parse(v)
                    .map(|c| f.category = Some(c))
                    .ok_or_else(|| enum_err(name, CATEGORY_EXPECTED)),
                "due_before" => date(name, v, true).map(|t| f.due_before = Some(t)),
                "due_after" => date(name, v, false).map(|t| f.due_after = Some(t)),
                "overdue" => boolean(name, v).map(|b| f.overdue = Some(b)),
                "q" if v.contains('\0') => Err(err(
                    name,
                    "string_pattern_mismatch",
                    "String should not contain NUL characters",
                )),
                "q" if v.chars().count() > Q_MAX => Err(err(
                    name,
                    "string_too_long",
                    format!("String should have at most {Q_MAX} characters"),
                )
                .with_ctx(json!({ "max_length": Q_MAX }))),
                "q" => {
                    f.q = (!v.is_empty()).then(|| search_key(v));
                    Ok(())
                }
                "sort" => sort_value(name, v).map(|(k, o)| {
                    f.sort = k;
                    sort_order = o;
                }),
                "order" => match v.to_ascii_lowercase().as_str() {
                    "asc" => Ok(Order::Asc),
                    "desc" => Ok(Order::Desc),
                    _ => Err(enum_err(name, "'asc' or 'desc'")),
                }
                .map(|o| f.order = o),
                "limit" => int(name, v, 1, MAX_PAGE).map(|n| q.limit = Some(n)),
                "offset" => int(name, v, 0, i64::MAX).map(|n| q.offset = n),
                _ => Ok(()),
            };
            if let Err(e) = result {
                errors.retain(|(_, old)| old.loc != e.loc);
                errors.push((at, e));
            }
        }
        // `-field` decides the direction unless `order` was given.
        if !order_given && let Some(o) = sort_order {
            q.filter.order = o;
        }
        match tag_filter(&tags, tag_count) {
            Ok(keys) => q.filter.tags = keys,
            Err(e) => errors.push((usize::MAX, e)),
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            errors.sort_by_key(|(at, _)| *at);
            Err(errors.into_iter().map(|(_, e)| e).collect())
        }
    }

    /// The page size actually used: the asked limit or the server maximum.
    pub fn page_size(&self) -> i64 {
        self.limit.unwrap_or(MAX_PAGE)
    }
}

/// A `status` filter: `all`, or a status word of docs/frontends.md (any case).
fn status_filter(name: &str, v: &str) -> Result<StatusFilter, Problem> {
    if v.eq_ignore_ascii_case("all") {
        return Ok(StatusFilter::All);
    }
    match status_completed(v) {
        Some(true) => Ok(StatusFilter::Completed),
        Some(false) => Ok(StatusFilter::Pending),
        None => Err(enum_err(name, "'all', 'pending' or 'completed'")),
    }
}

/// The `tag=` filters: at most [`TAGS_MAX`] (`count` of them were sent,
/// `tags` holds the first ones), checked before any is parsed; a blank one
/// is ignored.
fn tag_filter(tags: &[(String, String)], count: usize) -> Result<Vec<String>, Problem> {
    if count > TAGS_MAX {
        return Err(err(
            "tag",
            "too_long",
            format!("At most {TAGS_MAX} tags may be asked for"),
        )
        .with_ctx(json!({ "max_length": TAGS_MAX })));
    }
    let mut keys: Vec<String> = Vec::new();
    for (name, raw) in tags {
        match parse_tag(raw) {
            Ok(None) => {}
            Ok(Some(t)) => {
                let key = tag_key(&t);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            Err((kind, msg, ctx)) => {
                let mut p = err(name, kind, msg);
                p.ctx = ctx;
                return Err(p);
            }
        }
    }
    Ok(keys)
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
            "status=finished&limit=0&offset=-1&sort=x&order=up&due_before=x",
        ))
        .unwrap_err();
        let names: Vec<_> = errs.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(
            names,
            ["status", "limit", "offset", "sort", "order", "due_before"]
        );
    }

    #[test]
    fn aliases_and_the_canonical_name_wins() {
        let q = ListQuery::parse(Some("search=Milk&sortBy=dueDate&sortOrder=ASC")).unwrap();
        assert_eq!(q.filter.q.as_deref(), Some("milk"));
        assert_eq!(q.filter.sort, SortKey::DueDate);
        assert_eq!(q.filter.order, Order::Asc);
        let q = ListQuery::parse(Some("sort=title&sort_by=priority&q=a&search=b")).unwrap();
        assert_eq!(q.filter.sort, SortKey::Title);
        assert_eq!(q.filter.q.as_deref(), Some("a"));
        let q = ListQuery::parse(Some("sort=-createdAt")).unwrap();
        assert_eq!(
            (q.filter.sort, q.filter.order),
            (SortKey::CreatedAt, Order::Desc)
        );
        let q = ListQuery::parse(Some("sort=-title&order=asc")).unwrap();
        assert_eq!(q.filter.order, Order::Asc, "an explicit order wins");
        let q = ListQuery::parse(Some("status=Done&priority=HIGH&skip=5")).unwrap();
        assert_eq!(q.filter.status, StatusFilter::Completed);
        assert_eq!(q.filter.priority, Some(Priority::High));
        assert_eq!(q.offset, 5);
        let e = ListQuery::parse(Some("sortBy=colour")).unwrap_err();
        assert_eq!(e[0].loc, [json!("query"), json!("sortBy")]);
    }

    #[test]
    fn tags_filter_all_of_them() {
        let q = ListQuery::parse(Some("tag=Errand&tag=urgent&tag=URGENT&tag=")).unwrap();
        assert_eq!(q.filter.tags, ["errand", "urgent"]);
        let long = "x".repeat(51);
        assert!(ListQuery::parse(Some(&format!("tag={long}"))).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("tag=t{i}")).collect();
        assert!(ListQuery::parse(Some(&many.join("&"))).is_err());
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
