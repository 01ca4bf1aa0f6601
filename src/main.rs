//! The `todo-api` binary: everything lives in the library.

/// jemalloc: with glibc's malloc, allocation took a tenth of the server's
/// CPU under load (its arenas' locks contended), and throughput at 1,000
/// connections halved (docs/benchmarks.md, docs/benchmarks.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    todo_api::cli::main().await
}
