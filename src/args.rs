//! The command line as clap sees it: the raw layer. Values are checked for form here; what they
//! mean together is checked where each command builds its library's configuration.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args as ClapArgs, Parser, Subcommand, ValueEnum};

use crate::parse;

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
  switchboard up --database postgres://postgres@127.0.0.1:5432/app";

/// Flags of `switchboard up`.
#[derive(Debug, ClapArgs)]
pub struct UpArgs {
    /// Application servers to run behind the balancer.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub servers: usize,

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

const CLIENT_EXAMPLES: &str = "Request items:
  Header:value     a header (Header: leaves a default out, Header; sends it empty)
  name==value      a query parameter
  field=text       a JSON string field (a form field with --form)
  field:=json      a raw JSON value: n:=5, tags:='[\"a\"]'
  field=@file      a field whose text is a file's
  field:=@file     a raw JSON value from a file
  field@file       a file in a multipart form
A backslash makes a separator literal in a name: 'a\\=b=c'. A piped standard input becomes
the body when no data items are given (--ignore-stdin to skip). -v prints the request too.
Exit status: 0 for 1xx/2xx, 3/4/5 for 3xx/4xx/5xx, 1 when no answer came, 2 for bad usage.

Examples:
  switchboard get :8080/add a==5 b==3
  switchboard post :8080/api/process input:='[1, 2, 3]'
  switchboard post :8080/login username=ann password='a long passphrase' --session ann
  switchboard get :8080/api/profile --session ann
  switchboard post -f :8080/login username=ann password=secret --follow
  switchboard get https://localhost:8443/healthz --verify no --http-version 2
  switchboard get -d :8080/metrics -o metrics.txt";

/// Flags of `switchboard request`.
#[derive(Debug, ClapArgs)]
pub struct RequestArgs {
    /// The method: GET, POST, OPTIONS, ...
    #[arg(value_name = "METHOD")]
    pub method: String,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// Flags of the HTTP client commands. `-v` (global) prints the request too.
#[derive(Debug, ClapArgs)]
pub struct ClientArgs {
    /// The URL: https://host/path, host:port/path (http), or :PORT/path (localhost).
    #[arg(value_name = "URL")]
    pub url: String,

    /// Request items (see below).
    #[arg(value_name = "ITEM")]
    pub items: Vec<String>,

    /// Data items as a form (application/x-www-form-urlencoded) rather than JSON.
    #[arg(short, long)]
    pub form: bool,

    /// What to print: H request headers, B request body, h response headers, b response
    /// body [default: hb on a terminal, b on a pipe].
    #[arg(short, long, value_name = "WHAT")]
    pub print: Option<String>,

    /// Formatting: indented JSON and colours [default: all on a terminal, none on a pipe].
    #[arg(long, value_enum, value_name = "STYLE")]
    pub pretty: Option<PrettyArg>,

    /// Print the request without sending it.
    #[arg(long)]
    pub offline: bool,

    /// Keep cookies and credentials between runs in session NAME (a name, or a file path).
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,

    /// HTTP Basic credentials; the password is asked for when left out.
    #[arg(short, long, value_name = "USER[:PASSWORD]")]
    pub auth: Option<String>,

    /// Send Authorization: Bearer TOKEN.
    #[arg(long, value_name = "TOKEN", conflicts_with = "auth")]
    pub bearer: Option<String>,

    /// Follow redirects.
    #[arg(short = 'F', long)]
    pub follow: bool,

    /// With --follow, the most redirects to follow.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_redirects: usize,

    /// Check the server's certificate: yes, or no to accept any.
    #[arg(long, value_name = "yes|no", default_value = "yes")]
    pub verify: String,

    /// Trust the CA certificates in this PEM file too.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// 1.1, or 2 (over TLS through ALPN; without TLS, h2c with prior knowledge) [default:
    /// HTTP/2 when the server offers it, else 1.1].
    #[arg(long, value_name = "VERSION")]
    pub http_version: Option<String>,

    /// Give up connecting, or waiting for the next bytes of the answer, after this.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub timeout: Option<Duration>,

    /// Save the body to a file named after the response (never replacing a file).
    #[arg(short, long)]
    pub download: bool,

    /// Save the body to FILE (replacing it); implies --download.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Do not read a body from standard input.
    #[arg(long)]
    pub ignore_stdin: bool,
}

/// `--pretty`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrettyArg {
    /// Indented JSON and colours.
    All,
    /// Colours only.
    Colors,
    /// Indented JSON only.
    Format,
    /// Exactly as received.
    None,
}

const BENCH_EXAMPLES: &str = "Examples:
  switchboard bench 'http://127.0.0.1:8080/add?a=1&b=2' -c 50 -d 10s
  switchboard bench http://127.0.0.1:8080/ -n 100000 --threads 2 --json
  switchboard bench http://127.0.0.1:8080/api/process -m POST -H 'Content-Type: application/json' --body '{\"input\": [1, 2, 3]}'
  switchboard bench http://127.0.0.1:8080/ --rate 2000 -d 30s --plot latency.svg
  switchboard bench https://127.0.0.1:8443/ --cacert cert.pem --http2
  switchboard bench echo 127.0.0.1:7007 -c 50 -d 5s --size 64";

/// `switchboard bench URL [flags]`, or `switchboard bench echo HOST:PORT [flags]`.
#[derive(Debug, ClapArgs)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BenchArgs {
    /// Benchmark a message server instead of a URL.
    #[command(subcommand)]
    pub command: Option<BenchCommand>,

    /// The URL to load (http://HOST:PORT/PATH?QUERY, or https://...).
    #[arg(value_name = "URL", required = true)]
    pub url: Option<String>,

    #[command(flatten)]
    pub load: LoadArgs,

    /// Request method.
    #[arg(short, long, value_name = "METHOD", default_value = "GET")]
    pub method: String,

    /// A request header, "Name: value"; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// The request body.
    #[arg(long, value_name = "STRING", conflicts_with = "body_file")]
    pub body: Option<String>,

    /// The request body, from a file.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,

    /// A new connection for every request (Connection: close).
    #[arg(long)]
    pub no_keepalive: bool,

    /// HTTP/2 instead of HTTP/1.1: with prior knowledge (h2c) for http://, by ALPN for https://.
    #[arg(long, conflicts_with = "no_keepalive")]
    pub http2: bool,

    /// With https: trust the certificates in FILE (PEM), the server's own or its CA's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// With https: accept any certificate (a self-signed development server).
    #[arg(short = 'k', long, conflicts_with = "cacert")]
    pub insecure: bool,

    /// Constant throughput: requests per second in all, spread over the connections. Latency
    /// then counts from when each request was due, so a server that stalls shows it.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
}

/// Flags every kind of benchmark takes.
#[derive(Debug, ClapArgs)]
pub struct LoadArgs {
    /// Connections kept open (UDP: sockets), each with one request in flight (echo: --pipeline).
    #[arg(short = 'c', long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,

    /// How long to run [default: 10s].
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = parse::duration,
          conflicts_with = "requests")]
    pub duration: Option<Duration>,

    /// Run until this many requests are done in all, instead of for a duration.
    #[arg(short = 'n', long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Threads, each with its own event loop and share of the connections [default: the
    /// cores available, at most one per connection].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,

    /// A request (or round trip) not done within this is a timeout error.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse::duration)]
    pub timeout: Duration,

    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Write the latency percentile spectrum to FILE as SVG.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

/// `switchboard bench echo`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Load-test a message server (raw echo, RFC 862): round trips of SIZE-byte messages.
    #[command(after_help = "Examples:
  switchboard bench echo 127.0.0.1:7007 -c 50 -d 5s --size 64
  switchboard bench echo 127.0.0.1:7007 -c 10 -n 100000 --pipeline 4
  switchboard bench echo 127.0.0.1:7007 --udp -c 4 -d 5s")]
    Echo(BenchEchoArgs),
}

/// Flags of `switchboard bench echo`.
#[derive(Debug, ClapArgs)]
pub struct BenchEchoArgs {
    /// The server (HOST:PORT).
    #[arg(value_name = "HOST:PORT")]
    pub server: String,

    #[command(flatten)]
    pub load: LoadArgs,

    /// Bytes per message.
    #[arg(long, value_name = "BYTES", default_value = "64", value_parser = parse::bytes)]
    pub size: usize,

    /// Messages in flight per connection (TCP).
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub pipeline: u32,

    /// UDP: one datagram per round trip; a lost one is a timeout error.
    #[arg(long)]
    pub udp: bool,
}

const APP_SERVE_EXAMPLES: &str =
    "Every flag may also come from the environment (SWITCHBOARD_LISTEN, ...) or a TOML file
(--config, keys as the flags without dashes: listen = \"0.0.0.0:8080\"); flags win over the
environment, the environment over the file.

Examples:
  switchboard serve
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

    /// Largest request head: request line and headers [default: 16K].
    #[arg(long, env = "SWITCHBOARD_MAX_HEADER_BYTES", value_name = "BYTES", value_parser = parse::bytes)]
    pub max_header_bytes: Option<usize>,

    /// A client must send complete request headers within this [default: 10s].
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT", value_name = "DURATION", value_parser = parse::duration)]
    pub header_read_timeout: Option<Duration>,

    /// A request body must arrive within this, plus a second for every 500 bytes that came;
    /// slower gets 408 [default: 10s].
    #[arg(long, env = "SWITCHBOARD_BODY_READ_TIMEOUT", value_name = "DURATION", value_parser = parse::duration)]
    pub body_read_timeout: Option<Duration>,

    /// A request not answered within this gets 408 [default: 30s].
    #[arg(long, env = "SWITCHBOARD_REQUEST_TIMEOUT", value_name = "DURATION", value_parser = parse::duration)]
    pub request_timeout: Option<Duration>,

    /// A keep-alive connection with nothing to do is closed after this [default: 60s].
    #[arg(long, env = "SWITCHBOARD_IDLE_TIMEOUT", value_name = "DURATION", value_parser = parse::duration)]
    pub idle_timeout: Option<Duration>,

    /// Connections open at once; more are closed at once [default: 10000].
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// A session unused this long ends [default: 30m].
    #[arg(long, env = "SWITCHBOARD_SESSION_IDLE", value_name = "DURATION", value_parser = parse::duration)]
    pub session_idle: Option<Duration>,

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

/// `switchboard echo`.
#[derive(Debug, ClapArgs)]
pub struct EchoArgs {
    #[command(subcommand)]
    pub command: EchoCommand,
}

/// `switchboard echo serve|send`.
#[derive(Debug, Subcommand)]
pub enum EchoCommand {
    /// Run the message server: every byte a client sends comes back (RFC 862), over TCP and
    /// UDP on one port.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Send a message to a message server and print the reply; without a message, send each
    /// line of standard input.
    #[command(after_help = SEND_EXAMPLES)]
    Send(SendArgs),
}

const SERVE_EXAMPLES: &str = "Examples:
  switchboard echo serve
  switchboard echo serve --listen 0.0.0.0:7007 --model threaded
  switchboard echo serve --prefix 'Server received: ' --max-line 4K --idle-timeout 30s";

const SEND_EXAMPLES: &str = "Examples:
  switchboard echo send 127.0.0.1:7007 Hello, Server!
  printf 'one\\ntwo\\n' | switchboard echo send 127.0.0.1:7007
  switchboard echo send --udp --timeout 1s 127.0.0.1:7007 ping";

/// Flags of `switchboard echo serve`.
#[derive(Debug, ClapArgs)]
pub struct ServeArgs {
    /// Address to listen on, TCP and UDP (HOST:PORT).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7007")]
    pub listen: String,

    /// How clients are served at once.
    #[arg(long, value_enum, default_value_t = ModelArg::Async)]
    pub model: ModelArg,

    /// Serve TCP only.
    #[arg(long)]
    pub no_udp: bool,

    /// Answer each message with TEXT before it. Messages are then lines; a client that sends
    /// no newline is answered when it pauses.
    #[arg(long, value_name = "TEXT")]
    pub prefix: Option<String>,

    /// Clients served at once; one more gets "ERR server busy" and is closed.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Longest line with --prefix (K, M suffixes); a longer one gets "ERR line too long" and
    /// the connection is closed.
    #[arg(long, value_name = "BYTES", default_value = "64K", value_parser = parse::bytes)]
    pub max_line: usize,

    /// Close a client silent this long (0: never).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse::duration)]
    pub idle_timeout: Duration,

    /// On SIGINT or SIGTERM, how long open conversations may go on before they are closed.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse::duration)]
    pub grace: Duration,
}

/// `--model`: the three ways to serve many clients, with what each costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// One event loop, a task per client: thousands of clients for a few KiB each. Pick this.
    Async,
    /// An OS thread per client: simple, fast for tens or hundreds of clients, but each costs a
    /// thread; capped by --max-connections.
    Threaded,
    /// One client at a time; the rest wait in the accept backlog. For seeing why servers are
    /// concurrent.
    Sequential,
}

/// Flags of `switchboard echo send`.
#[derive(Debug, ClapArgs)]
pub struct SendArgs {
    /// Send datagrams instead of a TCP stream (one per line).
    #[arg(long)]
    pub udp: bool,

    /// How long to wait to connect, and for the server's reply.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse::duration)]
    pub timeout: Duration,

    /// Do not end the message with a newline (TCP).
    #[arg(short = 'n', long)]
    pub no_newline: bool,

    /// The server (HOST:PORT).
    #[arg(value_name = "HOST:PORT")]
    pub server: String,

    /// The message; several words are joined by spaces. Without one, standard input is sent.
    #[arg(value_name = "MESSAGE", trailing_var_arg = true)]
    pub message: Vec<String>,
}
