//! Message-server runs against `switchboard_echo::EchoServer` in-process.

use std::time::Duration;

use switchboard_echo::{EchoConfig as ServerConfig, EchoServer};
use switchboard_loadgen::{EchoConfig, Progress, Report, Stop};
use switchboard_testkit::{Running, Shutdown};

fn start() -> Running {
    let config = ServerConfig {
        grace: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = EchoServer::bind("127.0.0.1:0".parse().unwrap(), config).expect("bind");
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    Running::spawn(addr, shutdown.clone(), server.run(shutdown))
}

async fn run(config: EchoConfig) -> Report {
    tokio::task::spawn_blocking(move || switchboard_loadgen::run_echo(&config, &Progress::new()))
        .await
        .expect("run")
        .expect("threads start")
}

fn config(server: &Running, stop: Stop) -> EchoConfig {
    EchoConfig {
        addr: server.addr,
        connections: 4,
        threads: 2,
        stop,
        size: 64,
        pipeline: 4,
        udp: false,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_round_trips_with_a_pipeline() {
    let server = start();
    let report = run(config(&server, Stop::Requests(1000))).await;
    assert_eq!(report.requests, 1000, "{}", report.text());
    assert_eq!(report.bytes, 64 * 1000);
    assert_eq!(report.errors.total, 0);
    assert_eq!(report.mode, "echo-tcp");

    let report = run(config(&server, Stop::Duration(Duration::from_millis(500)))).await;
    assert!(report.requests > 100, "{}", report.text());
    assert_eq!(report.errors.total, 0, "{}", report.text());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_round_trips() {
    let server = start();
    let report = run(EchoConfig {
        udp: true,
        pipeline: 1,
        ..config(&server, Stop::Requests(500))
    })
    .await;
    assert_eq!(report.requests, 500, "{}", report.text());
    assert_eq!(report.bytes, 64 * 500);
    assert_eq!(report.errors.total, 0);
    assert_eq!(report.mode, "echo-udp");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_datagrams_are_timeouts() {
    // A socket that reads and never answers.
    let sink = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let report = run(EchoConfig {
        addr: sink.local_addr().unwrap(),
        udp: true,
        pipeline: 1,
        connections: 2,
        timeout: Duration::from_millis(100),
        stop: Stop::Requests(4),
        threads: 1,
        size: 64,
    })
    .await;
    assert_eq!(report.requests, 0);
    assert_eq!(report.errors.timeout, 4, "{}", report.text());
    assert_eq!(report.connected, 0);
}
