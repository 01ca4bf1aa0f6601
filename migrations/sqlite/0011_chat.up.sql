-- The chat (docs/chat.md); as PostgreSQL's 0011.
CREATE TABLE conversations (
    user_id       TEXT NOT NULL,
    id            INTEGER NOT NULL,
    title         TEXT NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
CREATE INDEX conversations_user_updated ON conversations (user_id, updated_at, id);

CREATE TABLE chat_messages (
    user_id         TEXT NOT NULL,
    conversation_id INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content         TEXT NOT NULL,
    tool_calls      TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, position)
) WITHOUT ROWID;

CREATE TABLE chat_usage (
    user_id TEXT NOT NULL,
    day     TEXT NOT NULL,
    tokens  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
) WITHOUT ROWID;
