//! The [`Store`]'s chat (docs/chat.md): conversations, their messages, a
//! turn written at once, and each user's model usage per day.

use super::*;

/// What a chat turn writes, in one transaction: the user's message and the
/// assistant's reply, to a new conversation or after the `count` messages
/// an existing one had when the turn began.
#[derive(Debug)]
pub struct Turn<'a> {
    pub conversation: TurnTarget<'a>,
    pub message: &'a str,
    pub received_at: DateTime<Utc>,
    pub reply: &'a str,
    /// The assistant's tool calls as JSON text ('' for none).
    pub tool_calls: &'a str,
    pub replied_at: DateTime<Utc>,
    /// Model tokens the turn used, added to the user's day.
    pub tokens: i64,
}

#[derive(Debug, Clone, Copy)]
pub enum TurnTarget<'a> {
    New { id: i64, title: &'a str },
    Existing { id: i64, count: i64 },
}

impl Store {
    pub async fn conversation(
        &self,
        user: &str,
        id: i64,
    ) -> Result<Option<ConversationRow>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let rows = self
            .driver
            .fetch_conversations(sql::conversation(self.dialect, user, id))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// A page of the user's conversations (the latest first) and how many
    /// they have.
    pub async fn conversations(
        &self,
        user: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ConversationRow>, i64), StoreError> {
        let _turn = self.gate.enter(user).await?;
        let d = self.dialect;
        let rows = self
            .driver
            .fetch_conversations(sql::conversations(d, user, limit, offset))
            .await?;
        let total = self
            .driver
            .fetch_count(sql::count_conversations(d, user))
            .await?;
        Ok((rows, total))
    }

    pub async fn count_conversations(&self, user: &str) -> Result<i64, StoreError> {
        let _turn = self.gate.enter(user).await?;
        self.driver
            .fetch_count(sql::count_conversations(self.dialect, user))
            .await
    }

    /// A conversation's messages in order, `offset` skipped.
    pub async fn messages(
        &self,
        user: &str,
        conversation: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        self.driver
            .fetch_messages(sql::messages(
                self.dialect,
                user,
                conversation,
                limit,
                offset,
            ))
            .await
    }

    /// A conversation's last `limit` messages, oldest first.
    pub async fn history(
        &self,
        user: &str,
        conversation: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let mut rows = self
            .driver
            .fetch_messages(sql::last_messages(self.dialect, user, conversation, limit))
            .await?;
        rows.reverse();
        Ok(rows)
    }

    /// An empty conversation.
    pub async fn create_conversation(
        &self,
        user: &str,
        id: i64,
        title: &str,
        now: DateTime<Utc>,
    ) -> Result<ConversationRow, StoreError> {
        let _turn = self.gate.enter(user).await?;
        self.driver
            .execute(sql::insert_conversation(self.dialect, user, id, title, now))
            .await?;
        Ok(ConversationRow {
            id,
            title: title.to_owned(),
            message_count: 0,
            created_at: now,
            updated_at: now,
        })
    }

    /// Write a turn whole, or nothing: `false` when another turn of the
    /// conversation was written since this one began, or the conversation
    /// was deleted meanwhile.
    pub async fn save_turn(&self, user: &str, turn: &Turn<'_>) -> Result<bool, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let d = self.dialect;
        let (id, count, create) = match turn.conversation {
            TurnTarget::New { id, title } => (
                id,
                0,
                Some(sql::insert_conversation(
                    d,
                    user,
                    id,
                    title,
                    turn.received_at,
                )),
            ),
            TurnTarget::Existing { id, count } => (id, count, None),
        };
        let mut stmts: Vec<Statement> = create.into_iter().collect();
        stmts.push(sql::advance_conversation(
            d,
            user,
            id,
            count,
            count + 2,
            turn.replied_at,
        ));
        stmts.push(sql::insert_message(
            d,
            user,
            id,
            count + 1,
            "user",
            turn.message,
            "",
            turn.received_at,
        ));
        stmts.push(sql::insert_message(
            d,
            user,
            id,
            count + 2,
            "assistant",
            turn.reply,
            turn.tool_calls,
            turn.replied_at,
        ));
        stmts.push(sql::add_usage(
            d,
            user,
            &usage_day(turn.replied_at),
            turn.tokens,
        ));
        match self.driver.execute_all_or_none(stmts).await {
            Ok(written) => Ok(written),
            // The same positions written by a turn that committed first.
            Err(e) if e.is_duplicate() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Delete a conversation and its messages (in one transaction);
    /// `false` when there was none.
    pub async fn delete_conversation(&self, user: &str, id: i64) -> Result<bool, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let d = self.dialect;
        let found = self
            .driver
            .fetch_conversations(sql::conversation(d, user, id))
            .await?;
        if found.is_empty() {
            return Ok(false);
        }
        self.driver
            .execute_all(vec![
                sql::delete_messages(d, user, id),
                sql::delete_conversation(d, user, id),
            ])
            .await?;
        Ok(true)
    }

    /// Model tokens the user used on the day of `at` (UTC).
    pub async fn usage(&self, user: &str, at: DateTime<Utc>) -> Result<i64, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let rows = self
            .driver
            .fetch_ints(sql::usage(self.dialect, user, &usage_day(at)))
            .await?;
        Ok(rows.first().and_then(|r| r.first()).copied().unwrap_or(0))
    }
}

/// The day a usage row counts (UTC), as stored.
fn usage_day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}
