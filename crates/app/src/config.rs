//! The application's typed configuration. The binary builds it from flags, environment and
//! file; tests build it directly.

use std::path::PathBuf;
use std::time::Duration;

/// Where the pages come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Site {
    /// The pages built into the binary: home (sign up, sign in) and profile.
    #[default]
    Embedded,
    /// Files under a directory, served as they are (`--site DIR`).
    Dir(PathBuf),
}

/// How long sessions live (OWASP Session Management cheat sheet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long is over.
    pub idle: Duration,
    /// A session this old is over, however active.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

/// Login throttling (OWASP Authentication cheat sheet), over a sliding window of failures:
///
/// - from one address, for any account: past `per_address`, that address gets 429;
/// - for one account from one address: past `per_account`, that pair gets 429;
/// - for one account from everywhere: past `slow_after`, answers slow down (up to 2 s), but
///   never 429, so an attacker elsewhere cannot lock the real user out.
///
/// A 429 carries Retry-After; failures leave the window as it slides, so no lock is for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// The window failures are counted over.
    pub window: Duration,
    /// Failures after which answers slow down.
    pub slow_after: u32,
    /// Failures for one account from one address after which that pair gets 429.
    pub per_account: u32,
    /// Failures from one address after which its logins get 429.
    pub per_address: u32,
    /// Registrations from one address in the window after which more get 429.
    pub registrations_per_address: u32,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            window: Duration::from_secs(15 * 60),
            slow_after: 3,
            per_account: 10,
            per_address: 30,
            registrations_per_address: 60,
        }
    }
}

/// The feed (`/api/posts`, `/api/events`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedPolicy {
    /// Posts one user may make in [`FeedPolicy::window`]; past it, 429 with Retry-After.
    pub posts_per_window: u32,
    /// The sliding window posts are counted over.
    pub window: Duration,
    /// Events a listener may fall behind by before it is dropped (it reconnects with
    /// `Last-Event-ID` and is replayed from the database): the length of the one ring of
    /// events every listener of the server reads from.
    pub buffer: usize,
    /// How often an idle event stream gets a comment, so proxies and browsers keep it open.
    pub keep_alive: Duration,
    /// How long the feed's events are kept for replay (the clean-up job deletes older ones);
    /// a client that comes back from further behind is told to reload (`reset`). At least
    /// [`FeedPolicy::window`], over which the events are counted.
    pub retention: Duration,
}

impl Default for FeedPolicy {
    fn default() -> Self {
        FeedPolicy {
            posts_per_window: 10,
            window: Duration::from_secs(60),
            buffer: 256,
            keep_alive: Duration::from_secs(15),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Everything the application needs to know.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// This server's name, sent as `X-Served-By` on every response.
    pub name: String,
    /// The pages.
    pub site: Site,
    /// How long a `--site` file's copy in memory is trusted before the disk is looked at
    /// again (at the first request after; the file is read again if it changed).
    pub site_recheck: Duration,
    /// The largest request body, in bytes (413 past it).
    pub body_limit: usize,
    /// Session lifetimes.
    pub sessions: SessionPolicy,
    /// Login throttling.
    pub throttle: ThrottlePolicy,
    /// Whether clients reach us over TLS: cookies get `Secure` and the `__Host-` prefix, and
    /// responses carry HSTS.
    pub tls: bool,
    /// A request not answered within this gets 408 (the handler is abandoned).
    pub request_timeout: Duration,
    /// Argon2id memory cost in KiB (OWASP: at least 19 MiB). Tests lower it only to run fast.
    pub argon2_memory_kib: u32,
    /// Proxies (a balancer in front) whose `X-Real-IP` names the client: sign-in and sign-up
    /// limits per address count the client, not the proxy. From anyone else the field is
    /// ignored, so no client can pick its own address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The feed's limits.
    pub feed: FeedPolicy,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            name: "switchboard".into(),
            site: Site::Embedded,
            site_recheck: Duration::from_secs(1),
            body_limit: 1024 * 1024,
            sessions: SessionPolicy::default(),
            throttle: ThrottlePolicy::default(),
            tls: false,
            request_timeout: Duration::from_secs(30),
            argon2_memory_kib: 19 * 1024,
            trusted_proxies: Vec::new(),
            feed: FeedPolicy::default(),
        }
    }
}
