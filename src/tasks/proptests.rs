//! Property tests of input validation and query parsing (docs/security.md): for any
//! input, parsing returns a value that satisfies the contract or 422 errors
//! located where the problem is; it never panics.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::body::{parse_input, parse_patch};
use super::list::{ListQuery, MAX_PAGE};

/// Arbitrary JSON, a few levels deep, with strings that stress Unicode.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,300}".prop_map(Value::from),
        "(low|medium|high|work|home|pending|completed|2026-01-01|true|1)".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                "(title|description|completed|isCompleted|status|priority|category|due_date|dueDate|tags|user_id|x)",
                inner,
                0..7,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn located_in(errors: &[crate::tasks::Problem], area: &str) -> bool {
    !errors.is_empty() && errors.iter().all(|e| e.loc.first() == Some(&json!(area)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn bodies_are_valid_tasks_or_located_422s(body in any_json()) {
        match parse_input(&body) {
            Ok(t) => {
                let title = t.title.as_str();
                prop_assert_eq!(title.trim(), title);
                prop_assert!((1..=200).contains(&title.chars().count()));
                prop_assert!(t.description.as_ref().is_none_or(|d| d.chars().count() <= 1000));
                prop_assert!(!title.contains('\0'));
            }
            Err(errors) => prop_assert!(located_in(&errors, "body")),
        }
        match parse_patch(&body) {
            Ok(p) => {
                if let Some(title) = &p.title {
                    prop_assert!((1..=200).contains(&title.as_str().chars().count()));
                }
            }
            Err(errors) => prop_assert!(located_in(&errors, "body")),
        }
    }

    #[test]
    fn query_strings_parse_within_bounds_or_give_located_422s(
        pairs in prop::collection::vec(
            ("(status|priority|category|due_before|due_after|overdue|q|sort|order|limit|offset|other)",
             "[ -~]{0,40}|-?[0-9]{1,25}"),
            0..6,
        )
    ) {
        let raw = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&");
        match ListQuery::parse(Some(&raw)) {
            Ok(q) => {
                prop_assert!(q.offset >= 0);
                prop_assert!(q.limit.is_none_or(|l| (1..=MAX_PAGE).contains(&l)));
                prop_assert!((1..=MAX_PAGE).contains(&q.page_size()));
            }
            Err(errors) => prop_assert!(located_in(&errors, "query")),
        }
    }

    #[test]
    fn raw_query_bytes_never_panic(raw in "[\\x00-\\x7f]{0,200}") {
        let _ = ListQuery::parse(Some(&raw));
    }
}
