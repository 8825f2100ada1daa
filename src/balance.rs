//! `switchboard balance`: the load balancer, HTTP or TCP mode, with health checks and the
//! admin API.

use std::sync::Arc;

use switchboard_balancer::admin::{self, AdminState};
use switchboard_balancer::health::{self, HealthConfig, Probe};
use switchboard_balancer::http::{HttpProxy, HttpProxyConfig};
use switchboard_balancer::tcp::{self, TcpConfig};
use switchboard_balancer::{Backend, Pool, StrategyKind};
use switchboard_http::{HttpServer, Limits};
use switchboard_net::{bind_tcp, Shutdown, DEFAULT_BACKLOG};

use crate::args::BalanceArgs;
use crate::echo::listen_addr;
use crate::failure::Failure;
use crate::runtime;

/// `ADDR[,weight=N]`.
fn backend(spec: &str) -> Result<Arc<Backend>, Failure> {
    let mut parts = spec.split(',');
    let addr = parts.next().unwrap_or("").trim();
    if addr
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(Failure::usage(format!(
            "--backend '{spec}': expected HOST:PORT[,weight=N]"
        )));
    }
    let mut weight = 1;
    for option in parts {
        match option.trim().split_once('=') {
            Some(("weight", n)) => {
                weight = n
                    .parse()
                    .ok()
                    .filter(|w| (1..=1000).contains(w))
                    .ok_or_else(|| {
                        Failure::usage(format!("--backend '{spec}': weight must be 1 to 1000"))
                    })?;
            }
            _ => {
                return Err(Failure::usage(format!(
                    "--backend '{spec}': unknown option '{option}'"
                )))
            }
        }
    }
    Ok(Backend::new(addr, weight))
}

/// Runs the balancer until SIGINT or SIGTERM.
pub fn balance(args: BalanceArgs) -> Result<(), Failure> {
    let backends = args
        .backends
        .iter()
        .map(|s| backend(s))
        .collect::<Result<Vec<_>, _>>()?;
    let strategy: StrategyKind = args.strategy.parse().map_err(Failure::usage)?;
    let probe = match args.health_check.as_str() {
        "tcp" => Probe::Tcp,
        path if path.starts_with('/') => Probe::Http { path: path.into() },
        other => {
            return Err(Failure::usage(format!(
                "--health-check '{other}': expected tcp or an HTTP path such as /healthz"
            )))
        }
    };
    if args.mode == "tcp" && matches!(probe, Probe::Http { .. }) {
        return Err(Failure::usage(
            "--health-check with a path needs --mode http",
        ));
    }
    let health = HealthConfig {
        probe,
        interval: args.health_interval,
        timeout: args.health_timeout,
        rise: args.rise,
        fall: args.fall,
    };
    if health.interval.is_zero() || health.timeout.is_zero() {
        return Err(Failure::usage(
            "health check interval and timeout must be more than zero",
        ));
    }
    let pool = Arc::new(Pool::new(backends, strategy));
    runtime::server()?.block_on(async move {
        let listen = listen_addr(&args.listen).await?;
        let admin_addr = listen_addr(&args.admin).await?;
        let shutdown = Shutdown::new();
        shutdown.on_signals();

        let admin_server = HttpServer::bind(admin_addr, None, Limits::default()).map_err(Failure::runtime)?;
        let mode: &'static str = if args.mode == "tcp" { "tcp" } else { "http" };
        let admin_router = admin::router(AdminState { pool: pool.clone(), mode });
        tracing::info!(addr = %admin_server.local_addr(), "admin API listening");
        let admin_task = tokio::spawn(admin_server.serve(admin_router, shutdown.clone()));

        let checks: Vec<_> = pool
            .backends()
            .iter()
            .map(|b| tokio::spawn(health::run(b.clone(), health.clone())))
            .collect();

        let served = if mode == "tcp" {
            let listener = bind_tcp(listen, DEFAULT_BACKLOG).map_err(Failure::runtime)?;
            tracing::info!(addr = %listener.local_addr().map_err(Failure::runtime)?, %strategy, mode, backends = pool.len(), "balancer listening");
            let config = TcpConfig { grace: args.grace, ..TcpConfig::default() };
            tcp::serve(listener, pool.clone(), config, shutdown.clone()).await
        } else {
            let limits = Limits { grace: args.grace, ..Limits::default() };
            let server = HttpServer::bind(listen, None, limits).map_err(Failure::runtime)?;
            tracing::info!(addr = %server.local_addr(), %strategy, mode, backends = pool.len(), "balancer listening");
            let proxy = HttpProxy::new(pool.clone(), HttpProxyConfig::default());
            server.serve(proxy, shutdown.clone()).await
        };
        for check in checks {
            check.abort();
        }
        let _ = admin_task.await;
        served.map_err(|e| Failure::runtime(format!("balancer failed: {e}")))?;
        tracing::info!("balancer stopped");
        Ok(())
    })
}
