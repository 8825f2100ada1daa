//! `switchboard balance`: the load balancer, HTTP or TCP mode, with health checks and the
//! admin API. Settings come from flags, then the `--config` TOML file, then defaults; on
//! SIGHUP the file is read again and applied without dropping a connection (a bad file is
//! logged and the running configuration stays).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_balancer::health::{HealthConfig, Probe};
use switchboard_balancer::http::{HttpProxyConfig, LogFormat};
use switchboard_balancer::tcp::TcpConfig;
use switchboard_balancer::{Backend, Balancer, BalancerConfig, Frontend, Reload, StrategyKind};
use switchboard_http::{HttpServer, Limits};
use switchboard_net::Shutdown;

use crate::addr::listen_addr;
use crate::args::BalanceArgs;
use crate::failure::Failure;
use crate::limits::{self, Size};
use crate::{parse, runtime};

/// The TOML file.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct FileConfig {
    listen: Option<String>,
    admin: Option<String>,
    admin_hosts: Option<Vec<String>>,
    mode: Option<String>,
    strategy: Option<String>,
    grace: Option<String>,
    max_header_bytes: Option<Size>,
    header_read_timeout: Option<String>,
    body_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<usize>,
    log_format: Option<String>,
    sticky: Option<bool>,
    proxy_protocol: Option<bool>,
    trusted_proxies: Option<Vec<IpAddr>>,
    health: Option<FileHealth>,
    #[serde(default)]
    backend: Vec<FileBackend>,
}

#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileHealth {
    check: Option<String>,
    interval: Option<String>,
    timeout: Option<String>,
    rise: Option<u32>,
    fall: Option<u32>,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileBackend {
    addr: String,
    #[serde(default = "one")]
    weight: u32,
}

fn one() -> u32 {
    1
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    FileConfig::parse(&text).map_err(|what| format!("config file {}: {what}", path.display()))
}

impl FileConfig {
    /// Parses the file's text; the error says what is wrong, on one line.
    pub(crate) fn parse(text: &str) -> Result<FileConfig, String> {
        toml::from_str(text).map_err(|e| e.message().replace('\n', " "))
    }
}

/// Everything the balancer runs with, validated.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    listen: String,
    admin: String,
    admin_hosts: Vec<String>,
    mode: &'static str,
    strategy: StrategyKind,
    backends: Vec<(String, u32)>,
    health: HealthConfig,
    /// HTTP mode's limits on clients; TCP mode takes their grace.
    limits: Limits,
    trusted: Vec<IpAddr>,
    access_log: Option<LogFormat>,
    sticky: bool,
    proxy_protocol: bool,
}

/// `ADDR[,weight=N]`.
fn backend_spec(spec: &str) -> Result<(String, u32), String> {
    let mut parts = spec.split(',');
    let addr = parts.next().unwrap_or("").trim().to_string();
    let mut weight = 1;
    for option in parts {
        match option.trim().split_once('=') {
            Some(("weight", n)) => weight = n.parse().unwrap_or(0),
            _ => return Err(format!("backend '{spec}': unknown option '{option}'")),
        }
    }
    check_backend(&addr, weight)?;
    Ok((addr, weight))
}

fn check_backend(addr: &str, weight: u32) -> Result<(), String> {
    if addr
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!("backend '{addr}': expected HOST:PORT"));
    }
    if !(1..=1000).contains(&weight) {
        return Err(format!("backend '{addr}': weight must be 1 to 1000"));
    }
    Ok(())
}

fn duration(what: &str, value: Option<String>) -> Result<Option<Duration>, String> {
    value
        .map(|v| parse::duration(&v).map_err(|e| format!("{what}: {e}")))
        .transpose()
}

impl Settings {
    /// The flags over the file over the defaults, validated.
    pub(crate) fn merge(args: &BalanceArgs, file: FileConfig) -> Result<Settings, String> {
        let health_file = file.health.unwrap_or_default();
        let defaults = HealthConfig::default();
        let check = args
            .health_check
            .clone()
            .or(health_file.check)
            .unwrap_or_else(|| "tcp".into());
        let probe = match check.as_str() {
            "tcp" => Probe::Tcp,
            path if path.starts_with('/') => Probe::Http { path: path.into() },
            other => {
                return Err(format!(
                    "health check '{other}': expected tcp or an HTTP path such as /healthz"
                ))
            }
        };
        let health = HealthConfig {
            probe,
            interval: args
                .health_interval
                .or(duration("health interval", health_file.interval)?)
                .unwrap_or(defaults.interval),
            timeout: args
                .health_timeout
                .or(duration("health timeout", health_file.timeout)?)
                .unwrap_or(defaults.timeout),
            rise: args.rise.or(health_file.rise).unwrap_or(defaults.rise),
            fall: args.fall.or(health_file.fall).unwrap_or(defaults.fall),
        };
        if health.interval.is_zero()
            || health.timeout.is_zero()
            || health.rise == 0
            || health.fall == 0
        {
            return Err("health interval, timeout, rise and fall must be more than zero".into());
        }
        let mode = match args.mode.clone().or(file.mode).as_deref().unwrap_or("http") {
            "http" => "http",
            "tcp" => "tcp",
            other => return Err(format!("mode '{other}': expected http or tcp")),
        };
        if mode == "tcp" && matches!(health.probe, Probe::Http { .. }) {
            return Err("an HTTP health check needs mode http".into());
        }
        let strategy: StrategyKind = args
            .strategy
            .clone()
            .or(file.strategy)
            .as_deref()
            .unwrap_or("round-robin")
            .parse()?;
        let backends = if args.backends.is_empty() {
            let mut list = Vec::new();
            for b in file.backend {
                check_backend(&b.addr, b.weight)?;
                list.push((b.addr, b.weight));
            }
            list
        } else {
            args.backends
                .iter()
                .map(|s| backend_spec(s))
                .collect::<Result<_, _>>()?
        };
        if backends.is_empty() {
            return Err(
                "no backends: give --backend ADDR or [[backend]] tables in --config".into(),
            );
        }
        let admin_hosts = if args.admin_hosts.is_empty() {
            file.admin_hosts.unwrap_or_default()
        } else {
            args.admin_hosts.clone()
        };
        for name in &admin_hosts {
            parse::host_name(name).map_err(|e| format!("admin-hosts: {e}"))?;
        }
        Ok(Settings {
            listen: args
                .listen
                .clone()
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            admin: args
                .admin
                .clone()
                .or(file.admin)
                .unwrap_or_else(|| "127.0.0.1:8081".into()),
            admin_hosts,
            mode,
            strategy,
            backends,
            health,
            limits: limits::merge(&args.limits, args.grace, limits::file_limits!(file))?,
            trusted: file.trusted_proxies.unwrap_or_default(),
            sticky: args.sticky || file.sticky.unwrap_or(false),
            proxy_protocol: args.proxy_protocol || file.proxy_protocol.unwrap_or(false),
            access_log: match args
                .log_format
                .clone()
                .or(file.log_format)
                .as_deref()
                .unwrap_or("combined")
            {
                "combined" => Some(LogFormat::Combined),
                "json" => Some(LogFormat::Json),
                "off" => None,
                other => {
                    return Err(format!(
                        "log format '{other}': expected combined, json or off"
                    ))
                }
            },
        })
    }

    /// The peers whose PROXY headers are read: the trusted proxies, when asked for.
    fn proxy_from(&self) -> Vec<IpAddr> {
        if self.proxy_protocol {
            self.trusted.clone()
        } else {
            Vec::new()
        }
    }

    fn load(args: &BalanceArgs) -> Result<Settings, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Settings::merge(args, file)
    }
}

/// Runs the balancer until SIGINT or SIGTERM.
pub fn balance(args: BalanceArgs) -> Result<(), Failure> {
    let settings = Settings::load(&args).map_err(Failure::usage)?;
    runtime::server()?.block_on(run(args, settings))
}

async fn run(args: BalanceArgs, settings: Settings) -> Result<(), Failure> {
    let listen = listen_addr("--listen", &settings.listen).await?;
    let admin_addr = listen_addr("--admin", &settings.admin).await?;
    let frontend = if settings.mode == "tcp" {
        let config = TcpConfig {
            grace: settings.limits.grace,
            proxy_from: settings.proxy_from(),
            ..TcpConfig::default()
        };
        Frontend::tcp(listen, config)
    } else {
        let proxy = HttpProxyConfig {
            trusted_proxies: settings.trusted.clone(),
            access_log: settings.access_log,
            sticky: settings.sticky,
            ..HttpProxyConfig::default()
        };
        Frontend::http(
            listen,
            settings.limits.clone(),
            settings.proxy_from(),
            proxy,
        )
    }
    .map_err(Failure::runtime)?;
    let admin = HttpServer::bind(admin_addr, None, Limits::default()).map_err(Failure::runtime)?;
    let balancer = Balancer::new(BalancerConfig {
        frontend,
        admin,
        admin_token: args.admin_token.clone(),
        admin_hosts: settings.admin_hosts.clone(),
        backends: settings
            .backends
            .iter()
            .map(|(addr, weight)| Backend::new(addr.clone(), *weight))
            .collect(),
        strategy: settings.strategy,
        health: settings.health.clone(),
    });
    let shutdown = Shutdown::new();
    shutdown.on_signals();

    tracing::info!(addr = %balancer.admin_addr(), "admin API listening");
    tracing::info!(addr = %balancer.local_addr(), strategy = %settings.strategy, mode = settings.mode, backends = balancer.pool().len(), "balancer listening");
    let reloads = tokio::spawn(reload_on_hangup(
        args,
        settings,
        balancer.reload(),
        shutdown.clone(),
    ));
    let served = balancer.run(shutdown).await;
    reloads.abort();
    served.map_err(|e| Failure::runtime(format!("balancer failed: {e}")))?;
    tracing::info!("balancer stopped");
    Ok(())
}

/// On each SIGHUP, reads the settings again and applies what can change while running
/// (backends, weights, strategy, health checks); the listen and admin addresses, the admin
/// host names and the mode need a restart.
async fn reload_on_hangup(
    args: BalanceArgs,
    mut running: Settings,
    reload: Reload,
    shutdown: Shutdown,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; configuration reloads are off");
            return;
        };
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                got = hangups.recv() => if got.is_none() { return },
            }
            match Settings::load(&args) {
                Err(e) => {
                    tracing::error!(error = %e, "reload failed; the running configuration stays")
                }
                Ok(next) => {
                    if (
                        next.listen.as_str(),
                        next.admin.as_str(),
                        &next.admin_hosts,
                        next.mode,
                    ) != (
                        running.listen.as_str(),
                        running.admin.as_str(),
                        &running.admin_hosts,
                        running.mode,
                    ) {
                        tracing::warn!(
                            "listen, admin and mode changes take effect at the next start"
                        );
                    }
                    reload.apply(&next.backends, next.strategy, next.health.clone());
                    tracing::info!(strategy = %next.strategy, backends = next.backends.len(), "configuration reloaded");
                    running = next;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (args, running, reload);
        shutdown.wait().await;
    }
}
