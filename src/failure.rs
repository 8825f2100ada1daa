//! How a command fails: one line on standard error, and an exit status that says what kind of
//! failure it was.

use std::fmt::Display;
use std::process::ExitCode;

/// A command's failure.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// The command line asked for something impossible: exit status 2, like clap's own errors.
    pub fn usage(message: impl Display) -> Self {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }

    /// The command was fine but the world was not (a refused connection, a port in use):
    /// exit status 1.
    pub fn runtime(message: impl Display) -> Self {
        Failure {
            code: 1,
            message: message.to_string(),
        }
    }

    /// The command did its work, and the outcome is an exit status of its own, already
    /// explained (an HTTP client's 3, 4 or 5 for a 3xx, 4xx or 5xx answer): nothing is printed.
    pub fn status(code: u8) -> Self {
        Failure {
            code,
            message: String::new(),
        }
    }

    /// Whether it is a usage error (exit status 2).
    pub fn is_usage(&self) -> bool {
        self.code == 2
    }

    /// What is printed.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prints the message (if any) and returns the exit status.
    pub fn report(self) -> ExitCode {
        if !self.message.is_empty() {
            eprintln!("error: {}", self.message);
        }
        ExitCode::from(self.code)
    }
}
