//! `up --hosts N`: each application server on a host of its own, as a Linux network namespace
//! with its own address, so that what crosses a network (the balancer's connections, health
//! checks, a host that drops off) really crosses one.
//!
//! For host `i` of the process with id `PID`:
//!
//! - the namespace `switchboard-PID-i` (`ip netns add`), its loopback up;
//! - a veth pair: `sbPIDhi` here, `sbPIDni` inside, a /30 of 10.88.0.0/16 between them; the
//!   server listens on the inside address, and the balancer reaches it through the pair;
//! - the shared PostgreSQL, reached from inside at 127.0.0.1 on the database's port: a relay
//!   listening in the namespace (a socket belongs to the namespace its thread was in when it
//!   was made, so one thread enters the namespace, binds, and leaves it to this process's
//!   runtime) forwards each connection to the real database from here. Nothing on the database
//!   side changes: it sees connections from loopback, as from any local client.
//!
//! Everything is removed on exit. So that a kill -9 of `up` leaves nothing either, a guardian
//! (a shell in a process group of its own, so Ctrl-C does not reach it) waits for its standard
//! input, a pipe only this process holds, to close, and then deletes the namespaces, which
//! takes their veth pairs with them. Namespaces of earlier runs whose process is gone are
//! removed at start.
//!
//! The namespaces and links are made with iproute2's `ip`, the tool an operator would use to
//! look at them, rather than through netlink by hand.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

use crate::failure::Failure;

/// The prefix of every namespace's name.
const PREFIX: &str = "switchboard-";
/// The port every host's server listens on: the hosts have addresses of their own.
pub const SERVER_PORT: u16 = 8080;

/// One host.
#[derive(Debug)]
pub struct Host {
    /// The network namespace's name.
    pub netns: String,
    /// This side's end of the veth pair: where the host's connections come from.
    pub gateway: Ipv4Addr,
    /// The host's address.
    pub addr: Ipv4Addr,
}

impl Host {
    /// Where the host's server listens.
    pub fn server_addr(&self) -> SocketAddr {
        SocketAddr::from((self.addr, SERVER_PORT))
    }
}

/// The hosts of one run, removed when [`Hosts::remove`] is called or this process ends.
pub struct Hosts {
    /// The hosts, in order.
    pub hosts: Vec<Host>,
    /// The database URL as the hosts reach it (through their relays).
    pub database: String,
    relays: Vec<JoinHandle<()>>,
    guardian: Option<(Child, ChildStdin)>,
}

impl Hosts {
    /// Makes `n` hosts that reach the PostgreSQL database at `database`.
    pub async fn create(n: usize, database: &str) -> Result<Hosts, Failure> {
        if !nix::unistd::geteuid().is_root() {
            return Err(Failure::runtime(
                "--hosts needs root: it creates network namespaces (run it as root, or without --hosts)",
            ));
        }
        let (database, target) = inside_url(database)?;
        let target = resolve(target).await?;
        remove_stale().await;
        let pid = std::process::id();
        let mut hosts = Hosts {
            hosts: Vec::new(),
            database,
            relays: Vec::new(),
            guardian: None,
        };
        // The guardian first: from here on, whatever becomes of this process, it cleans up.
        let names: Vec<String> = (1..=n).map(|i| format!("{PREFIX}{pid}-{i}")).collect();
        hosts.guardian = Some(guardian(&names)?);
        for (i, netns) in names.into_iter().enumerate() {
            match make_host(pid, i, &netns).await {
                Ok(host) => hosts.hosts.push(host),
                Err(e) => {
                    let _ = ip(&["netns", "del", &netns]).await;
                    hosts.remove().await;
                    return Err(e);
                }
            }
            let relay = match relay_in(&hosts.hosts[i].netns, target).await {
                Ok(relay) => relay,
                Err(e) => {
                    hosts.remove().await;
                    return Err(e);
                }
            };
            hosts.relays.push(relay);
        }
        Ok(hosts)
    }

    /// Removes every host: its namespace and, with it, its veth pair.
    pub async fn remove(mut self) {
        for relay in self.relays.drain(..) {
            relay.abort();
        }
        for host in self.hosts.drain(..) {
            if let Err(e) = ip(&["netns", "del", &host.netns]).await {
                tracing::warn!(netns = %host.netns, error = %e, "could not remove a host");
            }
        }
        // The guardian's pipe closes; it finds nothing left to remove and exits.
        if let Some((mut child, stdin)) = self.guardian.take() {
            drop(stdin);
            let _ = child.wait().await;
        }
    }
}

/// The database URL with its host and port as seen from inside a namespace (loopback, the
/// database's port), and the database's host and port as given, which the relays forward to;
/// a usage error for anything but a PostgreSQL URL with a host. No I/O: `up` checks its flags
/// with it before starting anything.
pub fn inside_url(database: &str) -> Result<(String, (String, u16)), Failure> {
    let usage = || {
        Failure::usage(
            "--hosts needs --database postgres://USER@HOST:PORT/DB: the hosts share one PostgreSQL",
        )
    };
    let mut url = url::Url::parse(database).map_err(|_| usage())?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(usage());
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(usage)?;
    let port = url.port().unwrap_or(5432);
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    url.set_host(Some("127.0.0.1")).map_err(|_| usage())?;
    Ok((url.to_string(), (host, port)))
}

/// The database's address, looked up once, off the runtime's threads.
async fn resolve((host, port): (String, u16)) -> Result<SocketAddr, Failure> {
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| Failure::runtime(format!("cannot resolve the database host {host}")))
}

/// Host `i` (from 0) of process `pid`: its namespace, its veth pair and their addresses.
async fn make_host(pid: u32, i: usize, netns: &str) -> Result<Host, Failure> {
    // A /30 per host out of 10.88.0.0/16: 64 hosts for each of 256 process slots, so that
    // runs side by side (tests) do not overlap.
    let block = (pid % 256) * 64 + i as u32;
    let base = u32::from(Ipv4Addr::new(10, 88, 0, 0)) + block * 4;
    let (gateway, addr) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
    let (outside, inside) = (format!("sb{pid}h{}", i + 1), format!("sb{pid}n{}", i + 1));
    let steps: [&[&str]; 7] = [
        &["netns", "add", netns],
        &["-n", netns, "link", "set", "lo", "up"],
        &[
            "link", "add", &outside, "type", "veth", "peer", "name", &inside, "netns", netns,
        ],
        &["addr", "add", &format!("{gateway}/30"), "dev", &outside],
        &["link", "set", &outside, "up"],
        &[
            "-n",
            netns,
            "addr",
            "add",
            &format!("{addr}/30"),
            "dev",
            &inside,
        ],
        &["-n", netns, "link", "set", &inside, "up"],
    ];
    for step in steps {
        ip(step)
            .await
            .map_err(|e| Failure::runtime(format!("cannot make host {netns}: {e}")))?;
    }
    Ok(Host {
        netns: netns.to_string(),
        gateway,
        addr,
    })
}

/// Listens on loopback inside `netns`, on `target`'s port, and forwards every connection to
/// `target` from here.
async fn relay_in(netns: &str, target: SocketAddr) -> Result<JoinHandle<()>, Failure> {
    let path = format!("/run/netns/{netns}");
    let fail = |e: String| Failure::runtime(format!("cannot reach the database from {netns}: {e}"));
    let file = std::fs::File::open(&path).map_err(|e| fail(e.to_string()))?;
    let port = target.port();
    // A thread of its own enters the namespace: the runtime's threads stay where they are.
    let listener = std::thread::spawn(move || -> Result<std::net::TcpListener, String> {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("setns: {e}"))?;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("nonblocking: {e}"))?;
        Ok(listener)
    })
    .join()
    .map_err(|_| fail("the thread entering the namespace failed".into()))?
    .map_err(fail)?;
    let listener = TcpListener::from_std(listener).map_err(|e| fail(e.to_string()))?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((mut inside, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                match TcpStream::connect(target).await {
                    Ok(mut outside) => {
                        let _ = outside.set_nodelay(true);
                        let _ = inside.set_nodelay(true);
                        let _ = copy_bidirectional(&mut inside, &mut outside).await;
                    }
                    Err(e) => tracing::warn!(%target, error = %e, "database relay: cannot connect"),
                }
            });
        }
    }))
}

/// The guardian: deletes `names` once its standard input closes.
fn guardian(names: &[String]) -> Result<(Child, ChildStdin), Failure> {
    let script = r#"while read -r _; do :; done; for n in "$@"; do ip netns del "$n" 2>/dev/null; done; exit 0"#;
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", script, "switchboard-guardian"])
        .args(names)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = Command::from(command)
        .spawn()
        .map_err(|e| Failure::runtime(format!("cannot start the clean-up guardian: {e}")))?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| Failure::runtime("the clean-up guardian has no standard input"))?;
    Ok((child, stdin))
}

/// Removes the namespaces of runs whose process is gone (and whose guardian was killed too).
async fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            tracing::info!(netns = %name, "removing a host left by an earlier run");
            let _ = ip(&["netns", "del", &name]).await;
        }
    }
}

/// Runs `ip ARGS`; its standard error is the error.
async fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run ip (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
