//! Behavioural tests through HTTP against the real server, each run on
//! SQLite and on PostgreSQL (`TEST_DATABASE_URL`).

mod helpers;

mod attacks;
mod auth;
mod bounds;
mod changes;
mod chat;
mod citus;
mod cli;
mod conditional;
mod counts;
mod docs;
mod errors;
mod fake_model;
mod frontends;
mod hardening;
mod idempotency;
mod isolation;
mod jwks;
mod keys;
mod listing;
mod mcp;
mod metrics;
mod outage;
mod persistence;
mod pipeline;
mod ratelimit;
mod sessions;
mod tasks;
