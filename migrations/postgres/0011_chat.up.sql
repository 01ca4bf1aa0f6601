-- The chat (docs/chat.md): conversations, their messages, and each user's
-- model usage per day. Keyed by user first, like every table (Citus
-- distributes them with the others); no foreign keys, as for the changes
-- tables: a conversation's messages are deleted in its delete's transaction.
--
-- A conversation's id is drawn by the server (under 2^53, so a JavaScript
-- number holds it exactly); a message's position is its place in the
-- conversation (1, 2, …): a turn writes the next two, so two turns of one
-- conversation that raced each other cannot both commit.
CREATE TABLE conversations (
    user_id       TEXT NOT NULL,
    id            BIGINT NOT NULL,
    title         TEXT NOT NULL,
    message_count BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, id)
);
CREATE INDEX conversations_user_updated ON conversations (user_id, updated_at, id);

CREATE TABLE chat_messages (
    user_id         TEXT NOT NULL,
    conversation_id BIGINT NOT NULL,
    position        BIGINT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content         TEXT NOT NULL,
    -- The assistant's tool calls as JSON text ('' for none).
    tool_calls      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, conversation_id, position)
);

-- Tokens the model used for a user on a day (UTC), against CHAT_DAILY_TOKEN_BUDGET.
CREATE TABLE chat_usage (
    user_id TEXT NOT NULL,
    -- YYYY-MM-DD (UTC), as the server writes it.
    day     TEXT NOT NULL,
    tokens  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
