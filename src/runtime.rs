//! The tokio runtimes the commands run on.

use crate::failure::Failure;

/// For a server: tokio's multi-threaded scheduler with a worker per core the process may use;
/// with one core, the single-threaded scheduler, which does the same work without handing
/// tasks between threads.
pub fn server() -> Result<tokio::runtime::Runtime, Failure> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    build(if cores > 1 {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    })
}

/// For a client, or a server whose work runs on threads of its own.
pub fn single() -> Result<tokio::runtime::Runtime, Failure> {
    build(tokio::runtime::Builder::new_current_thread())
}

fn build(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, Failure> {
    builder
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the runtime: {e}")))
}
