DROP TABLE chat_usage;
DROP TABLE chat_messages;
DROP TABLE conversations;
