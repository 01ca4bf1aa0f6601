//! Tasks: the domain model, list queries, and the HTTP handlers.

pub mod list;
pub mod model;
pub mod routes;

#[cfg(test)]
mod proptests;
