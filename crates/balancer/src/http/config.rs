//! [`HttpProxyConfig`]: HTTP mode's settings.

use std::net::IpAddr;
use std::time::Duration;

use super::access_log::LogFormat;

/// HTTP mode's settings.
#[derive(Debug, Clone)]
pub struct HttpProxyConfig {
    /// A backend that does not accept within this is treated as refusing.
    pub connect_timeout: Duration,
    /// A backend that has not begun its answer within this: 504.
    pub response_timeout: Duration,
    /// How long a refusing backend gets no traffic.
    pub eject_for: Duration,
    /// Peers whose X-Forwarded-For, Forwarded and X-Real-IP are believed (their client is the
    /// real one).
    pub trusted_proxies: Vec<IpAddr>,
    /// An access log line per request, in this format; `None`: no access log.
    pub access_log: Option<LogFormat>,
    /// Cookie stickiness: a client's first answer carries a cookie naming its backend, and
    /// later requests go back to that backend while it is healthy.
    pub sticky: bool,
}

impl Default for HttpProxyConfig {
    fn default() -> Self {
        HttpProxyConfig {
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(30),
            eject_for: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            access_log: None,
            sticky: false,
        }
    }
}
