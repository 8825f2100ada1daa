//! Flags of `switchboard bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Subcommand};

use crate::parse;

pub(super) const BENCH_EXAMPLES: &str = "Examples:
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
