//! TCP mode in front of real message servers on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_balancer::tcp::{self, TcpConfig};
use switchboard_balancer::{Backend, Pool, StrategyKind};
use switchboard_echo::{EchoConfig, EchoServer};
use switchboard_testkit::{Running, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A message server answering lines after `name: `.
fn echo(name: &str) -> Running {
    let config = EchoConfig {
        prefix: Some(Arc::from(format!("{name}: ").as_bytes())),
        udp: false,
        grace: Duration::from_millis(50),
        ..EchoConfig::default()
    };
    let server = EchoServer::bind("127.0.0.1:0".parse().unwrap(), config).unwrap();
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    Running::spawn(addr, shutdown.clone(), server.run(shutdown))
}

fn balancer(backends: &[SocketAddr], kind: StrategyKind) -> (Running, Arc<Pool>) {
    let pool = Arc::new(Pool::new(
        backends
            .iter()
            .map(|a| Backend::new(a.to_string(), 1))
            .collect(),
        kind,
    ));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let config = TcpConfig {
        grace: Duration::from_millis(100),
        ..TcpConfig::default()
    };
    let running = Running::spawn(
        addr,
        shutdown.clone(),
        tcp::serve(listener, pool.clone(), config, shutdown),
    );
    (running, pool)
}

/// Sends one line through the balancer and returns the reply.
async fn ask(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"hi\n").await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = String::new();
    match tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .expect("reply in time")
    {
        Ok(_) => out,
        // Closed with our line unread: the kernel resets rather than closes. Nothing said.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => out,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn connections_are_spread_and_fail_over() {
    let a = echo("A");
    let b = echo("B");
    let (lb, _pool) = balancer(&[a.addr, b.addr], StrategyKind::RoundRobin);
    let replies: Vec<String> = {
        let mut r = Vec::new();
        for _ in 0..4 {
            r.push(ask(lb.addr).await);
        }
        r
    };
    assert_eq!(replies, ["A: hi\n", "B: hi\n", "A: hi\n", "B: hi\n"]);

    // A goes away: every client still gets an answer, from B.
    a.stop().await.unwrap();
    for _ in 0..6 {
        assert_eq!(ask(lb.addr).await, "B: hi\n");
    }

    // None left: a client is closed at once, with nothing said.
    b.stop().await.unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(ask(lb.addr).await, "");
    assert!(started.elapsed() < Duration::from_secs(2));
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn least_connections_counts_open_connections() {
    let a = echo("A");
    let b = echo("B");
    let (lb, pool) = balancer(&[a.addr, b.addr], StrategyKind::LeastConnections);
    // Three clients that stay: two land on one backend, one on the other.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(lb.addr).await.unwrap();
        s.write_all(b"x\n").await.unwrap();
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0);
        held.push(s);
    }
    let counts: Vec<u64> = pool.backends().iter().map(|b| b.in_flight()).collect();
    assert_eq!(counts.iter().sum::<u64>(), 3);
    assert!(counts.contains(&2) && counts.contains(&1), "{counts:?}");
    // The next goes to the less loaded one.
    let lighter = if counts[0] == 1 { "A" } else { "B" };
    assert_eq!(ask(lb.addr).await, format!("{lighter}: hi\n"));
    drop(held);
    lb.stop().await.unwrap();
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
