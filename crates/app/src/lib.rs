//! The HTTP application: pages, stateless and stateful APIs, users, sessions, access control.
//!
//! # Layout
//!
//! - [`App`] is the shared state every handler gets: the [`Store`], the [`AppConfig`], the
//!   password hasher, the [`Clock`], the metrics, the site's files.
//! - `routes/`: the route table (`mod.rs`: every path once, with its handlers, whether its
//!   answers are private, its OpenAPI description and its fast path, if any; the router, the
//!   metrics labels and the private-answer rule are read from it), then one file per area:
//!   `calc.rs` (the stateless `/add` and `/process`), `users.rs` (registration, the admin's
//!   users table), `auth.rs` (sign in and out, the profile, password change), `site/`
//!   (the pages and a `--site` directory's files, from memory: a cache checked against the
//!   disk at most once a second, gzip and brotli forms made once, ETag/Last-Modified, `Range`,
//!   large files handed to the server to send with `sendfile(2)`; no path traversal), `health.rs` (`/healthz`,
//!   `/readyz`, `/metrics`), `jobs.rs` (the scheduled jobs'
//!   runs, `/api/admin/jobs`), `posts.rs` (`/api/posts`), `events.rs` (`/api/events`, the
//!   feed as server-sent events), `feed.rs` (the `/feed` page, from `pages/`).
//! - `auth/`: `password.rs` (Argon2id on the blocking pool, bounded), `session.rs` (tokens,
//!   cookies, the [`Authenticated`](auth::Authenticated) extractor), `csrf.rs`, `throttle.rs`.
//! - [`ApiError`]: every error as `{"error": ...}` with its status; `extract.rs` makes axum's
//!   rejections speak it too.
//! - `observe.rs`: the layer every request passes: CSRF, the request timeout, `X-Served-By`,
//!   security headers, metrics.
//! - [`AppService`] (`service.rs`): what a server runs; the router, with the fast paths the
//!   table names (`GET /add`, the site's files held in memory (the pages and the table's
//!   fallback), a cached session's profile, `POST /process`) answered without it.
//! - `feed.rs`: the feed's fan-out, from the database's events to this server's event
//!   streams (one pump task, one broadcast ring).
//! - `openapi.rs`, `pages.rs`, `metrics.rs`.
//!
//! The application knows nothing of sockets or TLS: `switchboard-http` serves the router and
//! tells it the peer's address and whether the connection is TLS; the store hides which
//! database runs underneath.
//!
//! # Invariants
//!
//! - Only the SHA-256 of a session token is stored; passwords only as Argon2id PHC strings.
//! - Session lifetimes are enforced by the server on every request, against [`Clock`].
//! - Password hashing never runs on an async worker.
#![forbid(unsafe_code)]

pub mod auth;
mod clock;
mod config;
mod error;
mod extract;
mod feed;
mod metrics;
mod observe;
mod openapi;
mod pages;
mod routes;
mod service;

use std::sync::{Arc, OnceLock};

use axum::http::HeaderValue;
pub use clock::Clock;
pub use config::{AppConfig, FeedPolicy, SessionPolicy, Site, ThrottlePolicy};
pub use error::ApiError;
pub use metrics::Metrics;
use routes::site::SiteFiles;
pub use routes::users::{check_password, check_username};
pub use service::{AppFuture, AppService};
pub use switchboard_store::{Role, Store, Timestamp, User};

/// The application's shared state. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: AppConfig,
    clock: Clock,
    passwords: auth::Passwords,
    metrics: Metrics,
    sessions: auth::cache::SessionCache,
    login_attempts: auth::throttle::InFlight,
    feed: feed::Hub,
    site: SiteFiles,
    served_by: HeaderValue,
    open_connections: OnceLock<Box<dyn Fn() -> usize + Send + Sync>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("store", &self.store.backend())
            .finish_non_exhaustive()
    }
}

/// The application could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(String);

impl App {
    /// The application over `store`, measuring time with `clock`.
    pub fn new(store: Store, config: AppConfig, clock: Clock) -> Result<App, StartError> {
        let site = SiteFiles::load(&config.site, config.site_recheck).map_err(StartError)?;
        let passwords = auth::Passwords::new(config.argon2_memory_kib)
            .map_err(|e| StartError(format!("password hashing: {}", e.message)))?;
        let served_by = HeaderValue::from_str(&config.name).map_err(|_| {
            StartError(format!(
                "--name '{}' cannot be sent in a header",
                config.name
            ))
        })?;
        let feed = feed::Hub::new(config.feed.buffer);
        Ok(App {
            inner: Arc::new(Inner {
                store,
                config,
                clock,
                passwords,
                metrics: Metrics::default(),
                sessions: auth::cache::SessionCache::default(),
                login_attempts: auth::throttle::InFlight::default(),
                feed,
                site,
                served_by,
                open_connections: OnceLock::new(),
            }),
        })
    }

    /// Reports open connections in `/metrics` through `gauge` (the server's count). Only the
    /// first call counts.
    pub fn set_connection_gauge(&self, gauge: impl Fn() -> usize + Send + Sync + 'static) {
        let _ = self.inner.open_connections.set(Box::new(gauge));
    }

    /// The service a server runs: the router, with the route table's fast paths around it.
    pub fn service(&self) -> AppService {
        AppService::new(self.clone())
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }

    /// The clock sessions are measured with.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Hashes a password the way registration does (for `switchboard users create`).
    pub async fn hash_password(&self, password: String) -> Result<String, ApiError> {
        self.inner.passwords.hash(password).await
    }

    /// Ends every event stream (`/api/events`) this server holds, now and from now on: for
    /// shutdown, which would otherwise wait out its grace period for streams that never end.
    /// Their clients reconnect (to another server, behind a balancer) and miss nothing.
    pub fn close_streams(&self) {
        self.inner.feed.close();
    }

    /// Writes what the metrics counted since the last flush into the database's hourly
    /// request statistics (for the daily report). On failure the counts are kept for the next
    /// flush.
    pub async fn flush_request_stats(&self) -> Result<(), switchboard_store::StoreError> {
        let deltas = self.metrics().deltas();
        if deltas.counts.is_empty() && deltas.latency.is_empty() {
            return Ok(());
        }
        let now = self.clock().now().as_millis();
        let hour = Timestamp::from_millis(now - now.rem_euclid(3_600_000));
        match self
            .store()
            .add_request_stats(hour, &deltas.counts, &deltas.latency)
            .await
        {
            Ok(()) => {
                self.metrics().flushed(deltas);
                Ok(())
            }
            Err(e) => {
                self.metrics().unflushed(deltas);
                Err(e)
            }
        }
    }

    /// Flushes the request statistics every `every`, forever: spawn it, abort it at shutdown,
    /// and flush once more.
    pub async fn run_stats_flusher(self, every: std::time::Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(e) = self.flush_request_stats().await {
                tracing::warn!(error = %e, "cannot write the request statistics; kept for later");
            }
        }
    }

    pub(crate) fn passwords(&self) -> &auth::Passwords {
        &self.inner.passwords
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn sessions(&self) -> &auth::cache::SessionCache {
        &self.inner.sessions
    }

    pub(crate) fn login_attempts(&self) -> &auth::throttle::InFlight {
        &self.inner.login_attempts
    }

    pub(crate) fn feed(&self) -> &feed::Hub {
        &self.inner.feed
    }

    pub(crate) fn site(&self) -> &SiteFiles {
        &self.inner.site
    }

    pub(crate) fn served_by(&self) -> &HeaderValue {
        &self.inner.served_by
    }

    pub(crate) fn open_connections(&self) -> Option<usize> {
        self.inner.open_connections.get().map(|f| f())
    }
}
