//! The properties the `config_toml` fuzz target checks, here so that the target (under
//! `fuzz/`, built with cargo-fuzz), the property tests and the test that replays the
//! target's corpus on stable run the same checks. [`config`] takes any bytes and panics only
//! when a property fails: as the `--config` file of `serve` (and of the backup commands,
//! which read the same file) and of `balance`, the text
//!
//! - parses or is refused with a one-line reason, never with a panic, the same each time;
//! - once parsed, merges over the commands' defaults into their settings or is refused as
//!   a usage error, never with a panic.
//!
//! Not part of the crate's interface: hidden from its documentation, used by no other code.

use clap::Parser;

use crate::args::{Args, Command};
use crate::{balance, serve};

/// The command line `argv` parsed, as the binary would.
fn command(argv: &[&str]) -> Command {
    Args::try_parse_from(argv)
        .expect("the command's defaults parse")
        .command
}

/// A refusal's reason: said, on one line.
fn one_line(why: &str) {
    assert!(!why.is_empty(), "a refusal without a reason");
    assert!(
        !why.contains('\n'),
        "a reason on more than one line: {why:?}"
    );
}

/// Checks the configuration properties on `data` (see the module's overview).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    serve_file(text);
    balance_file(text);
}

fn serve_file(text: &str) {
    let parsed = serve::FileConfig::parse(text);
    assert_eq!(parsed, serve::FileConfig::parse(text), "parsed alike twice");
    let file = match parsed {
        Ok(file) => file,
        Err(why) => return one_line(&why),
    };
    let Command::Serve(args) = command(&["switchboard", "serve"]) else {
        unreachable!("serve parses as serve")
    };
    if let Err(failure) = serve::Settings::merge(*args, file) {
        assert!(
            failure.is_usage(),
            "a file's settings refused as {failure:?}"
        );
        one_line(failure.message());
    }
}

fn balance_file(text: &str) {
    let parsed = balance::FileConfig::parse(text);
    assert_eq!(
        parsed,
        balance::FileConfig::parse(text),
        "parsed alike twice"
    );
    let file = match parsed {
        Ok(file) => file,
        Err(why) => return one_line(&why),
    };
    let Command::Balance(args) = command(&["switchboard", "balance"]) else {
        unreachable!("balance parses as balance")
    };
    if let Err(why) = balance::Settings::merge(&args, file) {
        one_line(&why);
    }
}

#[cfg(test)]
mod tests;
