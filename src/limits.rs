//! The HTTP servers' [`Limits`] from flags (and their environment variables), then the TOML
//! file, then defaults: one merge for `serve` and `balance`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_http::Limits;

use crate::args::LimitArgs;
use crate::parse;

/// A size in a TOML file: a number of bytes, or text (`"1M"`).
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Size {
    /// A number of bytes.
    Bytes(usize),
    /// Text with a suffix.
    Text(String),
}

/// The limits' keys as a command's TOML file has them (named as the flags).
#[derive(Debug, Default)]
pub struct FileLimits {
    pub max_header_bytes: Option<Size>,
    pub header_read_timeout: Option<String>,
    pub body_read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_connections: Option<usize>,
    pub grace: Option<String>,
}

/// The [`FileLimits`] moved out of a command's TOML settings, whose fields of the same names
/// they are (serde's `flatten` would have them in one struct, but it cannot be combined with
/// `deny_unknown_fields`, which catches a misspelt key).
macro_rules! file_limits {
    ($file:expr) => {
        $crate::limits::FileLimits {
            max_header_bytes: $file.max_header_bytes,
            header_read_timeout: $file.header_read_timeout,
            body_read_timeout: $file.body_read_timeout,
            idle_timeout: $file.idle_timeout,
            max_connections: $file.max_connections,
            grace: $file.grace,
        }
    };
}
pub(crate) use file_limits;

/// A duration from the TOML file: `key` names it in the error.
pub fn file_duration(key: &str, value: Option<String>) -> Result<Option<Duration>, String> {
    value
        .map(|v| parse::duration(&v).map_err(|e| format!("config file: {key}: {e}")))
        .transpose()
}

/// A size from the TOML file: `key` names it in the error.
pub fn file_size(key: &str, value: Option<Size>) -> Result<Option<usize>, String> {
    match value {
        None => Ok(None),
        Some(Size::Bytes(n)) => Ok(Some(n)),
        Some(Size::Text(t)) => parse::bytes(&t)
            .map(Some)
            .map_err(|e| format!("config file: {key}: {e}")),
    }
}

/// The limits: each from its flag, else the file, else the default; `grace` is the command's
/// `--grace`. Zero timeouts, no connections and heads under 1 KiB are refused.
pub fn merge(
    args: &LimitArgs,
    grace: Option<Duration>,
    file: FileLimits,
) -> Result<Limits, String> {
    let defaults = Limits::default();
    let limits = Limits {
        header_read_timeout: args
            .header_read_timeout
            .or(file_duration(
                "header-read-timeout",
                file.header_read_timeout,
            )?)
            .unwrap_or(defaults.header_read_timeout),
        body_read_timeout: args
            .body_read_timeout
            .or(file_duration("body-read-timeout", file.body_read_timeout)?)
            .unwrap_or(defaults.body_read_timeout),
        max_header_bytes: args
            .max_header_bytes
            .or(file_size("max-header-bytes", file.max_header_bytes)?)
            .unwrap_or(defaults.max_header_bytes),
        idle_timeout: args
            .idle_timeout
            .or(file_duration("idle-timeout", file.idle_timeout)?)
            .unwrap_or(defaults.idle_timeout),
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(defaults.max_connections),
        grace: grace
            .or(file_duration("grace", file.grace)?)
            .unwrap_or(defaults.grace),
    };
    for (what, too_small) in [
        (
            "--header-read-timeout",
            limits.header_read_timeout.is_zero(),
        ),
        ("--body-read-timeout", limits.body_read_timeout.is_zero()),
        ("--idle-timeout", limits.idle_timeout.is_zero()),
        ("--max-connections", limits.max_connections == 0),
        ("--max-header-bytes", limits.max_header_bytes < 1024),
    ] {
        if too_small {
            return Err(format!("{what} is too small"));
        }
    }
    Ok(limits)
}
