//! todo-api: a secure, fast, multi-user task REST API for frontends that sign
//! users in with Better Auth. A drop-in for the FastAPI seed backends.

pub mod auth;
pub mod chat;
pub mod cli;
pub mod config;
pub mod connection;
pub mod db;
pub mod http;
pub mod mcp;
pub mod startup;
pub mod tasks;
pub mod telemetry;
