//! Logs go to standard error through `tracing`: informational by default (a line per
//! connection), warnings and errors only with `-q`, debug with `-v`, everything with `-vv`.

use std::io::IsTerminal;

use tracing::Level;

/// Installs the global subscriber.
pub fn init(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => Level::WARN,
        (false, 0) => Level::INFO,
        (false, 1) => Level::DEBUG,
        (false, _) => Level::TRACE,
    };
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_ansi(color)
        .with_writer(std::io::stderr)
        // When standard error is gone (its reader died), tracing would say so with eprintln!,
        // which panics on the same closed stream: in whatever task was logging, a signal
        // handler's included. A log line that cannot be written is dropped instead.
        .log_internal_errors(false)
        .init();
}
