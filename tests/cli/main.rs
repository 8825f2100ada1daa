//! The `switchboard` binary as a user runs it: flags, output, exit statuses, signals.

mod balance;
mod bench;
mod browser;
mod client;
mod crash;
mod drain;
mod echo;
mod hosts;
mod jobs;
mod serve;
mod up;

use switchboard_testkit::{ChildServer, Cli};

/// The binary under test.
pub fn cli() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// A free TCP address on loopback (`127.0.0.1:PORT`), for a server that must be told where to
/// listen rather than report it.
pub async fn free_addr() -> String {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

/// `switchboard up` with `servers` servers, the balancer on a port the system picks (the
/// returned server's `addr`), the admin API at `admin` and the message server at `echo`, and
/// `rest` (the data directory or the database); returned once it says it is ready.
pub async fn start_up(servers: &str, admin: &str, echo: &str, rest: &[&str]) -> ChildServer {
    let mut args = vec![
        "up",
        "--servers",
        servers,
        "--listen",
        "127.0.0.1:0",
        "--admin",
        admin,
        "--echo",
        echo,
    ];
    args.extend_from_slice(rest);
    cli().spawn_server(&args, "system ready").await
}

/// `switchboard serve --name NAME --data DATA` on a port the system picks; returned once it
/// listens.
pub async fn start_serve(name: &str, data: &std::path::Path) -> ChildServer {
    cli()
        .spawn_server(
            &[
                "serve",
                "--name",
                name,
                "--data",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
            "application server listening",
        )
        .await
}

/// `switchboard balance` on a port the system picks, its admin API at `admin`, in front of
/// `backends`, with `extra` flags and no access log (it goes to standard output, which the
/// tests do not read: a full pipe would stop the balancer); returned once it listens.
pub async fn start_balance(admin: &str, backends: &[&ChildServer], extra: &[&str]) -> ChildServer {
    let backends: Vec<String> = backends.iter().map(|b| b.addr.to_string()).collect();
    let mut args = vec!["balance", "--listen", "127.0.0.1:0", "--admin", admin];
    for backend in &backends {
        args.extend(["--backend", backend.as_str()]);
    }
    args.extend(["--log-format", "off"]);
    args.extend_from_slice(extra);
    cli().spawn_server(&args, "balancer listening").await
}

/// The process ids of this run's servers (their command lines name the run's data directory).
pub fn server_pids(data: &str, name: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args([
            "-f",
            "--",
            &format!("--name {name} --database sqlite://{data}"),
        ])
        .output()
        .expect("run pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
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
