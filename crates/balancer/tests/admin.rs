//! The admin API over real HTTP.

use std::sync::Arc;

use switchboard_balancer::admin::{self, AdminState};
use switchboard_balancer::{Backend, Outcome, Pool, StrategyKind};
use switchboard_http::{HttpServer, Limits};
use switchboard_testkit::{http_get, Running, Shutdown};

#[tokio::test]
async fn status_and_metrics_report_every_backend() {
    let pool = Arc::new(Pool::new(
        vec![
            Backend::new("127.0.0.1:9001", 1),
            Backend::new("127.0.0.1:9002", 3),
        ],
        StrategyKind::LeastConnections,
    ));
    let backends = pool.backends();
    backends[0].lease().finish(Outcome::Answered);
    backends[1].lease().finish(Outcome::Failed);
    backends[1].set_healthy(false);
    let _held = backends[0].lease();

    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, Limits::default()).unwrap();
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    let router = admin::router(AdminState {
        pool: pool.clone(),
        mode: "http",
        changes: admin::Changes::Open,
        shutdown: shutdown.clone(),
        hosts: Vec::new(),
    });
    let running = Running::spawn(addr, shutdown.clone(), server.serve(router, shutdown));

    let status = http_get(addr, "/status").await;
    let body = status.split_once("\r\n\r\n").unwrap().1;
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["strategy"], "least-connections");
    assert_eq!(json["mode"], "http");
    let b = json["backends"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0]["addr"], "127.0.0.1:9001");
    assert_eq!(b[0]["in_flight"], 1);
    assert_eq!(b[0]["total"], 2);
    assert_eq!(b[1]["healthy"], false);
    assert_eq!(b[1]["weight"], 3);
    assert_eq!(b[1]["errors"], 1);
    // Percentiles of recent answers: a number where there was one, null where none.
    assert!(b[0]["p50_ms"].as_f64().is_some(), "{body}");
    assert!(b[0]["p99_ms"].as_f64().unwrap() >= b[0]["p50_ms"].as_f64().unwrap());
    assert!(b[1]["p99_ms"].is_null(), "{body}");

    pool.set_strategy(StrategyKind::IpHash);
    assert!(http_get(addr, "/status")
        .await
        .contains("\"strategy\":\"ip-hash\""));

    // The history: a sample a second (the first at once), each naming every backend.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let history = http_get(addr, "/history").await;
        let body = history.split_once("\r\n\r\n").unwrap().1;
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        if let Some(sample) = json["samples"].as_array().and_then(|s| s.last()) {
            assert_eq!(sample["backends"][0]["addr"], "127.0.0.1:9001", "{body}");
            assert_eq!(sample["backends"][0]["total"], 2, "{body}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no sample: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let metrics = http_get(addr, "/metrics").await;
    for line in [
        "switchboard_balancer_backend_up{backend=\"127.0.0.1:9002\"} 0",
        "switchboard_balancer_backend_in_flight{backend=\"127.0.0.1:9001\"} 1",
        "switchboard_balancer_backend_requests_total{backend=\"127.0.0.1:9001\"} 2",
        "switchboard_balancer_backend_errors_total{backend=\"127.0.0.1:9002\"} 1",
        "switchboard_balancer_backend_latency_p99_seconds{backend=\"127.0.0.1:9002\"} NaN",
    ] {
        assert!(metrics.contains(line), "missing {line}:\n{metrics}");
    }
    running.stop().await.unwrap();
}

/// The answer to one request on a fresh connection, sent with exactly these header lines
/// (each ending in CRLF) besides `Connection` and `Content-Length`.
async fn exchange(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(switchboard_testkit::PATIENCE, s.read_to_string(&mut out))
        .await
        .expect("an answer in time")
        .unwrap();
    out
}

/// A request as the dashboard sends it: this server's address as Host, a JSON body.
async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    extra: &str,
    body: &str,
) -> String {
    let headers = format!("Host: {addr}\r\nContent-Type: application/json\r\n{extra}");
    exchange(addr, method, path, &headers, body).await
}

/// The status line's code and the JSON error of an answer.
fn refusal(answer: &str) -> (u16, String) {
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let error = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(String::from))
        .unwrap_or_else(|| format!("no JSON error in: {answer}"));
    (status, error)
}

fn start(changes: admin::Changes) -> (Running, Arc<Pool>) {
    start_with(changes, Vec::new())
}

/// An admin API that also answers to the host names `hosts`.
fn start_with(changes: admin::Changes, hosts: Vec<String>) -> (Running, Arc<Pool>) {
    let pool = Arc::new(Pool::new(
        vec![
            Backend::new("127.0.0.1:9001", 1),
            Backend::new("127.0.0.1:9002", 1),
        ],
        StrategyKind::RoundRobin,
    ));
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, Limits::default()).unwrap();
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    let router = admin::router(AdminState {
        pool: pool.clone(),
        mode: "http",
        changes,
        shutdown: shutdown.clone(),
        hosts,
    });
    (
        Running::spawn(addr, shutdown.clone(), server.serve(router, shutdown)),
        pool,
    )
}

#[tokio::test]
async fn strategy_weights_and_draining_change_while_running() {
    let (running, pool) = start(admin::Changes::Open);
    let addr = running.addr;
    let ok = request(addr, "PUT", "/strategy", "", r#"{"strategy":"p2c"}"#).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(pool.strategy(), StrategyKind::PowerOfTwo);
    let bad = request(addr, "PUT", "/strategy", "", r#"{"strategy":"random"}"#).await;
    assert!(
        bad.starts_with("HTTP/1.1 422") && bad.contains("\"error\""),
        "{bad}"
    );

    assert!(
        request(addr, "PUT", "/backends/1/weight", "", r#"{"weight":5}"#)
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert_eq!(pool.backends()[1].weight(), 5);
    assert!(
        request(addr, "PUT", "/backends/1/weight", "", r#"{"weight":0}"#)
            .await
            .starts_with("HTTP/1.1 422")
    );
    assert!(request(addr, "POST", "/backends/9/drain", "", "")
        .await
        .starts_with("HTTP/1.1 404"));

    assert!(request(addr, "POST", "/backends/0/drain", "", "")
        .await
        .starts_with("HTTP/1.1 200"));
    let ctx = switchboard_balancer::PickContext::default();
    for _ in 0..10 {
        assert_eq!(
            pool.pick(&ctx).unwrap().addr,
            "127.0.0.1:9002",
            "a drained backend gets nothing new"
        );
    }
    assert!(http_get(addr, "/status").await.contains("\"drained\":true"));
    assert!(request(addr, "POST", "/backends/0/enable", "", "")
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(!pool.backends()[0].is_drained());
    running.stop().await.unwrap();
}

#[tokio::test]
async fn changes_need_the_token_and_are_off_without_one() {
    let (running, pool) = start(admin::Changes::Token("s3cret".into()));
    let refused = request(
        running.addr,
        "PUT",
        "/strategy",
        "",
        r#"{"strategy":"p2c"}"#,
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let wrong = request(
        running.addr,
        "PUT",
        "/strategy",
        "Authorization: Bearer nope\r\n",
        r#"{"strategy":"p2c"}"#,
    )
    .await;
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let ok = request(
        running.addr,
        "PUT",
        "/strategy",
        "Authorization: Bearer s3cret\r\n",
        r#"{"strategy":"p2c"}"#,
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(pool.strategy(), StrategyKind::PowerOfTwo);
    running.stop().await.unwrap();

    let (running, _) = start(admin::Changes::Off);
    let off = request(
        running.addr,
        "POST",
        "/backends/0/drain",
        "Authorization: Bearer s3cret\r\n",
        "",
    )
    .await;
    assert!(
        off.starts_with("HTTP/1.1 403") && off.contains("changes are off"),
        "{off}"
    );
    assert!(
        http_get(running.addr, "/status")
            .await
            .starts_with("HTTP/1.1 200"),
        "reading stays open"
    );
    running.stop().await.unwrap();
}

#[tokio::test]
async fn the_dashboard_and_its_event_stream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (running, _) = start(admin::Changes::Open);
    let page = http_get(running.addr, "/").await;
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("text/html"),
        "{page}"
    );
    assert!(page.contains("new EventSource(\"/events\")"));
    // Its changes say JSON, drain and enable too, or the API would refuse them.
    assert!(
        page.contains("const headers = { \"content-type\": \"application/json\" };"),
        "{page}"
    );

    let mut s = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    s.write_all(format!("GET /events HTTP/1.1\r\nHost: {}\r\n\r\n", running.addr).as_bytes())
        .await
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !(seen.contains("event: status") && seen.contains("\"strategy\":\"round-robin\"")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no status event: {seen}"
        );
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("text/event-stream"), "{seen}");
    drop(s);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_cross_site_change_is_refused_and_changes_nothing() {
    let (running, pool) = start(admin::Changes::Open);
    let addr = running.addr;
    let json = "Content-Type: application/json\r\n";

    // A page elsewhere posting to the loopback listener, as a browser sends it.
    let forged = exchange(
        addr,
        "POST",
        "/backends/0/drain",
        &format!("Host: {addr}\r\nOrigin: http://evil.example\r\n{json}"),
        "",
    )
    .await;
    let (status, error) = refusal(&forged);
    assert_eq!(status, 403, "{forged}");
    assert!(error.contains("cross-site"), "{error}");
    assert!(!pool.backends()[0].is_drained());

    for site in ["cross-site", "same-site"] {
        let forged = exchange(
            addr,
            "PUT",
            "/strategy",
            &format!("Host: {addr}\r\nSec-Fetch-Site: {site}\r\n{json}"),
            r#"{"strategy":"ip-hash"}"#,
        )
        .await;
        assert_eq!(refusal(&forged).0, 403, "{site}: {forged}");
        assert_eq!(pool.strategy(), StrategyKind::RoundRobin, "{site}");
    }
    // Fetch metadata decides over an Origin that would pass.
    let forged = request(
        addr,
        "PUT",
        "/backends/1/weight",
        &format!("Origin: http://{addr}\r\nSec-Fetch-Site: cross-site\r\n"),
        r#"{"weight":7}"#,
    )
    .await;
    assert_eq!(refusal(&forged).0, 403, "{forged}");
    assert_eq!(pool.backends()[1].weight(), 1);

    // The dashboard itself: same origin.
    for extra in [
        format!("Origin: http://{addr}\r\n"),
        format!("Origin: http://{addr}\r\nSec-Fetch-Site: same-origin\r\n"),
        "Sec-Fetch-Site: none\r\n".to_string(),
    ] {
        let ok = request(addr, "PUT", "/backends/1/weight", &extra, r#"{"weight":2}"#).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{extra:?}: {ok}");
    }
    let ok = request(
        addr,
        "POST",
        "/backends/0/drain",
        &format!("Origin: http://{addr}\r\n"),
        "",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(pool.backends()[0].is_drained());
    running.stop().await.unwrap();
}

#[tokio::test]
async fn changes_need_a_json_content_type() {
    let (running, pool) = start(admin::Changes::Open);
    let addr = running.addr;
    let host = format!("Host: {addr}\r\n");
    // What a form or a simple fetch from another site can send without asking first.
    for (content_type, body) in [
        ("Content-Type: application/x-www-form-urlencoded\r\n", ""),
        ("Content-Type: text/plain\r\n", ""),
        ("Content-Type: multipart/form-data; boundary=x\r\n", ""),
        ("", ""),
    ] {
        let refused = exchange(
            addr,
            "POST",
            "/backends/0/drain",
            &format!("{host}{content_type}"),
            body,
        )
        .await;
        let (status, error) = refusal(&refused);
        assert_eq!(status, 415, "{content_type:?}: {refused}");
        assert!(error.contains("application/json"), "{error}");
        assert!(!pool.backends()[0].is_drained(), "{content_type:?}");
    }
    let refused = exchange(
        addr,
        "PUT",
        "/strategy",
        &format!("{host}Content-Type: text/plain;charset=utf-8\r\n"),
        r#"{"strategy":"ip-hash"}"#,
    )
    .await;
    assert_eq!(refusal(&refused).0, 415, "{refused}");
    assert_eq!(pool.strategy(), StrategyKind::RoundRobin);

    // The media type without case, with parameters.
    let ok = exchange(
        addr,
        "PUT",
        "/strategy",
        &format!("{host}Content-Type: Application/JSON; charset=utf-8\r\n"),
        r#"{"strategy":"ip-hash"}"#,
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(pool.strategy(), StrategyKind::IpHash);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn only_ip_literals_localhost_and_configured_hosts_are_answered() {
    let (running, pool) = start(admin::Changes::Open);
    let addr = running.addr;
    let port = addr.port();
    let json = "Content-Type: application/json\r\n";

    // A rebound name: the browser thinks it is talking to the attacker's site.
    let rebound = exchange(
        addr,
        "PUT",
        "/strategy",
        &format!("Host: evil.example:{port}\r\nOrigin: http://evil.example:{port}\r\n{json}"),
        r#"{"strategy":"ip-hash"}"#,
    )
    .await;
    let (status, error) = refusal(&rebound);
    assert_eq!(status, 421, "{rebound}");
    assert!(error.contains("host"), "{error}");
    assert_eq!(pool.strategy(), StrategyKind::RoundRobin);
    // Reading too: a rebound page must not read the status.
    for path in [
        "/status", "/metrics", "/", "/history", "/events", "/nothing",
    ] {
        let read = exchange(addr, "GET", path, "Host: evil.example\r\n", "").await;
        assert_eq!(refusal(&read).0, 421, "{path}: {read}");
    }
    // The authority of an absolute request target counts as much as Host.
    let read = exchange(
        addr,
        "GET",
        &format!("http://evil.example:{port}/status"),
        &format!("Host: {addr}\r\n"),
        "",
    )
    .await;
    assert_eq!(refusal(&read).0, 421, "{read}");

    for host in [
        addr.to_string(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "10.0.0.7".to_string(),
    ] {
        let read = exchange(addr, "GET", "/status", &format!("Host: {host}\r\n"), "").await;
        assert!(read.starts_with("HTTP/1.1 200"), "{host}: {read}");
    }
    let ok = exchange(
        addr,
        "PUT",
        "/strategy",
        &format!("Host: localhost:{port}\r\nOrigin: http://localhost:{port}\r\n{json}"),
        r#"{"strategy":"p2c"}"#,
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(pool.strategy(), StrategyKind::PowerOfTwo);
    running.stop().await.unwrap();

    // A name the operator gave is answered, in any case; still no other.
    let (running, pool) = start_with(admin::Changes::Open, vec!["lb.internal".into()]);
    let (addr, port) = (running.addr, running.addr.port());
    let read = exchange(addr, "GET", "/status", "Host: LB.internal\r\n", "").await;
    assert!(read.starts_with("HTTP/1.1 200"), "{read}");
    let ok = exchange(
        addr,
        "PUT",
        "/strategy",
        &format!("Host: lb.internal:{port}\r\nOrigin: http://lb.internal:{port}\r\n{json}"),
        r#"{"strategy":"ip-hash"}"#,
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(pool.strategy(), StrategyKind::IpHash);
    for host in ["lb.internal.evil.example", "evil.example"] {
        let read = exchange(addr, "GET", "/status", &format!("Host: {host}\r\n"), "").await;
        assert_eq!(refusal(&read).0, 421, "{host}: {read}");
    }
    running.stop().await.unwrap();
}
