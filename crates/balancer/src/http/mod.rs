//! HTTP mode: [`HttpProxy`], the service the `switchboard-http` server runs in front of the
//! backends, and the pooled connections it sends through.

mod access_log;
mod budget;
mod proxy;
mod upgrade;
mod upstream;

pub use access_log::LogFormat;
pub use proxy::{HttpProxy, HttpProxyConfig, ProxyBody};
