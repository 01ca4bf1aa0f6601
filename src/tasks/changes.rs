//! The changes feed's inputs (docs/live-updates.md): a cursor is a change number, the
//! decimal digits of a non-negative 64-bit integer; `0` (or none) is the
//! start.

use serde_json::{Value, json};

use super::Problem;

/// Entries a page of the changes feed has when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;
/// The most entries a page may have.
pub const MAX_LIMIT: i64 = 1000;

/// `GET /api/tasks/changes?since=&limit=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangesQuery {
    pub since: i64,
    pub limit: i64,
}

/// A cursor (or `Last-Event-ID`) at `loc`: the number it names.
pub fn cursor(loc: [&str; 2], raw: &str) -> Result<i64, Problem> {
    let raw = raw.trim();
    let bad = || {
        Problem::new(
            loc.iter().map(|s| json!(s)).collect::<Vec<Value>>(),
            "cursor_invalid",
            "Input should be a cursor this API returned (a change number: 0 or more digits)",
        )
    };
    if raw.is_empty() {
        return Ok(0);
    }
    if raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    raw.parse().map_err(|_| bad())
}

impl ChangesQuery {
    /// Parse the query string; every problem at once. Of a repeated
    /// parameter only the last value counts and is checked (FastAPI's
    /// rule), so repeats cost one pass over the query and no problems.
    pub fn parse(raw: Option<&str>) -> Result<Self, Vec<Problem>> {
        let mut q = ChangesQuery {
            since: 0,
            limit: DEFAULT_LIMIT,
        };
        let (mut since, mut limit) = (None, None);
        for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "since" => since = Some(value),
                "limit" => limit = Some(value),
                _ => {}
            }
        }
        let mut problems = Vec::new();
        if let Some(value) = since {
            match cursor(["query", "since"], &value) {
                Ok(n) => q.since = n,
                Err(p) => problems.push(p),
            }
        }
        if let Some(value) = limit {
            match value.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => q.limit = n,
                _ => problems.push(
                    Problem::new(
                        vec![json!("query"), json!("limit")],
                        "int_range",
                        format!("Input should be an integer from 1 to {MAX_LIMIT}"),
                    )
                    .with_ctx(json!({ "ge": 1, "le": MAX_LIMIT })),
                ),
            }
        }
        if problems.is_empty() {
            Ok(q)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_change_numbers_and_nothing_else() {
        let at = ["query", "since"];
        assert_eq!(cursor(at, ""), Ok(0));
        assert_eq!(cursor(at, "0"), Ok(0));
        assert_eq!(cursor(at, " 42 "), Ok(42));
        for bad in [
            "-1",
            "abc",
            "1.5",
            "1e3",
            "99999999999999999999",
            "+3",
            "0x10",
        ] {
            let p = cursor(at, bad).unwrap_err();
            assert_eq!(p.loc, vec![json!("query"), json!("since")], "{bad}");
        }
    }

    #[test]
    fn the_query_has_defaults_and_bounds() {
        assert_eq!(
            ChangesQuery::parse(None),
            Ok(ChangesQuery {
                since: 0,
                limit: DEFAULT_LIMIT
            })
        );
        assert_eq!(
            ChangesQuery::parse(Some("since=7&limit=1000")),
            Ok(ChangesQuery {
                since: 7,
                limit: 1000
            })
        );
        let problems = ChangesQuery::parse(Some("since=x&limit=0")).unwrap_err();
        let locs: Vec<_> = problems.iter().map(|p| p.loc[1].clone()).collect();
        assert_eq!(locs, vec![json!("since"), json!("limit")]);
        assert!(ChangesQuery::parse(Some("limit=1001")).is_err());
        // A repeated parameter: the last value, alone checked.
        let repeated = format!("{}since=5", "since=x&".repeat(5000));
        assert_eq!(ChangesQuery::parse(Some(&repeated)).unwrap().since, 5);
        let problems = ChangesQuery::parse(Some(&"since=x&".repeat(5000))).unwrap_err();
        assert_eq!(problems.len(), 1);
    }
}
