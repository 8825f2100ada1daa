//! Switchboard's load generator: `switchboard bench URL` and `switchboard bench echo`.
//!
//! A measuring instrument first: it must cost less than the server it measures, and its
//! latencies must include the time a request spent waiting to be sent.
//!
//! # Layout
//!
//! - [`HttpConfig`], [`EchoConfig`], [`Stop`] (`config.rs`): what to run, typed; the binary
//!   builds them from flags. [`HttpTarget::parse`] reads a URL.
//! - `engine.rs`: the threads. Each thread runs its own current-thread tokio runtime with its
//!   share of the connections (like wrk), its own [`Stats`] (an HDR histogram, counts by status,
//!   errors by kind) and its own share of a `-n` budget; the threads' stats are merged at the
//!   end. With a rate, every connection follows a schedule and latency counts from the time a
//!   request was due, not the time it was sent (coordinated omission corrected, like wrk2).
//! - `http1.rs`: a minimal HTTP/1.1 client written for this job: the request's bytes made
//!   once, the response head read in place and bodies skipped by `switchboard-wire` (the
//!   workspace's one set of HTTP/1 rules), keep-alive reuse.
//! - `http2.rs`: HTTP/2 through hyper's client: h2c with prior knowledge, or h2 over TLS.
//! - `tls.rs`: TLS for `https://` (rustls, ring), trusting the certificates given, or any
//!   with `insecure`.
//! - `echo.rs`: the message server: TCP with a pipeline of messages in flight, or UDP, one
//!   datagram per round trip.
//! - [`Report`] (`report.rs`): the merged result: rates, latency percentiles, status and error
//!   counts; as a table ([`Report::text`]) or JSON ([`Report::json`]).
//! - [`plot::svg`]: the latency percentile spectrum as a standalone SVG.
//! - [`Progress`]: live totals for a progress line, read from another thread.
//!
//! [`run_http`] and [`run_echo`] block until the run ends and return the [`Report`].
#![forbid(unsafe_code)]

mod config;
mod echo;
mod engine;
mod http1;
mod http2;
pub mod plot;
mod report;
mod stats;
mod tls;

pub use config::{EchoConfig, HttpConfig, HttpTarget, Stop, UrlError};
pub use engine::Progress;
pub use report::{Errors, LatencySummary, Report};
pub use stats::{ErrorKind, Stats};

use std::io;

/// Runs an HTTP benchmark to its end (duration or request count) and returns its report.
///
/// Fails with [`io::ErrorKind::InvalidInput`] for TLS settings that cannot work (https with no
/// certificate to trust), otherwise only when the threads or their runtimes cannot start; a
/// server that cannot be reached shows in the report ([`Report::connected`] is zero).
pub fn run_http(config: &HttpConfig, progress: &Progress) -> io::Result<Report> {
    let shared =
        http1::Shared::new(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let shared = std::sync::Arc::new(shared);
    let (stats, elapsed) = if config.http2 {
        engine::run(&config.plan(), progress, move |ctx| {
            http2::connection(ctx, shared.clone())
        })?
    } else {
        engine::run(&config.plan(), progress, move |ctx| {
            http1::connection(ctx, shared.clone())
        })?
    };
    Ok(Report::new(
        config.target.url.clone(),
        match (config.http2, config.target.tls) {
            (false, false) => "http/1.1",
            (false, true) => "http/1.1+tls",
            (true, false) => "h2c",
            (true, true) => "h2",
        },
        config.connections,
        config.threads,
        config.rate,
        elapsed,
        stats,
    ))
}

/// Runs a message-server benchmark to its end and returns its report.
pub fn run_echo(config: &EchoConfig, progress: &Progress) -> io::Result<Report> {
    let payload: std::sync::Arc<[u8]> = echo::payload(config.size, config.pipeline).into();
    let (stats, elapsed) = if config.udp {
        let (addr, size, timeout) = (config.addr, config.size, config.timeout);
        engine::run(&config.plan(), progress, move |ctx| {
            echo::udp_connection(ctx, addr, size, timeout)
        })?
    } else {
        let (addr, size, pipeline) = (config.addr, config.size, config.pipeline);
        let timeout = config.timeout;
        engine::run(&config.plan(), progress, move |ctx| {
            echo::tcp_connection(ctx, addr, payload.clone(), size, pipeline, timeout)
        })?
    };
    Ok(Report::new(
        config.addr.to_string(),
        if config.udp { "echo-udp" } else { "echo-tcp" },
        config.connections,
        config.threads,
        None,
        elapsed,
        stats,
    ))
}
