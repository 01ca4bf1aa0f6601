//! Tasks, the domain: the task and its inputs (parsed and validated at the
//! boundary), list queries, and the validation problems they report.
//! Imports nothing of the crate.

pub mod body;
pub mod changes;
pub mod counts;
pub mod list;
pub mod model;
mod problem;

pub use problem::Problem;

#[cfg(test)]
mod proptests;
