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
        .init();
}
