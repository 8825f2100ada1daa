//! Flags of `switchboard echo serve` and `echo send`.

use std::time::Duration;

use clap::{Args as ClapArgs, Subcommand, ValueEnum};

use crate::parse;

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
