//! HTTP runs against a small axum server that counts requests, and can answer 200 and 404 in
//! turn or stall everyone once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::any;
use axum::Router;
use switchboard_loadgen::{Progress, Stop};
use tokio::time::Instant;

use crate::{http_config, run_http};

#[derive(Default)]
struct Server {
    requests: AtomicU64,
    /// Answer 200 and 404 in turn.
    alternate: bool,
    /// Request number N stalls every request for a second (a pause, as a GC would make).
    stall_at: Option<u64>,
    stalled_until: Mutex<Option<Instant>>,
}

async fn handle(State(server): State<Arc<Server>>, body: String) -> (StatusCode, String) {
    let n = server.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if server.stall_at == Some(n) {
        *server.stalled_until.lock().unwrap() = Some(Instant::now() + Duration::from_secs(1));
    }
    let until = *server.stalled_until.lock().unwrap();
    if let Some(until) = until {
        tokio::time::sleep_until(until).await;
    }
    let status = if server.alternate && n % 2 == 0 {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    (status, format!("{n} {}", body.len()))
}

async fn start(server: Server) -> (std::net::SocketAddr, Arc<Server>) {
    let server = Arc::new(server);
    let app = Router::new()
        .route("/", any(handle))
        .route("/{*path}", any(handle))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_requests_are_exactly_n() {
    let (addr, server) = start(Server::default()).await;
    let report = run_http(http_config(addr, "/add?a=1&b=2", 10, Stop::Requests(1000))).await;
    assert_eq!(report.requests, 1000, "{}", report.text());
    assert_eq!(server.requests.load(Ordering::SeqCst), 1000);
    assert_eq!(report.status.get("200"), Some(&1000));
    assert_eq!(report.errors.total, 0);
    assert_eq!(report.connected, 10);
    assert!(report.bytes > 1000 * 40, "{}", report.bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_are_counted() {
    let (addr, server) = start(Server {
        alternate: true,
        ..Server::default()
    })
    .await;
    let report = run_http(http_config(addr, "/x", 4, Stop::Requests(300))).await;
    assert_eq!(server.requests.load(Ordering::SeqCst), 300);
    assert_eq!(report.status.get("200"), Some(&150), "{}", report.text());
    assert_eq!(report.status.get("404"), Some(&150));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_headers_http2_and_no_keepalive() {
    let (addr, server) = start(Server::default()).await;
    let mut config = http_config(addr, "/api/process", 2, Stop::Requests(100));
    config.method = "POST".into();
    config.headers = vec![("Content-Type".into(), "application/json".into())];
    config.body = br#"{"input": [1, 2, 3]}"#.to_vec();
    let report = run_http(config.clone()).await;
    assert_eq!(report.status.get("200"), Some(&100), "{}", report.text());

    config.http2 = true;
    let report = run_http(config.clone()).await;
    assert_eq!(report.mode, "h2c");
    assert_eq!(report.status.get("200"), Some(&100), "{}", report.text());

    config.http2 = false;
    config.keepalive = false;
    let report = run_http(config).await;
    assert_eq!(report.status.get("200"), Some(&100), "{}", report.text());
    assert_eq!(report.connected, 100, "a connection per request");
    assert_eq!(server.requests.load(Ordering::SeqCst), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_is_kept() {
    let (addr, server) = start(Server::default()).await;
    let mut config = http_config(addr, "/", 4, Stop::Duration(Duration::from_secs(2)));
    config.rate = Some(200.0);
    let report = run_http(config).await;
    let sent = server.requests.load(Ordering::SeqCst);
    assert!(
        (360..=440).contains(&sent),
        "sent {sent}: {}",
        report.text()
    );
    assert!((360..=440).contains(&report.requests));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_p99_under_a_rate() {
    // The server stops answering for a second, half a second in. At a constant rate, every
    // request due during that second waits for it, and its latency counts from when it was
    // due: a fifth of the run has latencies spread up to a second.
    let (addr, _) = start(Server {
        stall_at: Some(100),
        ..Server::default()
    })
    .await;
    let mut config = http_config(addr, "/", 4, Stop::Duration(Duration::from_millis(2500)));
    config.rate = Some(200.0);
    let corrected = run_http(config).await;
    assert!(
        corrected.latency_ms.p99 >= 900.0,
        "p99 {}ms:\n{}",
        corrected.latency_ms.p99,
        corrected.text()
    );

    // Without a rate, the same stall delays only the few requests in flight then: it hides
    // below p99 (coordinated omission).
    let (addr, _) = start(Server {
        stall_at: Some(100),
        ..Server::default()
    })
    .await;
    let closed = run_http(http_config(
        addr,
        "/",
        4,
        Stop::Duration(Duration::from_secs(2)),
    ))
    .await;
    assert!(closed.latency_ms.max >= 900.0, "{}", closed.text());
    assert!(closed.requests > 1000, "{}", closed.text());
    assert!(closed.latency_ms.p99 < 900.0, "{}", closed.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_opens_nothing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let report = run_http(http_config(
        port,
        "/",
        3,
        Stop::Duration(Duration::from_secs(5)),
    ))
    .await;
    assert_eq!(report.connected, 0);
    assert_eq!(report.errors.connect, 3);
    assert!(
        report.duration_secs < 2.0,
        "gives up at once: {}",
        report.duration_secs
    );
    assert_eq!(
        report.connect_error.as_deref(),
        Some("connection refused (is the server running?)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_has_the_documented_fields() {
    let (addr, _) = start(Server::default()).await;
    let report = run_http(http_config(addr, "/", 2, Stop::Requests(50))).await;
    let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
    for field in [
        "target",
        "mode",
        "connections",
        "threads",
        "rate",
        "duration_secs",
        "requests",
        "requests_per_sec",
        "bytes",
        "bytes_per_sec",
        "latency_ms",
        "status",
        "errors",
        "connected",
        "connect_error",
    ] {
        assert!(json.get(field).is_some(), "no {field} in {json}");
    }
    for field in ["min", "mean", "stdev", "p50", "p90", "p99", "p99_9", "max"] {
        assert!(json["latency_ms"][field].is_f64(), "no latency {field}");
    }
    for field in ["connect", "read", "write", "timeout", "protocol", "total"] {
        assert!(json["errors"][field].is_u64(), "no errors.{field}");
    }
    assert_eq!(json["requests"], 50);
    assert_eq!(json["status"]["200"], 50);
    let _ = Progress::new();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_are_timeouts() {
    let (addr, _) = start(Server {
        stall_at: Some(1),
        ..Server::default()
    })
    .await;
    let mut config = http_config(addr, "/", 1, Stop::Requests(2));
    config.timeout = Duration::from_millis(200);
    let report = run_http(config).await;
    assert_eq!(report.errors.timeout, 2, "{}", report.text());
    assert_eq!(report.requests, 0);
}

/// A raw server answering every request head with `answer`, closing after it when `close`.
async fn raw_server(answer: &'static [u8], close: bool) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut have = 0;
                loop {
                    match stream.read(&mut buf[have..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have += n,
                    }
                    while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.copy_within(end + 4..have, 0);
                        have -= end + 4;
                        if stream.write_all(answer).await.is_err() || close {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_and_until_close_bodies_are_read_whole() {
    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: 1\r\n\r\n";
    let addr = raw_server(CHUNKED, false).await;
    let report = run_http(http_config(addr, "/", 2, Stop::Requests(200))).await;
    assert_eq!(report.status.get("200"), Some(&200), "{}", report.text());
    assert_eq!(report.errors.total, 0);
    assert_eq!(report.connected, 2, "kept alive");
    assert_eq!(report.bytes, 200 * CHUNKED.len() as u64);

    const UNTIL_CLOSE: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nthe body ends at the close";
    let addr = raw_server(UNTIL_CLOSE, true).await;
    let report = run_http(http_config(addr, "/", 2, Stop::Requests(50))).await;
    assert_eq!(report.status.get("200"), Some(&50), "{}", report.text());
    assert_eq!(report.errors.total, 0);
    assert_eq!(report.connected, 50);

    // Not HTTP, and answers framed two ways or wrongly: the balancer's rules are the load
    // generator's.
    for answer in [
        &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n",
    ] {
        let addr = raw_server(answer, false).await;
        let report = run_http(http_config(addr, "/", 1, Stop::Requests(3))).await;
        assert_eq!(report.errors.protocol, 3, "{}", report.text());
    }
}
