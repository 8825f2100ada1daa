//! `switchboard serve`: the HTTP application server. Settings come from flags, then the
//! environment (both through clap), then a TOML file, then defaults; they are validated here
//! into the app and http crates' configurations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_app::{App, AppConfig, Clock, FeedPolicy, SessionPolicy, Site, Store};
use switchboard_http::{tls_config, HttpServer, Limits, Tls};
use switchboard_net::Shutdown;

use switchboard_jobs::{Clock as JobClock, Job, SchedulerConfig};

use crate::addr::listen_addr;
use crate::args::AppServeArgs;
use crate::failure::Failure;
use crate::jobs::FileDirs;
use crate::limits::{self, Size};
use crate::runtime;

/// How often a server writes its request statistics to the database (and once more when it
/// stops), for the daily report.
const STATS_FLUSH: Duration = Duration::from_secs(10);

/// The TOML file: the same settings as the flags, named as the flags without dashes, and the
/// jobs' `[jobs.*]` tables.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct FileConfig {
    listen: Option<String>,
    pub(crate) database: Option<String>,
    pub(crate) data: Option<PathBuf>,
    pub(crate) backup_dir: Option<PathBuf>,
    pub(crate) report_dir: Option<PathBuf>,
    pub(crate) jobs: Option<crate::jobs::JobsFile>,
    site: Option<PathBuf>,
    name: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_self_signed: Option<bool>,
    body_limit: Option<Size>,
    max_header_bytes: Option<Size>,
    header_read_timeout: Option<String>,
    body_read_timeout: Option<String>,
    trusted_proxies: Option<Vec<std::net::IpAddr>>,
    request_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<usize>,
    session_idle: Option<String>,
    session_lifetime: Option<String>,
    posts_per_minute: Option<u32>,
    feed_retention: Option<String>,
    grace: Option<String>,
}

impl FileConfig {
    /// Reads and parses `path`; the error names the file and what is wrong.
    pub(crate) fn load(path: &Path) -> Result<FileConfig, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!("cannot read config file {}: {e}", path.display()))
        })?;
        FileConfig::parse(&text)
            .map_err(|what| Failure::usage(format!("config file {}: {what}", path.display())))
    }

    /// Parses the file's text; the error says what is wrong, on one line.
    pub(crate) fn parse(text: &str) -> Result<FileConfig, String> {
        toml::from_str(text).map_err(|e| e.message().replace('\n', " "))
    }
}

/// Everything `serve` needs, validated.
pub(crate) struct Settings {
    listen: String,
    stop_with_stdin: bool,
    database: String,
    name: Option<String>,
    tls: Tls,
    limits: Limits,
    app: AppConfig,
    jobs: Vec<Job>,
}

fn file_duration(key: &str, value: Option<String>) -> Result<Option<Duration>, Failure> {
    limits::file_duration(key, value).map_err(Failure::usage)
}

fn file_size(key: &str, value: Option<Size>) -> Result<Option<usize>, Failure> {
    limits::file_size(key, value).map_err(Failure::usage)
}

/// The database URL: the one given, or an SQLite file in the data directory.
pub fn database_url(database: Option<String>, data: Option<PathBuf>) -> String {
    database.unwrap_or_else(|| {
        let dir = data.unwrap_or_else(|| PathBuf::from("switchboard-data"));
        format!("sqlite://{}", dir.join("switchboard.db").display())
    })
}

impl Settings {
    /// The flags over the file over the defaults, validated.
    pub(crate) fn merge(args: AppServeArgs, file: FileConfig) -> Result<Settings, Failure> {
        let file_limits = limits::file_limits!(file);
        let limits =
            limits::merge(&args.limits, args.grace, file_limits).map_err(Failure::usage)?;

        let sessions = SessionPolicy {
            idle: args
                .session_idle
                .or(file_duration("session-idle", file.session_idle)?)
                .unwrap_or(SessionPolicy::default().idle),
            absolute: args
                .session_lifetime
                .or(file_duration("session-lifetime", file.session_lifetime)?)
                .unwrap_or(SessionPolicy::default().absolute),
        };
        if sessions.idle.is_zero() || sessions.absolute.is_zero() {
            return Err(Failure::usage("session lifetimes must be more than zero"));
        }
        let app_defaults = AppConfig::default();
        let mut app = AppConfig {
            site: match args.site.or(file.site) {
                Some(dir) => Site::Dir(dir),
                None => Site::Embedded,
            },
            body_limit: args
                .body_limit
                .or(file_size("body-limit", file.body_limit)?)
                .unwrap_or(app_defaults.body_limit),
            request_timeout: args
                .request_timeout
                .or(file_duration("request-timeout", file.request_timeout)?)
                .unwrap_or(app_defaults.request_timeout),
            sessions,
            feed: FeedPolicy {
                posts_per_window: args
                    .posts_per_minute
                    .or(file.posts_per_minute)
                    .unwrap_or(app_defaults.feed.posts_per_window),
                window: Duration::from_secs(60),
                retention: args
                    .feed_retention
                    .or(file_duration("feed-retention", file.feed_retention)?)
                    .unwrap_or(app_defaults.feed.retention),
                ..app_defaults.feed
            },
            trusted_proxies: if args.trusted_proxies.is_empty() {
                file.trusted_proxies.unwrap_or_default()
            } else {
                args.trusted_proxies
            },
            ..app_defaults
        };
        if app.feed.posts_per_window == 0 {
            return Err(Failure::usage(
                "config file: posts-per-minute must be at least 1",
            ));
        }
        if app.feed.retention < app.feed.window {
            return Err(Failure::usage(
                "--feed-retention must be at least a minute: posts per minute are counted from the kept events",
            ));
        }
        // A quiet event stream moves no byte but its keep-alive comments, and a connection
        // with a response in progress that moves none for an idle period is cut as stalled:
        // the comments must come more often than that.
        app.feed.keep_alive = app.feed.keep_alive.min(limits.idle_timeout / 2);
        if app.request_timeout.is_zero() {
            return Err(Failure::usage("--request-timeout must be more than zero"));
        }

        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
            args.tls_self_signed || file.tls_self_signed.unwrap_or(false),
        ) {
            (Some(cert), Some(key), false) => Tls::Files { cert, key },
            (None, None, true) => Tls::SelfSigned {
                names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            },
            (None, None, false) => Tls::Off,
            (Some(_), Some(_), true) => {
                return Err(Failure::usage(
                    "use either --tls-cert and --tls-key or --tls-self-signed, not both",
                ))
            }
            _ => return Err(Failure::usage("--tls-cert and --tls-key go together")),
        };

        let database = database_url(args.database.or(file.database), args.data.or(file.data));
        let dirs = FileDirs {
            backup_dir: file.backup_dir,
            report_dir: file.report_dir,
        };
        let jobs = crate::jobs::jobs(args.jobs, file.jobs, dirs, &database, &app)?;
        Ok(Settings {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            database,
            name: args.name.or(file.name),
            stop_with_stdin: args.stop_with_stdin,
            tls,
            limits,
            app,
            jobs,
        })
    }
}

/// Runs the application server until SIGINT or SIGTERM.
pub fn serve(args: AppServeArgs) -> Result<(), Failure> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let settings = Settings::merge(args, file)?;
    runtime::server()?.block_on(run(settings))
}

/// Opens the database, saying clearly why it cannot be.
pub async fn open_store(url: &str) -> Result<Store, Failure> {
    Store::open(url).await.map_err(|e| match e {
        switchboard_store::StoreError::BadUrl(_) => Failure::usage(format!("--database: {e}")),
        e => Failure::runtime(format!("cannot open the database: {e}")),
    })
}

async fn run(settings: Settings) -> Result<(), Failure> {
    let addr = listen_addr("--listen", &settings.listen).await?;
    let tls = tls_config(&settings.tls).map_err(Failure::usage)?;
    let store = open_store(&settings.database).await?;
    let server = HttpServer::bind(addr, tls, settings.limits).map_err(Failure::runtime)?;
    let local = server.local_addr();
    let config = AppConfig {
        name: settings
            .name
            .unwrap_or_else(|| format!("{}:{}", hostname(), local.port())),
        tls: server.is_tls(),
        ..settings.app
    };
    let app = App::new(store.clone(), config, Clock::system()).map_err(Failure::usage)?;
    let gauge = server.connections();
    app.set_connection_gauge(move || gauge.open());
    let flusher = tokio::spawn(app.clone().run_stats_flusher(STATS_FLUSH));
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let backs_up = settings
        .jobs
        .iter()
        .any(|j| matches!(j.task, switchboard_jobs::Task::Backup(_)));
    if backs_up {
        if let Err(e) = switchboard_jobs::check_backup_tools(store.backend()) {
            tracing::warn!("scheduled backups will fail: {e}");
        }
    }
    let clock = app.clock().clone();
    let scheduler = SchedulerConfig {
        clock: JobClock::from_fn(move || clock.now()),
        ..SchedulerConfig::new(app.config().name.clone(), settings.jobs)
    };
    let scheduler = tokio::spawn(switchboard_jobs::scheduler::run(
        store.clone(),
        scheduler,
        shutdown.clone(),
    ));
    if settings.stop_with_stdin {
        // A thread of its own, not tokio's stdin: a read on the blocking pool cannot be
        // cancelled, and the runtime would wait for it at exit.
        let shutdown = shutdown.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut sink = [0u8; 64];
            while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
            shutdown.trigger();
            tracing::info!("standard input closed; stopping");
        });
    }
    let scheme = if server.is_tls() { "https" } else { "http" };
    tracing::info!(
        addr = %local,
        url = %format!("{scheme}://{local}/"),
        name = %app.config().name,
        database = %store.backend(),
        "application server listening"
    );
    let closer = tokio::spawn({
        let (app, shutdown) = (app.clone(), shutdown.clone());
        async move {
            shutdown.wait().await;
            app.close_streams();
        }
    });
    let served = server.serve(app.service(), shutdown).await;
    closer.abort();
    flusher.abort();
    if let Err(e) = app.flush_request_stats().await {
        tracing::warn!(error = %e, "the last request statistics could not be written");
    }
    let _ = scheduler.await;
    store.close().await;
    served.map_err(|e| Failure::runtime(format!("application server failed: {e}")))?;
    tracing::info!("application server stopped");
    Ok(())
}

/// This machine's name, for the default `--name`.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "switchboard".into())
}
