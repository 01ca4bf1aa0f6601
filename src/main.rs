//! The `todo-api` binary: everything lives in the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    todo_api::cli::main().await
}
