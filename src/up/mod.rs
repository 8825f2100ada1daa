//! `switchboard up`: the whole system in one command. N application servers (child processes
//! of this binary, sharing one database) behind the load balancer, the balancer's admin API,
//! and the message server, all on loopback by default. A server that exits is started again
//! on the same port, its restarts counted; Ctrl-C or SIGTERM stops everything, children
//! included.
//!
//! With `--hosts N` each server runs on a host of its own, a network namespace with its own
//! address (`hosts.rs`), on a shared PostgreSQL.
//!
//! Everything that can fail is tried before any child starts (ports, the data directory, the
//! database), so a failure leaves nothing running.

mod hosts;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use switchboard_balancer::health::{HealthConfig, Probe};
use switchboard_balancer::http::HttpProxyConfig;
use switchboard_balancer::{Backend, Balancer, BalancerConfig, Frontend, StrategyKind};
use switchboard_echo::{EchoConfig, EchoServer};
use switchboard_http::{HttpServer, Limits};
use switchboard_net::Shutdown;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::addr::listen_addr;
use crate::args::UpArgs;
use crate::failure::Failure;
use crate::runtime;
use crate::serve::{database_url, open_store};
use hosts::Hosts;

/// How long a server gets to say it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long servers get to stop after SIGTERM before they are killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the whole system until SIGINT or SIGTERM.
pub fn up(args: UpArgs) -> Result<(), Failure> {
    if !(1..=64).contains(&args.servers) {
        return Err(Failure::usage("--servers must be 1 to 64"));
    }
    if args.hosts.is_some_and(|n| !(1..=64).contains(&n)) {
        return Err(Failure::usage("--hosts must be 1 to 64"));
    }
    if args.hosts.is_some() {
        hosts::inside_url(args.database.as_deref().unwrap_or(""))?;
    }
    let strategy: StrategyKind = args.strategy.parse().map_err(Failure::usage)?;
    runtime::server()?.block_on(run(args, strategy))
}

/// Creates the data directory and proves it writable.
fn prepare_data_dir(dir: &Path) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::runtime(format!(
            "data directory {} is not writable: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(".switchboard-write-test");
    std::fs::write(&probe, b"").map_err(fail)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

async fn run(args: UpArgs, strategy: StrategyKind) -> Result<(), Failure> {
    // Everything that can fail, before anything starts.
    let data = args.data.clone();
    // The data directory holds the embedded database; with --database it has nothing to hold.
    if args.database.is_none() {
        prepare_data_dir(&data)?;
    }
    let database = database_url(args.database.clone(), Some(data.clone()));
    open_store(&database).await?.close().await;
    let listen = listen_addr("--listen", &args.listen).await?;
    let admin_addr = listen_addr("--admin", &args.admin).await?;
    let echo_addr = listen_addr("--echo", &args.echo).await?;
    let frontend = Frontend::http(
        listen,
        Limits::default(),
        Vec::new(),
        HttpProxyConfig::default(),
    )
    .map_err(Failure::runtime)?;
    let admin = HttpServer::bind(admin_addr, None, Limits::default()).map_err(Failure::runtime)?;
    let echo = EchoServer::bind(echo_addr, EchoConfig::default()).map_err(Failure::runtime)?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::runtime(format!("cannot find this program's path: {e}")))?;
    let hosts = match args.hosts {
        Some(n) => Some(Hosts::create(n, &database).await?),
        None => None,
    };
    let launches: Vec<Launch> = match &hosts {
        Some(hosts) => hosts
            .hosts
            .iter()
            .map(|host| Launch {
                exe: exe.clone(),
                database: hosts.database.clone(),
                jobs: crate::jobs::to_flags(&args.jobs),
                netns: Some(host.netns.clone()),
                trusted_proxy: host.gateway.to_string(),
                listen: host.server_addr().to_string(),
            })
            .collect(),
        None => (0..args.servers)
            .map(|_| Launch {
                exe: exe.clone(),
                database: database.clone(),
                jobs: crate::jobs::to_flags(&args.jobs),
                netns: None,
                trusted_proxy: "127.0.0.1".into(),
                listen: "127.0.0.1:0".into(),
            })
            .collect(),
    };

    // The application servers.
    let mut children = Vec::new();
    for (i, launch) in launches.into_iter().enumerate() {
        let name = format!("server-{}", i + 1);
        match start_server(&launch, &name, &launch.listen).await {
            Ok((child, addr)) => children.push((name, child, addr, launch)),
            Err(e) => {
                for (_, server, _, _) in children.iter_mut() {
                    let _ = server.child.start_kill();
                }
                if let Some(hosts) = hosts {
                    hosts.remove().await;
                }
                return Err(Failure::runtime(format!("{name} did not start: {e}")));
            }
        }
    }
    let backends: Vec<Arc<Backend>> = children
        .iter()
        .map(|(name, _, addr, _)| Backend::named(addr.to_string(), 1, name.clone()))
        .collect();
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    // The servers are stopped only once the balancer has drained: a request it accepted is
    // never sent to a server that has closed its listener.
    let stop_servers = Shutdown::new();

    let health = HealthConfig {
        probe: Probe::Http {
            path: "/healthz".into(),
        },
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        // A restarted server rejoins after two good checks in a row; one that exits is taken
        // out at once by its supervisor (below), without waiting for checks to fail.
        rise: 2,
        fall: 2,
    };
    let balancer = Balancer::new(BalancerConfig {
        frontend,
        admin,
        admin_token: args.admin_token.clone(),
        admin_hosts: args.admin_hosts.clone(),
        backends: backends.clone(),
        strategy,
        health,
    });
    let supervisors: Vec<_> = children
        .into_iter()
        .zip(backends.iter().cloned())
        .map(|((name, child, addr, launch), backend)| {
            tokio::spawn(supervise(
                launch,
                name,
                child,
                addr,
                backend,
                stop_servers.clone(),
            ))
        })
        .collect();

    let (balancer_addr, admin_addr, echo_addr) = (
        balancer.local_addr(),
        balancer.admin_addr(),
        echo.local_addr(),
    );
    // The balancer's task ends once its proxy and its admin API have drained.
    let balancer_task = tokio::spawn(balancer.run(shutdown.clone()));
    let echo_task = tokio::spawn(echo.run(shutdown.clone()));

    print_summary(
        &args,
        balancer_addr,
        admin_addr,
        echo_addr,
        &backends,
        hosts.as_ref(),
        &database,
    );
    tracing::info!(addr = %balancer_addr, admin = %admin_addr, echo = %echo_addr, servers = args.servers, "system ready");

    shutdown.wait().await;
    tracing::info!(
        "stopping: the balancer and the message server drain, then the servers get SIGTERM"
    );
    let _ = balancer_task.await;
    let _ = echo_task.await;
    stop_servers.trigger();
    for supervisor in supervisors {
        let _ = supervisor.await;
    }
    if let Some(hosts) = hosts {
        hosts.remove().await;
    }
    tracing::info!("stopped");
    Ok(())
}

fn print_summary(
    args: &UpArgs,
    balancer: SocketAddr,
    admin: SocketAddr,
    echo: SocketAddr,
    backends: &[Arc<Backend>],
    hosts: Option<&Hosts>,
    database: &str,
) {
    println!("Switchboard is up.");
    println!();
    println!(
        "  site and API    http://{balancer}/   (the load balancer, {})",
        args.strategy
    );
    for (i, b) in backends.iter().enumerate() {
        let host = hosts
            .and_then(|h| h.hosts.get(i))
            .map(|h| format!("   (host: network namespace {})", h.netns))
            .unwrap_or_default();
        println!(
            "    {:<13} http://{}/{host}",
            b.name.as_deref().unwrap_or("server"),
            b.addr
        );
    }
    println!("  admin API       http://{admin}/status   http://{admin}/metrics");
    println!("  message server  {echo} (TCP and UDP)");
    println!("  database        {database}");
    println!();
    println!("Try:");
    println!("  switchboard bench http://{balancer}/add?a=1\\&b=2 -c 50 -d 10s");
    println!("  switchboard echo send {echo} Hello, Server!");
    println!("  curl -s http://{admin}/status");
    println!();
    println!("Ctrl-C stops everything.");
}

/// A server process, and the pipe to its standard input that keeps it running: it stops by
/// itself when the pipe closes (`--stop-with-stdin`), so it never outlives this process, even
/// one killed outright. (Held apart from the `Child`: `Child::wait` would close it.)
struct ServerProcess {
    child: Child,
    _lifeline: Option<ChildStdin>,
}

/// How one server is started, the same way each time it is restarted.
struct Launch {
    /// This program.
    exe: PathBuf,
    /// The database, as the server reaches it.
    database: String,
    /// The scheduled jobs' flags, handed to every server: of the servers on one database, one
    /// at a time runs them.
    jobs: Vec<String>,
    /// The network namespace of its host, with `--hosts`.
    netns: Option<String>,
    /// Where the balancer's connections come from: the sign-in limits per address count the
    /// client it names in X-Real-IP, not the balancer.
    trusted_proxy: String,
    /// Where it listens first (port 0: any free port; a restart reuses the port it had).
    listen: String,
}

/// Starts `switchboard serve` as a child and waits for the address it reports.
async fn start_server(
    launch: &Launch,
    name: &str,
    listen: &str,
) -> Result<(ServerProcess, SocketAddr), String> {
    let mut command = match &launch.netns {
        Some(netns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", netns]).arg(&launch.exe);
            command
        }
        None => Command::new(&launch.exe),
    };
    let mut child = command
        .args([
            "serve",
            "--listen",
            listen,
            "--name",
            name,
            "--database",
            &launch.database,
            "--trusted-proxy",
            &launch.trusted_proxy,
            "--stop-with-stdin",
        ])
        .args(&launch.jobs)
        .env_remove("SWITCHBOARD_CONFIG")
        // A pipe nobody writes to: it closes when this process ends, however it ends (even
        // SIGKILL), and the server then stops by itself.
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", launch.exe.display()))?;
    let stderr = child.stderr.take().ok_or("no standard error")?;
    let mut lines = BufReader::new(stderr).lines();
    let found = tokio::time::timeout(START_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("application server listening") {
                return line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("addr=").and_then(|a| a.parse().ok()));
            }
            if line.contains("error") {
                eprintln!("[{name}] {line}");
            }
        }
        None
    })
    .await;
    let Ok(Some(addr)) = found else {
        let _ = child.start_kill();
        return Err("it did not report listening".into());
    };
    // Keep reading its log (an unread pipe would block it); pass on warnings and errors.
    let name = name.to_string();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(" WARN ") || line.contains(" ERROR ") {
                eprintln!("[{name}] {line}");
            }
        }
    });
    let lifeline = child.stdin.take();
    Ok((
        ServerProcess {
            child,
            _lifeline: lifeline,
        },
        addr,
    ))
}

/// Keeps one server running: restarts it on the same port when it exits, until shutdown,
/// then asks it to stop (SIGTERM) and waits.
async fn supervise(
    launch: Launch,
    name: String,
    mut server: ServerProcess,
    addr: SocketAddr,
    backend: Arc<Backend>,
    shutdown: Shutdown,
) {
    let mut back_off = Duration::from_millis(200);
    loop {
        tokio::select! {
            _ = shutdown.wait() => {
                stop(&name, &mut server.child).await;
                return;
            }
            status = server.child.wait() => {
                backend.mark_down();
                backend.record_restart();
                tracing::warn!(server = %name, ?status, restarts = backend.restarts(), "server exited; restarting");
            }
        }
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(back_off) => {}
            }
            match start_server(&launch, &name, &addr.to_string()).await {
                Ok((restarted, _)) => {
                    server = restarted;
                    back_off = Duration::from_millis(200);
                    tracing::info!(server = %name, %addr, "server restarted");
                    break;
                }
                Err(e) => {
                    back_off = (back_off * 2).min(Duration::from_secs(5));
                    tracing::warn!(server = %name, error = %e, "restart failed; trying again");
                }
            }
        }
    }
}

/// SIGTERM, then up to `STOP_TIMEOUT` for it to drain and exit, then SIGKILL.
async fn stop(name: &str, child: &mut Child) {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(STOP_TIMEOUT, child.wait())
        .await
        .is_err()
    {
        tracing::warn!(server = %name, "server did not stop in time; killing it");
        let _ = child.kill().await;
    }
}
