//! The [`Store`]'s reads of a user's counts: tags and stats.

use super::*;

impl Store {
    /// The user's tags (compared case-insensitively) with their counts, by name, at most
    /// [`sql::TAGS_LISTED`]: counted by the database, so the server holds
    /// the answer only, whatever the number of tagged tasks.
    pub async fn tags(&self, user: &str) -> Result<Vec<TagCount>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        self.driver
            .fetch_tag_counts(sql::tag_counts(self.dialect, user, sql::TAGS_LISTED))
            .await
    }

    /// The user's stats, from their counts (`task_counts`, `task_due_days`)
    /// and one count of today's overdue tasks.
    pub async fn stats(&self, user: &str) -> Result<Stats, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let d = self.dialect;
        let rows = self
            .driver
            .fetch_stats(sql::counted_groups(d, user))
            .await?;
        let overdue = self
            .driver
            .fetch_count(sql::overdue(d, user, now()))
            .await?;
        let mut s = Stats {
            total: 0,
            completed: 0,
            pending: 0,
            overdue: 0,
            completion_rate: 0.0,
            by_priority: Priority::ALL.iter().map(|p| (p.as_str(), 0)).collect(),
            by_category: Category::ALL.iter().map(|c| (c.as_str(), 0)).collect(),
        };
        s.overdue = overdue;
        for r in rows {
            s.total += r.n;
            if r.completed {
                s.completed += r.n;
            } else {
                s.pending += r.n;
            }
            if let Some(p) = Priority::from_rank(r.priority) {
                *s.by_priority.entry(p.as_str()).or_default() += r.n;
            }
            if let Some(c) = Category::parse(&r.category) {
                *s.by_category.entry(c.as_str()).or_default() += r.n;
            }
        }
        if s.total > 0 {
            s.completion_rate = s.completed as f64 / s.total as f64;
        }
        Ok(s)
    }
}
