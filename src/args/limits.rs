//! The limits every HTTP server of the binary takes (`serve`'s and `balance`'s), declared once.

use std::time::Duration;

use clap::Args as ClapArgs;

use crate::parse;

/// How much a client may send and how slowly, and how many may be connected at once.
#[derive(Debug, Clone, Default, ClapArgs)]
pub struct LimitArgs {
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

    /// A keep-alive connection with nothing to do is closed after this, and so is one whose
    /// client has not taken a byte of its answer for as long [default: 60s].
    #[arg(long, env = "SWITCHBOARD_IDLE_TIMEOUT", value_name = "DURATION", value_parser = parse::duration)]
    pub idle_timeout: Option<Duration>,

    /// Connections open at once; more are closed at once [default: 10000].
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
}
