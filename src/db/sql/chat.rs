//! The statements of the chat (docs/chat.md): conversations, their
//! messages, and each user's model usage per day. Every one is keyed by
//! `user_id` first.

use chrono::{DateTime, Utc};

use super::*;

/// The columns of a conversation, in `ConversationRow`'s order.
pub const CONVERSATION_COLUMNS: &str = "id, title, message_count, created_at, updated_at";
/// The columns of a message, in `MessageRow`'s order.
pub const MESSAGE_COLUMNS: &str = "position, role, content, tool_calls, created_at";

pub fn conversation(d: Dialect, user: &str, id: i64) -> Statement {
    let mut b = Builder::query(d, "SELECT ");
    b.push(CONVERSATION_COLUMNS)
        .push(" FROM conversations WHERE user_id = ")
        .bind(text(user))
        .push(" AND id = ")
        .bind(Arg::Int(id));
    b.finish()
}

/// A page of the user's conversations, the latest first.
pub fn conversations(d: Dialect, user: &str, limit: i64, offset: i64) -> Statement {
    let mut b = Builder::query(d, "SELECT ");
    b.push(CONVERSATION_COLUMNS)
        .push(" FROM conversations WHERE user_id = ")
        .bind(text(user))
        .push(" ORDER BY updated_at DESC, id DESC LIMIT ")
        .bind(Arg::Int(limit))
        .push(" OFFSET ")
        .bind(Arg::Int(offset));
    b.finish()
}

/// How many conversations the user has (at most CHAT_MAX_CONVERSATIONS_PER_USER).
pub fn count_conversations(d: Dialect, user: &str) -> Statement {
    let mut b = Builder::scan(d, "SELECT COUNT(*) FROM conversations WHERE user_id = ");
    b.bind(text(user));
    b.finish()
}

/// A conversation's messages in order, `offset` of them skipped.
pub fn messages(d: Dialect, user: &str, conversation: i64, limit: i64, offset: i64) -> Statement {
    let mut b = Builder::query(d, "SELECT ");
    b.push(MESSAGE_COLUMNS)
        .push(" FROM chat_messages WHERE user_id = ")
        .bind(text(user))
        .push(" AND conversation_id = ")
        .bind(Arg::Int(conversation))
        .push(" ORDER BY position LIMIT ")
        .bind(Arg::Int(limit))
        .push(" OFFSET ")
        .bind(Arg::Int(offset));
    b.finish()
}

/// A conversation's last `limit` messages, the latest first.
pub fn last_messages(d: Dialect, user: &str, conversation: i64, limit: i64) -> Statement {
    let mut b = Builder::query(d, "SELECT ");
    b.push(MESSAGE_COLUMNS)
        .push(" FROM chat_messages WHERE user_id = ")
        .bind(text(user))
        .push(" AND conversation_id = ")
        .bind(Arg::Int(conversation))
        .push(" ORDER BY position DESC LIMIT ")
        .bind(Arg::Int(limit));
    b.finish()
}

pub fn insert_conversation(
    d: Dialect,
    user: &str,
    id: i64,
    title: &str,
    now: DateTime<Utc>,
) -> Statement {
    let mut b = Builder::write(
        d,
        "INSERT INTO conversations (user_id, id, title, message_count, created_at, updated_at) \
         VALUES (",
    );
    b.bind(text(user)).push(", ").bind(Arg::Int(id)).push(", ");
    b.bind(text(title)).push(", 0, ").bind(Arg::Time(now));
    b.push(", ").bind(Arg::Time(now)).push(")");
    b.finish()
}

/// A conversation's count moved from `from` to `to`: affects no row when
/// another turn moved it first (or the conversation is gone).
pub fn advance_conversation(
    d: Dialect,
    user: &str,
    id: i64,
    from: i64,
    to: i64,
    now: DateTime<Utc>,
) -> Statement {
    let mut b = Builder::write(d, "UPDATE conversations SET message_count = ");
    b.bind(Arg::Int(to))
        .push(", updated_at = ")
        .bind(Arg::Time(now));
    b.push(" WHERE user_id = ")
        .bind(text(user))
        .push(" AND id = ")
        .bind(Arg::Int(id));
    b.push(" AND message_count = ").bind(Arg::Int(from));
    b.finish()
}

/// A message of the chat. Its position is the conversation's primary key
/// part: a second turn that wrote the same positions fails here.
#[allow(clippy::too_many_arguments)]
pub fn insert_message(
    d: Dialect,
    user: &str,
    conversation: i64,
    position: i64,
    role: &str,
    content: &str,
    tool_calls: &str,
    at: DateTime<Utc>,
) -> Statement {
    let mut b = Builder::write(
        d,
        "INSERT INTO chat_messages (user_id, conversation_id, position, role, content, \
         tool_calls, created_at) VALUES (",
    );
    b.bind(text(user)).push(", ").bind(Arg::Int(conversation));
    b.push(", ").bind(Arg::Int(position)).push(", ");
    b.bind(text(role)).push(", ").bind(text(content)).push(", ");
    b.bind(text(tool_calls))
        .push(", ")
        .bind(Arg::Time(at))
        .push(")");
    b.finish()
}

pub fn delete_messages(d: Dialect, user: &str, conversation: i64) -> Statement {
    let mut b = Builder::write(d, "DELETE FROM chat_messages WHERE user_id = ");
    b.bind(text(user))
        .push(" AND conversation_id = ")
        .bind(Arg::Int(conversation));
    b.finish()
}

pub fn delete_conversation(d: Dialect, user: &str, id: i64) -> Statement {
    let mut b = Builder::write(d, "DELETE FROM conversations WHERE user_id = ");
    b.bind(text(user)).push(" AND id = ").bind(Arg::Int(id));
    b.finish()
}

/// The tokens the model used for the user on `day` (YYYY-MM-DD, UTC).
pub fn usage(d: Dialect, user: &str, day: &str) -> Statement {
    let mut b = Builder::query(d, "SELECT tokens FROM chat_usage WHERE user_id = ");
    b.bind(text(user)).push(" AND day = ").bind(text(day));
    b.finish()
}

/// Add `tokens` to the user's usage on `day`.
pub fn add_usage(d: Dialect, user: &str, day: &str, tokens: i64) -> Statement {
    let mut b = Builder::write(d, "INSERT INTO chat_usage (user_id, day, tokens) VALUES (");
    b.bind(text(user)).push(", ").bind(text(day)).push(", ");
    b.bind(Arg::Int(tokens))
        .push(") ON CONFLICT (user_id, day) DO UPDATE SET tokens = chat_usage.tokens + ")
        .bind(Arg::Int(tokens));
    b.finish()
}

/// Forget up to `batch` usage rows of days before `before` (YYYY-MM-DD),
/// whoever they belong to (the periodic sweep).
pub fn sweep_usage(d: Dialect, before: &str, batch: i64) -> Statement {
    let mut b = Builder::write(
        d,
        "DELETE FROM chat_usage WHERE (user_id, day) IN \
         (SELECT user_id, day FROM chat_usage WHERE day < ",
    );
    b.bind(text(before));
    b.push(" LIMIT ").bind(Arg::Int(batch)).push(")");
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_is_keyed_by_user_first() {
        let now = Utc::now();
        for stmt in [
            conversation(Dialect::Postgres, "u", 1),
            conversations(Dialect::Postgres, "u", 10, 0),
            messages(Dialect::Postgres, "u", 1, 10, 0),
            last_messages(Dialect::Postgres, "u", 1, 10),
            advance_conversation(Dialect::Postgres, "u", 1, 0, 2, now),
            delete_messages(Dialect::Postgres, "u", 1),
            delete_conversation(Dialect::Postgres, "u", 1),
            usage(Dialect::Postgres, "u", "2026-12-08"),
        ] {
            // The placeholder after `WHERE user_id = $` holds the user.
            let (_, after) = stmt.sql.split_once("WHERE user_id = $").expect(&stmt.sql);
            let n: usize = after
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse().ok())
                .expect(&stmt.sql);
            assert_eq!(stmt.args[n - 1], Arg::Text("u".into()), "{}", stmt.sql);
        }
        let s = add_usage(Dialect::Sqlite, "u", "2026-12-08", 5);
        assert_eq!(s.sql.matches('?').count(), s.args.len());
    }
}
