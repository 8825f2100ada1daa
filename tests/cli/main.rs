//! The `switchboard` binary as a user runs it: flags, output, exit statuses, signals.

mod balance;
mod bench;
mod browser;
mod client;
mod echo;
mod serve;
mod up;

use switchboard_testkit::Cli;

/// The binary under test.
pub fn cli() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// The binary under test, with extra environment variables.
pub fn cli_with_env(vars: &[(&str, &str)]) -> Cli {
    let mut cli = cli();
    for (k, v) in vars {
        cli = cli.env(k, v);
    }
    cli
}

#[tokio::test]
async fn a_bad_flag_is_a_usage_error() {
    let out = cli().run(&["echo", "serve", "--bogus"], b"").await;
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(
        out.stderr.contains("unexpected argument '--bogus'"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn help_and_version_succeed() {
    let out = cli().run(&["echo", "serve", "--help"], b"").await;
    assert_eq!(out.code(), 0);
    let help = out.stdout_text();
    for word in [
        "--model",
        "sequential",
        "--max-connections",
        "--idle-timeout",
        "--grace",
    ] {
        assert!(help.contains(word), "help lacks {word}:\n{help}");
    }
    let out = cli().run(&["--version"], b"").await;
    assert_eq!(out.code(), 0);
    assert!(out.stdout_text().starts_with("switchboard "));
}
