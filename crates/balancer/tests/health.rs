//! Active health checks against real backends on 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_balancer::health::{self, HealthConfig, Probe};
use switchboard_balancer::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A backend answering every request with `status`.
async fn backend(addr: &str, status: u16) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

async fn until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < within, "{what} not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

fn config(probe: Probe) -> HealthConfig {
    HealthConfig {
        probe,
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(200),
        rise: 2,
        fall: 2,
    }
}

#[tokio::test]
async fn a_killed_backend_goes_down_within_fall_intervals_and_rejoins() {
    for probe in [
        Probe::Http {
            path: "/healthz".into(),
        },
        Probe::Tcp,
    ] {
        let (addr, task) = backend("127.0.0.1:0", 200).await;
        let b = Backend::new(addr.to_string(), 1);
        let checks = tokio::spawn(health::run(b.clone(), config(probe.clone())));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(b.is_healthy(), "{probe:?}");

        task.abort();
        let _ = task.await;
        // fall x interval, plus one interval of phase and the refusal's few microseconds.
        let took = until("marked down", Duration::from_secs(2), || !b.is_healthy()).await;
        assert!(took <= Duration::from_millis(400), "{probe:?}: {took:?}");

        let (_, task) = backend(&addr.to_string(), 200).await;
        until("rejoined", Duration::from_secs(2), || b.is_healthy()).await;
        checks.abort();
        task.abort();
    }
}

#[tokio::test]
async fn an_http_backend_answering_500_is_down() {
    let (addr, task) = backend("127.0.0.1:0", 503).await;
    let b = Backend::new(addr.to_string(), 1);
    let checks = tokio::spawn(health::run(
        b.clone(),
        config(Probe::Http { path: "/".into() }),
    ));
    until("marked down", Duration::from_secs(2), || !b.is_healthy()).await;
    checks.abort();
    task.abort();
}

/// A backend answering every check with `answer`, a byte at a time when `slowly`, then
/// closing.
async fn raw_backend(answer: &'static [u8], slowly: bool) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                if slowly {
                    for b in answer {
                        let _ = s.write_all(&[*b]).await;
                        let _ = s.flush().await;
                        tokio::task::yield_now().await;
                    }
                } else {
                    let _ = s.write_all(answer).await;
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_check_reads_the_whole_head_by_the_proxys_rules() {
    let probe = config(Probe::Http {
        path: "/healthz".into(),
    });
    for (answer, healthy) in [
        (&b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"[..], true),
        (b"HTTP/1.0 204 No Content\r\n\r\n", true),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            true,
        ),
        (
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            false,
        ),
        (b"HTTP/1.1 301 Moved\r\nLocation: /\r\n\r\n", false),
        // A 2xx status line, but a head that is not one.
        (b"HTTP/1.1 200 OK\r\n", false),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            false,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        ),
        (b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", false),
        (b"HTTP/1.1 2000 OK\r\n\r\n", false),
        (b"SSH-2.0-OpenSSH_9.2\r\n", false),
    ] {
        for slowly in [false, true] {
            let (addr, task) = raw_backend(answer, slowly).await;
            let b = Backend::new(addr.to_string(), 1);
            let ok = health::check(&b, &probe).await;
            assert_eq!(
                ok,
                healthy,
                "{:?} (slowly: {slowly})",
                String::from_utf8_lossy(answer)
            );
            task.abort();
        }
    }
}
