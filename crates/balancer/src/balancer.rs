//! [`Balancer`]: the load balancer assembled. The pool, the health checks of its backends, the
//! admin API and the proxy (HTTP or TCP), on listeners bound beforehand, run until shutdown.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use switchboard_http::{HttpServer, Limits};
use switchboard_net::{bind_tcp, BindError, Shutdown, DEFAULT_BACKLOG};
use tokio::task::JoinHandle;

use crate::admin::{self, AdminState, Changes};
use crate::health::{self, HealthConfig};
use crate::http::{HttpProxy, HttpProxyConfig};
use crate::tcp::{self, TcpConfig};
use crate::{Backend, Pool, StrategyKind};

/// The side clients reach: a bound listener and how it proxies (HTTP or TCP mode).
///
/// Bound on its own, before anything runs, so that "address already in use" is reported while
/// nothing has started.
#[derive(Debug)]
pub struct Frontend(Mode);

#[derive(Debug)]
enum Mode {
    Http(HttpServer, HttpProxyConfig),
    Tcp(TcpListener, SocketAddr, TcpConfig),
}

impl Frontend {
    /// HTTP mode on `addr`: an [`HttpProxy`] with `proxy`'s settings, served by an
    /// [`HttpServer`] with `limits` that reads PROXY protocol headers from `proxy_from`.
    pub fn http(
        addr: SocketAddr,
        limits: Limits,
        proxy_from: Vec<IpAddr>,
        proxy: HttpProxyConfig,
    ) -> Result<Frontend, BindError> {
        let server = HttpServer::bind(addr, None, limits)?.with_proxy_protocol(proxy_from);
        Ok(Frontend(Mode::Http(server, proxy)))
    }

    /// TCP mode on `addr`: bytes relayed per connection ([`tcp::serve`]).
    pub fn tcp(addr: SocketAddr, config: TcpConfig) -> Result<Frontend, BindError> {
        let listener = bind_tcp(addr, DEFAULT_BACKLOG)?;
        let local = listener
            .local_addr()
            .map_err(|source| BindError { addr, source })?;
        Ok(Frontend(Mode::Tcp(listener, local, config)))
    }

    /// The address clients reach the balancer on.
    pub fn local_addr(&self) -> SocketAddr {
        match &self.0 {
            Mode::Http(server, _) => server.local_addr(),
            Mode::Tcp(_, local, _) => *local,
        }
    }

    /// `http` or `tcp`.
    pub fn mode(&self) -> &'static str {
        match self.0 {
            Mode::Http(..) => "http",
            Mode::Tcp(..) => "tcp",
        }
    }
}

/// Everything a [`Balancer`] runs with, its listeners already bound.
#[derive(Debug)]
pub struct BalancerConfig {
    /// Where clients connect, and the mode.
    pub frontend: Frontend,
    /// The admin API's server.
    pub admin: HttpServer,
    /// The token changes through the admin API need ([`Changes::for_listener`]).
    pub admin_token: Option<String>,
    /// Host names the admin API answers to besides IP literals and localhost.
    pub admin_hosts: Vec<String>,
    /// The backends, in configuration order.
    pub backends: Vec<Arc<Backend>>,
    /// How a backend is chosen.
    pub strategy: StrategyKind,
    /// How every backend is checked.
    pub health: HealthConfig,
}

/// A load balancer ready to [`run`](Self::run): the proxy and the admin API on their bound
/// listeners, over one [`Pool`] whose backends are health-checked while it runs.
#[derive(Debug)]
pub struct Balancer {
    frontend: Frontend,
    admin: HttpServer,
    admin_token: Option<String>,
    admin_hosts: Vec<String>,
    reload: Reload,
}

impl Balancer {
    /// A balancer with `config`; nothing runs until [`run`](Self::run).
    pub fn new(config: BalancerConfig) -> Balancer {
        let pool = Arc::new(Pool::new(config.backends, config.strategy));
        Balancer {
            frontend: config.frontend,
            admin: config.admin,
            admin_token: config.admin_token,
            admin_hosts: config.admin_hosts,
            reload: Reload {
                pool,
                checks: Arc::new(Mutex::new(Checks {
                    health: config.health,
                    tasks: Vec::new(),
                    running: false,
                })),
            },
        }
    }

    /// The address clients reach the balancer on.
    pub fn local_addr(&self) -> SocketAddr {
        self.frontend.local_addr()
    }

    /// The admin API's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr()
    }

    /// `http` or `tcp`.
    pub fn mode(&self) -> &'static str {
        self.frontend.mode()
    }

    /// The backends and the strategy.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.reload.pool
    }

    /// What changes while the balancer runs (backends, weights, strategy, health checks).
    pub fn reload(&self) -> Reload {
        self.reload.clone()
    }

    /// Starts the health checks and the admin API, proxies until `shutdown` is triggered, and
    /// returns once the proxy and the admin API have drained; the checks stop then.
    ///
    /// Errors only when a listener cannot be handed to tokio. Must be called inside a tokio
    /// runtime with I/O and time enabled.
    pub async fn run(self, shutdown: Shutdown) -> io::Result<()> {
        let Balancer {
            frontend,
            admin,
            admin_token,
            admin_hosts,
            reload,
        } = self;
        reload.start();
        let pool = reload.pool.clone();
        let router = admin::router(AdminState {
            pool: pool.clone(),
            mode: frontend.mode(),
            changes: Changes::for_listener(admin.local_addr(), admin_token),
            shutdown: shutdown.clone(),
            hosts: admin_hosts,
        });
        let admin_task = tokio::spawn(admin.serve(router, shutdown.clone()));
        let served = match frontend.0 {
            Mode::Tcp(listener, _, config) => tcp::serve(listener, pool, config, shutdown).await,
            Mode::Http(server, config) => {
                let proxy = HttpProxy::new(pool, config);
                let served = server.serve(proxy.clone(), shutdown).await;
                let dropped = proxy.dropped_log_lines();
                if dropped > 0 {
                    tracing::warn!(
                        dropped,
                        "access log lines dropped: the output could not keep up"
                    );
                }
                served
            }
        };
        let _ = admin_task.await;
        reload.stop();
        served
    }
}

/// The part of a [`Balancer`] that changes while traffic flows: its [`Pool`] and the health
/// checks of the pool's backends. Cheap to clone; every clone changes the same balancer.
#[derive(Debug, Clone)]
pub struct Reload {
    pool: Arc<Pool>,
    checks: Arc<Mutex<Checks>>,
}

/// The health-check tasks, one per backend, and the settings they run with.
#[derive(Debug)]
struct Checks {
    health: HealthConfig,
    tasks: Vec<JoinHandle<()>>,
    /// Between the start and the end of [`Balancer::run`]: only then do checks run.
    running: bool,
}

impl Checks {
    /// Stops every check and, while running, starts one per backend of `pool`.
    fn restart(&mut self, pool: &Pool) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if self.running {
            self.tasks = pool
                .backends()
                .iter()
                .map(|b| tokio::spawn(health::run(b.clone(), self.health.clone())))
                .collect();
        }
    }
}

impl Reload {
    /// The backends and the strategy.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Makes the pool match `backends` (address and weight), `strategy` and `health`:
    /// unchanged backends (same address and weight) keep their state, health and connection
    /// counts; new ones start healthy; removed ones stop being checked (requests in flight on
    /// them finish). Every backend's checks start again with `health`.
    pub fn apply(&self, backends: &[(String, u32)], strategy: StrategyKind, health: HealthConfig) {
        let current: HashMap<(String, u32), Arc<Backend>> = self
            .pool
            .backends()
            .iter()
            .map(|b| ((b.addr.clone(), b.weight()), b.clone()))
            .collect();
        let next: Vec<Arc<Backend>> = backends
            .iter()
            .map(|(addr, weight)| {
                current
                    .get(&(addr.clone(), *weight))
                    .cloned()
                    .unwrap_or_else(|| Backend::new(addr.clone(), *weight))
            })
            .collect();
        let mut checks = self.checks.lock().unwrap_or_else(|p| p.into_inner());
        self.pool.set_backends(next);
        if self.pool.strategy() != strategy {
            self.pool.set_strategy(strategy);
        }
        checks.health = health;
        checks.restart(&self.pool);
    }

    fn start(&self) {
        let mut checks = self.checks.lock().unwrap_or_else(|p| p.into_inner());
        checks.running = true;
        checks.restart(&self.pool);
    }

    fn stop(&self) {
        let mut checks = self.checks.lock().unwrap_or_else(|p| p.into_inner());
        checks.running = false;
        checks.restart(&self.pool);
    }
}
