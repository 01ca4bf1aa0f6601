//! The counts of a user's tasks as the API answers them (docs/api.md#stats):
//! the stats, summed from the groups the store counts, and each tag with
//! the number of tasks that carry it.

use std::collections::BTreeMap;

use super::model::{Category, Priority};

/// Counts of a user's tasks (docs/api.md#stats).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub total: i64,
    pub completed: i64,
    pub pending: i64,
    /// Pending tasks past due.
    pub overdue: i64,
    /// `completed / total`, 0 to 1 (0 without tasks).
    pub completion_rate: f64,
    /// Every priority, with 0 for none.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub by_priority: BTreeMap<&'static str, i64>,
    /// Every category, with 0 for none.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub by_category: BTreeMap<&'static str, i64>,
}

/// `n` tasks that share a priority, a category and whether they are done
/// (`None`: a value this version does not know, counted in the totals only).
#[derive(Debug, Clone, Copy)]
pub struct CountedGroup {
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    pub completed: bool,
    pub n: i64,
}

impl Stats {
    /// The stats of a user whose tasks fall in these groups, `overdue` of
    /// them pending past their due date.
    pub fn tally(groups: impl IntoIterator<Item = CountedGroup>, overdue: i64) -> Self {
        let mut s = Stats {
            total: 0,
            completed: 0,
            pending: 0,
            overdue,
            completion_rate: 0.0,
            by_priority: Priority::ALL.iter().map(|p| (p.as_str(), 0)).collect(),
            by_category: Category::ALL.iter().map(|c| (c.as_str(), 0)).collect(),
        };
        for g in groups {
            s.total += g.n;
            if g.completed {
                s.completed += g.n;
            } else {
                s.pending += g.n;
            }
            if let Some(p) = g.priority {
                *s.by_priority.entry(p.as_str()).or_default() += g.n;
            }
            if let Some(c) = g.category {
                *s.by_category.entry(c.as_str()).or_default() += g.n;
            }
        }
        if s.total > 0 {
            s.completion_rate = s.completed as f64 / s.total as f64;
        }
        s
    }
}

/// One of a user's tags and how many of their tasks carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TagCount {
    /// As first written, on the user's oldest task that carries it.
    #[schema(example = "errand")]
    pub name: String,
    #[schema(example = 3)]
    pub count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_sum_into_every_priority_and_category() {
        let none = Stats::tally([], 0);
        assert_eq!((none.total, none.completion_rate), (0, 0.0));
        assert_eq!(none.by_priority.len(), Priority::ALL.len());
        assert!(none.by_category.values().all(|&n| n == 0));
        let group = |priority, completed, n| CountedGroup {
            priority,
            category: Category::parse("work"),
            completed,
            n,
        };
        let s = Stats::tally(
            [
                group(Some(Priority::High), true, 3),
                group(Some(Priority::Low), false, 1),
                group(None, false, 4),
            ],
            2,
        );
        assert_eq!((s.total, s.completed, s.pending, s.overdue), (8, 3, 5, 2));
        assert_eq!(s.completion_rate, 3.0 / 8.0);
        assert_eq!((s.by_priority["high"], s.by_priority["low"]), (3, 1));
        assert_eq!(s.by_category["work"], 8);
    }
}
