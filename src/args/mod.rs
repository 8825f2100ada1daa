//! The command line as clap sees it: the raw layer. Values are checked for form here; what they
//! mean together is checked where each command builds its library's configuration. The
//! client's, the load generator's and the message server's flags are in files of their own.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args as ClapArgs, Parser, Subcommand};

use crate::parse;

mod bench;
mod client;
mod echo;
mod jobs;
mod limits;

use bench::BENCH_EXAMPLES;
pub use bench::{BenchArgs, BenchCommand, BenchEchoArgs, LoadArgs};
use client::CLIENT_EXAMPLES;
pub use client::{ClientArgs, PrettyArg, RequestArgs};
pub use echo::{EchoArgs, EchoCommand, ModelArg, SendArgs, ServeArgs};
pub use jobs::{
    BackupArgs, BackupCommand, BackupListArgs, BackupNowArgs, JobArgs, ReportArgs, ReportCommand,
    ReportNowArgs, RestoreArgs, RetentionArgs, ServerFiles,
};
pub use limits::LimitArgs;

/// The whole client-server model in one binary: a message server and client, and more to come.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, propagate_version = true)]
pub struct Args {
    /// More log detail (-v debug, -vv trace).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors in the log.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The message server and client: TCP and UDP echo on raw sockets.
    Echo(EchoArgs),
    /// Run the HTTP application server: pages, stateless and stateful APIs, users, sessions.
    #[command(after_help = APP_SERVE_EXAMPLES)]
    Serve(Box<AppServeArgs>),
    /// Manage the application's users.
    Users(UsersArgs),
    /// Back the database up now, or list the backups.
    Backup(BackupArgs),
    /// Restore a backup into an empty database (or, with --force, over one).
    #[command(after_help = "Examples:
  switchboard restore backups/switchboard-2026-11-22T03-00-00.000Z.sqlite.backup --database sqlite://switchboard-data/switchboard.db
  switchboard restore backups/switchboard-2026-11-22T03-00-00.000Z.postgres.backup --database postgres://postgres@127.0.0.1:5432/app --force")]
    Restore(RestoreArgs),
    /// Write the daily report now.
    Report(ReportArgs),
    /// Run the whole system: application servers behind the load balancer, its admin API, and
    /// the message server.
    #[command(after_help = UP_EXAMPLES)]
    Up(UpArgs),
    /// Run the load balancer: spread clients over backends, check their health, fail over.
    #[command(after_help = BALANCE_EXAMPLES)]
    Balance(Box<BalanceArgs>),
    /// HTTP client: GET a URL and show the answer.
    #[command(after_help = CLIENT_EXAMPLES)]
    Get(ClientArgs),
    /// HTTP client: POST items (JSON by default) or standard input.
    #[command(after_help = CLIENT_EXAMPLES)]
    Post(ClientArgs),
    /// HTTP client: PUT items or standard input.
    #[command(after_help = CLIENT_EXAMPLES)]
    Put(ClientArgs),
    /// HTTP client: PATCH items or standard input.
    #[command(after_help = CLIENT_EXAMPLES)]
    Patch(ClientArgs),
    /// HTTP client: DELETE.
    #[command(after_help = CLIENT_EXAMPLES)]
    Delete(ClientArgs),
    /// HTTP client: HEAD; only the status line and headers come back.
    #[command(after_help = CLIENT_EXAMPLES)]
    Head(ClientArgs),
    /// HTTP client with any method: `switchboard request OPTIONS :8080/`.
    #[command(after_help = CLIENT_EXAMPLES)]
    Request(RequestArgs),
    /// Load-test an HTTP server (`bench URL`) or a message server (`bench echo HOST:PORT`).
    #[command(after_help = BENCH_EXAMPLES)]
    Bench(Box<BenchArgs>),
}

const UP_EXAMPLES: &str = "Examples:
  switchboard up
  switchboard up --servers 5 --strategy round-robin
  switchboard up --database postgres://postgres@127.0.0.1:5432/app
  sudo switchboard up --hosts 3 --database postgres://postgres@127.0.0.1:5432/app";

/// Flags of `switchboard up`.
#[derive(Debug, ClapArgs)]
pub struct UpArgs {
    /// Application servers to run behind the balancer.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub servers: usize,

    /// Run N servers, each on a host of its own: a Linux network namespace with its own
    /// address, reached through a veth pair, all removed on exit. Needs root and --database
    /// (the hosts share one PostgreSQL).
    #[arg(long, value_name = "N", conflicts_with = "servers")]
    pub hosts: Option<usize>,

    /// How the balancer chooses: round-robin, least-connections, ip-hash, p2c.
    #[arg(long, value_name = "NAME", default_value = "least-connections")]
    pub strategy: String,

    /// Where the balancer (the site and the API) listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Where the balancer's admin API listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub admin: String,

    /// A host name the admin API answers to besides IP addresses and localhost (the name it
    /// is reached by). Repeat for each.
    #[arg(long = "admin-host", value_name = "NAME", value_parser = parse::host_name)]
    pub admin_hosts: Vec<String>,

    /// Where the message server listens (TCP and UDP).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7007")]
    pub echo: String,

    /// Data directory (the embedded database lives here).
    #[arg(long, value_name = "DIR", default_value = "switchboard-data")]
    pub data: PathBuf,

    /// Share this database instead of the embedded one: postgres://USER@HOST:PORT/DB.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,

    /// Token the admin API's changes require (always when it is not on loopback).
    #[arg(
        long,
        env = "SWITCHBOARD_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// The scheduled jobs, handed to every server (one of them runs each).
    #[command(flatten)]
    pub jobs: JobArgs,
}

const BALANCE_EXAMPLES: &str = "Examples:
  switchboard balance --backend 127.0.0.1:8001 --backend 127.0.0.1:8002
  switchboard balance --listen 127.0.0.1:9000 --backend 127.0.0.1:8001,weight=3 --backend 127.0.0.1:8002 --strategy least-connections
  switchboard balance --mode tcp --listen 127.0.0.1:7000 --backend 127.0.0.1:7007 --backend 127.0.0.1:7008";

/// Flags of `switchboard balance`. All optional here: flags win over the `--config` file,
/// the file over the defaults (merged in `balance.rs`).
#[derive(Debug, Clone, ClapArgs)]
pub struct BalanceArgs {
    /// A TOML file with these settings and `[[backend]]` tables; re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address clients connect to [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// A backend, HOST:PORT, optionally with a weight: 127.0.0.1:8001,weight=3. Repeat for
    /// each; given here, they replace the file's.
    #[arg(long = "backend", value_name = "ADDR[,weight=N]")]
    pub backends: Vec<String>,

    /// How a backend is chosen: round-robin, least-connections, ip-hash, p2c [default:
    /// round-robin].
    #[arg(long, value_name = "NAME")]
    pub strategy: Option<String>,

    /// http (requests balanced, headers added) or tcp (connections balanced, bytes relayed)
    /// [default: http].
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,

    /// Address of the admin API, /status and /metrics [default: 127.0.0.1:8081].
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,

    /// A host name the admin API answers to besides IP addresses and localhost (the name it
    /// is reached by). Repeat for each; given here, they replace the file's `admin-hosts`.
    #[arg(long = "admin-host", value_name = "NAME", value_parser = parse::host_name)]
    pub admin_hosts: Vec<String>,

    /// Health check: `tcp` (connect), or an HTTP path expecting 2xx (`/healthz`) [default:
    /// tcp].
    #[arg(long, value_name = "CHECK")]
    pub health_check: Option<String>,

    /// Time between health checks of a backend [default: 2s].
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub health_interval: Option<Duration>,

    /// A health check not done within this fails [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub health_timeout: Option<Duration>,

    /// Consecutive passing checks that bring a backend up [default: 2].
    #[arg(long, value_name = "N")]
    pub rise: Option<u32>,

    /// Consecutive failing checks that take a backend down [default: 3].
    #[arg(long, value_name = "N")]
    pub fall: Option<u32>,

    /// On SIGINT/SIGTERM, how long requests in flight may take to finish [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub grace: Option<Duration>,

    /// HTTP mode's limits on clients (TOML: the same keys as `serve`'s).
    #[command(flatten)]
    pub limits: LimitArgs,

    /// The access log on standard output (HTTP mode): combined, json or off [default:
    /// combined].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// Keep each client on one backend with a cookie (HTTP mode), for stateful applications.
    #[arg(long)]
    pub sticky: bool,

    /// Connections from the trusted proxies (`trusted-proxies` in --config) open with a PROXY
    /// protocol header naming the real client.
    #[arg(long)]
    pub proxy_protocol: bool,

    /// Token the admin API's changes require (always when it is not on loopback).
    #[arg(
        long,
        env = "SWITCHBOARD_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}

const APP_SERVE_EXAMPLES: &str =
    "Every flag may also come from the environment (SWITCHBOARD_LISTEN, ...) or a TOML file
(--config, keys as the flags without dashes: listen = \"0.0.0.0:8080\"); flags win over the
environment, the environment over the file. The jobs' schedules and retention go in the
file as [jobs.backup] schedule = \"0 3 * * *\", keep_last = 7, keep_daily = 7,
keep_weekly = 4; [jobs.report] schedule; [jobs.cleanup] schedule, batch.

Examples:
  switchboard serve
  switchboard serve --backup-dir /var/backups/switchboard --keep-daily 7 --keep-weekly 4
  switchboard serve --database postgres://postgres@127.0.0.1:5432/app --name server-1
  switchboard serve --tls-self-signed --listen 127.0.0.1:8443
  switchboard serve --site ./public --config switchboard.toml";

/// Flags of `switchboard serve`. Every value is optional here: the layers (flags, environment,
/// file) are merged and defaulted in `serve.rs`.
#[derive(Debug, Default, ClapArgs)]
pub struct AppServeArgs {
    /// A TOML file with any of these settings.
    #[arg(long, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SWITCHBOARD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// sqlite://PATH or postgres://USER@HOST:PORT/DB [default: an SQLite file in --data].
    #[arg(long, env = "SWITCHBOARD_DATABASE", value_name = "URL")]
    pub database: Option<String>,

    /// Data directory for the embedded database [default: ./switchboard-data].
    #[arg(long, env = "SWITCHBOARD_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Serve this directory's files instead of the built-in pages.
    #[arg(long, env = "SWITCHBOARD_SITE", value_name = "DIR")]
    pub site: Option<PathBuf>,

    /// This server's name, sent as X-Served-By [default: HOSTNAME:PORT].
    #[arg(long, env = "SWITCHBOARD_NAME")]
    pub name: Option<String>,

    /// TLS certificate chain (PEM); with --tls-key.
    #[arg(
        long,
        env = "SWITCHBOARD_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM); with --tls-cert.
    #[arg(
        long,
        env = "SWITCHBOARD_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// TLS with a fresh self-signed certificate, for development.
    #[arg(long, env = "SWITCHBOARD_TLS_SELF_SIGNED", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,

    /// Largest request body (K, M suffixes) [default: 1M].
    #[arg(long, env = "SWITCHBOARD_BODY_LIMIT", value_name = "BYTES", value_parser = parse::bytes)]
    pub body_limit: Option<usize>,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// A proxy (the balancer in front) whose X-Real-IP names the client, for the per-address
    /// sign-in and sign-up limits; repeat for several. From anyone else X-Real-IP is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "SWITCHBOARD_TRUSTED_PROXIES",
        value_name = "IP",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// A request not answered within this gets 408 [default: 30s].
    #[arg(long, env = "SWITCHBOARD_REQUEST_TIMEOUT", value_name = "DURATION", value_parser = parse::duration)]
    pub request_timeout: Option<Duration>,

    /// A session unused this long ends [default: 30m].
    #[arg(long, env = "SWITCHBOARD_SESSION_IDLE", value_name = "DURATION", value_parser = parse::duration)]
    pub session_idle: Option<Duration>,

    /// Posts one user may make to the feed per minute; past it, 429 [default: 10].
    #[arg(long, env = "SWITCHBOARD_POSTS_PER_MINUTE", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub posts_per_minute: Option<u32>,

    /// How long the feed's events are kept for clients to catch up from; one further behind
    /// reloads the feed [default: 7d].
    #[arg(long, env = "SWITCHBOARD_FEED_RETENTION", value_name = "DURATION", value_parser = parse::duration)]
    pub feed_retention: Option<Duration>,

    /// A session this old ends, however active [default: 12h].
    #[arg(long, env = "SWITCHBOARD_SESSION_LIFETIME", value_name = "DURATION", value_parser = parse::duration)]
    pub session_lifetime: Option<Duration>,

    /// On SIGINT/SIGTERM, how long requests in flight may take to finish [default: 10s].
    #[arg(long, env = "SWITCHBOARD_GRACE", value_name = "DURATION", value_parser = parse::duration)]
    pub grace: Option<Duration>,

    /// Stop (as on SIGTERM) when standard input closes. `switchboard up` runs its servers so:
    /// killed outright, it leaves no server behind.
    #[arg(long, hide = true)]
    pub stop_with_stdin: bool,

    /// The scheduled jobs: backups, the daily report, clean-up. Every server runs a scheduler;
    /// of those on one database, one at a time runs the jobs.
    #[command(flatten)]
    pub jobs: JobArgs,
}

/// `switchboard users`.
#[derive(Debug, ClapArgs)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
}

/// `switchboard users create`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user; the password is asked for, or read from the first line of standard input
    /// when it is not a terminal.
    #[command(after_help = "Examples:
  switchboard users create admin --admin
  printf 'a long passphrase\\n' | switchboard users create ann --database postgres://postgres@127.0.0.1:5432/app")]
    Create(UserCreateArgs),
}

/// Flags of `switchboard users create`.
#[derive(Debug, ClapArgs)]
pub struct UserCreateArgs {
    /// The username.
    pub name: String,

    /// Make the user an admin (may list users).
    #[arg(long)]
    pub admin: bool,

    /// sqlite://PATH or postgres://USER@HOST:PORT/DB [default: an SQLite file in --data].
    #[arg(long, env = "SWITCHBOARD_DATABASE", value_name = "URL")]
    pub database: Option<String>,

    /// Data directory for the embedded database [default: ./switchboard-data].
    #[arg(long, env = "SWITCHBOARD_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
}
