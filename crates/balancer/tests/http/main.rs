//! HTTP mode in front of real backends on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{any, get};
use axum::Router;
use switchboard_balancer::http::{HttpProxy, HttpProxyConfig};
use switchboard_balancer::{Backend, Pool, StrategyKind};
use switchboard_http::{HttpServer, Limits};
use switchboard_testkit::{Running, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod backend_client;
mod blame;
mod faults;
mod streaming;

/// The size of a backend's `/big` answer.
const BIG: usize = 64 * 1024;

/// A backend that names itself, counts requests, and echoes the headers of interest.
struct TestBackend {
    running: Running,
    seen: Arc<AtomicU64>,
}

fn start_backend(name: &'static str) -> TestBackend {
    let seen = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route("/big", get(|| async { "x".repeat(BIG) }))
        .route(
            "/slow",
            get(|State((name, seen)): State<(&'static str, Arc<AtomicU64>)>| async move {
                seen.fetch_add(1, Ordering::SeqCst);
                // Long enough to outlast the test's other requests, however loaded the machine.
                tokio::time::sleep(Duration::from_secs(3)).await;
                name
            }),
        )
        .fallback(any(
            |State((name, seen)): State<(&'static str, Arc<AtomicU64>)>, headers: HeaderMap| async move {
                seen.fetch_add(1, Ordering::SeqCst);
                let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
                let real: Vec<&str> = headers.get_all("x-real-ip").iter().filter_map(|v| v.to_str().ok()).collect();
                format!(
                    "{name} xff={} proto={} fwd={} custom={} conn={} real={}",
                    get("x-forwarded-for"),
                    get("x-forwarded-proto"),
                    get("forwarded"),
                    get("x-custom"),
                    get("connection"),
                    if real.is_empty() { "-".to_string() } else { real.join("|") },
                )
            },
        ))
        .with_state((name, seen.clone()));
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, Limits::default()).unwrap();
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    TestBackend {
        running: Running::spawn(addr, shutdown.clone(), server.serve(app, shutdown)),
        seen,
    }
}

fn balancer(backends: &[(SocketAddr, u32)], kind: StrategyKind) -> (Running, Arc<Pool>) {
    balancer_with(backends, kind, HttpProxyConfig::default())
}

fn balancer_with(
    backends: &[(SocketAddr, u32)],
    kind: StrategyKind,
    config: HttpProxyConfig,
) -> (Running, Arc<Pool>) {
    balancer_limited(backends, kind, config, Limits::default())
}

fn balancer_limited(
    backends: &[(SocketAddr, u32)],
    kind: StrategyKind,
    config: HttpProxyConfig,
    limits: Limits,
) -> (Running, Arc<Pool>) {
    let pool = Arc::new(Pool::new(
        backends
            .iter()
            .map(|(a, w)| Backend::new(a.to_string(), *w))
            .collect(),
        kind,
    ));
    let proxy = HttpProxy::new(pool.clone(), config);
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, limits).unwrap();
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    (
        Running::spawn(addr, shutdown.clone(), server.serve(proxy, shutdown)),
        pool,
    )
}

/// One request on a fresh connection; returns the status and body.
async fn send(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answer in time");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

async fn fetch(addr: SocketAddr, path: &str) -> (u16, String) {
    send(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"),
    )
    .await
}

#[tokio::test]
async fn weights_1_2_3_get_exact_shares() {
    let b: Vec<TestBackend> = ["A", "B", "C"].into_iter().map(start_backend).collect();
    let (lb, _) = balancer(
        &[
            (b[0].running.addr, 1),
            (b[1].running.addr, 2),
            (b[2].running.addr, 3),
        ],
        StrategyKind::RoundRobin,
    );
    for _ in 0..60 {
        assert_eq!(fetch(lb.addr, "/").await.0, 200);
    }
    let seen: Vec<u64> = b.iter().map(|b| b.seen.load(Ordering::SeqCst)).collect();
    assert_eq!(seen, [10, 20, 30]);
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn with_two_slow_requests_on_a_the_next_ten_go_to_b() {
    let a = start_backend("A");
    let b = start_backend("B");
    let (lb, pool) = balancer(
        &[(a.running.addr, 1), (b.running.addr, 1)],
        StrategyKind::LeastConnections,
    );
    // Hold two slow requests on A (B out of rotation while they are placed).
    pool.backends()[1].set_healthy(false);
    let addr = lb.addr;
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(async move { fetch(addr, "/slow").await }))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while a.seen.load(Ordering::SeqCst) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow requests did not reach A"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(a.seen.load(Ordering::SeqCst), 2);
    pool.backends()[1].set_healthy(true);
    for _ in 0..10 {
        assert_eq!(fetch(lb.addr, "/").await.0, 200);
    }
    assert_eq!(
        (a.seen.load(Ordering::SeqCst), b.seen.load(Ordering::SeqCst)),
        (2, 10)
    );
    for s in slow {
        assert_eq!(s.await.unwrap().0, 200);
    }
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn a_killed_backend_costs_no_failed_request() {
    let b: Vec<TestBackend> = ["A", "B", "C"].into_iter().map(start_backend).collect();
    let addrs: Vec<_> = b.iter().map(|b| (b.running.addr, 1)).collect();
    let (lb, _) = balancer(&addrs, StrategyKind::RoundRobin);
    let mut b = b;
    let killed = b.remove(1);
    let load = tokio::spawn(async move {
        let mut failed = 0;
        for _ in 0..300 {
            if fetch(lb.addr, "/").await.0 != 200 {
                failed += 1;
            }
        }
        (failed, lb)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    killed.running.stop().await.unwrap();
    let (failed, lb) = load.await.unwrap();
    assert_eq!(failed, 0);
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn forwarding_headers_added_hop_by_hop_stripped_and_none_up_is_503() {
    let a = start_backend("A");
    let (lb, pool) = balancer(&[(a.running.addr, 1)], StrategyKind::RoundRobin);
    let (status, body) = send(
        lb.addr,
        "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close, x-custom\r\nX-Custom: secret\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with(
            "A xff=127.0.0.1 proto=http fwd=for=127.0.0.1;proto=http;host=\"app.test\""
        ),
        "{body}"
    );
    assert!(
        body.contains("custom=-"),
        "hop-by-hop header named by Connection is stripped: {body}"
    );

    pool.backends()[0].set_healthy(false);
    let (status, body) = fetch(lb.addr, "/").await;
    assert_eq!(status, 503);
    let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON answer");
    assert_eq!(
        error["error"], "service unavailable: no healthy backend",
        "{body}"
    );
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn x_real_ip_is_the_peer_whatever_the_client_says() {
    let a = start_backend("A");
    let (lb, _) = balancer(&[(a.running.addr, 1)], StrategyKind::RoundRobin);
    for claims in [
        "X-Real-IP: 8.8.8.8\r\n",
        "X-Real-IP: 8.8.8.8\r\nX-Real-IP: 9.9.9.9\r\nX-Forwarded-For: 6.6.6.6\r\n",
        // Nor can a client have it dropped by naming it hop-by-hop.
        "X-Real-IP: 8.8.8.8\r\nConnection: close, X-Real-IP\r\n",
        "",
    ] {
        let (status, body) = send(
            lb.addr,
            &format!("GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n{claims}\r\n"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(body.ends_with(" real=127.0.0.1"), "{claims:?}: {body}");
    }
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn a_trusted_proxy_says_who_the_client_is_in_x_real_ip() {
    let a = start_backend("A");
    let config = HttpProxyConfig {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..HttpProxyConfig::default()
    };
    let (lb, _) = balancer_with(&[(a.running.addr, 1)], StrategyKind::RoundRobin, config);
    for (claims, real) in [
        // Believed, as its X-Forwarded-For is.
        (
            "X-Real-IP: 8.8.8.8\r\nX-Forwarded-For: 8.8.8.8\r\n",
            "8.8.8.8",
        ),
        ("X-Real-IP: 8.8.8.8\r\n", "8.8.8.8"),
        // None given: the client its X-Forwarded-For names, else the proxy itself.
        ("X-Forwarded-For: 9.9.9.9, 10.0.0.1\r\n", "9.9.9.9"),
        ("", "127.0.0.1"),
    ] {
        let (status, body) = send(
            lb.addr,
            &format!("GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n{claims}\r\n"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            body.ends_with(&format!(" real={real}")),
            "{claims:?}: {body}"
        );
    }
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn smuggling_shapes_get_400_and_never_reach_a_backend() {
    let a = start_backend("A");
    let (lb, _) = balancer(&[(a.running.addr, 1)], StrategyKind::RoundRobin);
    let corpus = [
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabcd",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
        "GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    ];
    for (i, request) in corpus.iter().enumerate() {
        let request = request.replacen("Host: x\r\n", "Host: x\r\nConnection: close\r\n", 1);
        let (status, _) = send(lb.addr, &request).await;
        match i {
            // Both lengths: hyper frames by chunked, drops Content-Length and closes the
            // connection after answering (RFC 9112 section 6.1); identical duplicate lengths it
            // merges into one (RFC 9110 section 8.6 allows either). Nothing is smuggled either
            // way, but refusing these needs the raw head (a known gap).
            0 | 2 => assert!(status == 200 || status == 400, "{status} for {request:?}"),
            // A coding before chunked is not implemented, and not forwarded.
            8 => assert_eq!(status, 501, "for {request:?}"),
            _ => assert_eq!(status, 400, "for {request:?}"),
        }
    }
    // The smuggled `GET /smuggled` never reached the backend: it saw at most the first POST
    // and the duplicate length merged into one.
    let seen = a.seen.load(Ordering::SeqCst);
    assert!(seen <= 2, "the backend saw {seen} requests from the corpus");
    lb.stop().await.unwrap();
}

/// A backend that reads a request's head, then closes the connection without answering.
async fn rude_backend() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(AtomicU64::new(0));
    let counted = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                if let Ok(n) = s.read(&mut buf).await {
                    if n > 0 {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                }
                // Closed without a word: to the proxy, the request failed mid-way.
                drop(s);
            });
        }
    });
    (addr, heads)
}

#[tokio::test]
async fn a_post_that_reached_a_backend_is_never_sent_twice() {
    let (rude, heads) = rude_backend().await;
    let (rude2, heads2) = rude_backend().await;
    let (lb, _) = balancer(&[(rude, 1), (rude2, 1)], StrategyKind::RoundRobin);
    let (status, _) = send(
        lb.addr,
        "POST /pay HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert_eq!(status, 502);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        heads.load(Ordering::SeqCst) + heads2.load(Ordering::SeqCst),
        1,
        "sent once"
    );

    // A GET without a body may be sent once more after such a failure.
    let (status, _) = fetch(lb.addr, "/").await;
    assert_eq!(status, 502);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        heads.load(Ordering::SeqCst) + heads2.load(Ordering::SeqCst),
        3,
        "one retry"
    );
    lb.stop().await.unwrap();
}

/// The whole answer, head included.
async fn send_raw(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_sticky_cookie_keeps_a_client_on_its_backend_while_it_is_up() {
    let b: Vec<TestBackend> = ["A", "B", "C"].into_iter().map(start_backend).collect();
    let pool = Arc::new(Pool::new(
        b.iter()
            .map(|b| Backend::new(b.running.addr.to_string(), 1))
            .collect(),
        StrategyKind::RoundRobin,
    ));
    let proxy = HttpProxy::new(
        pool.clone(),
        HttpProxyConfig {
            sticky: true,
            ..HttpProxyConfig::default()
        },
    );
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, Limits::default()).unwrap();
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    let lb = Running::spawn(addr, shutdown.clone(), server.serve(proxy, shutdown));

    let first = send_raw(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let cookie = first
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a sticky cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("sb_backend="), "{cookie}");
    let name_of = |answer: &str| answer.split("\r\n\r\n").nth(1).unwrap_or("").chars().next();
    let home = name_of(&first);
    let with_cookie =
        format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
    for _ in 0..6 {
        let answer = send_raw(addr, &with_cookie).await;
        assert_eq!(name_of(&answer), home);
        assert!(
            !answer.contains("set-cookie"),
            "no new cookie while it stays: {answer}"
        );
    }
    // Its backend goes down: elsewhere, with a new cookie.
    let index = ["A", "B", "C"]
        .iter()
        .position(|n| Some(n.chars().next().unwrap()) == home)
        .unwrap();
    pool.backends()[index].set_healthy(false);
    let moved = send_raw(addr, &with_cookie).await;
    assert_ne!(name_of(&moved), home);
    assert!(moved.contains("set-cookie: sb_backend="), "{moved}");
    lb.stop().await.unwrap();
}

/// A backend that switches to an echo protocol when asked: answers 101, then echoes bytes.
async fn upgrading_backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_lowercase();
                assert!(
                    head.contains("upgrade: echo") && head.contains("connection: upgrade"),
                    "{head}"
                );
                let _ = s
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
                    .await;
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn upgrades_pass_through_to_the_backend() {
    let backend = upgrading_backend().await;
    let (lb, pool) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
    let mut s = TcpStream::connect(lb.addr).await.unwrap();
    s.write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).await.unwrap(),
            1,
            "closed before the head ended"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    // Now the bytes are the backend's protocol, both ways, through the balancer.
    for message in [&b"ping"[..], b"and again"] {
        s.write_all(message).await.unwrap();
        let mut back = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back))
            .await
            .expect("echo in time")
            .unwrap();
        assert_eq!(back, message);
    }
    assert_eq!(
        pool.backends()[0].in_flight(),
        1,
        "leased while the tunnel lasts"
    );
    drop(s);
    lb.stop().await.unwrap();
}

/// A keep-alive backend that counts the connections it accepts; `empty` answers 204s.
async fn counting_backend(empty: bool) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let answer: &[u8] = if empty {
                            b"HTTP/1.1 204 No Content\r\n\r\n"
                        } else {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                        };
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn backend_connections_are_kept_and_reused() {
    for empty in [false, true] {
        let (backend, accepted) = counting_backend(empty).await;
        let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
        for _ in 0..20 {
            let (status, _) = fetch(lb.addr, "/").await;
            assert_eq!(status, if empty { 204 } else { 200 });
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "empty bodies: {empty}");
        lb.stop().await.unwrap();
    }
}
