//! `switchboard bench URL` and `switchboard bench echo HOST:PORT`: flags validated into the
//! loadgen crate's configuration, the run (with a progress line on a terminal), the report.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchboard_loadgen::{
    plot, EchoConfig, HttpConfig, HttpTarget, Progress, Report, Stop, UrlError,
};
use switchboard_net::{resolve, ResolveError};

use crate::args::{BenchArgs, BenchEchoArgs, LoadArgs};
use crate::failure::Failure;
use crate::runtime;

/// Runs an HTTP benchmark and prints its report.
pub fn http(args: BenchArgs) -> Result<(), Failure> {
    let url = args.url.as_deref().unwrap_or_default();
    let target = HttpTarget::parse(url).map_err(|e| match e {
        UrlError::Malformed(_) | UrlError::Scheme(_) => Failure::usage(e),
    })?;
    let mut headers = Vec::with_capacity(args.headers.len());
    for header in &args.headers {
        headers.push(parse_header(header)?);
    }
    if !is_token(&args.method) {
        return Err(Failure::usage(format!(
            "-m: '{}' is not a method; try GET or POST",
            args.method
        )));
    }
    let body = match (&args.body, &args.body_file) {
        (Some(body), _) => body.clone().into_bytes(),
        (None, Some(file)) => std::fs::read(file)
            .map_err(|e| Failure::usage(format!("--body-file {}: {e}", file.display())))?,
        (None, None) => Vec::new(),
    };
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(Failure::usage(
                "--rate must be a number of requests per second above zero",
            ));
        }
    }
    let ca_pem = match &args.cacert {
        Some(file) => Some(
            std::fs::read(file)
                .map_err(|e| Failure::usage(format!("--cacert {}: {e}", file.display())))?,
        ),
        None => None,
    };
    let load = Load::from(&args.load)?;
    let host_port = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let addr = resolve_target(&host_port)?;
    let config = HttpConfig {
        target,
        addr,
        method: args.method.to_ascii_uppercase(),
        headers,
        body,
        connections: load.connections,
        threads: load.threads,
        stop: load.stop,
        keepalive: !args.no_keepalive,
        http2: args.http2,
        timeout: load.timeout,
        rate: args.rate,
        ca_pem,
        insecure: args.insecure,
    };
    let report = with_progress(load.stop, |progress| {
        switchboard_loadgen::run_http(&config, progress)
    })?;
    if report.connected == 0 {
        return Err(Failure::runtime(format!(
            "cannot connect to {addr}: {}",
            report
                .connect_error
                .as_deref()
                .unwrap_or("no connection opened")
        )));
    }
    finish(&report, &args.load)
}

/// Runs a message-server benchmark and prints its report.
pub fn echo(args: BenchEchoArgs) -> Result<(), Failure> {
    let load = Load::from(&args.load)?;
    if args.size == 0 {
        return Err(Failure::usage("--size must be at least one byte"));
    }
    if args.udp && args.pipeline > 1 {
        return Err(Failure::usage(
            "--pipeline is for TCP; over UDP each datagram is one round trip",
        ));
    }
    if args.udp && args.size > 65_507 {
        return Err(Failure::usage(
            "--size: a datagram holds at most 65507 bytes",
        ));
    }
    let in_flight = args.size.saturating_mul(args.pipeline as usize);
    if in_flight > 1 << 20 {
        return Err(Failure::usage(
            "--size times --pipeline must be at most 1M per connection (both sides' socket buffers must hold it)",
        ));
    }
    let addr = resolve_target(&args.server)?;
    let config = EchoConfig {
        addr,
        connections: load.connections,
        threads: load.threads,
        stop: load.stop,
        size: args.size,
        pipeline: args.pipeline as usize,
        udp: args.udp,
        timeout: load.timeout,
    };
    let report = with_progress(load.stop, |progress| {
        switchboard_loadgen::run_echo(&config, progress)
    })?;
    if report.connected == 0 {
        let why = if args.udp {
            format!("no answer from {addr} (is the server running?)")
        } else {
            format!(
                "cannot connect to {addr}: {}",
                report
                    .connect_error
                    .as_deref()
                    .unwrap_or("no connection opened")
            )
        };
        return Err(Failure::runtime(why));
    }
    finish(&report, &args.load)
}

/// The flags both kinds share, checked.
struct Load {
    connections: usize,
    threads: usize,
    stop: Stop,
    timeout: Duration,
}

impl Load {
    fn from(args: &LoadArgs) -> Result<Load, Failure> {
        let stop = match (args.requests, args.duration) {
            (Some(n), _) => Stop::Requests(n),
            (None, Some(d)) if d.is_zero() => {
                return Err(Failure::usage("-d must be more than zero"))
            }
            (None, Some(d)) => Stop::Duration(d),
            (None, None) => Stop::Duration(Duration::from_secs(10)),
        };
        if args.timeout.is_zero() {
            return Err(Failure::usage("--timeout must be more than zero"));
        }
        let connections = args.connections as usize;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = args.threads.map_or(cores, |t| t as usize).min(connections);
        Ok(Load {
            connections,
            threads,
            stop,
            timeout: args.timeout,
        })
    }
}

/// Resolves HOST:PORT: a malformed one is a usage error, a name that does not resolve a
/// runtime failure.
fn resolve_target(host_port: &str) -> Result<SocketAddr, Failure> {
    let runtime = runtime::single()?;
    runtime.block_on(async {
        match resolve(host_port).await {
            Ok(addrs) => Ok(addrs[0]),
            Err(e @ ResolveError::Malformed(_)) => Err(Failure::usage(e)),
            Err(e) => Err(Failure::runtime(e)),
        }
    })
}

/// `Name: value`.
fn parse_header(header: &str) -> Result<(String, String), Failure> {
    let bad = || {
        Failure::usage(format!(
            "-H: '{header}' is not a header; try -H 'Name: value'"
        ))
    };
    let (name, value) = header.split_once(':').ok_or_else(bad)?;
    let name = name.trim();
    if !is_token(name) || value.contains(['\r', '\n']) {
        return Err(bad());
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// An HTTP token: a method or a header name.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Runs `run`, drawing a progress line on standard error when it is a terminal.
fn with_progress(
    stop: Stop,
    run: impl FnOnce(&Progress) -> std::io::Result<Report>,
) -> Result<Report, Failure> {
    let progress = Arc::new(Progress::new());
    let done = Arc::new(AtomicBool::new(false));
    let drawer = std::io::stderr().is_terminal().then(|| {
        let (progress, done) = (progress.clone(), done.clone());
        std::thread::spawn(move || draw(&progress, &done, stop))
    });
    // Ctrl-C ends the run early, and its report is still printed.
    let interrupt = {
        let (progress, done) = (progress.clone(), done.clone());
        std::thread::spawn(move || {
            let Ok(runtime) = runtime::single() else {
                return;
            };
            runtime.block_on(async {
                let finished = async {
                    while !done.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                };
                tokio::select! {
                    Ok(()) = tokio::signal::ctrl_c() => progress.stop(),
                    () = finished => {}
                }
            });
        })
    };
    let result = run(&progress);
    done.store(true, Ordering::Relaxed);
    let _ = interrupt.join();
    if let Some(drawer) = drawer {
        let _ = drawer.join();
    }
    result.map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => Failure::usage(e),
        _ => Failure::runtime(format!("cannot run the benchmark: {e}")),
    })
}

/// The progress line: a bar over the duration (or the request count), requests per second
/// over the last moment, errors so far.
fn draw(progress: &Progress, done: &AtomicBool, stop: Stop) {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let tick = Duration::from_millis(250);
    let len = match stop {
        Stop::Duration(d) => d.as_millis() as u64,
        Stop::Requests(n) => n,
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    let started = tokio::time::Instant::now();
    let mut last = (0, started);
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(tick);
        let (requests, errors) = progress.totals();
        let now = tokio::time::Instant::now();
        let rate = (requests - last.0) as f64 / now.duration_since(last.1).as_secs_f64();
        last = (requests, now);
        bar.set_position(match stop {
            Stop::Duration(_) => now.duration_since(started).as_millis() as u64,
            Stop::Requests(_) => requests,
        });
        bar.set_message(format!("{requests} done, {rate:.0}/s, {errors} errors"));
    }
    bar.finish_and_clear();
}

/// Prints the report and writes the plot.
fn finish(report: &Report, load: &LoadArgs) -> Result<(), Failure> {
    if load.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    if let Some(file) = &load.plot {
        let title = format!("{} latency by percentile, {}", report.mode, report.target);
        std::fs::write(file, plot::svg(&report.histogram, &title))
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", file.display())))?;
    }
    Ok(())
}
