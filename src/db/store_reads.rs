//! The [`Store`]'s reads of a user's counts: tags and stats.

use super::*;
use crate::tasks::counts::{CountedGroup, Stats, TagCount};

impl Store {
    /// The user's tags (compared case-insensitively) with their counts, by name, at most
    /// [`sql::TAGS_LISTED`]: counted by the database, so the server holds
    /// the answer only, whatever the number of tagged tasks.
    pub async fn tags(&self, user: &str) -> Result<Vec<TagCount>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let rows = self
            .driver
            .fetch_tag_counts(sql::tag_counts(self.dialect, user, sql::TAGS_LISTED))
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| TagCount {
                name: r.name,
                count: r.count,
            })
            .collect())
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
        let groups = rows.into_iter().map(|r| CountedGroup {
            priority: Priority::from_rank(r.priority),
            category: Category::parse(&r.category),
            completed: r.completed,
            n: r.n,
        });
        Ok(Stats::tally(groups, overdue))
    }
}
