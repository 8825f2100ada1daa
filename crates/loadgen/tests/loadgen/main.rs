//! The load generator against in-process servers over real sockets on 127.0.0.1.
//!
//! One test binary with a module per concern.

mod echo;
mod http;
mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_loadgen::{HttpConfig, HttpTarget, Progress, Report, Stop};

/// An HTTP run against `addr` with `connections` on 2 threads, HTTP/1.1 keep-alive, GET `path`.
pub fn http_config(addr: SocketAddr, path: &str, connections: usize, stop: Stop) -> HttpConfig {
    HttpConfig {
        target: HttpTarget::parse(&format!("http://{addr}{path}")).unwrap(),
        addr,
        method: "GET".into(),
        headers: Vec::new(),
        body: Vec::new(),
        connections,
        threads: 2,
        stop,
        keepalive: true,
        http2: false,
        timeout: Duration::from_secs(5),
        rate: None,
        ca_pem: None,
        insecure: false,
    }
}

/// Runs an HTTP benchmark off the test's runtime (it blocks, and runs its own).
pub async fn run_http(config: HttpConfig) -> Report {
    tokio::task::spawn_blocking(move || switchboard_loadgen::run_http(&config, &Progress::new()))
        .await
        .expect("run")
        .expect("threads start")
}
